"""Stature from a calibrated camera box and a LiDAR cluster top, a track's median, and the likelihood
ratio the recognizer folds into its gait threshold (perception.stature)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tcfd_ros.errors import ConfigError
from tcfd_ros.geometry.calibration import CameraIntrinsics, RigidTransform
from tcfd_ros.perception.config import IdentityConfig
from tcfd_ros.perception.stature import (
    MAD_TO_SD,
    TrackStatures,
    camera_stature,
    lidar_stature,
    robust_sd,
    shortest_half,
    stature_likelihood_ratio,
    track_stature,
)

F = 320 / math.tan(math.radians(35))
CAMERA = CameraIntrinsics(np.array([[F, 0, 320], [0, F, 240], [0, 0, 1.0]]), np.zeros(5), 640, 480)
# a pole camera 4.5 m up, looking along +x and down (the simulator's disjoint layout)
MAP_FROM_CAMERA = RigidTransform.from_xyz_quat([26.0, 2.0, 4.5], [-0.5792279653395692, 0.5792279653395692,
                                                                  -0.40557978767263897, 0.40557978767263897])


def _box(ground_xy, height_m, half_width_m=0.25):
    """The image box of an upright 2 * half_width x height person standing at ``ground_xy``."""
    x, y = ground_xy
    corners = np.array([[x, y + s * half_width_m, z] for s in (-1, 1) for z in (0.0, height_m)])
    uv, _ = CAMERA.project(MAP_FROM_CAMERA.inverse().apply(corners))
    return np.array([uv[:, 0].min(), uv[:, 1].min(), uv[:, 0].max(), uv[:, 1].max()])


@pytest.mark.parametrize("xy, h", [((34.0, 2.0), 1.55), ((38.0, -1.0), 1.72), ((45.0, 3.0), 1.95)])
def test_camera_stature_is_the_height_of_the_box_top_above_the_ground_point(xy, h):
    box = _box(xy, h)
    got = camera_stature(box[None], np.array([[xy[0], xy[1], 0.0]]), CAMERA, MAP_FROM_CAMERA, 0.0)
    assert got[0] == pytest.approx(h, abs=0.01)
    # two pixels of error at the top: about two pixels' worth of metres at that range, not more
    box[1] -= 2
    got = camera_stature(box[None], np.array([[xy[0], xy[1], 0.0]]), CAMERA, MAP_FROM_CAMERA, 0.0)
    metres_per_px = math.hypot(xy[0] - 26.0, xy[1] - 2.0) / F
    assert 1.0 * metres_per_px < got[0] - h < 3.0 * metres_per_px


def test_camera_stature_is_unknown_where_the_head_or_feet_are_not_seen():
    box = _box((38.0, 0.0), 1.7)
    g = np.array([[38.0, 0.0, 0.0]])
    for cut in ((1, 0.0), (0, 0.0), (2, 640.0)):              # top, left, right edge of the image
        b = box.copy()
        b[cut[0]] = cut[1]
        assert np.isnan(camera_stature(b[None], g, CAMERA, MAP_FROM_CAMERA, 0.0)[0])
    assert np.isnan(camera_stature(box[None], np.full((1, 3), np.nan), CAMERA, MAP_FROM_CAMERA, 0.0)[0])
    assert camera_stature(np.zeros((0, 4)), np.zeros((0, 3)), CAMERA, MAP_FROM_CAMERA, 0.0).shape == (0,)


def test_lidar_stature_is_the_cluster_top_above_the_ground_in_the_fixed_frame():
    pole = RigidTransform.from_xyz_rpy([0.0, 0.0, 2.2], [0.0, 0.0, 0.3])
    got = lidar_stature(np.array([[10.0, 1.0, -0.5], [8.0, 0.0, -2.0], [5.0, 0.0, 1.0]]), pole, 0.0)
    assert got[0] == pytest.approx(1.7) and np.isnan(got[1]) and np.isnan(got[2])   # 0.2 m, 3.2 m: no person


def test_a_lidar_top_at_the_highest_beam_is_the_field_of_views_edge_not_the_head():
    robot = RigidTransform.from_xyz_rpy([0.0, 0.0, 1.0], [0.0, 0.0, 0.0])
    r = 6.0
    clipped = np.array([[r, 0.0, r * math.tan(math.radians(2.0))]])     # the HDL-64E's top beam, 1.2 m up
    seen = np.array([[r, 0.0, 0.6]])                                    # a head 1.6 m up, +5.7 degrees
    assert np.isnan(lidar_stature(clipped, robot, 0.0, max_elevation_deg=1.5)[0])
    assert np.isnan(lidar_stature(seen, robot, 0.0, max_elevation_deg=1.5)[0])
    assert lidar_stature(seen, robot, 0.0, max_elevation_deg=15.0 - 0.5)[0] == pytest.approx(1.6)  # a VLP-16
    assert lidar_stature(clipped, robot, 0.0)[0] == pytest.approx(1.0 + r * math.tan(math.radians(2.0)))


def test_a_tracks_stature_is_the_median_of_its_frames_once_there_are_enough():
    assert track_stature([1.7, 1.71, 2.3, 1.69, float("nan")], 3) == pytest.approx(1.705)
    assert track_stature([1.7, 1.71], 3) is None
    store = TrackStatures(max_samples=4)
    for k, h in enumerate((1.2, 1.7, 1.7, 1.72, 1.71)):
        assert store.add(("lidar", 1), float(k), h)
    assert not store.add(("lidar", 1), 6.0, float("nan")) and not store.add(("lidar", 1), 6.0, -1.0)
    assert store.estimate(("lidar", 1), 4) == pytest.approx(1.705)     # the oldest frame dropped
    assert store.estimate(("camera", 1), 1) is None
    store.expire(now_s=20.0, timeout_s=5.0)
    assert store.estimate(("lidar", 1), 1) is None


def test_the_robust_sd_is_the_scaled_median_deviation_from_the_median_or_a_given_centre():
    rng = np.random.default_rng(2)
    assert robust_sd(rng.normal(1.7, 0.03, 4000)) == pytest.approx(0.03, rel=0.05)
    assert robust_sd(np.array([1.0, 1.0, 1.0, 9.0])) == 0.0                   # one outlier does not count
    assert robust_sd(np.array([1.0, 2.0, 3.0]), centre=0.0) == pytest.approx(2.0 * MAD_TO_SD)
    assert math.isnan(robust_sd(np.array([])))


def test_a_stature_that_drifts_over_the_track_is_no_stature():
    rng = np.random.default_rng(4)
    one = 1.70 + rng.normal(0.0, 0.03, 60)                              # one person, a bobbing head
    merged = np.linspace(1.95, 2.35, 60) + rng.normal(0.0, 0.02, 60)    # a far walker's head on top
    assert track_stature(one, 10, max_spread_m=0.07) == pytest.approx(1.70, abs=0.02)
    assert track_stature(merged, 10, max_spread_m=0.07) is None
    assert track_stature(merged, 10) == pytest.approx(2.15, abs=0.03)  # no limit: the drift's middle
    store = TrackStatures()
    for k, h in enumerate(merged):
        store.add(("camera", 2), float(k), float(h))
    assert store.estimate(("camera", 2), 10, 0.07) is None and store.estimate(("camera", 2), 10) is not None


def test_the_ratio_supports_agreeing_statures_never_falls_below_the_outlier_share_and_averages_one():
    w, b, eps = 0.05, 0.09, 0.1
    assert stature_likelihood_ratio(0.0, w, b, eps) == pytest.approx(0.9 * math.sqrt(2) * b / w + eps)
    assert stature_likelihood_ratio(0.03, w, b, eps) > 1.0 > stature_likelihood_ratio(0.12, w, b, eps)
    assert stature_likelihood_ratio(0.5, w, b, eps) == pytest.approx(eps, abs=1e-6)
    dh = np.random.default_rng(0).normal(0.0, math.sqrt(2) * b, 100_000)
    mean = np.mean([stature_likelihood_ratio(abs(x), w, b, eps) for x in dh])
    assert mean == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("field, value", [("stature_within_sd_m", 0.2), ("stature_outlier_share", 0.0),
                                          ("stature_outlier_share", 1.0), ("stature_min_samples", 0),
                                          ("stature_open_set_fmr", 0.0), ("stature_open_set_fmr", 1.0)])
def test_the_stature_model_is_validated(field, value):
    with pytest.raises(ConfigError, match=field):
        IdentityConfig(**{field: value}).validate()


def test_a_track_merged_for_part_of_its_walk_keeps_the_stature_of_its_tight_half():
    rng = np.random.default_rng(5)
    alone = 1.70 + rng.normal(0.0, 0.015, 55)                          # walking alone
    behind = np.linspace(1.74, 2.05, 55) + rng.normal(0.0, 0.02, 55)   # merged with a walker behind
    frames = np.concatenate([alone, behind])
    plain_sd = MAD_TO_SD * np.median(np.abs(frames - np.median(frames)))
    assert plain_sd > 0.07                                              # the median alone would give none
    assert track_stature(frames, 10, max_spread_m=0.07) == pytest.approx(1.70, abs=0.01)
    centre, spread = shortest_half(alone)
    assert centre == pytest.approx(1.70, abs=0.01) and spread == pytest.approx(0.015, rel=0.4)
    spread_out = np.linspace(1.5, 1.9, 80)                              # no tight half: no one person
    assert track_stature(spread_out, 10, max_spread_m=0.07) is None
