"""lidar_segmenter: ``points`` (PointCloud2) -> ``clusters`` (person points, ``cluster`` field 1..K).

Thin: decodes the cloud with ``tcfd_ros.point_cloud2``, calls ``LidarSegmenter``, packs the people's
points back with the input header. Malformed clouds, clouds without x/y/z, empty clouds and stamps
that go backwards are dropped and counted (``/diagnostics``).

On a moving platform (``calibration``: extrinsics on ``base_frame`` with the platform pose topic, or tf2)
the sensor's pose in the fixed frame at each cloud's stamp goes to the segmenter, which keeps its static
memories there; a cloud whose pose is missing is still segmented, without them (counted as
``static_memory_skipped`` in ``/diagnostics``).
"""

from __future__ import annotations

from functools import partial
import sys
from typing import Any

import numpy as np
from numpy.lib.recfunctions import structured_to_unstructured
from sensor_msgs.msg import PointCloud2

from tcfd_ros.errors import MessageFormatError
from tcfd_ros.graph import CLUSTERS, LIDAR_SEGMENTER
from tcfd_ros.geometry.calibration import RigidTransform
from tcfd_ros.nodes.base import Dropped, StampOrder, TcfdNode, run_single, stamp_seconds
from tcfd_ros.nodes.node_configs import LidarSegmenterNodeConfig
from tcfd_ros.nodes.placement import make_placement, wait_for_platform_pose
from tcfd_ros.nodes.qos import OUTPUT_QOS, sensor_qos
from tcfd_ros.perception.ground import NoTransform
from tcfd_ros.perception.segment_lidar import LidarCluster, LidarSegmenter
from tcfd_ros.point_cloud2 import create_cloud, dtype_to_fields, read_points

POINTS = "points"
# The ``clusters`` layout of DESIGN.md: x, y, z, intensity float32 and the cluster number uint16.
CLUSTER_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("intensity", "<f4"), ("cluster", "<u2")])


def clusters_to_points(points: np.ndarray, clusters: list[LidarCluster]) -> np.ndarray:
    """Structured CLUSTER_DTYPE rows of every cluster's points; intensity copied when the input has it."""
    total = sum(c.num_points for c in clusters)
    out = np.zeros(total, dtype=CLUSTER_DTYPE)
    names = points.dtype.names or ()
    row = 0
    for k, c in enumerate(clusters, start=1):
        src = points[c.indices]
        n = len(src)
        for axis in ("x", "y", "z"):
            out[axis][row:row + n] = src[axis]
        if "intensity" in names:
            out["intensity"][row:row + n] = src["intensity"]
        out["cluster"][row:row + n] = k
        row += n
    return out


class LidarSegmenterNode(TcfdNode):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(LIDAR_SEGMENTER, LidarSegmenterNodeConfig(), **kwargs)
        self.segmenter = LidarSegmenter(self.config.segmenter)
        self.placement = make_placement(self, self.config.calibration)
        self.memory_skipped = 0
        self.order = StampOrder()
        self.pub = self.create_publisher(PointCloud2, CLUSTERS, OUTPUT_QOS)
        self.health.watch(POINTS)
        self.create_subscription(PointCloud2, POINTS, lambda m: self.enqueue(
                                     POINTS, self.on_cloud, m, prepare=partial(wait_for_platform_pose, self)),
                                 sensor_qos(self.config.input_reliability),
                                 event_callbacks=self.transport_losses(POINTS))
        self.start()

    def on_config_change(self, config: LidarSegmenterNodeConfig, changed: set[str]) -> None:
        if any(n.startswith("calibration.") for n in changed):
            poses = self.placement.poses     # the received platform poses stay (as in the tracker)
            self.placement = type(self.placement)(config.calibration, self.placement.lookup)
            if poses is not None and self.placement.poses is not None:
                self.placement.poses = poses
        if any(n.startswith(("segmenter.", "calibration.")) for n in changed):
            # A new segmenter: gates apply from the next cloud; a learned static background restarts.
            self.segmenter = LidarSegmenter(config.segmenter)

    def sensor_pose(self, frame_id: str, stamp_s: float) -> RigidTransform | None:
        """fixed frame <- sensor at the cloud's stamp on a moving platform; None for a fixed sensor.

        A sensor with static extrinsics (or none) keeps the segmenter's memories in its own frame, which
        is fixed already. On a platform whose pose is missing at this stamp: None, counted.
        """
        p = self.placement
        if p.poses is None and p.lookup is None:
            return None
        try:
            return p.fixed_from_sensor(frame_id, stamp_s)
        except NoTransform as e:
            self.memory_skipped += 1
            self.health.values["static_memory_skipped"] = str(self.memory_skipped)
            if self.memory_skipped == 1:
                self.get_logger().warning(f"no platform pose for a cloud: segmented without the static "
                                          f"memories ({e})")
            return None

    def on_cloud(self, msg: PointCloud2, _prepared: None = None) -> None:
        if self.check_order(self.order, msg.header.stamp) == "reset":
            self.segmenter = LidarSegmenter(self.config.segmenter)
        points = read_points(msg)
        names = points.dtype.names or ()
        missing = [a for a in ("x", "y", "z") if a not in names]
        if missing:
            raise MessageFormatError(f"PointCloud2.fields {list(names)}: missing {missing}")
        if points.size == 0:
            raise Dropped("empty_cloud",
                          f"cloud with width = {msg.width}, height = {msg.height} has no points")
        points = points.reshape(-1)
        # a view of the x, y, z fields where they are adjacent and of one type (no copy of the cloud)
        xyz = structured_to_unstructured(points[["x", "y", "z"]], copy=False)
        # the ring field (beam number) lets the segmenter measure the sensor's beams (16, 32, 64...)
        pose = self.sensor_pose(msg.header.frame_id, stamp_seconds(msg.header.stamp))
        clusters = self.segmenter.segment(xyz, ring=points["ring"] if "ring" in names else None,
                                          fixed_from_sensor=pose)
        out = create_cloud(msg.header, dtype_to_fields(CLUSTER_DTYPE), clusters_to_points(points, clusters))
        if self.config.frame_id:
            out.header.frame_id = self.config.frame_id
        self.pub.publish(out)
        self.health.values["people_last_frame"] = str(len(clusters))
        self.health.values["static_memory_frame"] = self.segmenter.last_stats.memory_frame


def main(args: list[str] | None = None) -> int:
    return run_single(LidarSegmenterNode, args)


if __name__ == "__main__":
    sys.exit(main())
