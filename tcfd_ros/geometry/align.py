"""Crop-resize-centre alignment to a square, as OpenGait/SUSTech1K pretreat silhouettes and depth maps.

Steps (facts from OpenGait's pretreatment): crop rows to the occupied vertical extent, resize to
height ``size`` keeping the aspect ratio (bicubic), find the column where the cumulative image mass
passes half of the total, and cut a ``size``-wide window centred there, zero-padded where it leaves
the image. The same function serves camera silhouettes and LiDAR depth maps.
"""

from __future__ import annotations

import cv2
import numpy as np

from tcfd_ros.errors import GeometryError

#: Binary threshold applied to a bicubically resized silhouette (0..255) to return {0, 255}.
SILHOUETTE_THRESHOLD = 127
#: Zero columns kept on each side of the occupied extent before resizing, so that the bicubic
#: kernel sees the same zero border it would see in the uncropped image.
_COLUMN_MARGIN_PX = 2


def _check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 2:
        raise GeometryError(f"size must be an integer >= 2, got {size!r}")


def align_to_square(image: np.ndarray, occupancy: np.ndarray, size: int = 64) -> np.ndarray:
    """Align ``image`` ((H, W) or (H, W, C), any dtype) to (size, size[, C]) of the same dtype.

    ``occupancy`` ((H, W) bool) says which pixels belong to the object; it must not be empty, and
    pixels outside it are zeroed (so a camera crop with a mask yields only the person).
    Rows are cropped to its vertical extent (and columns to its horizontal extent plus a small zero
    margin, which avoids resizing empty columns and makes the result translation invariant). The horizontal
    centre is where the cumulative column mass of the resized image passes half its total.
    """
    _check_size(size)
    img = np.asarray(image)
    occ = np.asarray(occupancy)
    if img.ndim not in (2, 3) or img.shape[0] == 0 or img.shape[1] == 0:
        raise GeometryError(f"image must be (H, W) or (H, W, C) with H, W > 0, got shape {img.shape}")
    if occ.shape != img.shape[:2]:
        raise GeometryError(f"occupancy shape {occ.shape} does not match image shape {img.shape[:2]}")
    occ = occ.astype(bool, copy=False)
    rows = np.flatnonzero(occ.any(axis=1))
    if rows.size == 0:
        raise GeometryError("occupancy is empty: nothing to align (an empty mask or point cluster)")
    cols = np.flatnonzero(occ.any(axis=0))
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    left, right = int(cols[0]), int(cols[-1]) + 1
    occ_crop = occ[top:bottom, left:right]
    crop = np.where(occ_crop[:, :, None] if img.ndim == 3 else occ_crop, img[top:bottom, left:right], 0)
    # zero columns either side (np.pad's result, written directly: np.pad costs more than the rest)
    work = np.zeros((crop.shape[0], crop.shape[1] + 2 * _COLUMN_MARGIN_PX) + crop.shape[2:], np.float32)
    work[:, _COLUMN_MARGIN_PX:_COLUMN_MARGIN_PX + crop.shape[1]] = crop
    height, width = work.shape[:2]
    new_w = max(1, int(round(width * size / height)))
    # bicubic when enlarging (OpenGait's choice); area averaging when shrinking, which cannot alias
    # a thin limb away the way a bicubic kernel sampled between pixels can
    interp = cv2.INTER_CUBIC if size >= height else cv2.INTER_AREA
    resized = cv2.resize(work, (new_w, size), interpolation=interp)
    if resized.ndim == 2 and img.ndim == 3:
        resized = resized[:, :, None]
    mass = resized.reshape(size, new_w, -1).clip(min=0).sum(axis=(0, 2))
    csum = np.cumsum(mass, dtype=np.float64)
    total = csum[-1]
    x_center = int(np.argmax(csum > total / 2)) if total > 0 else new_w // 2
    half = size // 2
    # the size-wide window centred on x_center of the resized image, zero where it leaves it
    out = np.zeros((size, size) + resized.shape[2:], resized.dtype)
    lo, hi = max(x_center - half, 0), min(x_center - half + size, new_w)
    out[:, lo - (x_center - half):hi - (x_center - half)] = resized[:, lo:hi]
    if np.issubdtype(img.dtype, np.integer):
        info = np.iinfo(img.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(img.dtype)


def align_silhouette(mask: np.ndarray, size: int = 64) -> np.ndarray:
    """Binary person mask (H, W) (bool or 0/255) -> aligned (size, size) uint8 silhouette in {0, 255}."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise GeometryError(f"mask must be 2-D (H, W), got shape {m.shape}")
    occ = m > 0
    sil = np.where(occ, np.uint8(255), np.uint8(0))
    aligned = align_to_square(sil, occ, size)
    # A very thin mask shrunk by the resize can fall under the fixed threshold everywhere; then
    # threshold at half its peak so that a non-empty mask never yields an empty silhouette.
    threshold = min(SILHOUETTE_THRESHOLD, int(aligned.max()) // 2)
    return np.where(aligned > threshold, np.uint8(255), np.uint8(0))
