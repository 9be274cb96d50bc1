"""Sensor geometry: analytic ranges, ring indices and image footprints of primitives at known poses."""

from __future__ import annotations

import numpy as np
import pytest

from tcfd_ros.errors import ConfigError
from tcfd_ros.sim.scan import Actor, CameraRenderer, LidarScanner, StaticWorld
from tcfd_ros.sim.sensors import LIDAR_MODELS, camera_model, camera_pose, lidar_model, lidar_pose
from tcfd_ros.sim.shapes import Shapes, box, raycast

H_LIDAR = 1.5


def _actor(shapes: Shapes, actor_id: int = 7) -> Actor:
    return Actor(actor_id, shapes, np.full((200, 3), 0.5), np.full(200, 0.5))


def _capsule(a, b, r) -> Shapes:
    s = Shapes.empty()
    s.cap_a, s.cap_b = np.array([a], float), np.array([b], float)
    s.cap_r, s.cap_part = np.array([r], float), np.array([0])
    return s


def _sphere(c, r) -> Shapes:
    s = Shapes.empty()
    s.ell_c, s.ell_R = np.array([c], float), np.eye(3)[None]
    s.ell_s, s.ell_part = np.full((1, 3), r, float), np.array([0])
    return s


@pytest.mark.parametrize("name", sorted(LIDAR_MODELS))
def test_wall_ranges_and_rings_match_beam_table(name):
    model = lidar_model(name)
    scanner = LidarScanner(model, *lidar_pose([0.0, 0.0, H_LIDAR], 0.0), world=None)
    wall = box([10.25, 0.0, 3.0], [0.5, 8.0, 12.0], part=0)   # front face at x = 10
    pts, label = scanner.scan([_actor(wall)], np.random.default_rng(0))
    assert pts.size > 0 and (label == 7).all()
    x, y, z = pts["x"], pts["y"], pts["z"]
    # every return lies on the plane x = 10 within 4 sigma of the range noise
    assert np.abs(x - 10.0).max() < 4 * model.range_noise_m + 1e-3
    # ring = index of the beam elevation (ring 0 lowest), recovered from the geometry
    elev = np.degrees(np.arctan2(z, np.hypot(x, y)))
    table = np.asarray(model.elevations_deg)
    assert np.abs(elev - table[pts["ring"]]).max() < 0.3
    # range along the beam = 10 / (cos(el) cos(az))
    az = np.arctan2(y, x)
    expected = 10.0 / (np.cos(np.radians(table[pts["ring"]])) * np.cos(az))
    assert np.abs(np.sqrt(x ** 2 + y ** 2 + z ** 2) - expected).max() < 4 * model.range_noise_m + 0.02
    assert pts["time"].min() >= 0 and pts["time"].max() < 1.0 / model.rate_hz
    assert pts.dtype.names == ("x", "y", "z", "intensity", "ring", "time")


def test_capsule_front_surface_range():
    model = lidar_model("hdl64")
    scanner = LidarScanner(model, *lidar_pose([0.0, 0.0, 0.0], 0.0), world=None)
    cap = _capsule([8.0, 0.0, -2.0], [8.0, 0.0, 0.5], 0.3)
    pts, _ = scanner.scan([_actor(cap)], np.random.default_rng(1))
    d = np.hypot(pts["x"], pts["y"])
    az = np.arctan2(pts["y"], pts["x"])
    # nearest face of a vertical cylinder of radius r at distance D, seen at azimuth az
    expected = 8.0 * np.cos(az) - np.sqrt(np.maximum(0.3 ** 2 - (8.0 * np.sin(az)) ** 2, 0))
    body = (pts["z"] > -1.9) & (pts["z"] < 0.4)
    assert body.sum() > 20
    assert np.abs(d[body] - expected[body]).max() < 0.1


def test_point_count_falls_with_distance_as_the_beam_pattern():
    model = lidar_model("hdl64")
    scanner = LidarScanner(model, *lidar_pose([0.0, 0.0, 1.0], 0.0), world=None)
    counts = []
    for dist in (5.0, 10.0, 20.0):
        person = box([dist, 0.0, 0.85], [0.3, 0.5, 1.7], part=0)
        pts, label = scanner.scan([_actor(person)], np.random.default_rng(2))
        counts.append(int((label == 7).sum()))
    assert counts[0] > counts[1] > counts[2] > 0
    # angular area ~ 1/d^2 (both axes sample a fixed angle grid); allow for grid quantisation
    assert 0.12 < counts[1] / counts[0] < 0.45
    assert 0.1 < counts[2] / counts[1] < 0.5


def test_ray_sphere_and_box_distances():
    d = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    t, part = raycast(np.zeros(3), d, _sphere([5.0, 0.0, 0.0], 1.0))
    assert t[0] == pytest.approx(4.0) and np.isinf(t[1]) and part[1] == -1
    t, _ = raycast(np.zeros(3), d, box([0.0, 6.0, 0.0], [1.0, 2.0, 1.0], part=3))
    assert np.isinf(t[0]) and t[1] == pytest.approx(5.0)


def test_sphere_image_footprint_is_the_expected_disc():
    cam = camera_model(160, 120, 60.0, 15.0, noise_sigma=0.0)
    R, t = camera_pose([0.0, 0.0, 1.0], 0.0, 0.0)
    renderer = CameraRenderer(cam, R, t, world=None)
    centre_w = np.array([6.0, 0.5, 1.3])
    frame = renderer.render([_actor(_sphere(centre_w, 0.4))], None, image=False)
    mask = frame.labels == 7
    p_opt = R.T @ (centre_w - t)
    u, v = cam.fx * p_opt[0] / p_opt[2] + cam.cx, cam.fy * p_opt[1] / p_opt[2] + cam.cy
    ys, xs = np.nonzero(mask)
    assert abs(xs.mean() + 0.5 - u) < 0.6 and abs(ys.mean() + 0.5 - v) < 0.6
    radius_px = cam.fx * 0.4 / np.linalg.norm(p_opt)     # silhouette of a sphere, near the axis
    assert mask.sum() == pytest.approx(np.pi * radius_px ** 2, rel=0.08)
    assert frame.full_pixels[7] == mask.sum()


def test_camera_occlusion_by_static_world_and_shading():
    cam = camera_model(120, 90, 60.0, 15.0, noise_sigma=0.0)
    R, t = camera_pose([0.0, 0.0, 1.0], 0.0, 0.0)
    world = StaticWorld(box([4.0, 0.0, 0.5], [0.2, 4.0, 1.0], part=100), {100: (0.2, 0.4, 0.6)}, {100: 0.5})
    renderer = CameraRenderer(cam, R, t, world)
    frame = renderer.render([_actor(_sphere([8.0, 0.0, 1.0], 0.5))], np.random.default_rng(0))
    visible = int((frame.labels == 7).sum())
    assert 0 < visible < frame.full_pixels[7]          # lower half hidden behind the wall
    assert frame.image.shape == (90, 120, 3) and frame.image.dtype == np.uint8


def test_unknown_models_and_bad_camera_raise():
    with pytest.raises(ConfigError, match="unknown LiDAR model 'hdl128'"):
        lidar_model("hdl128")
    with pytest.raises(ConfigError, match="hfov"):
        camera_model(64, 48, 200.0, 15.0, 0.0)
