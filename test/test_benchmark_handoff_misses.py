"""``benchmarks/handoff_misses.py``: which pairs of a missed person it lists, and the reason it names."""

from __future__ import annotations

import json

import numpy as np

from benchmark_modules import load_benchmark


def _module():
    return load_benchmark("handoff_misses")


class _Manager:
    """The decision as the recognizer's with no cues: the gait distance against a threshold."""

    threshold = 0.01

    def decision_score(self, gait: float, mine: dict, theirs: dict) -> float:
        return gait


def _bag(mod):
    from tcfd_ros.replay.rerun import TrackState

    def state(modality: str, n: int) -> TrackState:
        return TrackState(modality, np.zeros(4, np.float32), n, {})

    cams = [(("camera", 1), state("2d", 20)), (("camera", 2), state("2d", 20)),
            (("camera", 3), state("2d", 2))]
    lids = [(("lidar", 7), state("3d", 20)), (("lidar", 8), state("3d", 20)), (("lidar", 9), state("3d", 20))]
    dist = np.array([[0.005, 0.02, 0.5],      # person 1: linked by the replay, so not listed
                     [0.03, 0.02, 0.04],      # person 2 (LiDAR 9): person 3's LiDAR 8 scores better
                     [0.001, 0.5, 0.5]])      # person 3: its camera track has 2 tracklets
    return mod.BagTracks(_Manager(), cams, lids, dist, [1, 2, 3], [1, 3, 2])


def test_each_missed_person_gets_its_pairs_and_the_first_reason_that_applies():
    mod = _module()
    pairs = mod.missed_pairs(_bag(mod), linked={1}, min_tracklets=4)
    got = {(p.person, p.camera_track, p.lidar_track): (p.rank, p.best_other, p.reason) for p in pairs}
    assert got == {(2, 2, 9): (3, 3, "another person scores better"),
                   (3, 3, 8): (None, 1, "too few tracklets")}


def test_a_best_pair_over_the_threshold_says_by_how_much_and_one_under_it_passes():
    mod = _module()
    assert mod.reason(1, 0.05, 0.01) == "above the threshold x5"
    assert mod.reason(1, 0.005, 0.01) == "passes, not linked"
    assert mod.reason(None, 0.005, 0.01) == "too few tracklets"


def test_the_replays_hand_offs_are_read_from_its_score(tmp_path):
    mod = _module()
    doc = {"handoffs": [{"camera_person": 3000, "lidar_person": 3000},
                        {"camera_person": 3001, "lidar_person": 3002},      # a false link: not handed off
                        {"camera_person": None, "lidar_person": 3003}]}
    (tmp_path / "score.json").write_text(json.dumps(doc))
    assert mod.handed_off(tmp_path / "score.json") == {3000}
