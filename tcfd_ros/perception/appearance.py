"""Clothing colour of a camera detection: the appearance cue of the camera tracker.

Why: two people who cross in the image at nearly equal depth merge into one blob, and when they part
again position and motion cannot say who is who (both trackers of the pole bags swapped people there,
RESULTS.md "Pole hand-off across seeds"). What they wear can: shirts and trousers keep their colour
for the whole walk, as in DeepSORT-style trackers' appearance term, but from the silhouette's own
pixels instead of a learned re-identification network (no weights to ship, ~0.1 ms a person).

API::

    app = describe(bgr, mask, box)    # Appearance | None (None: the measurement carries no colour)
    app.hist                          # (2, N_BINS) upper body (torso) and lower body (legs), each sums to 1
    app.weight                        # 0..1, how much the colour can be trusted (see below)
    appearance_distance(a_hist, b_hist)   # 0 (same clothes) .. 1 (nothing in common); None: no common part

Descriptor: the silhouette pixels of the torso rows (``UPPER_ROWS`` of the box height) and of the leg
rows (``LOWER_ROWS``) each give one histogram of ``HUE_BINS`` hue bins for coloured pixels (HSV
saturation >= ``MIN_SATURATION`` and value >= ``MIN_VALUE``) and ``GREY_BINS`` brightness bins for
the rest (grey, black and white clothes, which have no hue). The distance is the Bhattacharyya
distance, averaged over the parts both histograms have.

Weight (how informative the colour is): night images are amplified and desaturated, so their hues are
noise and their brightness follows the camera's gain. The weight is the silhouette's mean saturation
over ``FULL_SATURATION`` (1 at and above), times its mean brightness over ``FULL_VALUE`` (dark pixels
carry no reliable hue), times its pixel count over ``FULL_PIXELS`` (a far person's few pixels are mostly
edge), each clipped to 1. A monochrome image (``mono8``, or an IR camera's equal channels) gives no
appearance at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Box rows (fractions of its height from the top) of the torso and of the legs: the head and the feet
#: are left out (hair, skin and shoes say little about who wears which clothes).
UPPER_ROWS = (0.18, 0.5)
LOWER_ROWS = (0.55, 0.9)
#: Hue bins (OpenCV hue 0..179) of coloured pixels and brightness bins of grey ones.
HUE_BINS = 8
GREY_BINS = 3
N_BINS = HUE_BINS + GREY_BINS
#: A pixel has a hue when its saturation and value (0..255) are at least these.
MIN_SATURATION = 48
MIN_VALUE = 40
#: Saturation, value (0..255, silhouette means) and pixel count at which the weight reaches 1.
FULL_SATURATION = 80.0
FULL_VALUE = 70.0
FULL_PIXELS = 400.0
#: A part with fewer silhouette pixels than this has no histogram.
MIN_PART_PIXELS = 20
#: Typical distance of one person's detection from that person's smoothed colour (0.1-0.2 on the pole
#: bags, RESULTS.md "Camera tracker appearance"): the tracker's colour cost counts from here, so a
#: same-person match costs ~0 and a measurement or track without colour is neutral, not favoured.
SAME_PERSON_DISTANCE = 0.15


@dataclass(frozen=True)
class Appearance:
    """Colour histograms of one detection (rows: torso, legs; a missing part is all zeros)."""

    hist: np.ndarray      # (2, N_BINS) float, each present row sums to 1
    weight: float         # 0..1


def _part_hist(hsv: np.ndarray) -> np.ndarray | None:
    """(N_BINS,) normalised histogram of (n, 3) HSV pixels, None when there are too few."""
    if len(hsv) < MIN_PART_PIXELS:
        return None
    h, s, v = hsv[:, 0].astype(np.int32), hsv[:, 1], hsv[:, 2].astype(np.int32)
    coloured = (s >= MIN_SATURATION) & (v >= MIN_VALUE)
    bins = np.where(coloured, np.minimum(h * HUE_BINS // 180, HUE_BINS - 1),
                    HUE_BINS + np.minimum(v * GREY_BINS // 256, GREY_BINS - 1))
    counts = np.bincount(bins, minlength=N_BINS).astype(np.float64)
    return counts / counts.sum()


def describe(bgr: np.ndarray, mask: np.ndarray, box: tuple[int, int, int, int]) -> Appearance | None:
    """Appearance of the person whose silhouette is ``mask`` ((h, w) bool, the box's crop) in ``bgr``.

    ``box`` is (x0, y0, x1, y1) in pixels (x1/y1 exclusive), the mask's place in the image. None for a
    monochrome image, an empty silhouette or one too small for either part.
    """
    if bgr.ndim != 3 or bgr.shape[2] != 3:
        return None
    x0, y0, x1, y1 = box
    crop = bgr[y0:y1, x0:x1]
    if crop.shape[:2] != mask.shape or crop.size == 0:
        return None
    if np.array_equal(crop[..., 0], crop[..., 1]) and np.array_equal(crop[..., 1], crop[..., 2]):
        return None                                   # grey as colour: an IR camera
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
    hgt = mask.shape[0]
    hist = np.zeros((2, N_BINS))
    present = False
    sat_sum = val_sum = 0.0
    n_total = 0
    for i, (a, b) in enumerate((UPPER_ROWS, LOWER_ROWS)):
        r0, r1 = int(a * hgt), int(np.ceil(b * hgt))
        px = hsv[r0:r1][mask[r0:r1]]
        part = _part_hist(px)
        if part is None:
            continue
        hist[i] = part
        present = True
        sat_sum += float(px[:, 1].sum())
        val_sum += float(px[:, 2].sum())
        n_total += len(px)
    if not present:
        return None
    weight = (min(1.0, sat_sum / n_total / FULL_SATURATION) * min(1.0, val_sum / n_total / FULL_VALUE)
              * min(1.0, n_total / FULL_PIXELS))
    return Appearance(hist, float(weight))


def appearance_distance(a: np.ndarray, b: np.ndarray) -> float | None:
    """Bhattacharyya distance of two (2, N_BINS) descriptors, averaged over the parts both have (0..1);
    None when they share no part (nothing to compare)."""
    total, parts = 0.0, 0
    for pa, pb in zip(a, b):
        if pa.sum() <= 0 or pb.sum() <= 0:
            continue
        bc = float(np.sqrt(pa * pb).sum())
        total += float(np.sqrt(max(0.0, 1.0 - min(bc, 1.0))))
        parts += 1
    return total / parts if parts else None
