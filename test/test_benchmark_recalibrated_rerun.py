"""``benchmarks/recalibrated_rerun.py``: the stature rewrite, the embedding cache and the per-bag line."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from benchmark_modules import load_benchmark
from tcfd_ros.replay.config import TargetConfig


def _module():
    return load_benchmark("recalibrated_rerun")


def test_statures_are_raised_by_half_the_beam_gap_at_range_and_the_camera_offset():
    mod = _module()
    lidar = {"sensor": "lidar", "tracks": [{"track_id": 1, "position": [6.0, 8.0, -1.2], "stature_m": 1.70},
                                           {"track_id": 2, "position": [3.0, 0.0, -1.2], "stature_m": None}]}
    camera = {"sensor": "camera", "tracks": [{"track_id": 1, "position": [320.0, 200.0], "stature_m": 1.65}]}
    inputs = [(1, 0, "/lidar/tracks", json.dumps(lidar)), (2, 1, "/lidar/tracklets", "{}"),
              (3, 0, "/camera/tracks", json.dumps(camera))]
    out = mod.corrected_statures(inputs, 0.333, 0.02)
    raised = 1.70 + 0.5 * math.radians(0.333) * 10.0                     # 10 m away: +0.029 m
    assert json.loads(out[0][3])["tracks"][0]["stature_m"] == pytest.approx(raised, abs=1e-4)
    assert json.loads(out[0][3])["tracks"][1]["stature_m"] is None         # unmeasured stays so
    assert out[1] == inputs[1]                                             # tracklets as given
    assert json.loads(out[2][3])["tracks"][0]["stature_m"] == pytest.approx(1.67)
    assert mod.corrected_statures(inputs, 0.0, 0.0) == inputs              # nothing asked: as recorded


class _Counting:
    parts, dim, metadata = 2, 3, {"open_set_threshold_track": 0.1}

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, tracklets, modality):
        self.calls += len(tracklets)
        return np.stack([np.full((2, 3), float(t.sum()) + (modality == "3d")) for t in tracklets]) \
            if tracklets else np.zeros((0, 2, 3), np.float32)


def test_the_cache_embeds_each_tracklet_once_per_modality_and_survives_a_new_process(tmp_path):
    mod = _module()
    base = _Counting()
    path = tmp_path / "emb.npz"
    cache = mod.CachedEmbedder(base, path)
    a, b = np.ones((2, 4), np.float32), np.zeros((2, 4), np.float32)
    first = cache.embed([a, b], "2d")
    again = cache.embed([b, a], "2d")
    assert base.calls == 2 and np.array_equal(again, first[::-1])
    assert cache.embed([a], "3d")[0, 0, 0] == 9.0 and base.calls == 3      # another modality: embedded
    cache.metadata["open_set_threshold_track"] = 0.2                       # a copy: the model's stays
    assert base.metadata["open_set_threshold_track"] == 0.1
    cache.save()
    reread = mod.CachedEmbedder(_Counting(), path)
    assert np.array_equal(reread.embed([a, b], "2d"), first) and reread.base.calls == 0


def test_the_line_asks_the_targets_share_handed_off_and_at_most_their_false_links():
    mod = _module()
    t = TargetConfig()
    assert mod.meets_line(5, 6, 1, t) and mod.meets_line(6, 6, 0, t)
    assert not mod.meets_line(4, 6, 0, t)                                  # 66.7 % < 67 %
    assert not mod.meets_line(6, 6, 2, t) and not mod.meets_line(0, 0, 0, t)
