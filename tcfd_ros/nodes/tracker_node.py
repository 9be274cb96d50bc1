"""tracker (one per sensor): ``detections`` (camera) or ``clusters`` (LiDAR) -> ``tracks``, ``tracklets``.

Thin: turns the segmenter's message into ``Measurement`` objects whose payload is the 64x64 frame
(silhouette through ``align_silhouette``, depth map through ``points_to_depth_map``, the project's one
alignment and projection), runs ``MultiTargetTracker``, feeds ``TrackletBuffer`` and publishes
ready tracklets (JSON ``tcfd_ros/tracklet`` v1) and every frame's confirmed tracks (``tcfd_ros/tracks``
v1, for markers and annotation). Stamps are the input stamps.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
from rcl_interfaces.msg import ParameterDescriptor
from scipy import ndimage
from sensor_msgs.msg import Image, PointCloud2
from std_msgs.msg import String

from tcfd_ros.errors import MessageFormatError
from tcfd_ros.geometry.align import align_silhouette
from tcfd_ros.geometry.range_view import points_to_depth_map
from tcfd_ros.graph import CLUSTERS, DETECTIONS, TRACKLETS, TRACKS
from tcfd_ros.image_conversions import imgmsg_to_cv2
from tcfd_ros.nodes.base import StampOrder, TcfdNode, run_single, stamp_seconds
from tcfd_ros.nodes.json_messages import TrackletMsg, TrackState, stamp_dict, tracks_to_json
from tcfd_ros.nodes.node_configs import TrackerNodeConfig, camera_tracker_node_config
from tcfd_ros.nodes.qos import OUTPUT_QOS
from tcfd_ros.perception.track import Measurement, MultiTargetTracker
from tcfd_ros.perception.tracklet import TrackletBuffer
from tcfd_ros.point_cloud2 import read_points

SILHOUETTE_SIZE = 64


def camera_measurements(labels: np.ndarray) -> list[Measurement]:
    """One Measurement per instance label k >= 1: box centre (px), box size, aligned silhouette payload."""
    out: list[Measurement] = []
    for k, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        crop = (labels[sl] == k).astype(np.uint8) * 255
        y0, y1, x0, x1 = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
        out.append(Measurement(position=((x0 + x1) / 2.0, (y0 + y1) / 2.0), size=(x1 - x0, y1 - y0),
                               payload=(align_silhouette(crop, SILHOUETTE_SIZE), (x0, y0, x1, y1), k)))
    return out


def lidar_measurements(points: np.ndarray) -> list[Measurement]:
    """One Measurement per cluster number: ground-plane centroid (m), footprint, depth-map payload."""
    out: list[Measurement] = []
    cluster = points["cluster"]
    for k in np.unique(cluster):
        sel = points[cluster == k]
        xyz = np.stack([sel["x"], sel["y"], sel["z"]], axis=1).astype(np.float64)
        xyz = xyz[np.isfinite(xyz).all(axis=1)]
        if len(xyz) == 0:
            continue
        lo, hi = xyz.min(axis=0), xyz.max(axis=0)
        centroid = xyz.mean(axis=0)
        out.append(Measurement(position=(centroid[0], centroid[1]), size=(hi[0] - lo[0], hi[1] - lo[1]),
                               payload=(points_to_depth_map(xyz, size=SILHOUETTE_SIZE),
                                        (*lo, *hi), int(k), centroid)))
    return out


class TrackerNode(TcfdNode):
    def __init__(self, name: str = "tracker", **kwargs: Any) -> None:
        super().__init__(name, self._defaults, **kwargs)
        cfg: TrackerNodeConfig = self.config
        self.sensor = cfg.sensor or self.get_namespace().strip("/").split("/")[-1] or name
        self._reset_state()
        self.tracks_pub = self.create_publisher(String, TRACKS, OUTPUT_QOS)
        self.tracklets_pub = self.create_publisher(String, TRACKLETS, OUTPUT_QOS)
        if cfg.modality == "2d":
            self.input = DETECTIONS
            self.create_subscription(Image, DETECTIONS,
                                     lambda m: self.enqueue(DETECTIONS, self.on_detections, m), OUTPUT_QOS)
        else:
            self.input = CLUSTERS
            self.create_subscription(PointCloud2, CLUSTERS,
                                     lambda m: self.enqueue(CLUSTERS, self.on_clusters, m), OUTPUT_QOS)
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
        self.tracker = MultiTargetTracker(cfg.tracker)
        self.buffer = TrackletBuffer.from_config(cfg.tracklet, cfg.modality)
        self.order = StampOrder()
        self.extents: dict[int, tuple[float, ...]] = {}

    def on_config_change(self, config: TrackerNodeConfig, changed: set[str]) -> None:
        # Tracker and buffers hold the tracks: new gates/limits start a fresh tracking state.
        if any(n.startswith(("tracker.", "tracklet.")) for n in changed):
            self._reset_state()

    def on_detections(self, msg: Image) -> None:
        if msg.encoding != "mono16":
            raise MessageFormatError(f"detections Image.encoding = {msg.encoding!r}: "
                                     "expected 'mono16' labels")
        self._step(msg.header, camera_measurements(imgmsg_to_cv2(msg)))

    def on_clusters(self, msg: PointCloud2) -> None:
        points = read_points(msg).reshape(-1)
        names = points.dtype.names or ()
        missing = [f for f in ("x", "y", "z", "cluster") if f not in names]
        if missing:
            raise MessageFormatError(f"clusters PointCloud2.fields {list(names)}: missing {missing}")
        self._step(msg.header, lidar_measurements(points))

    def _step(self, header: Any, measurements: list[Measurement]) -> None:
        if self.check_order(self.order, header.stamp) == "reset":
            self._reset_state()
            self.check_order(self.order, header.stamp)  # the fresh order accepts this stamp if it succeeds
        t = stamp_seconds(header.stamp)
        stamp = stamp_dict(header.stamp.sec, header.stamp.nanosec)
        cfg: TrackerNodeConfig = self.config
        tracks = self.tracker.update(t, measurements)
        states: list[TrackState] = []
        for tr in tracks:
            pos = tr.position
            if tr.measurement_index >= 0:
                payload = measurements[tr.measurement_index].payload
                frame = payload[0]
                self.extents[tr.track_id] = payload[1]
                if cfg.modality == "3d":
                    position = tuple(float(v) for v in payload[3])
                else:
                    position = (float(pos[0]), float(pos[1]))
                ready = self.buffer.push(tr.track_id, t, frame, np.asarray(position))
                if ready is not None:
                    self.tracklets_pub.publish(String(data=TrackletMsg(
                        stamp, header.frame_id, self.sensor, cfg.modality, ready.track_id,
                        tuple(float(s) for s in ready.stamps),
                        tuple(float(v) for v in (ready.position if ready.position is not None else position)),
                        ready.frames).to_json()))
            detection = measurements[tr.measurement_index].payload[2] if tr.measurement_index >= 0 else -1
            states.append(self._state(tr, detection))
        live = {tr.track_id for tr in self.tracker.tracks}
        for dead in [k for k in self.extents if k not in live]:
            del self.extents[dead]
            self.buffer.drop(dead)
        self.buffer.prune(t)
        self.tracks_pub.publish(String(data=tracks_to_json(stamp, header.frame_id, self.sensor, cfg.modality,
                                                           states)))
        self.health.values["live_tracks"] = str(len(live))
        self.health.values["tracklet_frames_held"] = str(self.buffer.frames_held)

    def _state(self, tr: Any, detection: int) -> TrackState:
        """The track's filtered position with its last measured extent moved along with it."""
        pos = tr.position
        ext = self.extents.get(tr.track_id)
        if self.config.modality == "2d":
            w, h = (tr.size if tr.size is not None else (0.0, 0.0))
            return TrackState(tr.track_id, (float(pos[0]), float(pos[1])),
                              (pos[0] - w / 2, pos[1] - h / 2, pos[0] + w / 2, pos[1] + h / 2), detection)
        if ext is None:  # no cluster measured since a state reset: a point box at the filtered position
            ext = (pos[0], pos[1], 0.0, pos[0], pos[1], 0.0)
        lo, hi = np.array(ext[:3]), np.array(ext[3:])
        centre = (lo + hi) / 2
        shift = np.array([pos[0] - centre[0], pos[1] - centre[1], 0.0])
        return TrackState(tr.track_id, (float(pos[0]), float(pos[1]), float(centre[2])),
                          tuple(float(v) for v in np.concatenate([lo + shift, hi + shift])), detection)


def main(args: list[str] | None = None) -> int:
    return run_single(TrackerNode, args)


if __name__ == "__main__":
    sys.exit(main())
