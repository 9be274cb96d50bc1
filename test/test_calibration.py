"""Calibrated geometry (tcfd_ros.geometry.calibration): analytic cases and the simulator's conventions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from tcfd_ros.geometry import GeometryError
from tcfd_ros.geometry.calibration import (
    CameraIntrinsics,
    PoseBuffer,
    PoseLookupError,
    RigidTransform,
    box_corners,
    matrix_to_quaternion,
    pixels_to_ground,
    project_boxes,
    project_points,
    quaternion_to_matrix,
)
from tcfd_ros.sim.sensors import camera_model, camera_pose

RNG = np.random.default_rng(7)


def _cam(w=640, h=480, hfov=70.0) -> tuple[CameraIntrinsics, object]:
    m = camera_model(w, h, hfov, 15.0, 0.0)
    return CameraIntrinsics(m.K, np.zeros(5), w, h), m


def test_quaternion_matches_scipy_both_ways():
    for q in Rotation.random(50, random_state=3).as_quat():
        R = quaternion_to_matrix(q)
        np.testing.assert_allclose(R, Rotation.from_quat(q).as_matrix(), atol=1e-12)
        back = matrix_to_quaternion(R)
        assert back[3] >= 0
        np.testing.assert_allclose(np.abs(np.dot(back, q)), 1.0, atol=1e-12)


def test_rpy_is_fixed_axis_xyz_like_tf2():
    rpy = (0.1, -0.3, 1.2)
    T = RigidTransform.from_xyz_rpy((0, 0, 0), rpy)
    np.testing.assert_allclose(T.R, Rotation.from_euler("xyz", rpy).as_matrix(), atol=1e-12)
    yaw90 = RigidTransform.from_xyz_rpy((1.0, 2.0, 3.0), (0, 0, math.pi / 2))
    np.testing.assert_allclose(yaw90.apply([1.0, 0, 0]), [1.0, 3.0, 3.0], atol=1e-12)


def test_compose_inverse_apply():
    a = RigidTransform.from_xyz_quat(RNG.normal(size=3), Rotation.random(random_state=1).as_quat())
    b = RigidTransform.from_xyz_quat(RNG.normal(size=3), Rotation.random(random_state=2).as_quat())
    p = RNG.normal(size=(20, 3))
    np.testing.assert_allclose(a.compose(b).apply(p), a.apply(b.apply(p)), atol=1e-12)
    np.testing.assert_allclose(a.inverse().apply(a.apply(p)), p, atol=1e-12)
    np.testing.assert_allclose(a.compose(a.inverse()).matrix(), np.eye(4), atol=1e-12)
    M = a.matrix()
    np.testing.assert_allclose(RigidTransform.from_matrix(M).apply(p), a.apply(p), atol=1e-12)


def test_bad_inputs_raise_geometry_error():
    with pytest.raises(GeometryError, match="zero length"):
        quaternion_to_matrix([0, 0, 0, 0])
    with pytest.raises(GeometryError, match="not a proper rotation"):
        RigidTransform(np.diag([1.0, 1.0, -1.0]), np.zeros(3))
    with pytest.raises(GeometryError, match="finite"):
        RigidTransform.from_xyz_quat([0, float("nan"), 0], [0, 0, 0, 1])
    with pytest.raises(GeometryError, match="fx, fy > 0"):
        CameraIntrinsics(np.zeros((3, 3)), np.zeros(5), 640, 480)
    with pytest.raises(GeometryError, match="distortion_model"):
        CameraIntrinsics(np.eye(3), np.zeros(4), 640, 480, "equidistant")


def test_projection_matches_the_simulator_camera():
    cam, m = _cam()
    p = np.column_stack([RNG.uniform(-5, 5, 100), RNG.uniform(-3, 3, 100), RNG.uniform(-2, 30, 100)])
    uv, front = cam.project(p)
    uv_sim, front_sim = m.project(p)
    np.testing.assert_array_equal(front, front_sim)
    np.testing.assert_allclose(uv[front], uv_sim[front], atol=1e-9)


def test_camera_info_message_and_dict():
    class Info:
        k = [500.0, 0, 320, 0, 500.0, 240, 0, 0, 1]
        d = [0.1, -0.05, 0.001, 0.002, 0.0]
        width, height, distortion_model = 640, 480, "plumb_bob"

    cam = CameraIntrinsics.from_camera_info(Info())
    assert cam.distorted and cam.width == 640
    cam2 = CameraIntrinsics.from_camera_info({"k": Info.k, "d": [], "width": 640, "height": 480})
    assert not cam2.distorted


def test_distorted_rays_invert_projection():
    cam = CameraIntrinsics(np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]]),
                           np.array([-0.25, 0.08, 0.001, -0.002, 0.0]), 640, 480)
    p = np.column_stack([RNG.uniform(-2, 2, 50), RNG.uniform(-1.5, 1.5, 50), RNG.uniform(3, 8, 50)])
    uv, front = cam.project(p)
    assert front.all()
    d = cam.rays(uv)
    np.testing.assert_allclose(d, p / np.linalg.norm(p, axis=1, keepdims=True), atol=1e-7)


def test_project_boxes_and_points():
    cam, _ = _cam()
    corners = np.stack([box_corners((0, 0.5, 10), (0.6, 1.7, 0.6)), box_corners((0, 0, -5), (1, 1, 1)),
                        box_corners((0, 0, 0.5), (2, 2, 2))])
    boxes, valid = project_boxes(corners, cam, RigidTransform.identity())
    assert valid.tolist() == [True, False, False]   # in front; behind; crossing the image plane
    f = cam.K[0, 0]
    x0, y0, x1, y1 = boxes[0]
    # nearest face (z = 9.7) gives the extent: half width 0.3 m -> 0.3 f / 9.7 px
    np.testing.assert_allclose([x1 - x0, y1 - y0], [2 * 0.3 * f / 9.7, 1.7 * f / 9.7], rtol=1e-9)
    uv, ok = project_points(np.array([[0, 0, 10.0], [0, 0, -10.0], [100.0, 0, 1.0]]), cam,
                            RigidTransform.identity())
    assert ok.tolist() == [True, False, False]
    np.testing.assert_allclose(uv[0], [cam.K[0, 2], cam.K[1, 2]])


def test_ground_hit_round_trips_the_simulated_camera_pose():
    cam, m = _cam()
    R, t = camera_pose((1.0, -2.0, 3.5), 0.4, math.radians(15))
    fixed_from_cam = RigidTransform(R, t)
    ground = np.column_stack([1.0 + RNG.uniform(6, 20, 30) * math.cos(0.4), -2.0 + RNG.uniform(6, 20, 30)
                              * math.sin(0.4), np.zeros(30)])
    ground[:, :2] += RNG.normal(0, 1.0, (30, 2))
    uv, front = cam.project(fixed_from_cam.inverse().apply(ground))
    assert front.all()
    hits = pixels_to_ground(uv, cam, fixed_from_cam)
    assert hits.valid.all()
    np.testing.assert_allclose(hits.points, ground, atol=1e-9)


def test_ground_sigma_analytic_level_and_nadir():
    cam, _ = _cam()
    f, h = cam.K[0, 0], 2.0
    level = RigidTransform(*camera_pose((0, 0, h), 0.0, 0.0))
    d = np.array([5.0, 10.0, 20.0])
    uv = np.column_stack([np.full(3, cam.K[0, 2]), cam.K[1, 2] + f * h / d])
    hits = pixels_to_ground(uv, cam, level, pixel_sigma_px=1.0)
    np.testing.assert_allclose(hits.points[:, 0], d, rtol=1e-9)
    # along the ray: |dd/dv| = d^2 / (f h); across it 1 px is d / f, smaller
    np.testing.assert_allclose(hits.sigma_m, d ** 2 / (f * h), rtol=1e-3)
    assert np.all(np.diff(hits.sigma_m) > 0)
    nadir = RigidTransform(*camera_pose((0, 0, h), 0.0, math.pi / 2 - 1e-9))
    hit = pixels_to_ground(np.array([[cam.K[0, 2], cam.K[1, 2]]]), cam, nadir, pixel_sigma_px=3.0)
    np.testing.assert_allclose(hit.sigma_m, [3.0 * h / f], rtol=1e-6)


def test_ground_refuses_the_sky_and_far_hits():
    cam, _ = _cam()
    level = RigidTransform(*camera_pose((0, 0, 2.0), 0.0, 0.0))
    f = cam.K[0, 0]
    uv = np.array([[320, 100.0], [320, 240.0], [320, 240 + f * 2 / 100.0], [320, 240 + f * 2 / 10.0]])
    hits = pixels_to_ground(uv, cam, level, max_range_m=60.0)
    assert hits.valid.tolist() == [False, False, False, True]
    assert np.isnan(hits.points[0]).all() and np.isnan(hits.sigma_m[0])
    with pytest.raises(GeometryError):
        pixels_to_ground(np.array([[np.nan, 1.0]]), cam, level)


def test_pose_buffer_interpolates_and_refuses():
    buf = PoseBuffer(max_extrapolation_s=0.05, max_gap_s=1.0, frame="map")
    buf.add(10.0, RigidTransform.from_xyz_rpy((0, 0, 0), (0, 0, 0)))
    buf.add(11.0, RigidTransform.from_xyz_rpy((2.0, 0, 0), (0, 0, math.pi / 2)))
    mid = buf.lookup(10.5)
    np.testing.assert_allclose(mid.t, [1.0, 0, 0])
    np.testing.assert_allclose(mid.R, Rotation.from_euler("z", math.pi / 4).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(buf.lookup(11.04).t, [2.0, 0, 0])   # within the allowed extrapolation
    with pytest.raises(PoseLookupError, match=r"outside the buffered poses \[10.000, 11.000\]"):
        buf.lookup(11.2)
    with pytest.raises(PoseLookupError, match="outside"):
        buf.lookup(9.0)
    buf.add(15.0, RigidTransform.identity())
    with pytest.raises(PoseLookupError, match="apart"):
        buf.lookup(13.0)
    buf.add(10.5, RigidTransform.from_xyz_rpy((5.0, 0, 0), (0, 0, 0)))   # out of order: inserted
    np.testing.assert_allclose(buf.lookup(10.5).t, [5.0, 0, 0])
    with pytest.raises(PoseLookupError, match="no pose received"):
        PoseBuffer().lookup(1.0)


def test_a_pose_stream_that_jumps_back_starts_the_buffer_again():
    # a bag looped or restarted: the first run's later poses must not stand in for the new run's
    buf = PoseBuffer(max_gap_s=1.0, reset_backward_s=5.0)
    for i in range(20):
        buf.add(80.0 + 0.5 * i, RigidTransform.from_xyz_rpy((100.0 + i, 0, 0), (0, 0, 0)))
    buf.add(87.0, RigidTransform.identity())          # a few seconds back: out of order, inserted
    assert buf.resets == 0 and len(buf) == 20
    buf.add(80.0, RigidTransform.from_xyz_rpy((1.0, 0, 0), (0, 0, 0)))   # 9.5 s back: a new run
    assert buf.resets == 1 and buf.span == (80.0, 80.0)
    with pytest.raises(PoseLookupError, match="outside"):
        buf.lookup(80.5)                              # the new run has no pose there yet
    buf.add(80.1, RigidTransform.from_xyz_rpy((2.0, 0, 0), (0, 0, 0)))
    np.testing.assert_allclose(buf.lookup(80.05).t, [1.5, 0, 0])
    with pytest.raises(GeometryError):
        PoseBuffer(reset_backward_s=0.0)


def test_pose_buffer_is_bounded():
    buf = PoseBuffer(max_poses=5)
    for i in range(20):
        buf.add(float(i), RigidTransform.identity())
    assert len(buf) == 5 and buf.span == (15.0, 19.0)


def test_robot_bag_chain_matches_simulated_world_pose():
    """map_from_base (the bag's /tf) composed with base_from_camera (/tf_static) is the simulator's
    world-from-optical pose, and a ground point seen by the camera lands where the simulator put it."""
    from tcfd_ros.sim.bag import ROBOT_CAMERA_ON_BASE, ROBOT_CAMERA_TILT_DEG, _quaternion
    from tcfd_ros.sim.walker import yaw_matrix

    Rc, tc = camera_pose(ROBOT_CAMERA_ON_BASE, 0.0, math.radians(ROBOT_CAMERA_TILT_DEG))
    base_from_cam = RigidTransform.from_xyz_quat(tc, _quaternion(Rc))
    Rb, tb = yaw_matrix(2.0), np.array([3.0, -1.0, 0.0])
    map_from_base = RigidTransform.from_xyz_quat(tb, _quaternion(Rb))
    world = map_from_base.compose(base_from_cam)
    np.testing.assert_allclose(world.R, Rb @ Rc, atol=1e-9)
    np.testing.assert_allclose(world.t, Rb @ tc + tb, atol=1e-9)
    cam, _ = _cam()
    foot = world.apply([0.3, 0.9, 8.0])   # some point in front, then moved to the ground below it
    foot[2] = 0.0
    uv, _ = cam.project(world.inverse().apply(foot[None]))
    np.testing.assert_allclose(pixels_to_ground(uv, cam, world).points[0], foot, atol=1e-9)
