"""``benchmarks/stature_truth.py``: the census of track statures against truth, and the oracle's inputs."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from benchmark_modules import load_benchmark


def _module():
    return load_benchmark("stature_truth")


def _track(mod, sensor: str, tid: int, truth: float, samples: list[float], estimate: float | None):
    return mod.TrackStature(sensor, tid, 3000 + tid, truth, np.asarray(samples), estimate)


def test_true_heights_are_each_persons_median_box_height_and_boxless_frames_are_skipped():
    mod = _module()
    frames = [{"people": [{"id": 1, "box3d": {"size": [0.5, 0.4, 1.70]}}, {"id": 2, "box3d": {}}]},
              {"people": [{"id": 1, "box3d": {"size": [0.5, 0.4, 1.74]}}]},
              {"people": [{"id": 1, "box3d": {"size": [0.5, 0.4, 1.90]}}]}]
    assert mod.true_heights(SimpleNamespace(ground_truth=frames)) == {1: pytest.approx(1.74)}


def test_census_reports_bias_far_tracks_and_the_spread_band_they_fall_in():
    mod = _module()
    tight = [1.70, 1.70, 1.71, 1.69]
    loose = [1.60, 1.70, 1.80, 1.90]
    tracks = [_track(mod, "camera", 1, 1.72, tight, 1.70),       # -0.02: the bias
              _track(mod, "camera", 2, 1.82, tight, 1.80),       # -0.02
              _track(mod, "camera", 3, 1.62, loose, 1.75),       # +0.13: 0.15 off the bias; widest band
              _track(mod, "camera", 4, 1.70, loose, None),       # withheld: counted as none
              _track(mod, "lidar", 5, 1.70, tight, 1.66)]
    got = mod.census(tracks, far_m=0.06)
    cam = got["camera"]
    assert (cam["tracks"], cam["none"], cam["far"]) == (4, 1, 1)
    assert cam["bias_m"] == pytest.approx(-0.02)
    assert [b["far"] for b in cam["by_spread"]] == [0, 1]
    assert cam["by_spread"][-1]["spread_m"][1] == float("inf")
    assert got["lidar"]["bias_m"] == pytest.approx(-0.04) and got["lidar"]["far"] == 0


def test_the_oracle_rewrites_only_the_named_sensors_labelled_tracks_and_only_frames_with_a_stature():
    mod = _module()
    stamp = {"sec": 10, "nanosec": 0}
    msg = {"sensor": "camera", "stamp": stamp, "tracks": [{"track_id": 1, "stature_m": 1.95},
                                                          {"track_id": 9, "stature_m": 1.5},
                                                          {"track_id": 1, "stature_m": None}]}
    lidar = {"sensor": "lidar", "stamp": stamp, "tracks": [{"track_id": 1, "stature_m": 1.40}]}
    inputs = [(1, 0, "/camera/tracks", json.dumps(msg)), (2, 1, "/camera/tracklets", "{}"),
              (3, 0, "/lidar/tracks", json.dumps(lidar))]
    tracks = [_track(mod, "camera", 1, 1.70, [1.95], 1.95), _track(mod, "lidar", 1, 1.80, [1.40], 1.40)]
    out = mod.with_true_statures(inputs, tracks, {"camera": -0.02, "lidar": -0.04}, {"camera"},
                                 mod.TrackLives(), np.random.default_rng(0))
    cam = json.loads(out[0][3])["tracks"]
    assert cam[0]["stature_m"] == pytest.approx(1.68, abs=0.05) and cam[0]["stature_m"] != 1.95
    assert cam[1]["stature_m"] == 1.5 and cam[2]["stature_m"] is None       # unlabelled; no stature
    assert out[1] == inputs[1] and json.loads(out[2][3]) == lidar       # tracklets, other sensor: as given


def test_a_track_of_two_lives_gives_each_life_its_own_persons_height():
    # the replay scores a track the recognizer started anew as two (replay/track_lives.py): the oracle and
    # the census label each life's frames with the person that life followed
    mod = _module()
    lives = mod.TrackLives(starts={("camera", 1): (0.0, 50.0)})
    frames = [{"sensor": "camera", "stamp": {"sec": t, "nanosec": 0},
               "tracks": [{"track_id": 1, "stature_m": h}]} for t, h in ((10, 1.71), (60, 1.93))]
    inputs = [(k, 0, "/camera/tracks", json.dumps(f)) for k, f in enumerate(frames)]
    assert mod.per_frame_statures(inputs, lives) == {("camera", 1): [1.71], ("camera", 1_000_001): [1.93]}
    tracks = [mod.TrackStature("camera", 1, 3001, 1.70, np.array([1.71]), 1.71),
              mod.TrackStature("camera", 1_000_001, 3002, 1.60, np.array([1.93]), 1.93)]
    out = mod.with_true_statures(inputs, tracks, {"camera": 0.0}, {"camera"}, lives, np.random.default_rng(0))
    got = [json.loads(o[3])["tracks"][0]["stature_m"] for o in out]
    assert got == [pytest.approx(1.70, abs=0.04), pytest.approx(1.60, abs=0.04)]
