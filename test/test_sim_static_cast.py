"""Re-casting the static world from a moving sensor: footprint culling is exact and actually culls."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tcfd_ros.sim import scan, static_cast
from tcfd_ros.sim.bag import BagSimulation, BagSpec
from tcfd_ros.sim.shapes import raycast
from tcfd_ros.sim.static_cast import camera_selector, cast_culled, hit_normals, lidar_selector

# The robot patrol sees walls, cars, poles and (condition oc) bollards from every side of its loop.
ROBOT = dict(layout="overlap", mount="robot", people=1, duration_s=60.0, lidar="vlp16", camera_width=160,
             camera_height=120, seed=31)
POSES_S = np.linspace(0.0, 55.0, 12)        # around the whole patrol loop, corners included


@pytest.fixture(scope="module", params=[("nm",), ("oc",)])
def sim(request) -> BagSimulation:
    return BagSimulation(BagSpec(out=Path("unused"), conditions=request.param, **ROBOT))


def test_culled_cast_equals_full_raycast_bit_for_bit(sim):
    shapes = sim.world.shapes
    for t_s in POSES_S:
        R, t = sim.lidar_world_pose(float(t_s))
        d = sim.scanner.dirs_sensor @ R.T
        t_full, p_full = raycast(t, d, shapes)
        t_cull, p_cull, prim = cast_culled(t, d, shapes, lidar_selector(R, t, sim.scanner.azim,
                                                                        sim.scanner.elev))
        np.testing.assert_array_equal(t_cull, t_full)
        np.testing.assert_array_equal(p_cull, p_full)
        assert np.isfinite(t_full).any() and ((prim >= 0) == np.isfinite(t_full)).all()
        R, t = sim.camera_world_pose(float(t_s))
        m = sim.cam_model
        d = (sim.camera.rays_opt @ R.T).reshape(-1, 3)
        t_full, p_full = raycast(t, d, shapes)
        t_cull, p_cull, _ = cast_culled(t, d, shapes, camera_selector(R, t, m.K, m.width, m.height))
        np.testing.assert_array_equal(t_cull, t_full)
        np.testing.assert_array_equal(p_cull, p_full)


def test_normals_of_the_hit_primitive_equal_the_nearest_surface_normals(sim):
    from tcfd_ros.sim.shapes import normals_at

    R, t = sim.camera_world_pose(7.0)
    m = sim.cam_model
    d = (sim.camera.rays_opt @ R.T).reshape(-1, 3)
    tt, _, prim = cast_culled(t, d, sim.world.shapes, camera_selector(R, t, m.K, m.width, m.height))
    hit = prim >= 0
    assert hit.sum() > 100
    pts = t + d[hit] * tt[hit, None]
    np.testing.assert_array_equal(hit_normals(pts, prim[hit], sim.world.shapes),
                                  normals_at(pts, sim.world.shapes))


def test_moving_sensors_test_only_a_fraction_of_rays_against_each_object(sim, monkeypatch):
    """The 13x slowdown of robot bags was every ray against every static object at every pose."""
    tested = []
    real = static_cast.hit_primitive

    def counting(kind, k, origins, dirs, shapes):
        tested.append(dirs.shape[0])
        return real(kind, k, origins, dirs, shapes)

    def full_raycast(*_a, **_k):
        raise AssertionError("the static world was cast with the all-rays raycast")

    monkeypatch.setattr(static_cast, "hit_primitive", counting)
    monkeypatch.setattr(scan, "raycast", full_raycast)
    n_prim = len(sim.world.shapes.primitive_bounds())
    for t_s in POSES_S:
        tested.clear()
        sim.camera.set_pose(*sim.camera_world_pose(float(t_s)))
        assert sum(tested) < 0.35 * n_prim * sim.cam_model.width * sim.cam_model.height
        tested.clear()
        sim.scanner.set_pose(*sim.lidar_world_pose(float(t_s)))
        assert sum(tested) < 0.35 * n_prim * sim.scanner.dirs_sensor.shape[0]
