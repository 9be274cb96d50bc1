"""Gait and the cues beside it (walking speed, stature, step frequency) read as one likelihood ratio.

Why: moving the gait threshold along the model's false-match-rate curve by the cues' likelihood ratio
(``CueEvidence.shift``) assumes the curve's rates are the gait distance's likelihood ratios, which
they are not where the recognizer decides; on 22 disjoint replays it scores 58 % of genuine pairs at 1 %
false matches where walking speed and stature alone score 64 % (RESULTS.md, "Gait and cues as one
likelihood ratio"). Read as one likelihood ratio, ``log LR_gait(d) + k log LR_cues`` with the gait
ratio falling in ``log d``, pairs rank as the distance

    score = d * LR ** (-k)

does: a gait distance corrected by the cues, in the distance's own units (thresholds and margins keep their
meaning; the recognizer's confidence reads the margin in nats of the cues' ratio, log(T / score) / k). ``k``
says what a unit of the cues' log ratio is worth in log gait distance. ``tcfd-ros calibrate`` chooses it on
replays' track pairs as the exponent of ``EXPONENT_GRID`` whose score accepts the most genuine pairs on
average over false-match rates from a quarter of the target to four times it (``choose_cue_exponent``): the
decision lives in that tail; a logistic regression over all pairs, tried first, put k at 0.93 on replays of
four bags where the tail wanted 8 or more (its 13.8 on another recording of them came from tracks mixed
with a second graph's), and the rate at the target alone swung between 1 and 8 with the target. The model
carries ``k`` as metadata ``open_set_cue_exponent_track``.

API::

    lr, used = cue_likelihood_ratio(cfg, {"speed": 1.3, "stature": 1.71}, {"stature": 1.70})  # IdentityConfig
    comb = CueCombination.from_metadata(meta)           # None: absent (a model calibrated before it)
    comb.score(gait_distance, cue_lr)                   # what the recognizer compares with the threshold
    comb.nats_below(score, threshold)                   # a margin in nats of the cues' ratio
    comb.score_log(gait_distance, cue_log_lr)           # the same from cue_log_likelihood_ratio (calibration)
    k = choose_cue_exponent(distances, cue_log_lrs, genuine, target_fmr=0.03)   # calibration
    cue_config(cfg)  # stored beside k; cue_config_differences(cfg, meta[CUE_CONFIG_KEY]) at start
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from tcfd_ros.errors import DatasetError
from tcfd_ros.perception.config import IdentityConfig
from tcfd_ros.perception.stature import stature_likelihood_ratio
from tcfd_ros.perception.step_frequency import step_frequency_likelihood_ratio
from tcfd_ros.perception.walking_speed import speed_likelihood_ratio

#: the cues ``IdentityManager.cues`` measures
CUE_NAMES = ("speed", "stature", "step_frequency")
#: metadata key of the exponent
METADATA_KEY = "open_set_cue_exponent_track"
#: metadata key of the gait distance alone at the same false-match rate of the same track pairs (the bar of a
#: pair that shares no cue, ``IdentityConfig.gait_alone_bar``)
GAIT_ALONE_KEY = "open_set_threshold_track_gait_alone"
#: metadata key of the identity settings the cues were measured and weighed with at calibration
CUE_CONFIG_KEY = "calibration_cue_config"
#: the IdentityConfig fields that decide which cues a track has and what their likelihood ratio is
CUE_FIELDS = ("speed_evidence", "speed_within_sd_mps", "speed_between_sd_mps", "speed_min_walking_mps",
              "speed_baseline_s", "speed_min_span_s", "speed_max_se_mps", "stature_evidence",
              "stature_within_sd_m", "stature_between_sd_m", "stature_outlier_share", "stature_min_samples",
              "stature_max_spread_m",
              "step_frequency_evidence", "step_frequency_within_sd_hz", "step_frequency_between_sd_hz",
              "step_frequency_outlier_share", "step_frequency_min_span_s", "step_frequency_min_power")
#: the exponents calibration chooses among (0: gait alone; doubling steps: the tail's GAR is flat near
#: its best, and a coarse grid does not chase the noise of a few dozen genuine pairs)
EXPONENT_GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
#: the exponent is chosen on the mean genuine-accept rate over BAND_POINTS false-match rates log-spaced
#: from the target / BAND_FACTOR to the target x BAND_FACTOR (a partial area under the curve's tail)
BAND_FACTOR = 4.0
BAND_POINTS = 9
#: a cue likelihood ratio is floored here before its log (a tracking glitch can make one underflow to 0)
MIN_LIKELIHOOD_RATIO = 1e-300
#: the largest exponent model metadata may hold (the grid's largest is 32; a logistic fit, the calibration
#: used first, gave 13.8 on mixed-up recordings; the shipped model's grid choice is 8)
MAX_EXPONENT = 100.0
#: genuine pairs the choice needs: fewer say nothing of how gait and cues weigh against each other
MIN_GENUINE_PAIRS = 10


def cue_ratio(cfg: IdentityConfig, name: str, a: float, b: float) -> float:
    """The likelihood ratio (same person / strangers) of one cue measured as ``a`` and ``b``."""
    if name == "speed":
        return speed_likelihood_ratio(abs(a - b), cfg.speed_within_sd_mps, cfg.speed_between_sd_mps)
    if name == "stature":
        return stature_likelihood_ratio(abs(a - b), cfg.stature_within_sd_m, cfg.stature_between_sd_m,
                                        cfg.stature_outlier_share)
    if name == "step_frequency":
        return step_frequency_likelihood_ratio(abs(a - b), cfg.step_frequency_within_sd_hz,
                                               cfg.step_frequency_between_sd_hz,
                                               cfg.step_frequency_outlier_share)
    raise ValueError(f"cue {name!r}: expected one of {CUE_NAMES}")


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


def cue_log_likelihood_ratio(cfg: IdentityConfig, mine: Mapping[str, float], theirs: Mapping[str, float]
                             ) -> float:
    """The log of ``cue_likelihood_ratio`` (0 where the tracks share no cue), its ratio floored at
    ``MIN_LIKELIHOOD_RATIO`` so that cues which all but rule a pair out stay finite."""
    return math.log(max(cue_likelihood_ratio(cfg, mine, theirs)[0], MIN_LIKELIHOOD_RATIO))


def cue_config(cfg: IdentityConfig) -> dict[str, Any]:
    """The settings of ``cfg`` an exponent fitted with them depends on (``CUE_FIELDS``)."""
    return {name: getattr(cfg, name) for name in CUE_FIELDS}


def cue_config_differences(cfg: IdentityConfig, calibrated: Any) -> list[str]:
    """``CUE_FIELDS`` whose value in ``cfg`` differs from the calibration's (metadata ``CUE_CONFIG_KEY``),
    and cues on in ``cfg`` that the calibration's record does not name (calibrated before they existed);
    empty when they agree or the metadata does not say."""
    if not isinstance(calibrated, dict):
        return []
    out = [f"{name} {calibrated[name]!r} -> {getattr(cfg, name)!r}" for name in CUE_FIELDS
           if name in calibrated and calibrated[name] != getattr(cfg, name)]
    # a cue that did not exist when the model was calibrated was not weighed then
    return out + [f"{name} (calibrated without it) -> True" for name in CUE_FIELDS
                  if name.endswith("_evidence") and name not in calibrated and getattr(cfg, name)]


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
        """The cue-corrected gait distance (an infinite distance stays infinite; cues that all but rule a
        pair out make it infinite)."""
        return self.score_log(gait, np.log(np.maximum(cue_lr, MIN_LIKELIHOOD_RATIO)))

    def nats_below(self, score: float, reference: float) -> float:
        """How many nats of the cues' likelihood ratio ``score`` lies below ``reference``, ``log(reference /
        score) / exponent`` (+inf for a score of 0 or less): the unit margins between scores of ~1e-8 are
        read in. Needs exponent > 0 and reference > 0."""
        if score <= 0:
            return math.inf
        return math.log(reference / score) / self.exponent

    def score_log(self, gait: np.ndarray | float, cue_log_lr: np.ndarray | float) -> np.ndarray | float:
        """``score`` from the cues' log likelihood ratio (what calibration pairs carry)."""
        with np.errstate(over="ignore"):
            return gait * np.exp(-self.exponent * np.asarray(cue_log_lr, dtype=np.float64))


def choose_cue_exponent(distance: np.ndarray, cue_log_lr: np.ndarray, genuine: np.ndarray,
                        target_fmr: float) -> float:
    """The exponent of ``EXPONENT_GRID`` whose score ``d x LR^-k`` accepts the most genuine pairs on
    average over the false-match rates of ``exponent_fmr_band`` around ``target_fmr`` (ties: the smallest,
    which leaves gait the most weight). The rate at the target alone rests on a handful of genuine pairs
    (with a few dozen, one is ~2 points): on four replays it chose k 4, 1 and 2 at 1, 2 and 3 %, where the
    band's mean is flat from 4 to 32 (RESULTS.md, "Step frequency beside gait, speed and stature"; those
    replays were later found to mix a second graph's tracks, the instability is the point).

    Refuses in one line (DatasetError) fewer than ``MIN_GENUINE_PAIRS`` genuine pairs, too few impostor
    pairs to resolve ``target_fmr``, or inputs that are not equal-length vectors."""
    d = np.asarray(distance, dtype=np.float64)
    c = np.asarray(cue_log_lr, dtype=np.float64)
    y = np.asarray(genuine, dtype=bool)
    if not (d.shape == c.shape == y.shape and d.ndim == 1) or np.isnan(c).any() or np.isnan(d).any():
        raise DatasetError("cue combination: distances, cue log ratios and labels must be equal-length "
                           "vectors without NaN")
    n_gen, n_imp = int(y.sum()), int((~y).sum())
    if n_gen < MIN_GENUINE_PAIRS or n_imp * target_fmr < 1:
        raise DatasetError(f"cue combination: {n_gen} genuine and {n_imp} impostor pairs; the fit needs "
                           f">= {MIN_GENUINE_PAIRS} genuine pairs and >= {int(np.ceil(1 / target_fmr))} "
                           "impostor ones (add replays, or calibrate the gait distance alone)")
    fmrs = exponent_fmr_band(target_fmr, n_imp)
    best, best_gar = 0.0, -1.0
    for k in EXPONENT_GRID:
        score = CueCombination(k).score_log(d, c)
        thresholds = np.quantile(score[~y], fmrs, method="lower")
        gar = float((score[y][:, None] <= thresholds[None, :]).mean())
        if gar > best_gar:
            best, best_gar = k, gar
    return best


def exponent_fmr_band(target_fmr: float, impostor_pairs: int) -> np.ndarray:
    """The false-match rates whose mean genuine-accept rate chooses the exponent: ``BAND_POINTS``
    log-spaced from ``target_fmr / BAND_FACTOR`` to ``target_fmr x BAND_FACTOR`` (at most 1), those the
    impostor pairs resolve (one pair at least)."""
    fmrs = np.geomspace(target_fmr / BAND_FACTOR, min(1.0, target_fmr * BAND_FACTOR), BAND_POINTS)
    return fmrs[fmrs * impostor_pairs >= 1]
