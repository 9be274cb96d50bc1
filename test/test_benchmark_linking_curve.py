"""``benchmarks/linking_curve.py``: which track pairs a re-run's final bindings link, and embedding each
tracklet once across the re-runs of one replay."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from tcfd_ros.errors import ConfigError
from tcfd_ros.replay.records import MatchEvent

from benchmark_modules import load_benchmark


def _module():
    return load_benchmark("linking_curve")


def _event(sensor: str, track: int, gid: int) -> MatchEvent:
    return MatchEvent(0.0, sensor, track, gid, 0.1, True)


def test_a_track_ends_in_the_identity_of_its_last_decision() -> None:
    mod = _module()
    events = [_event("camera", 1, 5), _event("lidar", 2, 5), _event("camera", 1, 7)]   # a revision moved it
    assert mod.final_bindings(events) == {("camera", 1): 7, ("lidar", 2): 5}


class _Counting:
    parts, dim, metadata = 2, 3, {"parts": 2}

    def __init__(self) -> None:
        self.calls: list[int] = []

    def embed(self, tracklets, modality):
        self.calls.append(len(tracklets))
        return np.stack([np.full((2, 3), float(t.sum()) + (modality == "3d")) for t in tracklets]) \
            if tracklets else np.zeros((0, 2, 3), np.float32)


def test_each_distinct_tracklet_is_embedded_once_with_the_inner_embedders_result() -> None:
    mod = _module()
    inner = _Counting()
    once = mod.OnceEmbedder(inner)
    a, b = np.ones((2, 4, 4), np.float32), np.zeros((2, 4, 4), np.float32)
    first = once.embed([a, b], "2d")
    again = once.embed([b, a], "2d")
    other = once.embed([a], "3d")                # another modality is another tracklet
    assert inner.calls == [2, 1]
    np.testing.assert_array_equal(again, first[::-1])
    assert other[0, 0, 0] == first[0, 0, 0] + 1
    assert once.embed([], "2d").shape == (0, 2, 3)
    assert once.metadata == {"parts": 2}


def test_identity_overrides_are_validated() -> None:
    mod = _module()
    rr = sys.modules["recognizer_rerun"]
    assert rr.identity_config(["gait_min_tracklets=6"]).gait_min_tracklets == 6
    with pytest.raises(ConfigError, match="gait_min_tracklets"):
        rr.identity_config(["gait_min_tracklets=0"])
    assert mod.DEFAULT_SCALES[2] == 1.0
