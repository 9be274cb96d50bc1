"""A model's calibrated false-match-rate curve: track distance <-> false-match rate among strangers.

Why: the checkpoint's single ``open_set_threshold_track`` is one point of this curve (the target rate);
evidence beside gait (``perception.walking_speed``) moves the decision along it, so the curve travels
with the model (metadata ``open_set_fmr_curve_track``, written by ``training.calibrate``).

API::

    points = curve_points(impostor_distances, (0.0003, 0.001, 0.003, 0.01, 0.03, 0.1))  # calibration
    curve = FmrCurve.from_metadata(meta.get("open_set_fmr_curve_track"))  # None: absent or malformed
    curve.threshold_at(0.002); curve.fmr_at(0.0069)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

#: Rates at which calibration records the curve (those the impostor pairs resolve are kept).
CURVE_FMRS = (0.0003, 0.001, 0.003, 0.01, 0.03, 0.1)


@dataclass(frozen=True)
class FmrCurve:
    """A model's calibrated track-level (false-match rate, threshold) points, rising in both; log-linear
    interpolation between them, clamped to the calibrated range (no extrapolation into the tails)."""

    fmr: tuple[float, ...]
    threshold: tuple[float, ...]

    @classmethod
    def from_metadata(cls, points: Any) -> "FmrCurve | None":
        """From metadata ``[[fmr, threshold], ...]``; None unless >= 2 finite points rising in both."""
        try:
            arr = np.asarray(points, dtype=np.float64)
        except (TypeError, ValueError):
            return None
        if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 2 or not np.isfinite(arr).all():
            return None
        f, t = arr[:, 0], arr[:, 1]
        if (f <= 0).any() or (f >= 1).any() or (np.diff(f) <= 0).any() or (np.diff(t) <= 0).any():
            return None
        return cls(tuple(f.tolist()), tuple(t.tolist()))

    def threshold_at(self, fmr: float) -> float:
        lf = np.log(np.clip(fmr, self.fmr[0], self.fmr[-1]))
        return float(np.interp(lf, np.log(self.fmr), self.threshold))

    def fmr_at(self, threshold: float) -> float:
        """The false-match rate of ``threshold`` (inverse of threshold_at, clamped to the range)."""
        t = np.asarray(self.threshold)
        lf = np.interp(threshold, t, np.log(self.fmr))
        return float(np.exp(lf))


def curve_points(impostor: np.ndarray, fmrs: Sequence[float]) -> list[list[float]]:
    """Calibration: ``[[fmr, threshold], ...]`` of impostor distances at ``fmrs``, keeping the rates that
    at least one impostor pair resolves and whose thresholds rise."""
    imp = np.asarray(impostor, dtype=np.float64)
    out: list[list[float]] = []
    for f in sorted(fmrs):
        if f * imp.size < 1:
            continue
        thr = float(np.quantile(imp, f, method="lower"))
        if out and thr <= out[-1][1]:
            continue
        out.append([float(f), thr])
    return out
