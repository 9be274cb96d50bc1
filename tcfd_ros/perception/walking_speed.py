"""Walking speed as cross-sensor evidence: the one spatio-temporal gait parameter both sensors measure.

Why: where only gait links two sensors' zones, the learned gait embedding is weak evidence on the
pipeline's own tracklets (RESULTS.md, "Track evidence over 16 tracklets, and walking speed beside
gait"). A person's walking speed is the classic clinical gait parameter; it differs between people
(population SD of comfortable speed ~0.15-0.2 m/s) far more than within one walk (unless they change
pace between the zones: the same section measures what that costs), and both a LiDAR track and a
calibrated camera's ground track measure it in metres per second. It is folded into the open-set
decision as a likelihood ratio that moves the gait threshold along the model's calibrated
false-match-rate curve, so that on average over strangers the false-match rate stays the calibrated one
(the expected likelihood ratio under the impostor model is 1) while people walking at the speed of the
identity gain a looser bar. A model calibrated on replays (``tcfd-ros calibrate``) weighs the ratio
against the gait distance by a fitted exponent instead (``cue_combination.py``).

API::

    v = track_speed(stamps_s, xy_m, baseline_s=1.0, min_span_s=2.0, max_se_mps=0.2)   # m/s or None
    lr = speed_likelihood_ratio(abs(v_a - v_b), within_sd_mps, between_sd_mps)
    threshold = curve.threshold_at(curve.fmr_at(base_threshold) * lr)   # tcfd_ros.open_set.FmrCurve

Speed model: the difference of two speed measurements of one person is N(0, within_sd) (the person's
change of pace between the zones plus both measurements' error); of two different people N(0,
sqrt(2) between_sd) (two independent draws from the population).
"""

from __future__ import annotations

import math

import numpy as np

from tcfd_ros.perception.stature import robust_sd


def displacement_speeds(stamps_s: np.ndarray, xy_m: np.ndarray, baseline_s: float,
                        sigma_m: np.ndarray | None = None, sigmas: float = 0.0) -> np.ndarray:
    """Speeds (m/s) from each sample to the first one ``baseline_s`` or more later (stamps increasing;
    samples without one that late give none); with per-sample 1-sigma ``sigma_m``, each distance less
    ``sigmas`` combined sigmas of its two samples (at least 0): the speed the positions' own error cannot
    account for."""
    t = np.asarray(stamps_s, dtype=np.float64)
    p = np.asarray(xy_m, dtype=np.float64)[:, :2]
    j = np.searchsorted(t, t + baseline_s)
    i = np.flatnonzero(j < t.size)
    j = j[i]
    dist = np.linalg.norm(p[j] - p[i], axis=1)
    if sigma_m is not None and sigmas > 0:
        sig = np.asarray(sigma_m, dtype=np.float64)
        dist = np.maximum(dist - sigmas * np.hypot(sig[i], sig[j]), 0.0)
    return dist / (t[j] - t[i])


def track_speed(stamps_s: np.ndarray, xy_m: np.ndarray, baseline_s: float, min_span_s: float,
                max_se_mps: float = math.inf) -> float | None:
    """Median ground speed (m/s) over displacements ``baseline_s`` apart; None when the samples span less
    than ``min_span_s``, or when the speed's standard error exceeds ``max_se_mps``. The median ignores a bad
    foot point or a stop, and a 1 s baseline averages out the sway of a walker's centre within a stride.

    Standard error: the robust SD (``stature.robust_sd``) of the displacement speeds over the square root
    of the independent baselines the samples span (span / ``baseline_s``). A foot point placed metres off
    by a far, low camera makes the displacement speeds scatter, and their median says nothing of the
    walker (RESULTS.md, "A walking speed too uncertain to tell people apart"); a speed measured well
    scatters by a few cm/s."""
    t = np.asarray(stamps_s, dtype=np.float64)
    if t.size < 2 or t[-1] - t[0] < max(min_span_s, baseline_s):
        return None
    v = displacement_speeds(t, xy_m, baseline_s)
    median = float(np.median(v))
    se = robust_sd(v, median) / math.sqrt((t[-1] - t[0]) / baseline_s) if math.isfinite(max_se_mps) else 0.0
    return None if se > max_se_mps else median


def speed_likelihood_ratio(dv_mps: float, within_sd_mps: float, between_sd_mps: float) -> float:
    """p(speed difference | same person) / p(... | different people) for the module's Gaussian model."""
    sg, si = within_sd_mps, math.sqrt(2.0) * between_sd_mps
    return (si / sg) * math.exp(-0.5 * dv_mps * dv_mps * (1.0 / sg ** 2 - 1.0 / si ** 2))
