"""The pipeline projection: fitted on labelled tracklets, kept in model metadata, applied by every backend."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from tcfd_ros.cli import main
from tcfd_ros.distance import aggregate_track_embedding, cross_modal_distance
from tcfd_ros.errors import CheckpointError, DatasetError
from tcfd_ros.inference import make_embedder
from tcfd_ros.inference.projection import METADATA_KEY, PipelineProjection, ProjectedEmbedder
from tcfd_ros.model import TCFDNet, save_checkpoint, tiny_model_config
from training.pipeline_projection import TrackTracklets, fit_projection

PARTS, DIM = 3, 8


def _people_tracks(people: int, seed: int, noise: float = 1.0, space: int = 0) -> list[TrackTracklets]:
    """Each person (drawn with ``seed``): a camera and a LiDAR track of 6 tracklets. Identity lives in a weak
    4-dimensional signal; a strong nuisance (per tracklet) and a modality offset dominate the raw
    embeddings; which directions those are is fixed by ``space``."""
    basis = np.linalg.qr(np.random.default_rng(space).normal(size=(PARTS * DIM, PARTS * DIM)))[0]
    rng = np.random.default_rng(seed)
    ident_dirs, nuisance_dirs = basis[:, :4], basis[:, 4:12]
    offset = {"2d": 3.0 * basis[:, 12], "3d": -3.0 * basis[:, 12]}
    out = []
    for p in range(people):
        who = 0.6 * ident_dirs @ rng.normal(size=4)
        for modality in ("2d", "3d"):
            e = (5.0 + who + offset[modality] + noise * rng.normal(size=(6, 8)) @ nuisance_dirs.T
                 + 0.05 * rng.normal(size=(6, PARTS * DIM)))
            out.append(TrackTracklets(("world", p), modality, e.reshape(6, PARTS, DIM).astype(np.float32)))
    return out


def _rank1(tracks: list[TrackTracklets], project) -> float:
    """Share of people whose own LiDAR track is the camera track's nearest (rank-1 over the tracks)."""
    cams = [t for t in tracks if t.modality == "2d"]
    lids = [t for t in tracks if t.modality == "3d"]
    a = np.stack([aggregate_track_embedding(project(t)) for t in cams])
    b = np.stack([aggregate_track_embedding(project(t)) for t in lids])
    d = cross_modal_distance(a, b)
    return float(np.mean([cams[i].person == lids[int(np.argmin(d[i]))].person for i in range(len(cams))]))


def test_a_fitted_projection_separates_people_the_raw_embeddings_confuse() -> None:
    fit = fit_projection(_people_tracks(30, seed=1), out_dim=4, provenance={"replays": ["a"]})
    held_out = _people_tracks(20, seed=2)                 # other people of the same space
    raw = _rank1(held_out, lambda t: t.embeddings)
    projected = _rank1(held_out, lambda t: fit.apply(t.embeddings, t.modality))
    assert projected >= raw + 0.3 and projected >= 0.6, (raw, projected)
    assert fit.out_dim == 4 and fit.provenance["people"] == 30 and fit.provenance["replays"] == ["a"]


def test_too_few_people_or_a_missing_modality_is_one_line() -> None:
    tracks = _people_tracks(10, seed=0)
    with pytest.raises(DatasetError, match="10 labelled people .* need >= 20"):
        fit_projection(tracks, out_dim=16)
    with pytest.raises(DatasetError, match="no 3d track"):
        fit_projection([t for t in tracks if t.modality == "2d"], out_dim=2)
    odd = dataclasses.replace(tracks[0], embeddings=tracks[0].embeddings[:, :, :-1])   # another width
    with pytest.raises(DatasetError, match=r"^pipeline projection: a track's embeddings of shape .* expects"):
        fit_projection([odd, *tracks[1:]], out_dim=2)


def test_the_projection_survives_metadata_and_rejects_a_damaged_copy() -> None:
    proj = fit_projection(_people_tracks(12, seed=2), out_dim=3, provenance={"replays": ["r1", "r2"]})
    meta = {METADATA_KEY: json.loads(json.dumps(proj.to_metadata()))}
    back = PipelineProjection.from_metadata(meta)
    e = _people_tracks(12, seed=2)[0].embeddings
    np.testing.assert_allclose(back.apply(e, "3d"), proj.apply(e, "3d"), rtol=1e-6, atol=1e-6)
    assert back.provenance["replays"] == ["r1", "r2"] and PipelineProjection.from_metadata({}) is None
    for damage in ({"matrix": [[1.0]]}, {"means": {"2d": [0.0] * PARTS * DIM}}, {"format_version": 9},
                   {"matrix": [[float("nan")] * 3] * (PARTS * DIM)}):
        bad = {METADATA_KEY: {**meta[METADATA_KEY], **damage}}
        with pytest.raises(CheckpointError, match=f"^model metadata {METADATA_KEY}: .*recalibrate") as exc:
            PipelineProjection.from_metadata(bad)
        assert "\n" not in str(exc.value)
    with pytest.raises(ValueError, match="expects"):
        proj.apply(np.zeros((1, PARTS + 1, DIM), np.float32), "2d")


class _Base:
    """A backend with a per-frame cache entry point, to see that the projection keeps using it."""

    parts, dim, metadata = PARTS, DIM, {"x": 1}

    def __init__(self) -> None:
        self.cached_calls = 0

    def embed(self, tracklets, modality):
        if not tracklets:
            return np.zeros((0, PARTS, DIM), np.float32)
        return np.stack([np.full((PARTS, DIM), float(len(t)), np.float32) + np.arange(DIM)
                         for t in tracklets])

    def embed_tracks(self, tracklets, modality, tracks, stamps):
        self.cached_calls += 1
        return self.embed(tracklets, modality)


def test_the_projected_embedder_keeps_the_backends_cache_and_attributes() -> None:
    proj = fit_projection(_people_tracks(12, seed=3), out_dim=3)
    base = _Base()
    emb = ProjectedEmbedder(base, proj)
    frames = [np.zeros((4, 64, 64), np.uint8), np.zeros((7, 64, 64), np.uint8)]
    out = emb.embed_tracks(frames, "2d", [("cam", 1), ("cam", 2)], [range(4), range(7)])
    assert out.shape == (2, 1, 3) and base.cached_calls == 1 and (emb.parts, emb.dim) == (1, 3)
    np.testing.assert_allclose(out, proj.apply(base.embed(frames, "2d"), "2d"))
    assert emb.embed([], "3d").shape == (0, 1, 3) and emb.metadata == {"x": 1} and emb.cached_calls == 1


def test_every_backend_applies_a_checkpoints_projection(tmp_path) -> None:
    """The projection in a checkpoint's metadata reaches ``make_embedder`` for the torch model and its
    ONNX export alike; ``projection=False`` gives the network's own embeddings."""
    cfg = tiny_model_config(num_classes=3)
    cfg = dataclasses.replace(cfg, gmtd=dataclasses.replace(cfg.gmtd, cache_dir=str(tmp_path / "cache")))
    torch.manual_seed(3)
    net = TCFDNet(cfg).eval()
    rng = np.random.default_rng(4)
    flat = cfg.parts * cfg.dim
    proj = PipelineProjection(cfg.parts, cfg.dim, {m: rng.normal(size=flat).astype(np.float32) * 0.01
                                                   for m in ("2d", "3d")},
                              rng.normal(size=(flat, 5)).astype(np.float32), {"replays": ["t"]})
    ck = save_checkpoint(tmp_path / "p.pt", net, metadata={"open_set_threshold": 0.4,
                                                           METADATA_KEY: proj.to_metadata()})
    onnx = tmp_path / "p.onnx"
    assert main(["export", "--checkpoint", str(ck), "--format", "onnx", "--out", str(onnx)]) == 0
    sil = (rng.random((6, 64, 64)) > 0.5).astype(np.uint8) * 255
    for backend, path in (("torch", ck), ("onnx", onnx)):
        raw = make_embedder(backend, path, threads=1, projection=False)
        emb = make_embedder(backend, path, threads=1)
        assert (raw.parts, raw.dim) == (cfg.parts, cfg.dim) and (emb.parts, emb.dim) == (1, 5)
        np.testing.assert_allclose(emb.embed([sil], "2d"), proj.apply(raw.embed([sil], "2d"), "2d"),
                                   rtol=1e-4, atol=1e-5)
