"""The cues beside gait (walking speed, stature, step frequency): what each track and identity measured,
and how they move the recognizer's decision score.

Why a class of its own: the identity rules (``identity.IdentityManager``) ask one question of the cues,
"what does this track score against these identities?"; what is measured per track, what each sensor
last measured of an identity, and how the model weighs cues against gait (a fitted combination,
``cue_combination.CueCombination``, or for an older model a shift of the threshold along its FMR curve)
live here. API::

    cues = CueEvidence(cfg, model_metadata, ground=GroundTracks(cfg), threshold=0.3)
    cues.add_stature(key, stamp_s, stature_m); cues.add_frames(key, stamps, frames, modality)   # measured
    cues.of_track(key) -> {"speed": m/s, "stature": m, "step_frequency": Hz}              # what counts now
    cues.scores(observation, gids, gait_distances) -> decision scores per identity
    cues.identity_scores(cues_measured, sensor, gids, gait_distances)   # the same for any cues
    cues.remembered(gid, sensor)            # what that sensor last measured of the identity
    cues.remember(observation, gid)         # the identity was last measured at this track's cues
    cues.absorb(gid, into)                  # identity gid became part of identity into
    cues.move_track(key, gid, into=None)    # a track left identity gid (for into): its measurements go too
    cues.rename_track(key, past)            # what a track measured so far counts as its past's
    cues.score(gait, mine, theirs); cues.likelihood_ratio(mine, theirs); cues.shift(mine, theirs)
    cues.expire(now_s, timeout_s, live_gids)
"""

from __future__ import annotations

import logging
import math
from typing import Any, Container, Hashable, Mapping, Sequence

import numpy as np

from tcfd_ros.errors import ConfigError
from tcfd_ros.open_set import FmrCurve
from tcfd_ros.perception.colocation import GroundTracks
from tcfd_ros.perception.config import IdentityConfig
from tcfd_ros.perception.cue_combination import (CUE_CONFIG_KEY, GAIT_ALONE_KEY, CueCombination,
                                                 cue_config_differences, cue_likelihood_ratio)
from tcfd_ros.perception.identity_types import TrackKey, TrackObservation
from tcfd_ros.perception.stature import TrackStatures
from tcfd_ros.perception.step_frequency import TrackStepFrequencies, leg_widths, periodogram

log = logging.getLogger(__name__)


def gait_alone_factor(meta: Mapping[str, Any]) -> float | None:
    """``open_set_threshold_track / open_set_threshold_track_gait_alone`` of a model calibrated where the
    recognizer decides (both at one false-match rate of the same track pairs), None for a model without
    them. Why: the combined score's bar asks the cues for most of the evidence (with the shipped model, a
    gait distance alone would have to be ~1e5 times smaller than any measured), so a pair that shares no
    cue (a camera with no ground calibration, a stature withheld for its spread, every cue off) could
    never be linked by gait; scaled by this, its gait distance meets the gait-alone bar exactly where it
    meets the combined one, and the threshold stays one knob."""
    raw = meta.get("open_set_threshold_track"), meta.get(GAIT_ALONE_KEY)
    if raw[0] is None or raw[1] is None:
        return None
    try:
        combined, alone = float(raw[0]), float(raw[1])
    except (TypeError, ValueError):
        combined = alone = math.nan
    if not (math.isfinite(combined) and math.isfinite(alone) and combined > 0.0 and alone > 0.0):
        raise ConfigError(f"model metadata: open_set_threshold_track {raw[0]!r} and {GAIT_ALONE_KEY} "
                          f"{raw[1]!r} must be positive numbers; recalibrate the model (tcfd-ros calibrate)")
    return combined / alone


class CueEvidence:
    """Cue measurements per track and per identity, and the model's weighing of them against gait."""

    def __init__(self, cfg: IdentityConfig, model_metadata: Mapping[str, Any], ground: GroundTracks,
                 threshold: float) -> None:
        meta = model_metadata
        self.ground = ground            # walking speed comes from the geometry's ground tracks
        self.fmr_curve = FmrCurve.from_metadata(meta.get("open_set_fmr_curve_track"))
        # shift's origin: the base threshold's false-match rate on the curve and the curve's threshold there
        # (the threshold itself unless beyond the curve's range); both fixed for the object's life
        base_fmr = None if self.fmr_curve is None else self.fmr_curve.fmr_at(threshold)
        self._origin = None if base_fmr is None else (base_fmr, self.fmr_curve.threshold_at(base_fmr))
        try:
            self.combination = CueCombination.from_metadata(meta)
        except ValueError as exc:
            raise ConfigError(f"model metadata: {exc}; recalibrate the model (tcfd-ros calibrate)") from None
        self._calibrated = meta.get(CUE_CONFIG_KEY) if self.combination else None
        self._gait_alone_factor = gait_alone_factor(meta) if self.combination else None
        self.statures = TrackStatures()
        self.steps = TrackStepFrequencies()
        # gid -> cue (cue_combination.CUE_NAMES) -> sensor -> track -> (stamp, value): what each of the
        # identity's tracks last measured (per track, so that a track leaving takes its own with it)
        self._seen: dict[int, dict[str, dict[str, dict[Hashable, tuple[float, float]]]]] = {}
        self.cfg = cfg
        if cfg.cues_on and not self.has_model:
            log.info("identity.speed_evidence / stature_evidence / step_frequency_evidence: the model "
                     "metadata has neither open_set_cue_exponent_track nor open_set_fmr_curve_track (a "
                     "model calibrated before they existed); walking speed, stature and step frequency are "
                     "not used")

    @property
    def cfg(self) -> IdentityConfig:
        return self._cfg

    @cfg.setter
    def cfg(self, cfg: IdentityConfig) -> None:
        """New settings apply to the next score; a warning where they differ from the calibration's (none
        where no cue is on and gait alone decides at its own calibrated bar)."""
        changed = cue_config_differences(cfg, self._calibrated)
        if changed and not cfg.cues_on and self._gait_alone_factor is not None:
            if cfg.gait_alone_bar:
                log.info("identity: no cue beside gait is on: every pair is decided by gait alone at the "
                         "model's open_set_threshold_track_gait_alone")
            else:
                log.warning("identity: no cue beside gait is on, and gait alone never meets the model's "
                            "combined bar: nothing will be linked by gait; set identity.gait_alone_bar: true "
                            "to decide by gait alone at the model's gait-alone threshold")
        elif changed:
            log.warning("identity: the model's cue exponent was fitted with other cue settings (walking "
                        "speed, stature, step frequency: %s); its threshold no longer holds its false-match "
                        "rate: recalibrate (tcfd-ros calibrate --config)", ", ".join(changed))
        if cfg.step_frequency_evidence:
            periodogram()             # its import now, not in the first decision that needs it
        self._cfg = cfg

    @property
    def has_model(self) -> bool:
        """The model says how cues weigh against gait: a fitted combination, or else its FMR curve."""
        return self.combination is not None or self.fmr_curve is not None

    @property
    def weighting(self) -> str:
        """How the cues weigh in, for diagnostics."""
        bar = "" if self._gait_alone is None else f"by gait alone at the model's {GAIT_ALONE_KEY}"
        if not self.cfg.cues_on:
            return "off" + (bar and f"; {bar}")
        if self.combination is not None:
            return (f"likelihood-ratio combination, exponent {self.combination.exponent:.3f}"
                    + (bar and f"; a pair that shares no cue {bar}"))
        return "threshold shift along the FMR curve" if self.fmr_curve is not None else "none in model"

    @property
    def scores_are_ratios(self) -> bool:
        """Whether decision scores are the cue-corrected ``d x LR^-k`` (a model with a cue exponent, cues
        on), whose ratios are likelihood ratios; a bare gait distance's are not."""
        comb = self.combination
        return comb is not None and comb.exponent > 0 and (self.cfg.cues_on or self._gait_alone is not None)

    @property
    def _gait_alone(self) -> float | None:
        """The factor that puts a gait distance decided alone on the combined score's scale
        (``gait_alone_bar`` on and the model calibrated with it), else None."""
        return self._gait_alone_factor if self.cfg.gait_alone_bar else None

    def nats_below(self, score: float, than: float) -> float:
        """How many nats of the cues' likelihood ratio ``score`` is below ``than`` (``scores_are_ratios``)."""
        return self.combination.nats_below(score, than)

    @property
    def revises_by_nats(self) -> bool:
        """Whether one score beats another by ``gait_revision_nats`` of the cues' ratio (scores that are
        ratios, the margin on), else by ``switch_margin`` in score units (``beats``)."""
        return self.cfg.gait_revision_nats > 0 and self.scores_are_ratios

    def beats(self, score: float, than: float) -> bool:
        """Whether ``score`` is better (lower) than ``than`` by the revision margin: ``gait_revision_nats``
        where ``revises_by_nats``, else ``switch_margin`` (scores of ~1e-8 leave a margin in distance units
        no meaning, so ratios are compared in nats). False for NaN."""
        if self.revises_by_nats:
            return score < than and self.nats_below(score, than) >= self.cfg.gait_revision_nats
        return score + self.cfg.switch_margin < than

    def add_stature(self, key: TrackKey, stamp_s: float, stature_m: float) -> None:
        """One frame's stature of a track (``stature_evidence``)."""
        if self.cfg.stature_evidence:
            self.statures.add(key, stamp_s, stature_m)

    def add_frames(self, key: TrackKey, stamps: Sequence[float], frames: np.ndarray, modality: str) -> None:
        """A tracklet's frames, for the track's step frequency (``step_frequency_evidence``)."""
        if self.cfg.step_frequency_evidence:
            self.steps.add(key, stamps, leg_widths(frames, modality))

    def of_track(self, key: TrackKey) -> dict[str, float]:
        """The track's measured cues: ``speed`` (m/s, only while walking), ``stature`` (m),
        ``step_frequency`` (Hz)."""
        c, out = self.cfg, {}
        if c.speed_evidence:
            v = self.ground.speed(key)
            if v is not None and v >= c.speed_min_walking_mps:
                out["speed"] = v
        if c.stature_evidence:
            h = self.statures.estimate(key, c.stature_min_samples, c.stature_max_spread_m)
            if h is not None:
                out["stature"] = h
        if c.step_frequency_evidence:
            f = self.steps.estimate(key, c.step_frequency_min_span_s, c.step_frequency_min_power)
            if f is not None:
                out["step_frequency"] = f
        return out

    def likelihood_ratio(self, mine: Mapping[str, float], theirs: Mapping[str, float]
                         ) -> tuple[float, set[str]]:
        """The product of the likelihood ratios (same person / strangers) of the cues both tracks measured,
        and which cues those were; (1.0, empty) when they share none."""
        return cue_likelihood_ratio(self.cfg, mine, theirs)

    def shift(self, mine: Mapping[str, float], theirs: Mapping[str, float]) -> float:
        """For a model without a fitted cue combination: how far the cues move the gait threshold between a
        track with cues ``mine`` and evidence from another sensor with cues ``theirs``: the threshold at
        the base threshold's false-match rate times the product of the likelihood ratios of the cues both
        measured, less the base. Where stature counts, the rate starts from ``stature_open_set_fmr``
        instead of the base threshold's (the operating point measured with it)."""
        if self._origin is None:
            return 0.0
        lr, used = self.likelihood_ratio(mine, theirs)
        if not used:
            return 0.0
        base_fmr, base = self._origin
        stature_fmr = self.cfg.stature_open_set_fmr
        fmr = stature_fmr if "stature" in used and stature_fmr is not None else base_fmr
        return self.fmr_curve.threshold_at(fmr * lr) - base

    def score(self, gait: float, mine: Mapping[str, float], theirs: Mapping[str, float]) -> float:
        """What the recognizer compares with the threshold for a gait distance between a track with cues
        ``mine`` and evidence with cues ``theirs``: with the model's fitted combination (metadata
        ``open_set_cue_exponent_track``), ``gait x LR ** -k``; else ``gait - shift``; gait alone where the
        model has neither or no cue is on. With a fitted combination, a pair that shares no cue (or every
        cue off) is decided by gait alone at the model's gait-alone bar (``gait_alone_bar``): ``gait x
        open_set_threshold_track / open_set_threshold_track_gait_alone``."""
        if self.combination is None:
            return gait - self.shift(mine, theirs) if self.cfg.cues_on else gait
        lr, used = self.likelihood_ratio(mine, theirs) if self.cfg.cues_on else (1.0, ())
        if used:
            missing = self.cfg.cues_enabled() - len(used)
            return float(self.combination.score(gait, lr)) / self.cfg.missing_cue_factor ** max(missing, 0)
        return gait if self._gait_alone is None else gait * self._gait_alone

    def scores(self, o: TrackObservation, gids: list[int], gait: np.ndarray) -> np.ndarray:
        """Per identity, ``score`` against the newest measurement of each cue from another sensor."""
        return self.identity_scores(self.of_track(o.key), o.sensor, gids, gait)

    def identity_scores(self, mine: Mapping[str, float], sensor: str, gids: list[int],
                        gait: np.ndarray) -> np.ndarray:
        """``scores`` for cues ``mine`` measured by ``sensor`` (a live track's, ``of_track``, or what an
        identity remembers of an ended one, ``remembered``)."""
        out = gait.astype(np.float64, copy=True)
        if not mine and self._gait_alone is None:
            return out
        for j, g in enumerate(gids):
            if math.isfinite(gait[j]):
                out[j] = self.score(float(gait[j]), mine, self.others_measured(g, sensor) if mine else {})
        return out

    def others_measured(self, gid: int, sensor: str) -> dict[str, float]:
        """Per cue, the newest value sensors other than ``sensor`` measured of identity ``gid``."""
        theirs = {}
        for name, per_sensor in self._seen.get(gid, {}).items():
            seen = [max(by_track.values()) for s, by_track in per_sensor.items() if s != sensor and by_track]
            if seen:
                theirs[name] = max(seen)[1]
        return theirs

    def shared_cues(self, mine: Mapping[str, float], theirs: Mapping[str, float]) -> frozenset[str]:
        """The cues both ``mine`` and ``theirs`` measured (those their likelihood ratio reads)."""
        return frozenset(mine).intersection(theirs)

    def remembered(self, gid: int, sensor: str) -> dict[str, float]:
        """The cues ``sensor`` last measured of identity ``gid`` (kept after its tracks' own expire)."""
        return {name: max(per_sensor[sensor].values())[1]
                for name, per_sensor in self._seen.get(gid, {}).items() if per_sensor.get(sensor)}

    def remembered_of_track(self, gid: int, key: Hashable) -> dict[str, float]:
        """The cues track ``key`` (of identity ``gid``) measured when it last delivered to it."""
        return {name: per_sensor[key[0]][key][1] for name, per_sensor in self._seen.get(gid, {}).items()
                if key in per_sensor.get(key[0], {})}

    def remember(self, o: TrackObservation, gid: int) -> None:
        """Identity ``gid`` was last measured, by ``o``'s sensor, at ``o``'s track's cues."""
        for name, value in self.of_track(o.key).items():
            by_track = self._seen.setdefault(gid, {}).setdefault(name, {}).setdefault(o.sensor, {})
            by_track[o.key] = (o.stamp_s, value)

    def absorb(self, gid: int, into: int) -> None:
        """Identity ``gid`` became part of identity ``into``: per cue, sensor and track, the newer
        measurement of the two counts for ``into``."""
        self._merge(self._seen.pop(gid, {}), into)

    def move_track(self, key: Hashable, gid: int, into: int | None = None) -> None:
        """Track ``key`` left identity ``gid`` (for ``into``, when given): what it measured leaves ``gid``'s
        memory (and joins ``into``'s), so that ``gid`` is again measured at its own tracks' cues."""
        moved: dict[str, dict[str, dict[Hashable, tuple[float, float]]]] = {}
        for name, per_sensor in self._seen.get(gid, {}).items():
            for sensor, per_track in per_sensor.items():
                if key in per_track:
                    moved.setdefault(name, {})[sensor] = {key: per_track.pop(key)}
        if into is not None:
            self._merge(moved, into)

    def rename_track(self, key: Hashable, new: Hashable) -> None:
        """What ``key`` measured so far counts as track ``new``'s (a track's past set apart)."""
        for per_cue in self._seen.values():
            for per_sensor in per_cue.values():
                for per_track in per_sensor.values():
                    if key in per_track:
                        per_track[new] = per_track.pop(key)

    def _merge(self, theirs: dict[str, dict[str, dict[Hashable, tuple[float, float]]]], into: int) -> None:
        mine = self._seen.setdefault(into, {})
        for name, per_sensor in theirs.items():
            for sensor, per_track in per_sensor.items():
                kept = mine.setdefault(name, {}).setdefault(sensor, {})
                for key, sv in per_track.items():
                    if key not in kept or sv[0] > kept[key][0]:
                        kept[key] = sv

    def expire(self, now_s: float, timeout_s: float, live_gids: Container[int]) -> None:
        """Forget tracks' measurements unseen for ``timeout_s`` and identities no longer kept."""
        self.statures.expire(now_s, timeout_s)
        self.steps.expire(now_s, timeout_s)
        self._seen = {g: v for g, v in self._seen.items() if g in live_gids}
