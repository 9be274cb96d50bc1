"""Embedder backends: ONNX Runtime vs torch parity, exact variable-length batching, metadata, errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tcfd_ros.distance import cross_modal_distance
from tcfd_ros.errors import CheckpointError, ConfigError
from tcfd_ros.inference import Embedder, make_embedder
from tcfd_ros.inference.embedder import batches
from tcfd_ros.inference.export import export_onnx, read_onnx_metadata
from tcfd_ros.inference.tensorrt_backend import ENGINE_FORMAT, read_sidecar
from tcfd_ros.model import ModelInputError, TCFDNet, save_checkpoint, tiny_model_config


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("inf")
    cfg = tiny_model_config(num_classes=4)
    cfg = dataclasses.replace(cfg, gmtd=dataclasses.replace(cfg.gmtd, cache_dir=str(root / "cache")))
    torch.manual_seed(0)
    model = TCFDNet(cfg)
    # calibrate BN statistics on walker-like data (as training would), so eval-mode normalisation is
    # non-trivial in the exported graph and embeddings are spread out (an untrained net's are nearly equal)
    for mod in model.modules():
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
            mod.momentum = None
            mod.reset_running_stats()
    model.train()
    with torch.no_grad():
        for modality, seed in (("2d", 11), ("3d", 12)):
            for x, m in batches(_tracklets(16, modality, seed), modality, 64, 16):
                model(torch.from_numpy(x), torch.from_numpy(m))
    model.eval()
    ckpt = save_checkpoint(root / "tiny.pt", model, metadata={"open_set_threshold": 0.37})
    onnx_path = export_onnx(ckpt, root / "tiny.onnx")
    return ckpt, onnx_path


def _tracklets(n: int, modality: str, seed: int) -> list[np.ndarray]:
    """Blob-shaped walkers of varying length (2..7 frames) so embeddings differ meaningfully."""
    rng = np.random.default_rng(seed)
    out = []
    yy, xx = np.mgrid[0:64, 0:64]
    for i in range(n):
        t = int(rng.integers(2, 8))
        cx, w, h = rng.uniform(20, 44), rng.uniform(4, 12), rng.uniform(14, 28)
        frames = []
        for k in range(t):
            phase = np.sin(k + i)
            mask = ((xx - cx - 3 * phase) / w) ** 2 + ((yy - 32) / h) ** 2 < 1
            frames.append(mask.astype(np.uint8) * 255)
        sil = np.stack(frames)
        if modality == "2d":
            out.append(sil)
        else:
            depth = (sil[:, None] // 255) * rng.integers(0, 256, size=(t, 3, 1, 1), dtype=np.uint8)
            out.append(depth.astype(np.uint8))
    return out


def test_onnx_matches_torch_and_ranks_identically(artefacts):
    ckpt, onnx_path = artefacts
    ref = make_embedder("torch", ckpt, threads=1)
    ort = make_embedder("onnx", onnx_path, threads=1)
    assert isinstance(ref, Embedder) and isinstance(ort, Embedder)
    probes = _tracklets(32, "2d", seed=1)
    gallery = _tracklets(32, "3d", seed=2)
    a_p, a_g = ref.embed(probes, "2d"), ref.embed(gallery, "3d")
    b_p, b_g = ort.embed(probes, "2d"), ort.embed(gallery, "3d")
    assert a_p.shape == b_p.shape == (32, ref.parts, ref.dim) and b_p.dtype == np.float32
    assert max(np.abs(a_p - b_p).max(), np.abs(a_g - b_g).max()) <= 1e-4
    d_ref, d_ort = cross_modal_distance(a_p, a_g), cross_modal_distance(b_p, b_g)
    assert np.unique(d_ref.round(4), axis=1).shape[1] > 1, "degenerate embeddings would make ranking trivial"
    assert np.array_equal(np.argsort(d_ref, axis=1, kind="stable"), np.argsort(d_ort, axis=1, kind="stable"))


def test_onnx_worker_threads_do_not_spin_between_operators(artefacts):
    """The recognizer shares a few cores with the segmenters: ORT's busy-waiting intra-op threads are off."""
    from tcfd_ros.inference.onnx_backend import ORT_SPIN_OPTION

    _, onnx_path = artefacts
    emb = make_embedder("onnx", onnx_path, threads=2)
    assert emb.session.get_session_options().get_session_config_entry(ORT_SPIN_OPTION) == "0"
    assert emb.embed(_tracklets(2, "2d", seed=4), "2d").shape[0] == 2


def test_variable_length_batching_is_exact(artefacts):
    ckpt, onnx_path = artefacts
    for emb in (make_embedder("torch", ckpt, threads=1), make_embedder("onnx", onnx_path, threads=1)):
        tr = _tracklets(5, "3d", seed=3)
        together = emb.embed(tr, "3d")
        alone = np.concatenate([emb.embed([t], "3d") for t in tr])
        np.testing.assert_allclose(together, alone, atol=1e-4, rtol=0)  # float reassociation only
        # micro-batching (max_batch) must not change results either
        small = make_embedder("onnx", onnx_path, threads=1, max_batch=2).embed(tr, "3d")
        np.testing.assert_allclose(small, alone, atol=1e-4, rtol=0)


def test_long_tracklets_are_subsampled(artefacts):
    _, onnx_path = artefacts
    emb = make_embedder("onnx", onnx_path, threads=1, max_frames=4)
    (t,) = _tracklets(1, "2d", seed=4)
    long = np.concatenate([t] * 5)  # > 4 frames
    idx = np.linspace(0, long.shape[0] - 1, 4).round().astype(int)
    np.testing.assert_allclose(emb.embed([long], "2d"), emb.embed([long[idx]], "2d"), atol=1e-6)


def test_metadata_and_threshold(artefacts):
    ckpt, onnx_path = artefacts
    meta = read_onnx_metadata(onnx_path)
    assert meta["parts"] == "7" and meta["dim"] == "32"
    assert json.loads(meta["model_config"])["clip"]["variant"] == "tcfd-tiny"
    for emb in (make_embedder("torch", ckpt), make_embedder("onnx", onnx_path)):
        assert emb.metadata["open_set_threshold"] == 0.37
        assert emb.metadata["clip"]["weights"] == "random"
        assert (emb.parts, emb.dim) == (7, 32)


def test_float_input_and_empty_batch(artefacts):
    _, onnx_path = artefacts
    from tcfd_ros.model import frames_to_input

    emb = make_embedder("onnx", onnx_path, threads=1)
    (t,) = _tracklets(1, "2d", seed=5)
    np.testing.assert_allclose(emb.embed([frames_to_input(t, "2d")], "2d"), emb.embed([t], "2d"), atol=1e-6)
    assert emb.embed([], "3d").shape == (0, 7, 32)


def test_bad_inputs(artefacts):
    _, onnx_path = artefacts
    emb = make_embedder("onnx", onnx_path, threads=1)
    (t,) = _tracklets(1, "2d", seed=6)
    with pytest.raises(ModelInputError, match="modality"):
        emb.embed([t], "rgb")
    with pytest.raises(ModelInputError, match="shape"):
        emb.embed([t], "3d")  # silhouettes are not depth maps
    with pytest.raises(ModelInputError, match="dtype"):
        emb.embed([t.astype(np.int32)], "2d")
    with pytest.raises(ModelInputError, match="NaN"):
        emb.embed([np.full((2, 3, 64, 64), np.nan, np.float32)], "2d")
    with pytest.raises(ConfigError, match="backend"):
        make_embedder("tflite", onnx_path)


def test_corrupt_onnx(artefacts, tmp_path):
    _, onnx_path = artefacts
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(onnx_path.read_bytes()[:1000])
    with pytest.raises(CheckpointError):
        make_embedder("onnx", bad)
    with pytest.raises(CheckpointError, match="not found"):
        make_embedder("onnx", tmp_path / "none.onnx")


def test_engine_sidecar_version_check(tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"x")
    with pytest.raises(CheckpointError, match="sidecar"):
        read_sidecar(engine, "10.3.0")
    sidecar = {"format": ENGINE_FORMAT, "tensorrt_version": "10.1.0"}
    (tmp_path / "m.engine.json").write_text(json.dumps(sidecar))
    with pytest.raises(CheckpointError, match="10.1.0.*10.3.0.*rebuild"):
        read_sidecar(engine, "10.3.0")
    assert read_sidecar(engine, "10.1.0")["tensorrt_version"] == "10.1.0"


def test_real_silhouettes_through_onnx(artefacts, real_data):
    """Real camera silhouettes (OpenGait demo PNGs), aligned by the shared geometry code, embed finitely."""
    import cv2

    from tcfd_ros.geometry.align import align_silhouette

    _, onnx_path = artefacts
    seq_dir = real_data / "gait" / "all_in_one_gait_demo" / "GaitSilhouette" / "gallery" / "001" / "undefined"
    if not seq_dir.is_dir():
        pytest.skip(f"{seq_dir} absent")
    files = sorted(seq_dir.glob("*.png"))[:10]
    frames = np.stack([align_silhouette(cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) > 127) for f in files])
    emb = make_embedder("onnx", onnx_path, threads=1).embed([frames, frames[::-1]], "2d")
    assert emb.shape == (2, 7, 32) and np.isfinite(emb).all()
    np.testing.assert_allclose(emb[0], emb[1], atol=2e-5)  # temporal max pooling is order-invariant


def test_onnx_recognizer_starts_without_torch(artefacts):
    """The recognizer's ONNX path never imports torch (its import alone was ~5 CPU-s per start on 2 cores)."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "import tcfd_ros.nodes.recognizer_node\n"
        "from tcfd_ros.inference.embedder import make_embedder\n"
        f"e = make_embedder('onnx', {str(artefacts[1])!r}, threads=1)\n"
        "out = e.embed([np.zeros((3, 64, 64), np.uint8)], '2d')\n"
        "assert out.shape[0] == 1, out.shape\n"
        "print('torch' in sys.modules)\n")
    root = Path(__file__).resolve().parents[1]
    env = {**__import__("os").environ, "PYTHONPATH": str(root)}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root,
                         timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "False", "torch was imported on the ONNX recognizer path"
