"""The shipped reference model is the default everywhere, found from any working directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcfd_ros import graph as g
from tcfd_ros.errors import CheckpointError
from tcfd_ros.inference import make_embedder
from tcfd_ros.inference.model_files import DEFAULT_MODEL, SOURCE_ROOT, resolve_model_path
from tcfd_ros.nodes.node_configs import RecognizerNodeConfig


def test_default_model_is_the_shipped_onnx_in_config_and_code():
    assert RecognizerNodeConfig().model_path == DEFAULT_MODEL and RecognizerNodeConfig().backend == "onnx"
    params = g.node_parameters_from_config(g.default_config_path(), g.RECOGNIZER)
    assert params["model_path"] == DEFAULT_MODEL


def test_relative_model_path_resolves_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                      # not the repository
    found = resolve_model_path(DEFAULT_MODEL)
    assert found == SOURCE_ROOT / DEFAULT_MODEL and found.is_file()
    (tmp_path / "models").mkdir()
    (tmp_path / DEFAULT_MODEL).write_bytes(b"x")     # the working directory wins
    assert resolve_model_path(DEFAULT_MODEL) == tmp_path / DEFAULT_MODEL


def test_missing_model_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError) as e:
        resolve_model_path("models/nope.onnx")
    msg = str(e.value)
    assert "\n" not in msg and "models/nope.onnx" in msg and str(tmp_path) in msg
    with pytest.raises(CheckpointError, match="file not found"):
        resolve_model_path(tmp_path / "abs.onnx")
    from tcfd_ros.inference import model_files

    monkeypatch.setattr(model_files, "model_search_dirs", lambda: [Path("/nonexistent")])
    with pytest.raises(CheckpointError, match="make model"):   # the shipped one says how to get it back
        resolve_model_path(DEFAULT_MODEL)


def test_shipped_model_loads_with_calibrated_track_threshold(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    emb = make_embedder("onnx", DEFAULT_MODEL, threads=1)
    for k in ("open_set_threshold", "open_set_threshold_track", "genuine_accept_rate_tracklet",
              "genuine_accept_rate_track"):
        assert isinstance(emb.metadata[k], float), k
    assert emb.metadata["open_set_threshold_track"] > 0.0
