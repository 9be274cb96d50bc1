"""The one range-view projection and alignment: angles, values, colours, alignment invariances."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcfd_ros.geometry import (
    GeometryError,
    RangeViewConfig,
    align_silhouette,
    align_to_square,
    depth_to_jet,
    points_to_depth_map,
    project_range_view,
)
from tcfd_ros.geometry.range_view import range_view_pixels

CFG = RangeViewConfig()


def _point(azimuth_deg: float, elevation_deg: float, dist_m: float) -> np.ndarray:
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    return np.array([[dist_m * math.cos(az), dist_m * math.sin(az), dist_m * math.tan(el)]])


def test_grid_size_matches_sustech1k():
    assert (CFG.height, CFG.width) == (200, 1877)


@pytest.mark.parametrize("az,el", [(0.0, 0.05), (30.0, -10.05), (-100.0, 14.9), (179.0, -24.9)])
def test_pixel_of_a_point_follows_lidargait_formula(az, el):
    row, col, val = range_view_pixels(_point(az, el, 7.5), CFG)
    # column = atan2(-y, x)/HRES shifted by 180 deg; row counted down from +15 deg
    assert col[0] == math.floor((-az + 180.0) / CFG.hres_deg) % CFG.width
    assert row[0] == math.floor((CFG.vfov_max_deg - el) / CFG.vres_deg)
    assert val[0] == pytest.approx(-7.5, abs=1e-5)


def test_points_outside_vertical_fov_are_dropped_and_nearest_wins():
    pts = np.concatenate([_point(0, 20, 5), _point(0, -30, 5), _point(10, 0.1, 9.0), _point(10, 0.1, 4.0)])
    img = project_range_view(pts, CFG)
    assert img.shape == (200, 1877) and img.dtype == np.float32
    assert np.isfinite(img).sum() == 1
    assert np.nanmax(img) == pytest.approx(-4.0, abs=1e-5)


def test_left_of_sensor_is_left_in_image():
    row_l, col_l, _ = range_view_pixels(_point(20, 0.1, 5), CFG)
    row_r, col_r, _ = range_view_pixels(_point(-20, 0.1, 5), CFG)
    assert col_l[0] < CFG.width // 2 < col_r[0]


def test_jet_colours_nearest_red_farthest_blue_empty_black():
    img = np.full((2, 3), np.nan, np.float32)
    img[0, 0], img[0, 1], img[1, 2] = -10.0, -2.0, -6.0
    rgb = depth_to_jet(img)
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 3, 3)
    np.testing.assert_array_equal(rgb[0, 0], [0, 0, 128])     # farthest: dark blue
    np.testing.assert_array_equal(rgb[0, 1], [128, 0, 0])     # nearest: dark red
    assert rgb[1, 2, 1] > 200                                  # middle: green-ish
    np.testing.assert_array_equal(rgb[1, 0], [0, 0, 0])


def test_jet_matches_matplotlib():
    import matplotlib

    vals = np.linspace(-9.0, -1.0, 256, dtype=np.float32)[None, :]
    ours = depth_to_jet(vals)[0].astype(int)
    ref = np.rint(matplotlib.colormaps["jet"](np.linspace(0, 1, 256))[:, :3] * 255).astype(int)
    assert np.abs(ours - ref).max() <= 1


def _cylinder(center_xy, n=3000, seed=0):
    rng = np.random.default_rng(seed)
    th = rng.uniform(0, 2 * np.pi, n)
    z = rng.uniform(-1.7, 0.0, n)
    return np.c_[center_xy[0] + 0.25 * np.cos(th), center_xy[1] + 0.25 * np.sin(th), z]


def test_depth_map_of_a_person_sized_cluster_is_centred_and_tall():
    dm = points_to_depth_map(_cylinder((8.0, 1.0)), CFG)
    assert dm.shape == (3, 64, 64) and dm.dtype == np.uint8
    occ = dm.sum(axis=0) > 0
    rows, cols = np.flatnonzero(occ.any(1)), np.flatnonzero(occ.any(0))
    assert rows[0] <= 1 and rows[-1] >= 62
    assert 20 <= cols.mean() <= 44
    assert cols.size < 40  # a 0.5 m wide, 1.7 m tall object stays narrow


def test_depth_map_behind_the_sensor_crosses_the_seam():
    front = points_to_depth_map(_cylinder((8.0, 0.0)), CFG)
    back = points_to_depth_map(_cylinder((-8.0, 0.0)), CFG)
    assert (back.sum(0) > 0).sum() > 0.8 * (front.sum(0) > 0).sum()


def test_depth_map_rejects_empty_or_out_of_fov():
    with pytest.raises(GeometryError, match="field of view"):
        points_to_depth_map(np.zeros((0, 3)), CFG)
    with pytest.raises(GeometryError, match="field of view"):
        points_to_depth_map(_point(0, 40, 5), CFG)
    with pytest.raises(GeometryError, match="shape"):
        project_range_view(np.zeros((4, 2)), CFG)
    with pytest.raises(GeometryError, match="vres_deg"):
        project_range_view(np.zeros((1, 3)), RangeViewConfig(vres_deg=0.0))


def test_silhouette_alignment_fills_height_keeps_aspect_and_centres():
    mask = np.zeros((480, 640), bool)
    mask[100:400, 300:375] = True  # 300 tall, 75 wide -> 64 x 16
    sil = align_silhouette(mask)
    assert sil.shape == (64, 64) and sil.dtype == np.uint8
    assert set(np.unique(sil)) <= {0, 255}
    occ = sil > 0
    rows, cols = np.flatnonzero(occ.any(1)), np.flatnonzero(occ.any(0))
    assert rows[0] == 0 and rows[-1] == 63
    assert abs(cols.size - 16) <= 1
    assert abs((cols[0] + cols[-1]) / 2 - 31.5) <= 1.0


def test_silhouette_alignment_is_translation_invariant():
    mask = np.zeros((240, 320), bool)
    mask[50:150, 40:70] = True
    mask[60:80, 70:90] = True  # an arm
    shifted = np.roll(np.roll(mask, 37, axis=0), 111, axis=1)
    np.testing.assert_array_equal(align_silhouette(mask), align_silhouette(shifted))


def test_wide_object_is_cropped_to_size():
    mask = np.zeros((100, 400), bool)
    mask[40:60, 10:390] = True
    sil = align_silhouette(mask)
    assert sil.shape == (64, 64) and (sil > 0).all(axis=0).sum() >= 60


def test_align_errors():
    with pytest.raises(GeometryError, match="empty"):
        align_silhouette(np.zeros((10, 10), bool))
    with pytest.raises(GeometryError, match="2-D"):
        align_silhouette(np.zeros((4, 10, 10), bool))
    with pytest.raises(GeometryError, match="does not match"):
        align_to_square(np.zeros((4, 4, 3), np.uint8), np.ones((5, 4), bool))
    with pytest.raises(GeometryError, match="size"):
        align_silhouette(np.ones((4, 4), bool), size=1)


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 120), w=st.integers(1, 120), top=st.integers(0, 30), left=st.integers(0, 30),
       size=st.sampled_from([16, 32, 64]))
def test_alignment_always_returns_square(h, w, top, left, size):
    mask = np.zeros((top + h + 3, left + w + 3), bool)
    mask[top:top + h, left:left + w] = True
    sil = align_silhouette(mask, size)
    assert sil.shape == (size, size) and sil.any()
