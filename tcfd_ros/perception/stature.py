"""Stature as cross-sensor evidence: how tall a walker is, measured in metres by both sensors.

Why: where only gait links two sensors' zones, the learned gait embedding is weak evidence on the
pipeline's own tracklets (RESULTS.md, "Stature beside gait and walking speed"). Stature is the oldest
static gait parameter (height and stride were the first features of video gait recognition), it
differs between adults by ~0.09-0.10 m (SD, men and women together) and a calibrated camera and a LiDAR
both measure it to a few centimetres. Like walking speed it is folded into the open-set decision as a
likelihood ratio that moves the gait threshold along the model's calibrated false-match-rate curve
(``IdentityManager``), so on average over strangers the calibrated false-match rate holds (the expected
ratio under the impostor model is 1); a model calibrated on replays weighs the ratio against the gait
distance by a fitted exponent instead (``cue_combination.py``).

Measurement, per measured frame (``tracks`` v3 ``stature_m``):

- camera: the ray through the top centre of the detection's box meets the vertical line through the
  person's ground point (``perception.ground``: the foot point moved behind the nearer foot); the
  height of that point above the ground plane. None where the box touches the image's top, left or
  right edge (the head or a side is cut off) or the ground point is unknown (feet unseen);
- LiDAR: the cluster's highest point in the fixed frame, above the ground plane (the highest ring that
  hits the head, so a few centimetres low at range; the model below allows for that). None where that
  point lies at the sensor's highest beam (``calibration.lidar_top_beam_deg``): a LiDAR 1 m up on a
  robot with an HDL-64E (+2 degrees) sees no head nearer than ~20 m.

A track's stature is the median of its frames' values (a frame where two people merge, or a raised
arm, does not move it); where those spread (a blob of two walkers one behind the other over much of the
track), the median of their tightest half if it is as tight as one person's, else none. API::

    h = track_stature(samples_m, min_samples=10)                        # metres or None
    store = TrackStatures(); store.add(key, stamp_s, h_frame); store.estimate(key, 10)
    lr = stature_likelihood_ratio(abs(h_a - h_b), within_sd_m, between_sd_m, outlier_share)

Model: the difference of two tracks' statures of one person is N(0, within_sd) (both measurements'
error, posture, shoes) with probability 1 - outlier_share, and otherwise as between strangers (a track
whose frames mostly show a merged pair, a person carrying something on their head); of two different
people N(0, sqrt(2) between_sd). So the ratio never falls below ``outlier_share``: along the gait
threshold's false-match-rate curve one bad track cannot veto a right link on its own. A model's cue
exponent k (``cue_combination``) weighs that floor as ``outlier_share ** k`` (1e-4 at 0.1 and the shipped
k 4; 1e-8 with the k 8 of the weights before their fine-tune on the pipeline's tracklets, whose gait
counted for less): a stature disagreement outweighs the whole range of gait distances, as the calibration
on replays chose.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Hashable, Sequence

import numpy as np

from tcfd_ros.geometry.calibration import CameraIntrinsics, RigidTransform

#: A box this close to the image's top, left or right edge (pixels) is cut off: no stature.
EDGE_MARGIN_PX = 2.0
#: Statures outside this range (metres) are not a standing or walking person's: no value.
PLAUSIBLE_M = (0.8, 2.4)


def _plausible(h: np.ndarray) -> np.ndarray:
    ok = np.isfinite(h) & (h >= PLAUSIBLE_M[0]) & (h <= PLAUSIBLE_M[1])
    return np.where(ok, h, np.nan)


def camera_stature(boxes: np.ndarray, ground: np.ndarray, camera: CameraIntrinsics,
                   fixed_from_camera: RigidTransform, ground_z_m: float) -> np.ndarray:
    """(N,) statures (m, NaN where unmeasured) of camera boxes (N, 4) ``x0, y0, x1, y1`` standing at
    fixed-frame ground points (N, 3) (NaN rows: unknown)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    g = np.asarray(ground, dtype=np.float64).reshape(-1, 3)
    if len(b) == 0:
        return np.zeros(0)
    head = np.stack([0.5 * (b[:, 0] + b[:, 2]), b[:, 1]], axis=1)
    d = fixed_from_camera.rotate(camera.rays(head))
    o = fixed_from_camera.t
    horizontal = np.einsum("ij,ij->i", d[:, :2], d[:, :2])
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.einsum("ij,ij->i", g[:, :2] - o[:2], d[:, :2]) / horizontal
    h = o[2] + s * d[:, 2] - ground_z_m
    inside = ((b[:, 1] > EDGE_MARGIN_PX) & (b[:, 0] > EDGE_MARGIN_PX)
              & (b[:, 2] < camera.width - EDGE_MARGIN_PX) & np.isfinite(g).all(axis=1) & (s > 0))
    return np.where(inside, _plausible(h), np.nan)


def lidar_stature(tops: np.ndarray, fixed_from_lidar: RigidTransform, ground_z_m: float,
                  max_elevation_deg: float = 90.0) -> np.ndarray:
    """(N,) statures (m, NaN where unmeasured) of clusters whose highest points (N, 3) are given in the
    sensor frame; a top at ``max_elevation_deg`` or above (the sensor's highest beam less a margin) may
    be the field of view's edge, not the head: no stature."""
    t = np.asarray(tops, dtype=np.float64).reshape(-1, 3)
    if len(t) == 0:
        return np.zeros(0)
    elevation = np.degrees(np.arctan2(t[:, 2], np.hypot(t[:, 0], t[:, 1])))
    return np.where(elevation < max_elevation_deg, _plausible(fixed_from_lidar.apply(t)[:, 2] - ground_z_m),
                    np.nan)


#: Robust SD from the median absolute deviation of a normal distribution.
MAD_TO_SD = 1.4826


def robust_sd(values: np.ndarray, centre: float | None = None) -> float:
    """``MAD_TO_SD`` x the median absolute deviation of ``values`` from ``centre`` (default: their median);
    NaN for no values."""
    v = np.asarray(values, dtype=np.float64)
    if not v.size:
        return float("nan")
    c = float(np.median(v)) if centre is None else centre
    return MAD_TO_SD * float(np.median(np.abs(v - c)))


def track_stature(samples_m: Sequence[float], min_samples: int, max_spread_m: float = 0.0) -> float | None:
    """Median of a track's per-frame statures; None with fewer than ``min_samples``. When their robust SD
    exceeds ``max_spread_m`` (> 0) (one person's stature does not drift over a track, a blob of two people
    one behind the other does), the median of their shortest half if that half alone is as tight (the
    frames the person walked alone in: merged frames read high and spread), else None."""
    s = np.asarray(samples_m, dtype=np.float64)
    s = s[np.isfinite(s)]
    if s.size < max(1, min_samples):
        return None
    med = float(np.median(s))
    if max_spread_m <= 0 or robust_sd(s, med) <= max_spread_m:
        return med
    centre, spread = shortest_half(s)
    return centre if spread <= max_spread_m else None


def shortest_half(samples: np.ndarray) -> tuple[float, float]:
    """The median of the ``ceil(n / 2)`` values that lie closest together, and the SD that half implies
    (``MAD_TO_SD`` x half its range: a normal sample's shortest half spans +-0.674 SD)."""
    s = np.sort(np.asarray(samples, dtype=np.float64))
    h = max(2, int(math.ceil(0.5 * s.size)))
    ranges = s[h - 1:] - s[:s.size - h + 1]
    i = int(np.argmin(ranges))
    return float(np.median(s[i:i + h])), MAD_TO_SD * 0.5 * float(ranges[i])


def stature_likelihood_ratio(dh_m: float, within_sd_m: float, between_sd_m: float,
                             outlier_share: float) -> float:
    """p(stature difference | same person) / p(... | different people) for the module's model."""
    sg, si = within_sd_m, math.sqrt(2.0) * between_sd_m
    gauss = (si / sg) * math.exp(-0.5 * dh_m * dh_m * (1.0 / sg ** 2 - 1.0 / si ** 2))
    return (1.0 - outlier_share) * gauss + outlier_share


class TrackStatures:
    """Each track's per-frame statures (the newest ``max_samples``), until the track expires."""

    def __init__(self, max_samples: int = 300) -> None:
        self.max_samples = max_samples
        self._s: dict[Hashable, tuple[float, deque]] = {}     # key -> (newest stamp, samples)

    def add(self, key: Hashable, stamp_s: float, stature_m: float) -> bool:
        """Record one frame's value; False (ignored) when it is not finite and positive."""
        if not (math.isfinite(stature_m) and stature_m > 0 and math.isfinite(stamp_s)):
            return False
        _, samples = self._s.get(key, (stamp_s, None))
        if samples is None:
            samples = deque(maxlen=self.max_samples)
        samples.append(float(stature_m))
        self._s[key] = (float(stamp_s), samples)
        return True

    def estimate(self, key: Hashable, min_samples: int, max_spread_m: float = 0.0) -> float | None:
        """The track's stature (``track_stature``), or None."""
        entry = self._s.get(key)
        return None if entry is None else track_stature(entry[1], min_samples, max_spread_m)

    def expire(self, now_s: float, timeout_s: float) -> None:
        self._s = {k: v for k, v in self._s.items() if now_s - v[0] <= timeout_s}
