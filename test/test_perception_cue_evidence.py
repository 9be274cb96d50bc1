"""The cues beside gait kept per track and identity, and the scores they give (perception.cue_evidence)."""

from __future__ import annotations

import numpy as np
import pytest

from tcfd_ros.errors import ConfigError
from tcfd_ros.perception.colocation import GroundTracks
from tcfd_ros.perception.config import IdentityConfig
from tcfd_ros.perception.cue_combination import CUE_CONFIG_KEY, METADATA_KEY, cue_config, cue_likelihood_ratio
from tcfd_ros.perception.cue_evidence import CueEvidence
from tcfd_ros.perception.identity_types import TrackObservation

THRESHOLD = 0.3
EXPONENT = 2.0
CFG = IdentityConfig(missing_cue_factor=1.0)    # the plain combined score (the factor has a test of its own)
META = {METADATA_KEY: EXPONENT, CUE_CONFIG_KEY: cue_config(CFG)}
EMBEDDING = np.ones((2, 4), np.float32)


def _cues(cfg: IdentityConfig = CFG, meta=META) -> CueEvidence:
    return CueEvidence(cfg, meta, GroundTracks(cfg), THRESHOLD)


def _measure_stature(cues: CueEvidence, key, metres: float, t0: float = 0.0) -> None:
    for i in range(CFG.stature_min_samples):
        cues.add_stature(key, t0 + 0.1 * i, metres)


def _obs(sensor: str, track_id: int, stamp_s: float) -> TrackObservation:
    return TrackObservation(stamp_s, sensor, "2d" if sensor == "camera" else "3d", track_id, EMBEDDING)


def test_a_track_scores_against_what_other_sensors_last_measured_of_each_identity():
    cues = _cues()
    _measure_stature(cues, ("lidar", 1), 1.70)
    _measure_stature(cues, ("lidar", 2), 1.90)
    _measure_stature(cues, ("camera", 5), 1.70)
    _measure_stature(cues, ("camera", 6), 1.60)
    cues.remember(_obs("lidar", 1, 1.0), gid=1)     # identity 1: the LiDAR measured 1.70 m
    cues.remember(_obs("lidar", 2, 1.0), gid=2)     # identity 2: 1.90 m
    cues.remember(_obs("camera", 6, 1.5), gid=1)    # the camera's own 1.60 m of identity 1 does not count
    gait = np.array([0.2, 0.2, 0.2])
    score = cues.scores(_obs("camera", 5, 2.0), [1, 2, 3], gait)
    lr_same, _ = cue_likelihood_ratio(CFG, {"stature": 1.70}, {"stature": 1.70})
    lr_other, _ = cue_likelihood_ratio(CFG, {"stature": 1.70}, {"stature": 1.90})
    assert score[0] == pytest.approx(0.2 * lr_same ** -EXPONENT)
    assert score[1] == pytest.approx(0.2 * lr_other ** -EXPONENT)
    assert score[2] == 0.2                           # identity 3: nothing measured, gait alone
    assert score[0] < 0.2 < score[1]
    assert cues.scores_are_ratios and cues.nats_below(score[0], score[1]) == pytest.approx(
        np.log(lr_same / lr_other))
    # a newer measurement by the same sensor replaces the older one
    _measure_stature(cues, ("lidar", 7), 1.90, t0=3.0)
    cues.remember(_obs("lidar", 7, 4.0), gid=1)
    assert cues.scores(_obs("camera", 5, 5.0), [1], gait[:1])[0] == pytest.approx(score[1])


def test_expiry_forgets_stale_tracks_and_identities_no_longer_kept():
    cues = _cues()
    _measure_stature(cues, ("lidar", 1), 1.70)
    _measure_stature(cues, ("camera", 5), 1.70)
    cues.remember(_obs("lidar", 1, 1.0), gid=1)
    assert cues.of_track(("lidar", 1)) == {"stature": pytest.approx(1.70)}
    cues.expire(now_s=30.0, timeout_s=10.0, live_gids={1})
    assert cues.of_track(("lidar", 1)) == {}          # its samples are older than the timeout
    _measure_stature(cues, ("camera", 5), 1.70, t0=30.0)
    assert cues.scores(_obs("camera", 5, 31.0), [1], np.array([0.2]))[0] < 0.2   # identity 1 still known
    cues.expire(now_s=31.0, timeout_s=10.0, live_gids=set())
    assert cues.scores(_obs("camera", 5, 31.5), [1], np.array([0.2]))[0] == 0.2  # identity 1 forgotten


def test_one_score_beats_another_by_the_revision_margin_in_its_own_units():
    """Scores that are ratios (a cue exponent, cues on) by gait_revision_nats of the cues' ratio; a bare gait
    distance, or gait_revision_nats 0, by switch_margin in score units (the config's "0 = ... unsupported
    ones move by switch_margin"): the hysteresis and the fragment release ask this one question."""
    nats = IdentityConfig(missing_cue_factor=1.0, gait_revision_nats=0.5, switch_margin=0.1)
    ratios, s = _cues(nats), 1e-6
    assert ratios.revises_by_nats
    assert ratios.beats(s, s * np.exp(EXPONENT * 0.6)) and not ratios.beats(s, s * np.exp(EXPONENT * 0.4))
    assert not ratios.beats(2 * s, s) and not ratios.beats(float("nan"), 1.0)
    no_nats = IdentityConfig(missing_cue_factor=1.0, gait_revision_nats=0.0, switch_margin=0.1)
    for plain in (_cues(nats, meta={}), _cues(no_nats)):
        assert not plain.revises_by_nats
        assert plain.beats(0.2, 0.31) and not plain.beats(0.2, 0.29) and not plain.beats(float("nan"), 1.0)


def test_without_a_cue_model_or_with_cues_off_the_score_is_the_gait_distance():
    bare = _cues(meta={})
    assert not bare.has_model and bare.weighting == "none in model" and not bare.scores_are_ratios
    assert bare.score(0.2, {"stature": 1.7}, {"stature": 1.7}) == 0.2
    off_cfg = IdentityConfig(speed_evidence=False, stature_evidence=False, step_frequency_evidence=False)
    off = _cues(off_cfg)
    assert off.weighting == "off" and not off.scores_are_ratios
    assert off.score(0.2, {"stature": 1.7}, {"stature": 1.7}) == 0.2
    assert _cues().weighting == f"likelihood-ratio combination, exponent {EXPONENT:.3f}"


def test_a_pair_that_shares_no_cue_is_decided_by_gait_alone_at_the_models_gait_alone_bar(caplog):
    """A model calibrated where the recognizer decides holds the combined score's bar and the gait
    distance's at the same false-match rate; a pair without a shared cue reads its gait distance on the
    combined scale (times their ratio), so it passes the recognizer's threshold exactly where gait alone
    passes the gait-alone bar. Pairs that share a cue are scored as before; off, no pair is rescaled."""
    meta = {**META, "open_set_threshold_track": 1e-8, "open_set_threshold_track_gait_alone": 0.005}
    on = IdentityConfig(gait_alone_bar=True, missing_cue_factor=1.0)
    cues = _cues(on, meta)
    assert cues.score(0.004, {"speed": 1.2}, {"stature": 1.7}) == pytest.approx(0.004 * 1e-8 / 0.005)
    assert cues.weighting.endswith("; a pair that shares no cue by gait alone at the model's "
                                   "open_set_threshold_track_gait_alone")
    assert cues.score(0.004, {}, {}) < 1e-8 < cues.score(0.006, {}, {})
    lr, _ = cue_likelihood_ratio(CFG, {"stature": 1.70}, {"stature": 1.72})
    assert cues.score(0.004, {"stature": 1.70}, {"stature": 1.72}) == pytest.approx(0.004 * lr ** -EXPONENT)
    # a track with no cue at all, against identities that measured some: every score is rescaled
    _measure_stature(cues, ("lidar", 1), 1.70)
    cues.remember(_obs("lidar", 1, 1.0), gid=1)
    got = cues.scores(_obs("camera", 5, 2.0), [1, 2], np.array([0.004, np.inf]))
    assert got[0] == pytest.approx(0.004 * 1e-8 / 0.005) and got[1] == np.inf
    # every cue off: gait alone at its bar, with no warning that the cue calibration no longer holds
    off_cfg = IdentityConfig(speed_evidence=False, stature_evidence=False, step_frequency_evidence=False,
                             gait_alone_bar=True)
    with caplog.at_level("INFO"):
        off = _cues(off_cfg, meta)
    assert "recalibrate" not in caplog.text and "decided by gait alone" in caplog.text
    assert off.score(0.004, {"stature": 1.7}, {"stature": 1.7}) == pytest.approx(0.004 * 1e-8 / 0.005)
    assert off.scores_are_ratios
    assert off.weighting == "off; by gait alone at the model's open_set_threshold_track_gait_alone"
    # the setting off (the default), or a model without the gait-alone bar: the combined bar for every
    # pair; every cue off with the setting off says in one warning that nothing links by gait
    assert not IdentityConfig().gait_alone_bar
    plain = _cues(meta=meta)
    assert plain.score(0.004, {}, {}) == 0.004
    assert _cues(on, {**META, "open_set_threshold_track": 1e-8}).score(0.004, {}, {}) == 0.004
    caplog.clear()
    with caplog.at_level("WARNING"):
        _cues(IdentityConfig(speed_evidence=False, stature_evidence=False), meta)
    assert caplog.text.count("nothing will be linked by gait; set identity.gait_alone_bar: true") == 1
    for bad in (0.0, -1.0, float("nan"), "0.005x", [0.005]):
        with pytest.raises(ConfigError, match="must be positive numbers; recalibrate"):
            _cues(meta={**meta, "open_set_threshold_track_gait_alone": bad})


def test_settings_other_than_the_calibrations_warn(caplog):
    cues = _cues()
    with caplog.at_level("WARNING"):
        cues.cfg = IdentityConfig(stature_within_sd_m=0.2)
    assert "stature_within_sd_m" in caplog.text and "recalibrate" in caplog.text


def test_a_track_that_leaves_an_identity_takes_its_measurements_with_it():
    """Identity 1 was last measured by the LiDAR at track 7's 1.90 m, earlier at track 1's 1.70 m: once
    track 7 leaves it, track 1's measurement counts again; a track that moves on takes its own along; a
    track's past, set apart, keeps what it measured when the live track leaves."""
    cues = _cues()
    _measure_stature(cues, ("lidar", 1), 1.70)
    _measure_stature(cues, ("lidar", 7), 1.90, t0=3.0)
    cues.remember(_obs("lidar", 1, 1.0), gid=1)
    cues.remember(_obs("lidar", 7, 4.0), gid=1)
    assert cues.remembered(1, "lidar") == {"stature": pytest.approx(1.90)}
    cues.move_track(("lidar", 7), gid=1)
    assert cues.remembered(1, "lidar") == {"stature": pytest.approx(1.70)}
    cues.move_track(("lidar", 1), gid=1, into=2)
    assert cues.remembered(1, "lidar") == {}
    assert cues.remembered(2, "lidar") == {"stature": pytest.approx(1.70)}
    gait = np.array([0.2])
    _measure_stature(cues, ("camera", 5), 1.70)
    assert cues.scores(_obs("camera", 5, 5.0), [1], gait)[0] == 0.2     # nothing left to compare with
    assert cues.scores(_obs("camera", 5, 5.0), [2], gait)[0] < 0.2
    cues.rename_track(("lidar", 1), ("lidar", 1, 1))                     # its past, set apart
    _measure_stature(cues, ("lidar", 1), 1.60, t0=6.0)
    cues.remember(_obs("lidar", 1, 7.0), gid=2)
    cues.move_track(("lidar", 1), gid=2)
    assert cues.remembered(2, "lidar") == {"stature": pytest.approx(1.70)}


def test_a_pair_that_lacks_a_cue_that_is_on_has_its_score_divided_by_missing_cue_factor():
    """Speed and stature on (the default): a pair comparing only stature (no speed measured: a short or
    uncertain walk) scores ``missing_cue_factor`` times lower than with the factor 1; one comparing both,
    or none (gait alone), as with 1; with step frequency on too, a stature-only pair lacks two cues."""
    plain = _cues(IdentityConfig(missing_cue_factor=1.0)).score(0.2, {"stature": 1.70}, {"stature": 1.71})
    lr, _ = cue_likelihood_ratio(CFG, {"stature": 1.70}, {"stature": 1.71})
    assert plain == pytest.approx(0.2 * lr ** -EXPONENT)
    eight = IdentityConfig(missing_cue_factor=8.0)
    assert _cues(eight).score(0.2, {"stature": 1.70}, {"stature": 1.71}) == pytest.approx(plain / 8.0)
    both = ({"stature": 1.70, "speed": 1.3}, {"stature": 1.71, "speed": 1.32})
    one = IdentityConfig(missing_cue_factor=1.0)
    assert _cues(eight).score(0.2, *both) == pytest.approx(_cues(one).score(0.2, *both))
    assert _cues(eight).score(0.2, {}, {}) == _cues(one).score(0.2, {}, {}) == 0.2
    three = IdentityConfig(missing_cue_factor=8.0, step_frequency_evidence=True)
    assert _cues(three).score(0.2, {"stature": 1.70}, {"stature": 1.71}) == pytest.approx(plain / 64.0)
    assert IdentityConfig().missing_cue_factor == 8.0      # on by default (RESULTS.md)
    with pytest.raises(ConfigError, match="missing_cue_factor"):
        IdentityConfig(missing_cue_factor=0.5).validate()
