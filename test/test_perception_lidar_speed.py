"""The LiDAR segmenter's faster paths compute exactly what the straightforward ones did.

Each helper replaced a sort or a strided pass in ``LidarSegmenter.segment``; the segmentation must not
change (machine independence included), so each is checked for equality, ties and bad values first.
"""

from __future__ import annotations

import numpy as np
import pytest

from tcfd_ros.perception.config import LidarSegmenterConfig
from tcfd_ros.perception.segment_lidar import (
    _KEY_BITS,
    _KEY_OFFSET,
    _cell_keys,
    _columns,
    _in_roi,
    _lowest,
    _plane_distance,
    _plane_height,
)


@pytest.mark.parametrize("seed", range(6))
def test_lowest_is_the_stable_sorts_choice_ties_included(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 3000))
    z = np.round(rng.normal(0, 1, n), int(rng.integers(0, 3)))   # rounding makes many ties
    for k in (1, 2, n // 3 + 1, n - 1, n):
        assert np.array_equal(_lowest(z.copy(), k), np.sort(np.argsort(z, kind="stable")[:k]))


@pytest.mark.parametrize("seed", range(6))
def test_cell_keys_match_np_unique_dense_and_sparse(seed):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(1, 5000))
    spread = [3, 40, 300, 5000, 200000, 1_000_000][seed]         # the last ones take np.unique's path
    cell = rng.integers(-spread, spread + 1, size=(m, 2)) + _KEY_OFFSET
    keys, inverse = _cell_keys(cell)
    ref_keys, ref_inverse = np.unique((cell[:, 0] << _KEY_BITS) | cell[:, 1], return_inverse=True)
    assert np.array_equal(keys, ref_keys)
    assert np.array_equal(inverse, ref_inverse.ravel())


def test_roi_and_heights_match_the_expressions_on_bad_values():
    rng = np.random.default_rng(7)
    pts = rng.normal(0, 30, (5000, 3))
    pts[rng.random(5000) < 0.1, 0] = np.nan
    pts[rng.random(5000) < 0.05, 1] = np.inf
    pts[rng.random(5000) < 0.05, 2] = -np.inf
    pts[:10] = [[0.1, 0.2, 0.0]] * 10                                # inside min_range
    c = LidarSegmenterConfig()
    x, y, z = _columns(pts.astype(np.float32))
    p32 = pts.astype(np.float32).astype(np.float64)
    assert np.array_equal(np.c_[x, y, z], p32, equal_nan=True)
    X, Y, Z = p32.T
    with np.errstate(invalid="ignore", over="ignore"):
        ref = ((X >= c.roi_x_min_m) & (X < c.roi_x_max_m) & (Y >= c.roi_y_min_m) & (Y < c.roi_y_max_m)
               & (Z >= c.roi_z_min_m) & (Z < c.roi_z_max_m) & (X * X + Y * Y >= c.min_range_m ** 2))
        assert np.array_equal(_in_roi(x, y, z, c), ref)
        plane = np.array([0.01, -0.02, 0.9997, 1.8])
        ok = np.isfinite(p32).all(axis=1)
        assert np.array_equal(_plane_height(x, y, z, plane)[ok],
                              _plane_distance(p32[ok], plane[:3, None], plane[3])[:, 0])
