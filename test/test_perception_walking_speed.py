"""Walking speed beside the gait embedding: speed estimates, the likelihood ratio, the FMR curve, and the
recognizer moving its gait threshold along the curve (perception.walking_speed, open_set)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tcfd_ros.errors import ConfigError
from tcfd_ros.open_set import FmrCurve, curve_points
from tcfd_ros.perception.config import IdentityConfig
from tcfd_ros.perception.identity import IdentityManager, TrackObservation
from tcfd_ros.perception.stature import stature_likelihood_ratio
from tcfd_ros.perception.walking_speed import speed_likelihood_ratio, track_speed

RATE_HZ = 10.0


def _walk(speed_mps: float, t0: float, seconds: float, start_xy=(0.0, 0.0), noise_m: float = 0.0,
          seed: int = 0):
    t = t0 + np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    xy = np.stack([start_xy[0] + speed_mps * (t - t0), np.full_like(t, start_xy[1])], axis=1)
    return t, xy + np.random.default_rng(seed).normal(0, noise_m, xy.shape)


def test_track_speed_is_the_median_rate_of_one_second_displacements():
    t, xy = _walk(1.3, 0.0, 4.0, noise_m=0.05, seed=1)
    xy[17] += (3.0, 0.0)                                      # one bad foot point
    assert track_speed(t, xy, 1.0, 2.0) == pytest.approx(1.3, abs=0.05)
    assert track_speed(t[:15], xy[:15], 1.0, 2.0) is None     # 1.4 s of samples: too short to count
    assert track_speed(t[:1], xy[:1], 1.0, 0.1) is None


def test_a_speed_too_uncertain_to_tell_people_apart_is_withheld():
    # a far, low camera's foot points jump by most of a metre (RESULTS.md, "A walking speed too uncertain to
    # tell people apart"): the displacement speeds scatter, and their median is no measurement of the walker
    far, near = _walk(1.3, 0.0, 4.0, noise_m=0.8, seed=2), _walk(1.3, 0.0, 4.0, noise_m=0.05, seed=2)
    assert track_speed(*far, 1.0, 2.0) is not None                        # no limit: a speed all the same
    assert track_speed(*far, 1.0, 2.0, max_se_mps=0.2) is None
    assert track_speed(*near, 1.0, 2.0, max_se_mps=0.2) == pytest.approx(1.3, abs=0.05)
    # the standard error falls with the span: a longer track of the same scatter is measured
    long_t, long_xy = _walk(1.3, 0.0, 60.0, noise_m=0.4, seed=4)
    assert track_speed(long_t[:40], long_xy[:40], 1.0, 2.0, max_se_mps=0.2) is None
    assert track_speed(long_t, long_xy, 1.0, 2.0, max_se_mps=0.2) == pytest.approx(1.3, abs=0.15)


def test_the_recognizer_withholds_an_uncertain_speed_and_keeps_a_measured_one():
    m = IdentityManager(IdentityConfig(), model_metadata={"open_set_threshold_track": BASE, **NO_SPEED})
    for track, noise in ((1, 0.9), (2, 0.03)):
        t, xy = _walk(1.2, 0.0, 4.0, noise_m=noise, seed=track)
        for k in range(len(t)):
            m.observe_positions("camera", float(t[k]), "map",
                                [(track, (xy[k, 0], xy[k, 1], 0.0), 0.5, True, None)])
    assert "speed" not in m.cues(("camera", 1))
    assert m.cues(("camera", 2))["speed"] == pytest.approx(1.2, abs=0.05)
    off = IdentityManager(IdentityConfig(speed_max_se_mps=0.0),
                          model_metadata={"open_set_threshold_track": BASE, **NO_SPEED})
    t, xy = _walk(1.2, 0.0, 4.0, noise_m=0.9, seed=1)
    for k in range(len(t)):
        off.observe_positions("camera", float(t[k]), "map", [(1, (xy[k, 0], xy[k, 1], 0.0), 0.5, True, None)])
    assert "speed" in off.cues(("camera", 1))                             # 0: never withheld


def test_agreeing_speeds_support_a_match_and_strangers_average_a_ratio_of_one():
    within, between = 0.08, 0.15
    assert speed_likelihood_ratio(0.0, within, between) == pytest.approx(math.sqrt(2) * between / within)
    assert speed_likelihood_ratio(0.05, within, between) > 1.0 > speed_likelihood_ratio(0.2, within, between)
    assert speed_likelihood_ratio(0.4, within, between) < 0.01
    # over strangers' speed differences the ratio averages 1: moving the threshold to FMR x ratio keeps
    # the calibrated false-match rate on average
    dv = np.random.default_rng(0).normal(0.0, math.sqrt(2) * between, 100_000)
    mean = np.mean([speed_likelihood_ratio(abs(x), within, between) for x in dv])
    assert mean == pytest.approx(1.0, abs=0.03)


def test_fmr_curve_interpolates_in_log_rate_and_refuses_malformed_metadata():
    c = FmrCurve.from_metadata([[0.001, 0.1], [0.01, 0.5]])
    assert c.threshold_at(0.001) == pytest.approx(0.1) and c.threshold_at(0.01) == pytest.approx(0.5)
    assert c.threshold_at(math.sqrt(0.001 * 0.01)) == pytest.approx(0.3)
    assert c.threshold_at(1e-9) == pytest.approx(0.1) and c.threshold_at(0.5) == pytest.approx(0.5)  # clamped
    assert c.fmr_at(c.threshold_at(0.004)) == pytest.approx(0.004)
    for bad in (None, "curve", [[0.001, 0.1]], [[0.01, 0.1], [0.001, 0.5]], [[0.001, 0.5], [0.01, 0.1]],
                [[0.001, float("nan")], [0.01, 0.5]], [[0.0, 0.1], [0.01, 0.5]],
                [[0.001, 0.1, 3], [0.01, 0.5, 3]], [["a", "b"], ["c", "d"]]):
        assert FmrCurve.from_metadata(bad) is None, bad


def test_curve_points_keep_the_rates_the_impostor_pairs_resolve():
    imp = np.linspace(0.0, 1.0, 500)
    pts = curve_points(imp, (0.0003, 0.001, 0.003, 0.01, 0.1))
    assert [f for f, _ in pts] == [0.003, 0.01, 0.1]           # 500 pairs resolve 0.2 % and above
    assert pts[1][1] == pytest.approx(float(np.quantile(imp, 0.01, method="lower")))


# ---- the recognizer ------------------------------------------------------------------------------
P, D = 3, 8
BASE = 0.10                                           # the model's track threshold at 0.1 % FMR
CURVE = [[0.001, BASE], [0.01, 0.5]]                  # at 2.65 x 0.1 %: threshold ~0.27
PERSON = np.random.default_rng(5).normal(size=(P, D))


def _at_distance(d: float) -> np.ndarray:
    """An embedding at cross-modal distance ``d`` from PERSON (every part at cosine 1 - d)."""
    out = np.empty((P, D))
    rng = np.random.default_rng(9)
    for p in range(P):
        u = PERSON[p] / np.linalg.norm(PERSON[p])
        w = rng.normal(size=D)
        w -= w.dot(u) * u
        w /= np.linalg.norm(w)
        out[p] = (1 - d) * u + math.sqrt(1 - (1 - d) ** 2) * w
    return out


def _run(lidar_speed_mps: float, meta: dict, camera_speed_mps: float = 1.2, distance: float = 0.2,
         statures_m: tuple[float | None, float | None] = (None, None), **cfg) -> tuple[int, int, bool]:
    """A camera track walks at ``camera_speed``; later a LiDAR track at gait ``distance`` (0.2 > BASE), at
    ``lidar_speed``; each sensor measures the stature in ``statures_m`` (frame noise 2 cm; None: none)."""
    cam_id, out, _ = _handoff(lidar_speed_mps, meta, camera_speed_mps, distance, statures_m, **cfg)
    return cam_id, out.global_id, out.known


def _handoff(lidar_speed_mps: float, meta: dict, camera_speed_mps: float = 1.2, distance: float = 0.2,
             statures_m: tuple[float | None, float | None] = (None, None), **cfg):
    """``_run``'s walks: the camera track's identity, the LiDAR track's last match and the manager."""
    m = IdentityManager(IdentityConfig(**cfg), model_metadata={"open_set_threshold_track": BASE, **meta})
    walks = (("camera", "2d", 0.0, camera_speed_mps, PERSON, 1, statures_m[0]),
             ("lidar", "3d", 20.0, lidar_speed_mps, _at_distance(distance), 7, statures_m[1]))
    rng = np.random.default_rng(3)
    for sensor, modality, t0, v, emb, track, h in walks:
        t, xy = _walk(v, t0, 3.0, start_xy=(0.0, 5.0 if sensor == "camera" else 40.0), noise_m=0.03)
        for k in range(len(t)):
            h_k = None if h is None else h + rng.normal(0.0, 0.02)
            m.observe_positions(sensor, float(t[k]), "map",
                                [(track, (xy[k, 0], xy[k, 1], 0.0), 0.1, True, h_k)])
            if k % 5 == 4:
                (out,) = m.update([TrackObservation(float(t[k]), sensor, modality, track, emb)])
        if sensor == "camera":
            cam_id = out.global_id
    return cam_id, out, m


def test_a_person_walking_at_the_identitys_speed_is_handed_off_at_a_looser_gait_distance():
    cam, lid, known = _run(1.2, {"open_set_fmr_curve_track": CURVE})
    assert lid == cam and known


def test_another_walking_speed_or_no_curve_or_speed_off_keeps_the_calibrated_threshold():
    cam, lid, known = _run(1.6, {"open_set_fmr_curve_track": CURVE})
    assert lid != cam and not known
    cam, lid, known = _run(1.2, {})                                   # a model calibrated before the curve
    assert lid != cam and not known
    cam, lid, known = _run(1.2, {"open_set_fmr_curve_track": CURVE}, speed_evidence=False)
    assert lid != cam and not known
    # people who stand or loiter share a speed near 0 that says nothing of who they are: no looser bar
    cam, lid, known = _run(0.1, {"open_set_fmr_curve_track": CURVE}, camera_speed_mps=0.1)
    assert lid != cam and not known


def test_a_configured_threshold_beyond_the_curve_is_not_made_stricter_by_agreeing_speeds():
    # 0.6 lies above the curve's last threshold (0.5): agreeing speeds cannot loosen it further, and must
    # not tighten it to the curve's end either
    # (gait may link only from the 5th tracklet, when the LiDAR track's speed is known)
    cam, lid, known = _run(1.2, {"open_set_fmr_curve_track": CURVE}, distance=0.55, open_set_threshold=0.6,
                           gait_min_tracklets=5)
    assert lid == cam and known


def test_speed_config_is_checked():
    with pytest.raises(ConfigError, match="speed_within_sd_mps"):
        IdentityConfig(speed_within_sd_mps=0.3, speed_between_sd_mps=0.15).validate()
    with pytest.raises(ConfigError, match="speed_baseline_s"):
        IdentityConfig(speed_baseline_s=0.0).validate()


# ---- stature beside speed (perception.stature) ---------------------------------------------------
NO_SPEED = {"open_set_fmr_curve_track": CURVE}


def test_a_person_of_the_identitys_stature_is_handed_off_at_a_looser_gait_distance():
    cam, lid, known = _run(1.6, NO_SPEED, statures_m=(1.70, 1.71), speed_evidence=False)
    assert lid == cam and known


def test_another_stature_or_stature_off_or_one_sensor_only_keeps_the_calibrated_threshold():
    for statures, cfg in (((1.70, 1.90), {}), ((1.70, 1.71), {"stature_evidence": False}),
                          ((1.70, None), {}), ((None, 1.70), {})):
        cam, lid, known = _run(1.6, NO_SPEED, statures_m=statures, speed_evidence=False, **cfg)
        assert lid != cam and not known, (statures, cfg)


def test_a_stature_that_disagrees_outweighs_an_agreeing_walking_speed():
    # from 0.3 %: x 0.1 (statures 0.33 m apart) x 2.65 (same speed) = 0.08 %, under the model's own 0.1 %
    # (from the default 1 % the same pair's bar is 0.27 %: the cues then only take back part of the loosening)
    cam, lid, known = _run(1.2, NO_SPEED, statures_m=(1.62, 1.95), stature_open_set_fmr=0.003)
    assert lid != cam and not known
    cam, lid, known = _run(1.2, NO_SPEED, statures_m=(1.62, 1.63), stature_open_set_fmr=0.003)
    assert lid == cam and known


def test_where_stature_counts_the_gait_bar_starts_from_stature_open_set_fmr_and_elsewhere_from_the_models():
    # CURVE at stature_open_set_fmr (1 %) x ~2.6 (agreeing statures): 0.5 (its end); at 0.1 % x ~2.6: ~0.27;
    # the track is at 0.35
    cam, lid, known = _run(1.6, NO_SPEED, distance=0.35, statures_m=(1.70, 1.71), speed_evidence=False)
    assert lid == cam and known
    cam, lid, known = _run(1.6, NO_SPEED, distance=0.35, statures_m=(1.70, 1.71), speed_evidence=False,
                           stature_open_set_fmr=None)
    assert lid != cam and not known
    # walking speed alone (no stature: a LiDAR that cannot see heads) keeps the model's own rate
    cam, lid, known = _run(1.2, NO_SPEED, distance=0.35)
    assert lid != cam and not known


def test_cue_shift_between_two_tracks_is_the_decisions_shift_and_track_evidence_what_it_holds():
    m = IdentityManager(IdentityConfig(), model_metadata={"open_set_threshold_track": BASE, **NO_SPEED})
    cues = m.cue_evidence
    curve = cues.fmr_curve
    assert cues.shift({"stature": 1.70}, {}) == 0.0                  # nothing measured on both sides
    assert cues.shift({"speed": 1.2}, {"stature": 1.70}) == 0.0
    agree = cues.shift({"stature": 1.70}, {"stature": 1.70})
    c = m.cfg
    lr = stature_likelihood_ratio(0.0, c.stature_within_sd_m, c.stature_between_sd_m, c.stature_outlier_share)
    assert agree == pytest.approx(curve.threshold_at(c.stature_open_set_fmr * lr) - BASE)  # its rate
    # the ratio it rests on, and which cues made it (what benchmarks/decision_gar.py scores as "cues")
    assert cues.likelihood_ratio({"stature": 1.70, "speed": 1.2}, {"stature": 1.70}) == (
        pytest.approx(lr), {"stature"})
    assert cues.likelihood_ratio({"speed": 1.2}, {"stature": 1.70}) == (1.0, set())
    # disagreeing statures all but cancel the looser rate: 1 % x their ratio (just above its floor 0.1) is the
    # model's own 0.1 % to within 1e-6 (and the curve starts there, so no tighter either)
    lr_off = stature_likelihood_ratio(0.33, c.stature_within_sd_m, c.stature_between_sd_m,
                                      c.stature_outlier_share)
    off = cues.shift({"stature": 1.62}, {"stature": 1.95})
    assert off == pytest.approx(curve.threshold_at(c.stature_open_set_fmr * lr_off) - BASE)
    assert 0.0 <= off < 1e-6 < agree
    # speed alone: from the model's own rate
    assert cues.shift({"speed": 1.2}, {"speed": 1.2}) == pytest.approx(
        curve.threshold_at(0.001 * speed_likelihood_ratio(0.0, c.speed_within_sd_mps, c.speed_between_sd_mps))
        - BASE)
    # a manager without the model's curve has no cues to shift by
    plain = IdentityManager(IdentityConfig(), model_metadata={"open_set_threshold_track": BASE})
    assert plain.cue_evidence.shift({"stature": 1.7}, {"stature": 1.7}) == 0.0
    assert plain.cues(("camera", 1)) == {}
    assert m.track_evidence(("camera", 1)) is None
    for k in range(3):
        m.update([TrackObservation(float(k), "camera", "2d", 1, PERSON)])
    agg, count = m.track_evidence(("camera", 1))
    assert count == 3 and agg.shape == PERSON.shape


# ---- a model calibrated with the cue combination (perception.cue_combination) ------------------------
def test_with_the_models_cue_exponent_gait_and_cues_decide_as_one_likelihood_ratio():
    comb = {"open_set_cue_exponent_track": 1.0}
    # gait 0.2 against a threshold of 0.1: agreeing speed and stature (ratio ~6) bring it to ~0.03
    cam, lid, known = _run(1.2, comb, statures_m=(1.70, 1.71))
    assert lid == cam and known
    for speed, statures, meta in ((1.2, (1.70, 1.90), comb),                   # statures 20 cm apart
                                  (1.2, (1.70, 1.71), {"open_set_cue_exponent_track": 0.0}),  # gait alone
                                  (1.2, (None, None), comb)):                  # speed alone (~2.6): 0.075
        cam, lid, known = _run(speed, meta, statures_m=statures, distance=0.3, missing_cue_factor=1.0)
        assert lid != cam and not known, (speed, statures, meta)
    # speed alone while stature is on: missing_cue_factor (8 by default) loosens the bar for the cue it
    # lacks, 0.3 / 2.6 / 8 ~ 0.014
    cam, lid, known = _run(1.2, comb, statures_m=(None, None), distance=0.3)
    assert lid == cam and known
    m = IdentityManager(IdentityConfig(), model_metadata={"open_set_threshold_track": BASE, **comb,
                                                          "open_set_fmr_curve_track": CURVE})
    lr, _ = m.cue_evidence.likelihood_ratio({"stature": 1.7, "speed": 1.2}, {"stature": 1.7, "speed": 1.3})
    assert m.decision_score(0.2, {"stature": 1.7, "speed": 1.2}, {"stature": 1.7, "speed": 1.3}) == \
        pytest.approx(0.2 / lr)                                     # the curve is not used beside it
    assert m.decision_score(0.2, {"speed": 1.2}, {}) == 0.2
    off = IdentityManager(IdentityConfig(speed_evidence=False, stature_evidence=False,
                                         step_frequency_evidence=False),
                          model_metadata={"open_set_threshold_track": BASE, **comb})
    assert off.decision_score(0.2, {"speed": 1.2}, {"speed": 1.2}) == 0.2
    assert m.cue_weighting == "likelihood-ratio combination, exponent 1.000" and off.cue_weighting == "off"


def test_with_the_models_cue_exponent_confidence_is_the_margin_in_nats_of_the_cues_ratio():
    """score = d x LR^-k: confidence = sigmoid(log(threshold / score) / k), 0.5 at the threshold; a
    difference of scores (~1e-10 for the shipped model) would leave every decision at 0.5."""
    for k in (1.0, 4.0):
        cam, out, m = _handoff(1.2, {"open_set_cue_exponent_track": k}, statures_m=(1.70, 1.71))
        assert out.global_id == cam and out.known and 0.55 < out.confidence < 1.0
        assert m._confidence(BASE) == pytest.approx(0.5)
        assert m._confidence(BASE * math.exp(-k)) == pytest.approx(1.0 / (1.0 + math.exp(-1.0)))   # one nat
        assert m._confidence(0.0) == 1.0 and m._confidence(None) == 0.0
    # without the exponent the distance's margin over confidence_temperature, as before
    cam, out, m = _handoff(1.2, {}, distance=0.05)
    assert out.confidence == pytest.approx(1.0 / (1.0 + math.exp(-(BASE - out.distance) / 0.05)))


def test_a_malformed_cue_exponent_in_the_model_is_one_config_error():
    for bad in ("x", -1.0, float("nan"), 1e6, [1.0]):
        with pytest.raises(ConfigError, match="open_set_cue_exponent_track"):
            IdentityManager(IdentityConfig(), model_metadata={"open_set_threshold_track": BASE,
                                                              "open_set_cue_exponent_track": bad})


def test_settings_other_than_the_calibrations_are_one_warning(caplog):
    from tcfd_ros.perception.cue_combination import CUE_CONFIG_KEY, cue_config
    meta = {"open_set_threshold_track": BASE, "open_set_cue_exponent_track": 1.0,
            CUE_CONFIG_KEY: cue_config(IdentityConfig())}
    with caplog.at_level("WARNING", logger="tcfd_ros.perception.identity"):
        IdentityManager(IdentityConfig(), model_metadata=meta)
        assert not caplog.records
        m = IdentityManager(IdentityConfig(speed_within_sd_mps=0.1), model_metadata=meta)
        m.cfg = IdentityConfig(stature_min_samples=5)                   # a parameter set at run time
    first, second = caplog.records
    assert "speed_within_sd_mps 0.08 -> 0.1" in first.getMessage() and "recalibrate" in first.getMessage()
    assert "stature_min_samples 10 -> 5" in second.getMessage()
