"""camera_segmenter: ``image_raw`` (+ ``camera_info``) -> ``detections`` (mono16 labels) and ``annotated``.

Thin: decodes the image with ``tcfd_ros.image_conversions`` (cv_bridge semantics; ``mono8``/``mono16``
stay one grey channel, as an IR camera at night publishes them, everything else becomes bgr8), calls
``CameraSegmenter``, publishes the instance-label image with the input header. For ``annotated`` it
keeps the last few images by stamp; when the camera tracker's ``tracks`` for that stamp arrive, the
masks, track boxes and the recognizer's global ids (from ``matches``) are drawn by
``tcfd_ros.perception.annotation`` and published with the same header. ``tracks`` and ``matches`` feed
only that drawing, so once images flow and no one subscribes to ``annotated`` (checked every second) the
node unsubscribes from them, and subscribes again when someone does: each received message costs ~1 ms
of rclpy CPU, and they were a third of this node's input (RESULTS.md "Graph CPU for slower machines").
A viewer that subscribes late gets annotated images from about a second later on. Not before the first image
nor for ``ANNOTATION_DISCOVERY_GRACE_S`` after it: a subscriber still in DDS discovery (a replay's recorder
on a loaded host) would otherwise miss the first second of annotated images.

Dropped and counted: undecodable images and wrong encodings (``malformed``), stamps going backwards,
and, with ``require_camera_info``, images without a CameraInfo of their size (``no_camera_info``).

``guide.mode`` ``lidar`` (moving platforms, ``config/robot.yaml``): instead of the segmenter backend,
the LiDAR person clusters on ``guide.clusters_topic`` are projected with ``camera_info``'s K and the
``guide`` extrinsics and cut out of the image (``tcfd_ros.perception.segment_camera_guided``); the image
is paired with the clusters whose stamp is nearest, within ``guide.max_offset_s``. Images without a
CameraInfo (``no_camera_info``) are dropped; images without clusters near them are answered with no
detections and counted (``/diagnostics`` value ``guide_no_clusters``). ``/diagnostics`` says the mode.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import OrderedDict, deque
from typing import Any

import cv2
import numpy as np
from rclpy.clock import Clock, ClockType
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import String

from tcfd_ros.geometry import GeometryError
from tcfd_ros.geometry.calibration import CameraIntrinsics, RigidTransform
from tcfd_ros.graph import ANNOTATED, CAMERA_SEGMENTER, DETECTIONS, MATCHES, TRACKS
from tcfd_ros.image_conversions import cv2_to_imgmsg, imgmsg_to_cv2
from tcfd_ros.nodes.base import Dropped, StampOrder, TcfdNode, run_single, stamp_seconds
from tcfd_ros.messages import MatchMsg, clock_reset
from tcfd_ros.nodes.node_configs import CameraSegmenterNodeConfig
from tcfd_ros.nodes.qos import OUTPUT_QOS, sensor_qos
from tcfd_ros.perception.annotate import Annotation, draw_annotations
from tcfd_ros.perception.segment_camera import CameraSegmenter, label_image
from tcfd_ros.perception.segment_camera_guided import predict_clusters, projection_matrix, segment_guided
from tcfd_ros.stream_wait import StreamWait
from tcfd_ros.point_cloud2 import read_points
from tcfd_ros.track_messages import tracks_from_json

IMAGE = "image_raw"
#: Encodings segmented as one grey channel (IR / night cameras); the rest are decoded to bgr8.
MONO_ENCODINGS = ("mono8", "mono16")
CAMERA_INFO = "camera_info"
# Global ids remembered per track; a bound so a long run cannot grow the map without limit.
MAX_REMEMBERED_TRACKS = 4096
GUIDE_CLUSTERS = "guide_clusters"
# Cluster messages kept for pairing with images (1 s of a 10 Hz LiDAR).
GUIDE_BUFFER = 10
#: How often the node checks whether anyone subscribes to ``annotated`` (steady clock, seconds).
ANNOTATION_CHECK_PERIOD_S = 1.0
#: For this long after the first image (steady clock, seconds) the node keeps ``tracks`` and ``matches``
#: though no subscriber to ``annotated`` is known: DDS discovery of one that started before the graph (a
#: replay's recorder) can take seconds on a loaded host, and a 3 s test replay lost a second of annotated
#: images to it (16 of 45) before this grace.
ANNOTATION_DISCOVERY_GRACE_S = 5.0


def clusters_from_cloud(msg: PointCloud2) -> list[np.ndarray]:
    """(N_k, 3) float points per cluster number of a ``clusters`` cloud (DESIGN.md layout)."""
    pts = read_points(msg).reshape(-1)
    names = pts.dtype.names or ()
    if not {"x", "y", "z", "cluster"} <= set(names):
        raise Dropped("malformed", f"clusters cloud fields {list(names)}: expected x, y, z and cluster")
    xyz = np.stack([pts["x"], pts["y"], pts["z"]], axis=1).astype(np.float64)
    ids = pts["cluster"]
    return [xyz[ids == k] for k in np.unique(ids)]


def _key(stamp: Any) -> tuple[int, int]:
    return int(stamp.sec), int(stamp.nanosec)


class CameraSegmenterNode(TcfdNode):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(CAMERA_SEGMENTER, CameraSegmenterNodeConfig(), **kwargs)
        self.segmenter = CameraSegmenter(self.config.segmenter)
        self.order = StampOrder()
        self.info: tuple[int, int, str] | None = None  # (width, height, frame_id) of the last CameraInfo
        self.cache: OrderedDict[tuple[int, int], tuple[np.ndarray, np.ndarray, Any]] = OrderedDict()
        self.global_ids: OrderedDict[int, MatchMsg] = OrderedDict()
        self.sensor = self.get_namespace().strip("/").split("/")[-1]
        self.intrinsics: CameraIntrinsics | None = None
        self.guide_clusters: deque[tuple[float, list[np.ndarray]]] = deque(maxlen=GUIDE_BUFFER)
        self.guide_ready = threading.Condition()      # on_guide_clusters notifies an image waiting for them
        self.guide_wait = StreamWait(self.guide_ready)
        guide = self.config.guide
        self.health.values["mode"] = ("lidar_guided (moving platform)" if guide.mode == "lidar"
                                      else f"{self.config.segmenter.backend} (static camera)"
                                      if self.config.segmenter.backend == "background"
                                      else self.config.segmenter.backend)
        if guide.mode == "lidar":
            # not under the state lock: an image's worker may hold it while it waits for these clusters
            self.create_subscription(
                PointCloud2, guide.clusters_topic,
                lambda m: self.process_now(GUIDE_CLUSTERS, self.on_guide_clusters, m, exclusive=False),
                OUTPUT_QOS)
            self.health.watch(GUIDE_CLUSTERS)
            self.get_logger().info(f"LiDAR-guided segmentation: clusters from {guide.clusters_topic}")
        self.det_pub = self.create_publisher(Image, DETECTIONS, OUTPUT_QOS)
        self.ann_pub = self.create_publisher(Image, ANNOTATED, OUTPUT_QOS)
        for topic in (IMAGE, CAMERA_INFO):
            self.health.watch(topic)
        inputs = sensor_qos(self.config.input_reliability)
        self.create_subscription(Image, IMAGE, lambda m: self.enqueue(IMAGE, self.on_image, m,
                                                                      prepare=self._wait_for_guide), inputs,
                                 event_callbacks=self.transport_losses(IMAGE))
        self.create_subscription(CameraInfo, CAMERA_INFO,
                                 lambda m: self.process_now(CAMERA_INFO, self.on_camera_info, m), inputs)
        self._annotation_subs: list[Any] = []
        # steady clock at the first image, set by the worker; until then discovery may still be going on
        self._first_image_s: float | None = None
        self._subscribe_annotation_inputs()
        self.create_timer(ANNOTATION_CHECK_PERIOD_S, self._follow_annotation_listeners,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.health.add_queue("annotation_cache", lambda: len(self.cache))
        self.start()

    def _subscribe_annotation_inputs(self) -> None:
        self._annotation_subs = [
            self.create_subscription(String, TRACKS, lambda m: self.enqueue(TRACKS, self.on_tracks, m),
                                     OUTPUT_QOS),
            self.create_subscription(String, MATCHES, lambda m: self.process_now(MATCHES, self.on_match, m),
                                     OUTPUT_QOS)]
        self.health.watch(TRACKS)
        self.health.watch(MATCHES, stale=False)  # matches come only while people are seen
        self.health.values["annotation_inputs"] = "subscribed"

    def _follow_annotation_listeners(self) -> None:
        """Take ``tracks`` and ``matches`` only while they can be drawn on an ``annotated`` someone reads.

        Nothing is dropped before the first image nor for ``ANNOTATION_DISCOVERY_GRACE_S`` after it: a
        subscriber that started before the graph (a replay's recorder) may not be discovered yet, and its
        first frames must be annotated too.
        """
        first = self._first_image_s
        discovering = first is None or time.monotonic() - first < ANNOTATION_DISCOVERY_GRACE_S
        listened = discovering or self.ann_pub.get_subscription_count() > 0
        want = self.config.publish_annotated and listened
        if want and not self._annotation_subs:
            self._subscribe_annotation_inputs()
        elif not want and self._annotation_subs:
            for sub in self._annotation_subs:
                self.destroy_subscription(sub)
            self._annotation_subs = []
            self.health.unsubscribed(TRACKS)
            self.health.unsubscribed(MATCHES)
            self.health.values["annotation_inputs"] = ("not subscribed: nothing subscribes to annotated"
                                                       if self.config.publish_annotated
                                                       else "not subscribed: publish_annotated is false")

    def on_config_change(self, config: CameraSegmenterNodeConfig, changed: set[str]) -> None:
        if any(n.startswith("segmenter.") for n in changed):
            # New gates take effect on the next image; the background model re-learns (warm-up frames).
            self.segmenter = CameraSegmenter(config.segmenter)
        while len(self.cache) > config.annotation_cache_frames:
            self.cache.popitem(last=False)

    def on_camera_info(self, msg: CameraInfo) -> None:
        if msg.width <= 0 or msg.height <= 0:
            raise Dropped("malformed", f"CameraInfo width = {msg.width}, height = {msg.height}: expected > 0")
        self.info = (int(msg.width), int(msg.height), msg.header.frame_id)
        if self.config.guide.mode == "lidar":
            try:
                self.intrinsics = CameraIntrinsics.from_camera_info(msg)
            except GeometryError as e:
                raise Dropped("malformed", f"CameraInfo: {e}") from e

    def on_guide_clusters(self, msg: PointCloud2) -> None:
        entry = (stamp_seconds(msg.header.stamp), clusters_from_cloud(msg))
        with self.guide_ready:
            if self.guide_clusters and clock_reset(entry[0], self.guide_clusters[-1][0]):
                self.guide_clusters.clear()    # a bag restarted: the old run's clusters are no guide
            self.guide_clusters.append(entry)
            self.guide_ready.notify_all()

    def _wait_for_guide(self, msg: Image) -> None:
        """``enqueue``'s ``prepare``: outside the state lock, wait (``guide.wait_s``) for the first clusters
        at or after the image's stamp, so that the nearest is chosen by stamp, not by which arrived first
        (the clusters' callback takes no state lock)."""
        guide = self.config.guide
        if guide.mode != "lidar":
            return
        stamp_s = stamp_seconds(msg.header.stamp)
        with self.guide_ready:
            self.guide_wait.until(
                lambda: bool(self.guide_clusters) and self.guide_clusters[-1][0] >= stamp_s, guide.wait_s)
        self.health.values["guide_waits_in_vain"] = str(self.guide_wait.in_vain)

    def _segment_guided(self, bgr: np.ndarray, stamp_s: float) -> list:
        """LiDAR-guided detections for the image at ``stamp_s`` (see the module docstring)."""
        guide = self.config.guide
        if self.intrinsics is None or (self.intrinsics.width, self.intrinsics.height) != bgr.shape[1::-1]:
            raise Dropped("no_camera_info", f"image {bgr.shape[1]}x{bgr.shape[0]}: guided segmentation "
                          "needs the camera's CameraInfo")
        with self.guide_ready:       # _wait_for_guide waited for the clusters at or after the image
            buf = list(self.guide_clusters)
        i = min(range(len(buf)), key=lambda n: abs(buf[n][0] - stamp_s), default=None)
        if i is None or abs(buf[i][0] - stamp_s) > guide.max_offset_s:
            v = self.health.values
            v["guide_no_clusters"] = str(int(v.get("guide_no_clusters", "0")) + 1)
            return []
        self.health.values["guide_offset_ms"] = f"{1000 * (buf[i][0] - stamp_s):.0f}"
        clusters = buf[i][1]
        if i > 0 and guide.predict:         # move the clusters to the image stamp (constant velocity)
            clusters = predict_clusters(buf[i - 1][1], buf[i - 1][0], clusters, buf[i][0], stamp_s)
        T = RigidTransform.from_xyz_quat(guide.translation_m, guide.rotation_xyzw)
        return segment_guided(bgr, clusters, projection_matrix(self.intrinsics.K, T.R, T.t), guide)

    def on_image(self, msg: Image, _prepared: None = None) -> None:
        cfg: CameraSegmenterNodeConfig = self.config
        if self._first_image_s is None:
            self._first_image_s = time.monotonic()
        if self.check_order(self.order, msg.header.stamp) == "reset":
            self.segmenter = CameraSegmenter(cfg.segmenter)
            self.cache.clear()
        if cfg.require_camera_info and (self.info is None or self.info[:2] != (msg.width, msg.height)):
            raise Dropped("no_camera_info", f"image {msg.width}x{msg.height}, last CameraInfo "
                          f"{'none' if self.info is None else f'{self.info[0]}x{self.info[1]}'}")
        image = imgmsg_to_cv2(msg, "mono8" if msg.encoding in MONO_ENCODINGS else "bgr8")
        if cfg.guide.mode == "lidar":   # GrabCut wants colour; an IR (mono) frame is replicated
            bgr = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
            detections = self._segment_guided(bgr, stamp_seconds(msg.header.stamp))
        else:
            detections = self.segmenter.segment(image)
        labels = label_image(detections, image.shape[:2])
        header = msg.header
        if cfg.frame_id:
            header.frame_id = cfg.frame_id
        self.det_pub.publish(cv2_to_imgmsg(labels, "mono16", header=header))
        self.health.values["people_last_frame"] = str(len(detections))
        self.health.values["warming_up"] = str(cfg.guide.mode != "lidar" and self.segmenter.warming_up)
        self.health.values["background_restarts"] = str(self.segmenter.restarts)
        if self._annotating():
            self.cache[_key(header.stamp)] = (image, labels, header)
            while len(self.cache) > cfg.annotation_cache_frames:
                self.cache.popitem(last=False)

    def _annotating(self) -> bool:
        """Draw only while someone listens: the drawing cost ~1 ms per frame (RESULTS, integrated release)."""
        return self.config.publish_annotated and self.ann_pub.get_subscription_count() > 0

    def on_match(self, msg: String) -> None:
        match = MatchMsg.from_json(msg.data)
        if match.sensor != self.sensor:
            return
        self.global_ids[match.track_id] = match
        self.global_ids.move_to_end(match.track_id)
        while len(self.global_ids) > MAX_REMEMBERED_TRACKS:
            self.global_ids.popitem(last=False)

    def on_tracks(self, msg: String) -> None:
        head, tracks = tracks_from_json(msg.data)
        key = (int(head["stamp"]["sec"]), int(head["stamp"]["nanosec"]))
        cached = self.cache.pop(key, None)
        if cached is None:
            if self._annotating():
                self.health.values["annotation_cache_misses"] = str(
                    int(self.health.values.get("annotation_cache_misses", "0")) + 1)
            return
        image, labels, header = cached
        bgr = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image
        notes = []
        for t in tracks:
            m = self.global_ids.get(t.track_id)
            notes.append(Annotation(
                bbox_xyxy=tuple(t.box), mask=(labels == t.detection) if t.detection > 0 else None,
                track_id=t.track_id, global_id=None if m is None else m.global_id,
                known=None if m is None else m.known, distance=None if m is None else m.distance))
        image = draw_annotations(bgr, notes)
        self.ann_pub.publish(cv2_to_imgmsg(image, "bgr8", header=header))


def main(args: list[str] | None = None) -> int:
    return run_single(CameraSegmenterNode, args)


if __name__ == "__main__":
    sys.exit(main())
