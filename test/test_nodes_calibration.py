"""Tracker nodes over real DDS with calibration: camera_info + extrinsics params, platform pose topic."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header, String

from tcfd_ros.geometry.calibration import CameraIntrinsics, RigidTransform
from tcfd_ros.graph import build_graph
from tcfd_ros.image_conversions import cv2_to_imgmsg
from tcfd_ros.nodes.bringup import node_arguments
from tcfd_ros.nodes.lidar_segmenter_node import CLUSTER_DTYPE
from tcfd_ros.nodes.placement import tf2_available
from tcfd_ros.nodes.qos import OUTPUT_QOS, SENSOR_QOS
from tcfd_ros.nodes.tracker_node import TrackerNode
from tcfd_ros.point_cloud2 import create_cloud, dtype_to_fields
from tcfd_ros.sim.sensors import camera_pose

from test_nodes_harness import RosHarness, wait_for

pytestmark = pytest.mark.ros
CONFIG = Path(__file__).resolve().parents[1] / "config" / "crossmodal.yaml"
K = [300.0, 0.0, 160.0, 0.0, 300.0, 120.0, 0.0, 0.0, 1.0]
MAP_FROM_CAM = RigidTransform(*camera_pose((0.0, 0.0, 3.0), 0.0, math.radians(15)))
BASE_FROM_LIDAR = RigidTransform.from_xyz_rpy((0.0, 0.0, 1.0), (0, 0, 0))


def _args(name: str, params: dict) -> dict:
    spec = next(s for s in build_graph().nodes if s.name == name)
    return dict(namespace=spec.namespace, cli_args=node_arguments(spec, CONFIG), use_global_arguments=False,
                parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])


def _calib(T: RigidTransform, parent: str) -> dict:
    return {"calibration.source": "params", "calibration.parent_frame": parent,
            "calibration.translation_m": [float(v) for v in T.t],
            "calibration.rotation_xyzw": [float(v) for v in T.quaternion()]}


def _header(t: float, frame: str) -> Header:
    h = Header()
    h.stamp.sec, h.stamp.nanosec = int(t), int(round((t % 1) * 1e9))
    h.frame_id = frame
    return h


@pytest.fixture(scope="module")
def graph():
    h = RosHarness()
    cam = h.add(TrackerNode(name="camera_tracker", context=h.context,
                            **_args("camera_tracker", _calib(MAP_FROM_CAM, "map"))))
    lid = h.add(TrackerNode(name="lidar_tracker", context=h.context,
                            **_args("lidar_tracker", _calib(BASE_FROM_LIDAR, "base_link"))))
    probe = h.add(Node("calib_probe", context=h.context))
    got: dict[str, list] = {}
    for topic in ("/camera/tracks", "/lidar/tracks", "/lidar/tracklets"):
        probe.create_subscription(String, topic, lambda m, t=topic: got.setdefault(t, []).append(m),
                                  OUTPUT_QOS)
    pubs = {"det": probe.create_publisher(Image, "/camera/detections", OUTPUT_QOS),
            "info": probe.create_publisher(CameraInfo, "/camera/camera_info", SENSOR_QOS),
            "clusters": probe.create_publisher(PointCloud2, "/lidar/clusters", OUTPUT_QOS),
            "pose": probe.create_publisher(PoseStamped, "/platform_pose",
                                           QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))}
    wait_for(lambda: all(p.get_subscription_count() for p in pubs.values()))
    yield h, cam, lid, pubs, got
    h.close()


def _person_cloud(t: float, map_from_base: RigidTransform, person_map: np.ndarray, seed: int,
                  spread_m: float) -> PointCloud2:
    """A clusters cloud holding one person at ``person_map`` as the LiDAR on the platform sees them."""
    c = map_from_base.compose(BASE_FROM_LIDAR).inverse().apply(person_map)
    rng = np.random.default_rng(seed)
    pts = np.zeros(200, CLUSTER_DTYPE)
    pts["x"], pts["y"] = c[0] + rng.normal(0, spread_m, 200), c[1] + rng.normal(0, spread_m, 200)
    pts["z"], pts["cluster"] = c[2] + rng.uniform(-0.8, 0.8, 200), 1
    return create_cloud(_header(t, "lidar"), dtype_to_fields(CLUSTER_DTYPE), pts)


def _pose_msg(t: float, map_from_base: RigidTransform) -> PoseStamped:
    pose = PoseStamped()
    pose.header = _header(t, "map")
    pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = (float(x) for x in map_from_base.t)
    o = pose.pose.orientation
    o.x, o.y, o.z, o.w = (float(x) for x in map_from_base.quaternion())
    return pose


@pytest.mark.skipif(tf2_available(), reason="tf2_ros present: the nodes would take extrinsics from tf2")
def test_a_cloud_that_arrives_before_its_platform_pose_waits_for_it(graph):
    # a replay or a robot publishes the pose beside the clouds, and either can arrive first: the tracker
    # waits (calibration.pose_wait_s) instead of dropping the cloud or placing it by the pose of 0.1 s before
    h, cam, lid, pubs, got = graph
    person_map = np.array([4.0, 3.0, 0.9])
    pubs["pose"].publish(_pose_msg(89.9, RigidTransform.from_xyz_rpy((-0.5, 0.0, 0.0), (0, 0, -0.3))))
    wait_for(lambda: lid.placement.poses is not None and len(lid.placement.poses) == 1, timeout_s=5)
    for i in range(8):
        t = 90.0 + 0.1 * i
        map_from_base = RigidTransform.from_xyz_rpy((0.5 * i, 0.0, 0.0), (0, 0, 0.3 * i))
        pubs["clusters"].publish(_person_cloud(t, map_from_base, person_map, i, 0.05))
        time.sleep(0.08)                                   # the pose comes after its cloud
        pubs["pose"].publish(_pose_msg(t, map_from_base))
        wait_for(lambda: len(lid.placement.poses) == i + 2, timeout_s=5)

    def placed() -> list:
        return [tr["ground"] for m in got.get("/lidar/tracks", []) for tr in json.loads(m.data)["tracks"]
                if tr["ground"] is not None]
    wait_for(lambda: len(placed()) >= 6, timeout_s=15)
    off = [float(np.linalg.norm(np.array(g[:2]) - person_map[:2])) for g in placed()]
    assert max(off) < 0.25, off
    assert dict(lid.health.key_values()).get("clusters: dropped.no_transform") in (None, "0")


@pytest.mark.skipif(tf2_available(), reason="tf2_ros present: the nodes would take extrinsics from tf2")
def test_camera_tracks_carry_ground_from_camera_info_and_extrinsics(graph):
    h, cam, lid, pubs, got = graph
    info = CameraInfo(width=320, height=240, distortion_model="plumb_bob", k=K, d=[0.0] * 5)
    intr = CameraIntrinsics.from_camera_info(info)
    foot_map = np.array([9.0, 1.0, 0.0])
    uv, _ = intr.project(MAP_FROM_CAM.inverse().apply(foot_map[None]))
    u, v = uv[0]
    for i in range(8):
        t = 50.0 + i / 15
        info.header = _header(t, "camera_optical_frame")
        pubs["info"].publish(info)
        labels = np.zeros((240, 320), np.uint16)
        labels[int(v) - 60:int(v), int(u) - 12:int(u) + 12] = 1
        msg = cv2_to_imgmsg(labels, "mono16")
        msg.header = _header(t, "camera_optical_frame")
        pubs["det"].publish(msg)
    wait_for(lambda: any(json.loads(m.data)["tracks"] for m in got.get("/camera/tracks", [])), timeout_s=15)
    d = json.loads([m for m in got["/camera/tracks"] if json.loads(m.data)["tracks"]][-1].data)
    assert d["version"] == 3 and d["fixed_frame"] == "map"
    g = np.array(d["tracks"][0]["ground"])
    expected = foot_map + 0.1 * np.array([9.0, 1.0, 0.0]) / math.hypot(9.0, 1.0)   # foot_offset_m
    assert np.linalg.norm(g[:2] - expected[:2]) < 0.15, (g, expected)
    assert 0 < d["tracks"][0]["ground_sigma_m"] < 1.0
    # stature: the height above the ground point whose projection is the box's top row (int(v) - 60)
    heights = np.linspace(0.5, 2.5, 2001)
    column = np.column_stack([np.full_like(heights, g[0]), np.full_like(heights, g[1]), heights])
    rows = intr.project(MAP_FROM_CAM.inverse().apply(column))[0][:, 1]
    top = int(v) - 60
    expected_h = heights[np.argmin(np.abs(rows - top))]
    assert abs(d["tracks"][0]["stature_m"] - expected_h) < 0.02, (d["tracks"][0]["stature_m"], expected_h)


@pytest.mark.skipif(tf2_available(), reason="tf2_ros present: the nodes would take extrinsics from tf2")
def test_lidar_on_a_moving_base_uses_the_platform_pose_topic(graph):
    h, cam, lid, pubs, got = graph
    person_map = np.array([4.0, 3.0, 0.9])
    for i in range(12):
        t = 80.0 + 0.1 * i
        map_from_base = RigidTransform.from_xyz_rpy((0.3 * i, 0.0, 0.0), (0, 0, 0.2 * i))
        pubs["pose"].publish(_pose_msg(t, map_from_base))
        wait_for(lambda: lid.placement.poses is not None and len(lid.placement.poses) > i, timeout_s=5)
        pubs["clusters"].publish(_person_cloud(t, map_from_base, person_map, i, 0.1))
    wait_for(lambda: any(json.loads(m.data)["tracks"] for m in got.get("/lidar/tracks", [])), timeout_s=15)
    d = json.loads([m for m in got["/lidar/tracks"] if json.loads(m.data)["tracks"]][-1].data)
    assert d["fixed_frame"] == "map" and len(d["tracks"]) == 1
    g = np.array(d["tracks"][0]["ground"])
    assert np.linalg.norm(g[:2] - person_map[:2]) < 0.25, g
    # a cloud stamped long after the last pose is dropped, counted, and the node keeps running
    pubs["clusters"].publish(_person_cloud(200.0, map_from_base, person_map, 0, 0.1))
    wait_for(lambda: dict(lid.health.key_values()).get("clusters: dropped.no_transform") == "1", timeout_s=5)


def test_tf2_source_without_tf2_ros_is_refused_at_start():
    if tf2_available():
        pytest.skip("tf2_ros is importable here: source tf2 is valid")
    from tcfd_ros.errors import ConfigError
    from tcfd_ros.nodes.placement import make_placement
    from tcfd_ros.perception.calibration_config import CalibrationConfig

    with pytest.raises(ConfigError, match="tf2_ros is not importable"):
        make_placement(None, CalibrationConfig(source="tf2"))


@pytest.mark.skipif(not tf2_available(), reason="tf2_ros is not installable from PyPI (it comes with a ROS "
                    "installation); the params + pose-topic path is tested above")
def test_tf2_source_takes_the_extrinsics_from_tf2():
    import tf2_ros
    from geometry_msgs.msg import TransformStamped

    h = RosHarness()
    try:
        lid = h.add(TrackerNode(name="lidar_tracker", context=h.context, **_args("lidar_tracker", {
            "calibration.source": "tf2"})))
        probe = h.add(Node("tf2_probe", context=h.context))
        got: list = []
        probe.create_subscription(String, "/lidar/tracks", got.append, OUTPUT_QOS)
        broadcaster = tf2_ros.StaticTransformBroadcaster(probe)
        tr = TransformStamped()
        tr.header.frame_id, tr.child_frame_id = "map", "lidar"
        tr.transform.translation.x, tr.transform.translation.z = 2.0, 1.5
        tr.transform.rotation.w = 1.0
        broadcaster.sendTransform(tr)
        pub = probe.create_publisher(PointCloud2, "/lidar/clusters", OUTPUT_QOS)
        wait_for(lambda: pub.get_subscription_count())
        for i in range(6):
            pts = np.zeros(100, CLUSTER_DTYPE)
            pts["x"], pts["y"], pts["z"], pts["cluster"] = 5.0, 0.0, np.linspace(-1.4, 0.2, 100), 1
            pub.publish(create_cloud(_header(10.0 + 0.1 * i, "lidar"), dtype_to_fields(CLUSTER_DTYPE), pts))
        wait_for(lambda: any(json.loads(m.data)["tracks"] for m in got), timeout_s=15)
        d = json.loads([m for m in got if json.loads(m.data)["tracks"]][-1].data)
        assert d["fixed_frame"] == "map"
        assert abs(d["tracks"][0]["ground"][0] - (7.0 + lid.config.calibration.lidar_offset_m)) < 0.05
    finally:
        h.close()


def test_an_image_that_arrives_before_its_guiding_clusters_waits_for_them():
    # a moving camera is segmented where the LiDAR's clusters project; the image and the clusters of its
    # moment arrive in either order, and the image is paired with the clusters nearest it by stamp, not with
    # the older ones that happened to be there (guide.wait_s)
    from tcfd_ros.nodes.camera_segmenter_node import CameraSegmenterNode

    h = RosHarness()
    try:
        seg = h.add(CameraSegmenterNode(context=h.context,
                                        **_args("camera_segmenter", {"guide.mode": "lidar"})))
        probe = h.add(Node("guide_probe", context=h.context))
        pubs = {"image": probe.create_publisher(Image, "/camera/image_raw", SENSOR_QOS),
                "info": probe.create_publisher(CameraInfo, "/camera/camera_info", SENSOR_QOS),
                "clusters": probe.create_publisher(PointCloud2, "/lidar/clusters", OUTPUT_QOS)}
        wait_for(lambda: all(p.get_subscription_count() for p in pubs.values()))
        pts = np.zeros(100, CLUSTER_DTYPE)
        pts["x"], pts["y"], pts["z"], pts["cluster"] = 6.0, 0.0, np.linspace(-0.8, 0.8, 100), 1
        pubs["clusters"].publish(create_cloud(_header(9.9, "lidar"), dtype_to_fields(CLUSTER_DTYPE), pts))
        wait_for(lambda: len(seg.guide_clusters) == 1, timeout_s=5)
        for k, t in enumerate((10.0, 10.1)):
            info = CameraInfo(width=320, height=240, distortion_model="plumb_bob", k=K, d=[0.0] * 5)
            info.header = _header(t, "camera_optical_frame")
            pubs["info"].publish(info)
            img = cv2_to_imgmsg(np.full((240, 320, 3), 90, np.uint8), "bgr8")
            img.header = _header(t, "camera_optical_frame")
            pubs["image"].publish(img)
            time.sleep(0.08)                               # its clusters come after it
            pubs["clusters"].publish(create_cloud(_header(t, "lidar"), dtype_to_fields(CLUSTER_DTYPE), pts))
            wait_for(lambda: dict(seg.health.key_values()).get("image_raw: processed") == str(k + 1),
                     timeout_s=5)
        values = dict(seg.health.key_values())
        assert values.get("guide_offset_ms") == "0", values      # the clusters of its own stamp
        assert values.get("guide_no_clusters") in (None, "0")
        # the bag restarts: its first clusters replace the old run's, which are no guide for the new one
        assert len(seg.guide_clusters) == 3
        pubs["clusters"].publish(create_cloud(_header(2.0, "lidar"), dtype_to_fields(CLUSTER_DTYPE), pts))
        wait_for(lambda: [c[0] for c in seg.guide_clusters] == [2.0], timeout_s=5)
    finally:
        h.close()
