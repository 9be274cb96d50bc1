"""``tcfd-ros export``: ONNX via the CLI; the engine path needs TensorRT (skips where absent)."""

from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import onnx
import pytest
import torch

from tcfd_ros.cli import main
from tcfd_ros.inference import make_embedder
from tcfd_ros.model import TCFDNet, save_checkpoint, tiny_model_config

HAS_TRT = importlib.util.find_spec("tensorrt") is not None


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("exp")
    cfg = tiny_model_config(num_classes=3).replace_ablation(sw=False)
    cfg = dataclasses.replace(cfg, gmtd=dataclasses.replace(cfg.gmtd, cache_dir=str(root / "cache")))
    torch.manual_seed(1)
    return save_checkpoint(root / "m.pt", TCFDNet(cfg).eval())


def test_cli_onnx_export_has_dynamic_axes_and_metadata(checkpoint, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--format", "onnx", "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    proto = onnx.load(str(out))
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims[:2] == ["batch", "frames"] and dims[2:] == [3, 64, 64]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["open_set_threshold"] == "null" and meta["parts"] == "7"
    emb = make_embedder("onnx", out, threads=1)
    x = [np.zeros((n, 64, 64), np.uint8) for n in (1, 9, 31)]
    assert emb.embed(x, "2d").shape == (3, 7, 32)


def test_cli_errors_are_reported_not_raised(checkpoint, tmp_path, capsys):
    assert main(["export", "--checkpoint", str(checkpoint), "--format", "onnx", "--fp16",
                 "--out", str(tmp_path / "x.onnx")]) == 2
    assert "--fp16" in capsys.readouterr().err
    assert main(["export", "--checkpoint", str(tmp_path / "missing.pt"), "--format", "onnx"]) == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.skipif(HAS_TRT, reason="checks the message shown where tensorrt is absent")
def test_engine_without_tensorrt_says_how_to_get_it(checkpoint, tmp_path, capsys):
    argv = ["export", "--checkpoint", str(checkpoint), "--format", "engine",
            "--out", str(tmp_path / "m.engine")]
    assert main(argv) == 2
    assert "tensorrt" in capsys.readouterr().err


@pytest.mark.skipif(not HAS_TRT or not torch.cuda.is_available(),
                    reason="TensorRT engine build needs the `tensorrt` package and a CUDA GPU (absent here)")
def test_engine_build_fp16_and_parity(checkpoint, tmp_path):
    out = tmp_path / "m.engine"
    assert main(["export", "--checkpoint", str(checkpoint), "--format", "engine", "--fp16", "--out", str(out),
                 "--max-batch", "8", "--max-frames", "16"]) == 0
    assert out.is_file() and out.with_suffix(".timing_cache").is_file()
    trt = make_embedder("tensorrt", out)
    ref = make_embedder("torch", checkpoint)
    x = [np.random.default_rng(i).integers(0, 2, (5, 64, 64), dtype=np.uint8) * 255 for i in range(4)]
    np.testing.assert_allclose(trt.embed(x, "2d"), ref.embed(x, "2d"), atol=5e-2)


def test_track_level_calibration_travels_into_onnx_and_the_embedders(tmp_path):
    """open_set_threshold_track and both genuine-accept rates (training.calibrate) reach the recognizer's
    ``embedder.metadata`` through the checkpoint and the ONNX metadata_props."""
    cfg = tiny_model_config(num_classes=3)
    cfg = dataclasses.replace(cfg, gmtd=dataclasses.replace(cfg.gmtd, cache_dir=str(tmp_path / "cache")))
    cal = {"open_set_threshold": 0.31, "open_set_threshold_track": 0.27,
           "genuine_accept_rate_tracklet": 0.55, "genuine_accept_rate_track": 0.83}
    ck = save_checkpoint(tmp_path / "cal.pt", TCFDNet(cfg).eval(), metadata=cal)
    out = tmp_path / "cal.onnx"
    assert main(["export", "--checkpoint", str(ck), "--format", "onnx", "--out", str(out)]) == 0
    for emb in (make_embedder("onnx", out, threads=1), make_embedder("torch", ck, threads=1)):
        for k, v in cal.items():
            assert emb.metadata[k] == pytest.approx(v), (emb, k)


def test_baseline_checkpoint_exports_and_runs_like_tcfdnet(tmp_path):
    """The ResNet-9 baseline (training/checkpoints.py format) exports to the same ONNX interface, so the
    recognizer can run whichever architecture recognises people better."""
    from training.baseline import ResNet9Baseline
    from training.checkpoints import save_trained
    from training.config import BaselineConfig, TrainConfig

    cfg = TrainConfig("b", architecture="baseline",
                      baseline=BaselineConfig(channels=(8, 8, 16, 16), dim=16, bins=(1, 2)))
    torch.manual_seed(0)
    model = ResNet9Baseline(cfg.baseline, 3).eval()
    ck = save_trained(tmp_path / "b.pt", model, cfg,
                      {"open_set_threshold": 0.2, "open_set_threshold_track": 0.1})
    out = tmp_path / "b.onnx"
    assert main(["export", "--checkpoint", str(ck), "--format", "onnx", "--out", str(out)]) == 0
    emb = make_embedder("onnx", out, threads=1)
    assert (emb.parts, emb.dim) == (3, 16) and emb.metadata["open_set_threshold_track"] == 0.1
    x = [np.full((n, 64, 64), 255, np.uint8) for n in (2, 5)]
    from tcfd_ros.model.preprocess import frames_to_input
    ref = model(torch.from_numpy(frames_to_input(x[1], "2d"))[None]).embeddings[0].detach().numpy()
    np.testing.assert_allclose(emb.embed(x, "2d")[1], ref, atol=1e-4)
