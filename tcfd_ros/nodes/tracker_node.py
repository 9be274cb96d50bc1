"""tracker (one per sensor): ``detections`` (camera) or ``clusters`` (LiDAR) -> ``tracks``, ``tracklets``.

Thin: decodes the segmenter's message into ``Measurement`` objects (``perception.sensor_tracking``:
silhouettes through ``align_silhouette``, depth maps through ``points_to_depth_map``), runs
``SensorTracking`` (Kalman tracks, tracklet buffers, fixed-frame ground positions) and publishes ready
tracklets (JSON ``tcfd_ros/tracklet`` v2) and every frame's confirmed tracks (``tcfd_ros/tracks`` v2, for
markers and annotation). Stamps are the input stamps. A camera tracker also reads ``camera_info`` (the
intrinsics of its ground positions) and ``image_raw`` (the image with the detections' stamp gives each
detection its clothing colour, ``perception.appearance``, when the tracker's appearance terms are on); where
the sensor sits comes from ``nodes.placement`` (tf2, or the ``calibration`` parameters and the platform
pose topic).
"""

from __future__ import annotations

from functools import partial
import sys
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import String

from tcfd_ros.errors import MessageFormatError
from tcfd_ros.geometry import GeometryError
from tcfd_ros.geometry.calibration import CameraIntrinsics
from tcfd_ros.graph import CLUSTERS, DETECTIONS, TRACKLETS, TRACKS
from tcfd_ros.image_conversions import imgmsg_to_cv2
from tcfd_ros.messages import stamp_dict
from tcfd_ros.nodes.base import Dropped, StampOrder, TcfdNode, run_single, stamp_seconds
from tcfd_ros.nodes.image_cache import ImageCache
from tcfd_ros.nodes.node_configs import TrackerNodeConfig, camera_tracker_node_config
from tcfd_ros.nodes.placement import make_placement, wait_for_platform_pose
from tcfd_ros.nodes.qos import OUTPUT_QOS, sensor_qos
from tcfd_ros.perception.ground import NoTransform
from tcfd_ros.perception.sensor_tracking import (  # noqa: F401 - re-exported for callers of this module
    SILHOUETTE_SIZE,
    SensorTracking,
    camera_measurements,
    lidar_measurements,
)
from tcfd_ros.perception.track import MultiTargetTracker
from tcfd_ros.perception.tracklet import TrackletBuffer
from tcfd_ros.point_cloud2 import read_points
from tcfd_ros.track_messages import TrackletMsg, tracks_to_json

CAMERA_INFO = "camera_info"
IMAGE = "image_raw"
#: Camera images kept for the clothing colours of detections that arrive later (1 s at 15 Hz; the
#: segmenter publishes a frame's detections well within that).
IMAGES_KEPT = 15
#: Detections whose image is still on its way wait this long (s) for it (``ImageCache``): it normally
#: comes within milliseconds; a step without colours could give other tracks.
IMAGE_WAIT_S = 0.25
#: Images count as arriving while the newest is at most this much older (s) than the detections.
IMAGE_STREAM_GAP_S = 1.0


class TrackerNode(TcfdNode):
    def __init__(self, name: str = "tracker", **kwargs: Any) -> None:
        super().__init__(name, self._defaults, **kwargs)
        cfg: TrackerNodeConfig = self.config
        self.sensor = cfg.sensor or self.get_namespace().strip("/").split("/")[-1] or name
        self._reset_state()
        self.tracks_pub = self.create_publisher(String, TRACKS, OUTPUT_QOS)
        self.tracklets_pub = self.create_publisher(String, TRACKLETS, OUTPUT_QOS)
        self.camera: CameraIntrinsics | None = None
        self._camera_key: tuple | None = None
        self._images = ImageCache(IMAGES_KEPT, IMAGE_WAIT_S, IMAGE_STREAM_GAP_S)
        if cfg.modality == "2d":
            self.input = DETECTIONS
            self.create_subscription(Image, DETECTIONS, lambda m: self.enqueue(
                DETECTIONS, self.on_detections, m, prepare=self._prepare_detections), OUTPUT_QOS)
            self.create_subscription(Image, IMAGE, lambda m: self.process_now(IMAGE, self.on_image, m),
                                     sensor_qos(cfg.input_reliability))
            self.create_subscription(CameraInfo, CAMERA_INFO, lambda m: self.process_now(
                CAMERA_INFO, self.on_camera_info, m), sensor_qos(cfg.input_reliability))
        else:
            self.input = CLUSTERS
            self.create_subscription(PointCloud2, CLUSTERS, lambda m: self.enqueue(
                CLUSTERS, self.on_clusters, m, prepare=partial(wait_for_platform_pose, self)), OUTPUT_QOS)
        self.health.watch(self.input)
        self.health.values["sensor"] = self.sensor
        self.health.values["modality"] = cfg.modality
        self.start()

    @staticmethod
    def _defaults(node: "TrackerNode") -> TrackerNodeConfig:
        """Pixels for a camera tracker, metres for a LiDAR tracker, chosen by the ``modality`` parameter."""
        modality = node.declare_parameter(
            "modality", "3d",
            ParameterDescriptor(description="2d: camera detections (pixels), 3d: LiDAR clusters (metres)",
                                read_only=True, additional_constraints="one of: 2d, 3d")).value
        return camera_tracker_node_config() if modality == "2d" else TrackerNodeConfig()

    def _reset_state(self) -> None:
        cfg: TrackerNodeConfig = self.config
        if not hasattr(self, "placement"):
            self.placement = make_placement(self, cfg.calibration)
        self.tracking = SensorTracking(cfg.modality, MultiTargetTracker(cfg.tracker),
                                       TrackletBuffer.from_config(cfg.tracklet, cfg.modality), self.placement)
        self.order = StampOrder()

    def on_config_change(self, config: TrackerNodeConfig, changed: set[str]) -> None:
        # Tracker and buffers hold the tracks: new gates/limits start a fresh tracking state. New
        # extrinsics keep the received platform poses (the pose subscription is read-only).
        if any(n.startswith("calibration.") for n in changed):
            poses = self.placement.poses
            self.placement = type(self.placement)(config.calibration, self.placement.lookup)
            if poses is not None and self.placement.poses is not None:
                self.placement.poses = poses
        if any(n.startswith(("tracker.", "tracklet.", "calibration.")) for n in changed):
            self._reset_state()

    def on_camera_info(self, msg: CameraInfo) -> None:
        key = (tuple(msg.k), tuple(msg.d), msg.width, msg.height, msg.distortion_model)
        if key != self._camera_key:
            try:
                self.camera = CameraIntrinsics.from_camera_info(msg)
            except GeometryError as e:
                raise MessageFormatError(f"camera_info: {e}") from e
            self._camera_key = key

    def on_image(self, msg: Image) -> None:
        """Keep the newest camera images (undecoded) for the clothing colours of their detections."""
        self._images.put((msg.header.stamp.sec, msg.header.stamp.nanosec), msg)

    def _prepare_detections(self, detections: Image) -> Image | None:
        wait_for_platform_pose(self, detections)
        return self._colour_image_msg(detections)

    def _colour_image_msg(self, detections: Image) -> Image | None:
        """The image with the detections' stamp (``enqueue``'s ``prepare``: outside the state lock, waiting
        for one still on its way, ``ImageCache``), or None: appearance off, or not received (best-effort
        loss; the step runs without colours)."""
        if not self.config.tracker.uses_appearance:
            return None
        msg = self._images.get((detections.header.stamp.sec, detections.header.stamp.nanosec))
        self.health.values["appearance_image"] = "found" if msg is not None else "missing"
        self.health.values["appearance_images_waited_for"] = str(self._images.waited)
        self.health.values["appearance_images_missing"] = str(self._images.missing)
        return msg

    def on_detections(self, msg: Image, image: Image | None = None) -> None:
        """Step the tracker on a frame's labels; ``image`` (the frame's camera image) gives each detection
        its clothing colour where it is bgr8 or rgb8 (mono8 or another encoding: none)."""
        if msg.encoding != "mono16":
            raise MessageFormatError(f"detections Image.encoding = {msg.encoding!r}: "
                                     "expected 'mono16' labels")
        colour = None
        if image is not None and image.encoding in ("bgr8", "rgb8"):
            try:
                colour = imgmsg_to_cv2(image, "bgr8")
            except (MessageFormatError, ValueError):
                colour = None
        self._step(msg.header, camera_measurements(imgmsg_to_cv2(msg), colour))

    def on_clusters(self, msg: PointCloud2, _prepared: None = None) -> None:
        points = read_points(msg).reshape(-1)
        names = points.dtype.names or ()
        missing = [f for f in ("x", "y", "z", "cluster") if f not in names]
        if missing:
            raise MessageFormatError(f"clusters PointCloud2.fields {list(names)}: missing {missing}")
        self._step(msg.header, lidar_measurements(points, self.config.tracklet.min_lidar_points))

    def _step(self, header: Any, measurements: list) -> None:
        if self.check_order(self.order, header.stamp) == "reset":
            self._reset_state()
            self.check_order(self.order, header.stamp)  # the fresh order accepts this stamp if it succeeds
        t = stamp_seconds(header.stamp)
        stamp = stamp_dict(header.stamp.sec, header.stamp.nanosec)
        cfg: TrackerNodeConfig = self.config
        try:
            result = self.tracking.step(t, header.frame_id, measurements, self.camera)
        except NoTransform as e:  # LiDAR tracking in the fixed frame needs the sensor's pose
            raise Dropped("no_transform", str(e)) from e
        for r in result.ready:
            self.tracklets_pub.publish(String(data=TrackletMsg(
                stamp, header.frame_id, self.sensor, cfg.modality, r.tracklet.track_id,
                tuple(float(s) for s in r.tracklet.stamps), r.position, r.tracklet.frames,
                r.ground, r.ground_sigma_m, result.fixed_frame).to_json()))
        self.tracks_pub.publish(String(data=tracks_to_json(stamp, header.frame_id, self.sensor, cfg.modality,
                                                           result.states, result.fixed_frame)))
        self.health.values["live_tracks"] = str(len(self.tracking.tracker.tracks))
        self.health.values["tracks_reacquired"] = str(self.tracking.tracker.reacquired)
        self.health.values["parts_rescued"] = str(self.tracking.tracker.parts_rescued)
        self.health.values["tracklet_frames_held"] = str(self.tracking.buffer.frames_held)
        self.health.values["tracklet_frames_too_sparse"] = str(self.tracking.sparse_frames)
        self.health.values["fixed_frame"] = result.fixed_frame or f"none ({result.placement_error})"


def main(args: list[str] | None = None) -> int:
    return run_single(TrackerNode, args)


if __name__ == "__main__":
    sys.exit(main())
