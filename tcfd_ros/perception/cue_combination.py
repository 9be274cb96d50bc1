"""Gait and the cues beside it (walking speed, stature) read as one likelihood ratio.

Why: moving the gait threshold along the model's false-match-rate curve by the cues' likelihood ratio
(``IdentityManager.cue_shift``) assumes the curve's rates are the gait distance's likelihood ratios, which
they are not where the recognizer decides; on 22 disjoint replays it scores 58 % of genuine pairs at 1 %
false matches where walking speed and stature alone score 64 % (RESULTS.md, "Pipeline calibration across
replays"). Fitting how much a unit of the cues' log ratio is worth in log gait distance, on pipeline track
pairs, scores 66 %. The fitted model is a logistic regression of "same person" on ``log d`` and the cues'
``log LR``: its log odds ``w_d log d + w_c log LR + b`` rank pairs exactly as the distance

    score = d * LR ** (-k),    k = w_c / (-w_d)

does, a gait distance corrected by the cues (in the distance's own units, so thresholds, margins and
confidences keep their meaning). ``tcfd-ros calibrate`` fits ``k`` on replays (``fit_cue_exponent``) and
sets the track threshold on ``score``; the model carries ``k`` as metadata ``open_set_cue_exponent_track``.

API::

    lr, used = cue_likelihood_ratio(cfg, {"speed": 1.3, "stature": 1.71}, {"stature": 1.70})  # IdentityConfig
    comb = CueCombination.from_metadata(meta)           # None: absent (a model calibrated before it)
    comb.score(gait_distance, cue_lr)                   # what the recognizer compares with the threshold
    k = fit_cue_exponent(distances, cue_log_lrs, genuine)   # calibration
    cue_config(cfg)  # stored beside k; cue_config_differences(cfg, meta[CUE_CONFIG_KEY]) at start
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from scipy.optimize import minimize

from tcfd_ros.errors import DatasetError
from tcfd_ros.perception.config import IdentityConfig
from tcfd_ros.perception.stature import stature_likelihood_ratio
from tcfd_ros.perception.walking_speed import speed_likelihood_ratio

#: metadata key of the fitted exponent
METADATA_KEY = "open_set_cue_exponent_track"
#: metadata key of the identity settings the cues were measured and weighed with at calibration
CUE_CONFIG_KEY = "calibration_cue_config"
#: the IdentityConfig fields that decide which cues a track has and what their likelihood ratio is
CUE_FIELDS = ("speed_evidence", "speed_within_sd_mps", "speed_between_sd_mps", "speed_min_walking_mps",
              "speed_baseline_s", "speed_min_span_s", "stature_evidence", "stature_within_sd_m",
              "stature_between_sd_m", "stature_outlier_share", "stature_min_samples", "stature_max_spread_m")
#: L2 penalty on the logistic weights (keeps the fit finite where the classes separate)
FIT_L2 = 1e-3
#: gait distances are floored here before the log (a distance of exactly 0 would be -inf)
MIN_DISTANCE = 1e-6
#: the largest exponent a fit gives or metadata may hold (a model whose gait distance barely separates
#: people on the calibration pairs fits ~17: the cues decide and gait breaks their ties)
MAX_EXPONENT = 100.0
#: genuine pairs a fit needs: fewer say nothing of how gait and cues weigh against each other
MIN_GENUINE_PAIRS = 10


def cue_ratio(cfg: IdentityConfig, name: str, a: float, b: float) -> float:
    """The likelihood ratio (same person / strangers) of one cue measured as ``a`` and ``b``."""
    if name == "speed":
        return speed_likelihood_ratio(abs(a - b), cfg.speed_within_sd_mps, cfg.speed_between_sd_mps)
    return stature_likelihood_ratio(abs(a - b), cfg.stature_within_sd_m, cfg.stature_between_sd_m,
                                    cfg.stature_outlier_share)


def cue_likelihood_ratio(cfg: IdentityConfig, mine: Mapping[str, float], theirs: Mapping[str, float]
                         ) -> tuple[float, set[str]]:
    """The product of the likelihood ratios of the cues both tracks measured, and which cues those
    were; (1.0, empty) when they share none."""
    lr, used = 1.0, set()
    for name, value in mine.items():
        if name in theirs:
            lr *= cue_ratio(cfg, name, value, theirs[name])
            used.add(name)
    return lr, used


def cue_config(cfg: IdentityConfig) -> dict[str, Any]:
    """The settings of ``cfg`` an exponent fitted with them depends on (``CUE_FIELDS``)."""
    return {name: getattr(cfg, name) for name in CUE_FIELDS}


def cue_config_differences(cfg: IdentityConfig, calibrated: Any) -> list[str]:
    """``CUE_FIELDS`` whose value in ``cfg`` differs from the calibration's (metadata ``CUE_CONFIG_KEY``);
    empty when they agree or the metadata does not say."""
    if not isinstance(calibrated, dict):
        return []
    return [f"{name} {calibrated[name]!r} -> {getattr(cfg, name)!r}" for name in CUE_FIELDS
            if name in calibrated and calibrated[name] != getattr(cfg, name)]


@dataclass(frozen=True)
class CueCombination:
    """``score = gait distance x (cues' likelihood ratio) ** -exponent``; exponent 0: gait alone."""

    exponent: float

    @classmethod
    def from_metadata(cls, meta: Any) -> "CueCombination | None":
        """From model metadata; None when the key is absent. A value that is not a number in
        [0, MAX_EXPONENT] raises ValueError (the caller says so in one line)."""
        value = meta.get(METADATA_KEY) if hasattr(meta, "get") else None
        if value is None:
            return None
        try:
            k = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{METADATA_KEY} = {value!r}: expected a number") from None
        if not (math.isfinite(k) and 0.0 <= k <= MAX_EXPONENT):
            raise ValueError(f"{METADATA_KEY} = {value!r}: expected 0 <= value <= {MAX_EXPONENT:g}")
        return cls(k)

    def score(self, gait: np.ndarray | float, cue_lr: np.ndarray | float) -> np.ndarray | float:
        """The cue-corrected gait distance (an infinite distance stays infinite)."""
        return gait * np.power(cue_lr, -self.exponent)


def fit_cue_exponent(distance: np.ndarray, cue_log_lr: np.ndarray, genuine: np.ndarray) -> float:
    """``k`` of a class-balanced logistic regression of ``genuine`` on (log distance, cues' log LR).

    Refuses in one line (DatasetError) fewer than ``MIN_GENUINE_PAIRS`` genuine pairs or no impostor,
    or where a longer gait distance does not make a stranger likelier (a model or pairing gone wrong); a
    negative cue weight (cues that mislead on these pairs) gives 0: gait alone."""
    d = np.asarray(distance, dtype=np.float64)
    c = np.asarray(cue_log_lr, dtype=np.float64)
    y = np.asarray(genuine, dtype=bool)
    if not (d.shape == c.shape == y.shape and d.ndim == 1) or not np.isfinite(c).all() or np.isnan(d).any():
        raise DatasetError("cue combination: distances, cue log ratios and labels must be equal-length "
                           "finite vectors")
    n_gen = int(y.sum())
    if n_gen < MIN_GENUINE_PAIRS or n_gen == y.size:
        raise DatasetError(f"cue combination: {n_gen} genuine and {y.size - n_gen} impostor pairs; the fit "
                           f"needs >= {MIN_GENUINE_PAIRS} genuine pairs and impostor ones (add replays, or "
                           "calibrate the gait distance alone)")
    x = np.stack([np.log(np.maximum(d, MIN_DISTANCE)), c], axis=1)
    scale = x.std(axis=0) + 1e-9                      # standardised features: one penalty fits both
    mid = x.mean(axis=0)
    z_x = (x - mid) / scale
    t = y.astype(np.float64)
    pos = (y.size - n_gen) / n_gen                    # genuine pairs weigh as much as impostors

    def loss(w: np.ndarray) -> float:
        z = z_x @ w[:2] + w[2]
        return float(np.mean(pos * t * np.logaddexp(0, -z) + (1 - t) * np.logaddexp(0, z))
                     + FIT_L2 * np.sum(w[:2] ** 2))

    w = minimize(loss, np.zeros(3), method="BFGS").x
    w_d, w_c = w[0] / scale[0], w[1] / scale[1]
    if not w_d < 0:
        raise DatasetError(f"cue combination: the fitted weight of log gait distance is {w_d:.3g}, not "
                           "negative (longer distances do not mean strangers on these pairs); check the "
                           "model and the replays")
    return float(min(max(w_c / -w_d, 0.0), MAX_EXPONENT))
