"""LiDAR static memories on a moving platform: kept in the fixed frame from the pose at each cloud's stamp.

A mannequin (a person-shaped object that never moves) seen from a LiDAR that drives and turns moves in the
sensor frame, so a sensor-frame memory never sees it stand still; with the platform pose it is dropped
once it has proved static, while a walker is reported throughout. Scenes: ``perception.scenes``
(analytic shapes, rings known), cast in the sensor frame at each pose.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from tcfd_ros.geometry.calibration import RigidTransform
from tcfd_ros.perception.config import LidarSegmenterConfig
from tcfd_ros.perception.scenes import SceneSpec, cast_scene_with_rings
from tcfd_ros.perception.segment_lidar import FIXED_FRAME, SENSOR_FRAME, LidarSegmenter

# a VLP-16 (16 beams, 2 deg apart) 2.2 m up, as in test_perception_lidar_sparse
VLP16 = dict(beams=16, elev_min_deg=-15.0, elev_max_deg=15.0, azimuth_steps=1800, sensor_height_m=2.2)
MANNEQUIN_WORLD = np.array([8.0, -3.0])


def _pose(k: int) -> RigidTransform:
    """fixed <- sensor at frame k: driving 0.15 m per frame along x while turning 1.5 deg per frame."""
    return RigidTransform.from_xyz_rpy((0.15 * k, 0.0, 2.2), (0.0, 0.0, math.radians(1.5 * k)))


def _walker_world(k: int) -> np.ndarray:
    return np.array([6.0 + 0.14 * k, 4.0])


def _in_sensor(T: RigidTransform, xy: np.ndarray) -> tuple[float, float]:
    p = T.inverse().apply(np.array([xy[0], xy[1], 0.0]))
    return float(p[0]), float(p[1])


def _found(clusters, xy, tol=0.5) -> bool:
    return any(math.hypot(c.centroid[0] - xy[0], c.centroid[1] - xy[1]) < tol for c in clusters)


def _drive(seg: LidarSegmenter, frames: int, with_pose) -> tuple[list[bool], list[bool]]:
    """Per frame: (mannequin found, walker found); ``with_pose(k)`` says whether frame k gets its pose."""
    seen_m, seen_w = [], []
    for k in range(frames):
        T = _pose(k)
        m, w = _in_sensor(T, MANNEQUIN_WORLD), _in_sensor(T, _walker_world(k))
        pts, ring = cast_scene_with_rings(SceneSpec(**VLP16, people=(m, w), seed=k))
        clusters = seg.segment(pts, ring=ring, fixed_from_sensor=T if with_pose(k) else None)
        seen_m.append(_found(clusters, m))
        seen_w.append(_found(clusters, w))
    return seen_m, seen_w


def test_a_mannequin_seen_from_a_moving_lidar_is_dropped_only_with_the_platform_pose():
    seg = LidarSegmenter()
    seen_m, seen_w = _drive(seg, 20, lambda k: True)
    assert all(seen_w)
    assert all(seen_m[:7]) and not any(seen_m[8:])
    assert seg.memory_frame == FIXED_FRAME and seg.last_stats.memory_frame == FIXED_FRAME
    # the same drive without the pose: in the sensor frame the mannequin keeps moving, so it stays
    seg = LidarSegmenter()
    seen_m, seen_w = _drive(seg, 20, lambda k: False)
    assert all(seen_w) and sum(seen_m[8:]) >= 10
    assert seg.memory_frame == SENSOR_FRAME


def test_a_cloud_without_a_pose_neither_uses_nor_updates_fixed_frame_memories():
    seg = LidarSegmenter()
    seen_m, _ = _drive(seg, 12, lambda k: k != 10)          # the pose of frame 10 is missing
    assert not seen_m[9] and seen_m[10] and not seen_m[11]  # frame 10: segmented without the memories
    assert seg.memory_frame == FIXED_FRAME
    # a pose after sensor-frame clouds restarts the memories in the fixed frame: it must prove static anew
    seg = LidarSegmenter()
    seen_m, _ = _drive(seg, 20, lambda k: k >= 5)
    assert seg.memory_frame == FIXED_FRAME
    assert all(seen_m[5:12]) and not any(seen_m[14:])


def test_a_fixed_sensor_without_a_pose_is_unchanged():
    """The pole case: no pose, sensor-frame memories, the same clusters as before the fixed-frame option."""
    cfg = dataclasses.replace(LidarSegmenterConfig())
    a, b = LidarSegmenter(cfg), LidarSegmenter(cfg)
    ident = RigidTransform.identity()
    for k in range(12):
        people = ((8.0, -3.0), (6.0 + 0.14 * k, 4.0))
        pts, ring = cast_scene_with_rings(SceneSpec(**VLP16, people=people, seed=k))
        ca = a.segment(pts, ring=ring)
        cb = b.segment(pts, ring=ring, fixed_from_sensor=ident)   # an identity pose: the same frame
        assert [c.indices.tolist() for c in ca] == [c.indices.tolist() for c in cb]
    assert a.memory_frame == SENSOR_FRAME and b.memory_frame == FIXED_FRAME


def test_replay_gives_a_lidar_on_a_moving_base_its_calibration_in_the_segmenter():
    from tcfd_ros import graph as g
    from tcfd_ros.nodes.bringup import parse_param
    from tcfd_ros.replay.calibration import SensorCalibration
    from tcfd_ros.replay.platform_mode import moving_platform_overrides

    spec = g.build_graph(("camera",), ("lidar",))
    base_from_lidar = RigidTransform.from_xyz_rpy((0.1, 0.0, 1.0), (0.0, 0.0, 0.3))
    lid = SensorCalibration("lidar", g.LIDAR_TRACKER, "lidar", "base_link", base_from_lidar)
    params, notes = moving_platform_overrides([lid], spec, "map")
    parsed = {(p.namespace, p.node, p.key): p.value for p in map(parse_param, params)}
    assert parsed[("lidar", g.LIDAR_SEGMENTER, "calibration.parent_frame")] == "base_link"
    assert parsed[("lidar", g.LIDAR_SEGMENTER, "calibration.base_frame")] == "base_link"
    T = RigidTransform.from_xyz_quat(parsed[("lidar", g.LIDAR_SEGMENTER, "calibration.translation_m")],
                                     parsed[("lidar", g.LIDAR_SEGMENTER, "calibration.rotation_xyzw")])
    np.testing.assert_allclose(T.matrix(), base_from_lidar.matrix(), atol=1e-9)
    assert any("keeps static objects in map" in n for n in notes)
    # a LiDAR on a pole (parent = the fixed frame) keeps its segmenter as it was
    pole = SensorCalibration("lidar", g.LIDAR_TRACKER, "lidar", "map", base_from_lidar)
    assert moving_platform_overrides([pole], spec, "map") == ([], [])
