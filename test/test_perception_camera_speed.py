"""The camera segmenter's faster paths compute exactly what the straightforward ones did."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tcfd_ros.perception.segment_camera import (CameraDetection, foreground_components, grid_median,
                                                label_image)


@pytest.mark.parametrize("seed", range(8))
def test_components_in_the_foreground_window_are_the_full_images(seed):
    rng = np.random.default_rng(seed)
    fg = np.zeros((480, 640), np.uint8)
    for _ in range(int(rng.integers(0, 12))):     # blobs and speckle at odd and even offsets
        y, x = int(rng.integers(0, 470)), int(rng.integers(0, 630))
        h, w = int(rng.integers(1, 120)), int(rng.integers(1, 60))
        fg[y:y + h, x:x + w] = (rng.random((min(h, 480 - y), min(w, 640 - x))) < rng.uniform(0.3, 1.0)) * 255
    n, full, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    labels, win_stats, (oy, ox) = foreground_components(fg)
    assert win_stats.shape[0] == n
    assert np.array_equal(win_stats[1:], stats[1:])
    assert np.array_equal(full[oy:oy + labels.shape[0], ox:ox + labels.shape[1]], labels.astype(np.int32))
    assert np.count_nonzero(full) == np.count_nonzero(labels)


def test_no_foreground_gives_the_background_only():
    labels, stats, _ = foreground_components(np.zeros((48, 64), np.uint8))
    assert stats.shape == (1, 5) and labels.size == 0


@pytest.mark.parametrize("seed", range(4))
def test_grid_median_is_numpys(seed):
    rng = np.random.default_rng(seed)
    for shape in ((120, 160, 3), (120, 160), (7, 9, 3), (7, 9), (1, 1, 3)):
        g = (rng.integers(0, 256, shape) // rng.integers(1, 60)).astype(np.uint8)   # many ties
        assert grid_median(g) == float(np.median(g.mean(axis=2) if g.ndim == 3 else g))


def test_label_image_writes_each_mask_whole():
    masks = np.zeros((3, 40, 50), bool)
    masks[0, 5:20, 3:9] = masks[1, 10:30, 6:15] = True
    masks[2, 0:40, 45:50] = True
    dets = [CameraDetection(masks[0], (3.0, 5.0, 9.0, 20.0), 1.0),
            CameraDetection(masks[1], (5.6, 9.5, 14.2, 30.0), 1.0),     # fractional: rounded outwards
            CameraDetection(masks[2], (-3.0, 0.0, 51.0, 40.0), 1.0)]    # off the image: the whole mask
    ref = np.zeros((40, 50), np.uint16)
    for k, d in enumerate(dets, start=1):
        ref[d.mask] = k
    assert np.array_equal(label_image(dets, (40, 50)), ref)
