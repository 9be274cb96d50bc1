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


def _align_with_np_pad(image: np.ndarray, occupancy: np.ndarray, size: int) -> np.ndarray:
    """align_to_square as it was written with np.pad (the reference for the direct writes)."""
    img, occ = np.asarray(image), np.asarray(occupancy).astype(bool)
    rows, cols = np.flatnonzero(occ.any(axis=1)), np.flatnonzero(occ.any(axis=0))
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    occ_crop = occ[top:bottom, left:right]
    crop = np.where(occ_crop[:, :, None] if img.ndim == 3 else occ_crop, img[top:bottom, left:right], 0)
    work = np.pad(crop.astype(np.float32), [(0, 0), (2, 2)] + ([(0, 0)] if img.ndim == 3 else []))
    height, width = work.shape[:2]
    new_w = max(1, int(round(width * size / height)))
    interp = cv2.INTER_CUBIC if size >= height else cv2.INTER_AREA
    resized = cv2.resize(work, (new_w, size), interpolation=interp)
    if resized.ndim == 2 and img.ndim == 3:
        resized = resized[:, :, None]
    csum = np.cumsum(resized.reshape(size, new_w, -1).clip(min=0).sum(axis=(0, 2)), dtype=np.float64)
    x_center = int(np.argmax(csum > csum[-1] / 2)) if csum[-1] > 0 else new_w // 2
    pad = [(0, 0), (size // 2, size - size // 2)] + ([(0, 0)] if resized.ndim == 3 else [])
    padded = np.pad(resized, pad)
    out = padded[:, x_center:x_center + size]
    info = np.iinfo(img.dtype)
    return np.clip(np.rint(out), info.min, info.max).astype(img.dtype)


@pytest.mark.parametrize("seed", range(6))
def test_align_to_square_is_the_padded_version(seed):
    from tcfd_ros.geometry.align import align_to_square
    rng = np.random.default_rng(seed)
    for _ in range(20):
        h, w = int(rng.integers(1, 200)), int(rng.integers(1, 120))
        occ = rng.random((h, w)) < rng.uniform(0.05, 1.0)
        occ[rng.integers(0, h), rng.integers(0, w)] = True
        img = rng.integers(0, 256, (h, w, 3) if seed % 2 else (h, w)).astype(np.uint8)
        size = int(rng.choice([8, 33, 64]))
        assert np.array_equal(align_to_square(img, occ, size), _align_with_np_pad(img, occ, size))


def test_camera_measurements_find_every_label_in_the_window():
    from scipy import ndimage

    from tcfd_ros.perception.sensor_tracking import camera_measurements
    rng = np.random.default_rng(5)
    labels = np.zeros((120, 160), np.uint16)
    labels[30:70, 101:121] = 1
    labels[13:50, 41:52] = 3                        # label 2 absent: find_objects gives None for it
    labels[rng.random(labels.shape) < 0.002] = 3
    got = camera_measurements(labels)
    boxes = [(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in ndimage.find_objects(labels) if s]
    assert [m.payload[1] for m in got] == boxes and [m.payload[2] for m in got] == [1, 3]
    assert camera_measurements(np.zeros((10, 10), np.uint16)) == []
