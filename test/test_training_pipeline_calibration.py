"""``training/pipeline_calibration.py``: the track threshold at a false-match rate of replayed bags' pairs.
(The whole path, ``tcfd-ros calibrate`` on a replay, is in ``test_replay_outputs.py``.)"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tcfd_ros.errors import DatasetError
from tcfd_ros.open_set import FmrCurve
from tcfd_ros.replay.records import RunInfo
from tcfd_ros.replay.recording import Recording
from tcfd_ros.perception.config import IdentityConfig
from tcfd_ros.perception.cue_combination import (EXPONENT_GRID, CueCombination, cue_likelihood_ratio,
                                                 exponent_fmr_band)
from training.pipeline_calibration import (LabelledTrack, ReplayTracks, TrackPairs, pair_tracks,
                                           pipeline_calibration, world_of)


def _pairs(genuine: list[float], impostor: list[float], cue_log_lr: list[float] | None = None) -> TrackPairs:
    same = np.array([True] * len(genuine) + [False] * len(impostor))
    cue = np.zeros(same.size) if cue_log_lr is None else np.array(cue_log_lr)
    return TrackPairs(("a", "b"), np.array(genuine + impostor), same, np.zeros(same.size, bool), cue)


def test_threshold_is_the_impostor_quantile_with_its_rates() -> None:
    rng = np.random.default_rng(0)
    pairs = _pairs([0.01, 0.02, 0.05], list(rng.uniform(0.03, 0.1, 150)) + list(rng.uniform(0.02, 0.1, 150)))
    meta = pipeline_calibration(pairs, target_fmr=0.01, combine_cues=False)
    imp = pairs.distance[~pairs.genuine]
    assert meta["open_set_threshold_track"] == np.sort(imp)[2]        # the 3rd of 300: 1 %
    assert meta["open_set_measured_fmr_track"] == pytest.approx(3 / 300)
    assert meta["genuine_accept_rate_track"] == pytest.approx(2 / 3)
    assert meta["calibration_pairs_track"] == [3, 300] and meta["calibration_replays"] == ["a", "b"]
    curve = FmrCurve.from_metadata(meta["open_set_fmr_curve_track"])
    assert curve is not None and curve.fmr[0] == 0.01                  # 0.1 % is not resolved by 300
    assert curve.threshold_at(0.01) == meta["open_set_threshold_track"]


def test_too_few_pairs_for_the_rate_are_refused_in_one_line() -> None:
    with pytest.raises(DatasetError, match="cannot resolve a false-match rate of 0.01"):
        pipeline_calibration(_pairs([0.01], [0.05] * 50), target_fmr=0.01, combine_cues=False)
    with pytest.raises(DatasetError, match="add replays"):
        pipeline_calibration(pair_tracks([]), target_fmr=0.1)


def _tracks(name: str, world: str, cam: list[int], lid: list[int]) -> ReplayTracks:
    """Tracks whose embedding is the person's id on one axis: same id, distance 0."""
    def emb(pid: int) -> np.ndarray:
        e = np.zeros((2, 8), np.float32)                  # (parts, d)
        e[:, pid % 8] = 1.0
        return e
    return ReplayTracks(name, [LabelledTrack((world, p), emb(p)) for p in cam],
                        [LabelledTrack((world, p), emb(p)) for p in lid])


def test_tracks_pair_across_replays_as_strangers_unless_one_world() -> None:
    a = _tracks("a", "seed 1", [0, 1], [0, 1, 2])
    b = _tracks("b", "seed 2", [0], [0, 1])            # the same ids in another world: other people
    pairs = pair_tracks([a, b])
    assert pairs.distance.size == 3 * 5 and pairs.replays == ("a", "b")
    assert pairs.genuine.sum() == 2 + 1                # a's 0 and 1, b's 0; never a x b
    assert pairs.across.sum() == 2 * 2 + 1 * 3
    assert not (pairs.genuine & pairs.across).any()
    within = pair_tracks([a, b], across_replays=False)
    assert within.distance.size == 2 * 3 + 1 * 2 and not within.across.any()
    assert within.genuine.sum() == 3
    # two replays of one bag: a camera track of one and the LiDAR track of the same person in the other
    # are a genuine pair
    again = pair_tracks([a, _tracks("a2", "seed 1", [2], [1])])
    # a within; a2 within, none; a's camera 1 x a2's LiDAR 1; a2's camera 2 x a's LiDAR 2
    assert again.genuine.sum() == 2 + 0 + 1 + 1
    assert (again.genuine & again.across).sum() == 2


def _rec(*scenes: dict | None) -> Recording:
    gt = [{"schema": "tcfd_ros/ground_truth", "people": []} | ({"scene": s} if s is not None else {})
          for s in scenes]
    return Recording(RunInfo(bag="b", bag_duration_s=1.0), ground_truth=gt)


def test_a_replays_world_is_its_ground_truth_seed() -> None:
    assert world_of(_rec({"seed": 7}, {"seed": 7}, None), "r") == "seed 7"
    assert world_of(_rec(None, {"layout": "disjoint"}), "r") == "replay r"
    with pytest.raises(DatasetError, match="2 world seeds"):
        world_of(_rec({"seed": 7}, {"seed": 8}), "r")


def test_the_cues_ratio_of_each_pair_is_what_both_tracks_measured() -> None:
    e = np.eye(8, dtype=np.float32)[:2]
    a = ReplayTracks("a", [LabelledTrack(("w", 0), e, {"stature": 1.70, "speed": 1.3})],
                     [LabelledTrack(("w", 0), e, {"stature": 1.71}), LabelledTrack(("w", 1), e, {})])
    cfg = IdentityConfig()
    pairs = pair_tracks([a], cfg)
    assert pairs.cue_log_lr[0] == pytest.approx(np.log(cue_likelihood_ratio(cfg, {"stature": 1.70},
                                                                            {"stature": 1.71})[0]))
    assert pairs.cue_log_lr[0] > 0 and pairs.cue_log_lr[1] == 0.0      # no cue in common: no evidence


def test_with_informative_cues_the_threshold_is_set_on_the_combined_score() -> None:
    """Gait and cues each separate genuine from impostor pairs: the exponent chosen gives the cues weight,
    the threshold is the impostor quantile of ``d x LR ** -k``, and more genuine pairs pass it than gait
    alone lets pass; it is the grid's exponent with the most genuine accepts on average over the rates
    from a quarter of the target to four times it (the band; the rates too few impostors resolve are left
    out of it)."""
    rng = np.random.default_rng(1)
    n_gen, n_imp = 150, 3000
    gait = list(np.exp(rng.normal(-4.6, 0.5, n_gen))) + list(np.exp(rng.normal(-3.6, 0.6, n_imp)))
    cues = list(rng.normal(1.0, 1.0, n_gen)) + list(rng.normal(-1.0, 1.0, n_imp))
    genuine = np.r_[np.ones(n_gen, bool), np.zeros(n_imp, bool)]
    pairs = TrackPairs(("a",), np.array(gait), genuine, np.zeros(genuine.size, bool), np.array(cues))
    meta = pipeline_calibration(pairs, target_fmr=0.01)
    k = meta["open_set_cue_exponent_track"]
    assert 0 < k < 32

    def gar(k: float, fmr: float = 0.01) -> float:
        s = pairs.distance * np.exp(-k * pairs.cue_log_lr)
        return float((s[genuine] <= np.quantile(s[~genuine], fmr, method="lower")).mean())
    band = exponent_fmr_band(0.01, n_imp)
    assert band == pytest.approx(np.geomspace(0.0025, 0.04, 9))
    assert all(np.mean([gar(k, f) for f in band]) >= np.mean([gar(other, f) for f in band])
               for other in EXPONENT_GRID)
    score = pairs.distance * np.exp(-k * pairs.cue_log_lr)
    assert meta["open_set_threshold_track"] == pytest.approx(np.sort(score[~pairs.genuine])[29])
    assert meta["genuine_accept_rate_track"] == pytest.approx(gar(k))
    assert exponent_fmr_band(0.01, 150).min() * 150 >= 1 and len(exponent_fmr_band(0.01, 150)) == 6
    assert meta["genuine_accept_rate_track"] > meta["genuine_accept_rate_track_gait_alone"] + 0.1
    # the gait distance alone at the same rate of the same impostor pairs: the bar of a pair with no cue
    assert meta["open_set_threshold_track_gait_alone"] == np.sort(pairs.distance[~pairs.genuine])[29]
    assert meta["calibration_pairs_with_cues"] == n_gen + n_imp
    assert meta["calibration_cue_config"]["stature_within_sd_m"] == IdentityConfig().stature_within_sd_m
    # misleading cues (strangers agree more than the same person) get no weight: gait alone
    flipped = TrackPairs(("a",), pairs.distance, pairs.genuine, pairs.across, -pairs.cue_log_lr)
    assert pipeline_calibration(flipped, target_fmr=0.01)["open_set_cue_exponent_track"] == 0.0


def test_a_choice_on_too_few_genuine_pairs_is_refused_and_cues_that_rule_a_pair_out_are_no_error() -> None:
    rng = np.random.default_rng(2)
    few = _pairs(list(rng.uniform(0.0, 0.01, 5)), list(rng.uniform(0.02, 0.1, 500)),
                 list(rng.normal(0, 1, 505)))
    with pytest.raises(DatasetError, match=">= 10 genuine pairs"):
        pipeline_calibration(few, target_fmr=0.01)
    gait_only = pipeline_calibration(few, target_fmr=0.01, combine_cues=False)
    assert gait_only["open_set_cue_exponent_track"] is None
    # walking speeds 5 m/s apart (a tracking glitch): a ratio that underflows to 0 is a floor, not a crash
    e = np.eye(8, dtype=np.float32)[:2]
    glitch = ReplayTracks("g", [LabelledTrack(("w", 0), e, {"speed": 0.5})],
                          [LabelledTrack(("w", 0), e, {"speed": 5.5})])
    pairs = pair_tracks([glitch], IdentityConfig())
    assert np.isfinite(pairs.cue_log_lr).all() and pairs.cue_log_lr[0] < -100
    assert CueCombination(8.0).score(0.01, 0.0) == np.inf


def test_a_margin_between_scores_reads_in_nats_of_the_cues_ratio() -> None:
    comb = CueCombination(8.0)
    # one nat of the cues' ratio better moves the score by e^-8
    better = comb.score(0.02, math.e)
    assert comb.nats_below(better, comb.score(0.02, 1.0)) == pytest.approx(1.0)
    assert comb.nats_below(comb.score(0.02, 1.0), better) == pytest.approx(-1.0)
    assert comb.nats_below(0.0, 1e-8) == math.inf
