"""The replay's CMC ranks tracks by their track evidence (the recognizer's aggregate of their newest
tracklets), with the last tracklet alone beside it, and the recording keeps the newest tracklets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tcfd_ros.replay import cmc as cmc_module
from tcfd_ros.replay.recording import Recording
from tcfd_ros.replay.records import RunInfo
from tcfd_ros.replay.scoring import TrackingScore
from tcfd_ros.track_messages import TrackletMsg

PARTS, DIM = 2, 4


class _ByFrameValue:
    """A stand-in embedder: a tracklet's embedding points along the axis its frames' value names
    (frames of value k -> axis k), the same in both modalities, so distances are known exactly."""

    def embed(self, tracklets, modality):
        out = np.zeros((len(tracklets), PARTS, DIM), np.float32)
        for i, f in enumerate(tracklets):
            out[i, :, int(f.flat[0]) % DIM] = 1.0
        return out


def _text(sensor: str, modality: str, track: int, value: int) -> str:
    shape = (2, 64, 64) if modality == "2d" else (2, 3, 64, 64)
    return TrackletMsg({"sec": 1, "nanosec": 0}, sensor, sensor, modality, track, (0.0, 0.1), (1.0, 2.0),
                       np.full(shape, value, np.uint8)).to_json()


def test_track_evidence_ranks_by_the_aggregate_and_reports_the_last_tracklet(monkeypatch):
    monkeypatch.setattr("tcfd_ros.inference.make_embedder", lambda backend, path: _ByFrameValue())
    tracklets = {
        # camera track 1 (person 10) walked as 0 three times, then one tracklet reads as 1
        ("camera", 1): [_text("camera", "2d", 1, v) for v in (0, 0, 0, 1)],
        ("camera", 2): [_text("camera", "2d", 2, v) for v in (1, 1)],          # person 11
        ("lidar", 5): [_text("lidar", "3d", 5, 0)],                            # person 10
        ("lidar", 6): [_text("lidar", "3d", 6, 1)],                            # person 11
    }
    tracking = {"camera": TrackingScore(track_to_person={1: 10, 2: 11}),
                "lidar": TrackingScore(track_to_person={5: 10, 6: 11})}
    c = cmc_module.track_cmc(tracklets, {"camera": "2d", "lidar": "3d"}, tracking, Path("unused.onnx"),
                             "onnx", max_rank=10)
    assert (c.queries, c.gallery) == (2, 2)
    assert c.cmc == [1.0, 1.0]                       # both camera tracks find their person first
    assert c.last_tracklet == [0.5, 1.0]             # track 1's last tracklet alone ranks person 11 first
    assert c.chance[0] == pytest.approx(0.5)


def test_track_evidence_is_trimmed_as_the_recognizer_trims_it(monkeypatch):
    """With ``identity.track_evidence_trim`` the recognizer leaves a track's odd tracklets out of its
    evidence; the CMC, rebuilt at the level where it decides, does the same."""
    monkeypatch.setattr("tcfd_ros.inference.make_embedder", lambda backend, path: _ByFrameValue())
    tracklets = {
        # camera track 1 (person 10) walked as 0 twice, then three tracklets of a merged blob read as 1
        ("camera", 1): [_text("camera", "2d", 1, v) for v in (0, 0, 1, 1, 1, 0, 0, 0)],
        ("lidar", 5): [_text("lidar", "3d", 5, 0)],                            # person 10
        ("lidar", 6): [_text("lidar", "3d", 6, 1)],                            # person 11
    }
    tracking = {"camera": TrackingScore(track_to_person={1: 10}),
                "lidar": TrackingScore(track_to_person={5: 10, 6: 11})}
    args = (tracklets, {"camera": "2d", "lidar": "3d"}, tracking, Path("unused.onnx"), "onnx", 10)
    assert cmc_module.track_cmc(*args).cmc == [1.0, 1.0]
    seen = []
    real = cmc_module.aggregate_track_embedding
    monkeypatch.setattr(cmc_module, "aggregate_track_embedding",
                        lambda e, trim=0.0: seen.append(trim) or real(e, trim))
    assert cmc_module.track_cmc(*args, trim_share=0.375).cmc == [1.0, 1.0]
    assert seen and set(seen) == {0.375}


def test_no_tracks_of_one_modality_gives_an_empty_cmc():
    c = cmc_module.track_cmc({("camera", 1): [_text("camera", "2d", 1, 0)]}, {"camera": "2d"},
                             {"camera": TrackingScore(track_to_person={1: 10})}, Path("unused.onnx"),
                             "onnx", 10)
    assert c.cmc == [] and c.queries == 0 and c.gallery == 0


def test_recording_keeps_the_newest_tracklets_of_each_track():
    rec = Recording(RunInfo("bag", 1.0, {}), tracklets_kept=3)
    for k in range(5):
        rec.keep_tracklet(("camera", 1), f"t{k}")
    rec.keep_tracklet(("lidar", 2), "only")
    assert list(rec.tracklets[("camera", 1)]) == ["t2", "t3", "t4"]
    assert list(rec.tracklets[("lidar", 2)]) == ["only"]


def test_the_recording_keeps_as_many_tracklets_as_the_graphs_recognizer_decides_on(tmp_path):
    """The params file's ``identity.track_evidence_tracklets``, unless a ``--param`` overrides it (the
    graph runs with the override, so the CMC's evidence follows it)."""
    from tcfd_ros.graph import default_config_path
    from tcfd_ros.replay.run import ReplayOptions, _track_evidence_tracklets

    opts = ReplayOptions(bag=tmp_path / "bag", out_dir=tmp_path / "out", graph_config=default_config_path())
    assert _track_evidence_tracklets(opts) == 16
    opts = ReplayOptions(bag=tmp_path / "bag", out_dir=tmp_path / "out", graph_config=default_config_path(),
                         params=("recognizer.identity.track_evidence_tracklets=4", "recognizer.backend=onnx"))
    assert _track_evidence_tracklets(opts) == 4


def test_the_cmc_trims_as_the_graphs_recognizer_does(tmp_path):
    from tcfd_ros.graph import default_config_path
    from tcfd_ros.perception.config import IdentityConfig
    from tcfd_ros.replay.run import ReplayOptions, _identity_value

    opts = ReplayOptions(bag=tmp_path / "bag", out_dir=tmp_path / "out", graph_config=default_config_path())
    assert float(_identity_value(opts, "track_evidence_trim")) == IdentityConfig().track_evidence_trim
    opts = ReplayOptions(bag=tmp_path / "bag", out_dir=tmp_path / "out", graph_config=default_config_path(),
                         params=("recognizer.identity.track_evidence_trim=0.25",))
    assert float(_identity_value(opts, "track_evidence_trim")) == 0.25


def test_the_reports_model_is_the_one_the_graph_runs(tmp_path):
    """A ``--param recognizer.model_path=`` override is what the graph runs, so the report's CMC and model
    card use it too; ``--model`` wins over both, as it does in the graph's overrides."""
    from tcfd_ros.graph import default_config_path
    from tcfd_ros.replay.run import ReplayOptions, _model_of

    shipped, _ = _model_of(ReplayOptions(bag=tmp_path / "b", out_dir=tmp_path / "o",
                                         graph_config=default_config_path()))
    assert shipped is not None and shipped.exists()
    other = tmp_path / "other.onnx"
    other.write_bytes(b"x")
    opts = ReplayOptions(bag=tmp_path / "b", out_dir=tmp_path / "o", graph_config=default_config_path(),
                         params=(f"recognizer.model_path={other}", "recognizer.backend=torch"))
    assert _model_of(opts) == (other, "torch")
    given = tmp_path / "given.onnx"
    opts = ReplayOptions(bag=tmp_path / "b", out_dir=tmp_path / "o", graph_config=default_config_path(),
                         model=given, params=(f"recognizer.model_path={other}",))
    assert _model_of(opts) == (given, "onnx")
