"""lidar_segmenter node on a moving base over real DDS: platform pose topic -> fixed-frame static memories.

A mannequin that stands still in the map is seen from a LiDAR that drives and turns; the node takes the
pose on ``/platform_pose`` (as ``tcfd-ros replay`` republishes a bag's /tf) and drops the mannequin from
``clusters`` once it has proved static, while the walker stays. A cloud whose pose never came is still
segmented, counted in ``/diagnostics``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Header

from tcfd_ros.geometry.calibration import RigidTransform
from tcfd_ros.graph import build_graph
from tcfd_ros.nodes.bringup import node_arguments
from tcfd_ros.nodes.lidar_segmenter_node import LidarSegmenterNode
from tcfd_ros.nodes.placement import tf2_available
from tcfd_ros.nodes.qos import OUTPUT_QOS
from tcfd_ros.perception.scenes import SceneSpec, cast_scene_with_rings
from tcfd_ros.point_cloud2 import create_cloud, dtype_to_fields, read_points

from test_lidar_static_fixed_frame import MANNEQUIN_WORLD, VLP16, _in_sensor, _pose, _walker_world
from test_nodes_harness import RosHarness, wait_for

pytestmark = [pytest.mark.ros, pytest.mark.skipif(
    tf2_available(), reason="tf2_ros present: the node would take its pose from tf2, not the pose topic")]
CONFIG = Path(__file__).resolve().parents[1] / "config" / "crossmodal.yaml"
CLOUD_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("ring", "<u2")])
#: base_link <- lidar: the LiDAR 2.2 m up on the base (the scenes' sensor height), no rotation
LIDAR_ON_BASE = (0.0, 0.0, 2.2)
BASE_FROM_LIDAR = RigidTransform.from_xyz_rpy(LIDAR_ON_BASE, (0.0, 0.0, 0.0))


def _header(t: float, frame: str) -> Header:
    h = Header()
    h.stamp.sec, h.stamp.nanosec = int(t), int(round((t % 1) * 1e9))
    h.frame_id = frame
    return h


def test_segmenter_on_a_moving_base_drops_a_mannequin_by_the_platform_pose():
    spec = next(s for s in build_graph().nodes if s.name == "lidar_segmenter")
    params = {"calibration.source": "params", "calibration.parent_frame": "base_link",
              "calibration.translation_m": list(LIDAR_ON_BASE),
              "calibration.rotation_xyzw": [0.0, 0.0, 0.0, 1.0], "input_reliability": "reliable"}
    h = RosHarness()
    try:
        overrides = [Parameter(k, value=v) for k, v in params.items()]
        node = h.add(LidarSegmenterNode(context=h.context, namespace=spec.namespace,
                                        cli_args=node_arguments(spec, CONFIG), use_global_arguments=False,
                                        parameter_overrides=overrides))
        probe = h.add(Node("platform_probe", context=h.context))
        got: list[PointCloud2] = []
        probe.create_subscription(PointCloud2, "/lidar/clusters", got.append, OUTPUT_QOS)
        reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        pose_pub = probe.create_publisher(PoseStamped, "/platform_pose", reliable)
        cloud_pub = probe.create_publisher(PointCloud2, "/lidar/points", reliable)
        wait_for(lambda: pose_pub.get_subscription_count() and cloud_pub.get_subscription_count())
        frames = 16
        sent = []
        for k in range(frames):
            t = 300.0 + 0.1 * k
            # _pose(k) is map <- lidar; the node composes map <- base_link with base_link <- lidar
            map_from_base = _pose(k).compose(BASE_FROM_LIDAR.inverse())
            pose = PoseStamped()
            pose.header = _header(t, "map")
            p, o = pose.pose.position, pose.pose.orientation
            p.x, p.y, p.z = (float(v) for v in map_from_base.t)
            o.x, o.y, o.z, o.w = (float(v) for v in map_from_base.quaternion())
            pose_pub.publish(pose)
            wait_for(lambda: len(node.placement.poses) > k, timeout_s=5)
            m, w = _in_sensor(_pose(k), MANNEQUIN_WORLD), _in_sensor(_pose(k), _walker_world(k))
            xyz, ring = cast_scene_with_rings(SceneSpec(**VLP16, people=(m, w), seed=k))
            pts = np.zeros(len(xyz), CLOUD_DTYPE)
            pts["x"], pts["y"], pts["z"], pts["ring"] = xyz[:, 0], xyz[:, 1], xyz[:, 2], ring
            cloud_pub.publish(create_cloud(_header(t, "lidar"), dtype_to_fields(CLOUD_DTYPE), pts))
            sent.append((m, w))
            wait_for(lambda: len(got) > k, timeout_s=10)     # one cloud at a time: none dropped
        seen_m, seen_w = [], []
        for msg, (m, w) in zip(got, sent):
            c = read_points(msg)
            cents = [(float(c["x"][c["cluster"] == j].mean()), float(c["y"][c["cluster"] == j].mean()))
                     for j in np.unique(c["cluster"])]
            seen_m.append(any(np.hypot(x - m[0], y - m[1]) < 0.5 for x, y in cents))
            seen_w.append(any(np.hypot(x - w[0], y - w[1]) < 0.5 for x, y in cents))
        assert all(seen_w)
        assert all(seen_m[:7]) and not any(seen_m[8:])
        kv = dict(node.health.key_values())
        assert kv.get("static_memory_frame") == "fixed"
        # a cloud long after the last pose: segmented without the memories, counted, the node keeps running
        xyz, ring = cast_scene_with_rings(SceneSpec(**VLP16, people=sent[-1], seed=99))
        pts = np.zeros(len(xyz), CLOUD_DTYPE)
        pts["x"], pts["y"], pts["z"], pts["ring"] = xyz[:, 0], xyz[:, 1], xyz[:, 2], ring
        cloud_pub.publish(create_cloud(_header(400.0, "lidar"), dtype_to_fields(CLOUD_DTYPE), pts))
        wait_for(lambda: len(got) > frames, timeout_s=10)
        kv = dict(node.health.key_values())
        assert kv.get("static_memory_skipped") == "1" and kv.get("static_memory_frame") == "skipped"
        assert len(np.unique(read_points(got[-1])["cluster"])) == 2       # both reported this time
    finally:
        h.close()
