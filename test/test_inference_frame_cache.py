"""Per-frame feature cache of the ONNX embedder: the split graph gives the whole graph's embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from tcfd_ros.inference import make_embedder
from tcfd_ros.inference.embedder import embed_tracks
from tcfd_ros.inference.frame_cache import FrameFeatureCache
from tcfd_ros.inference.onnx_split import split_embedding_graph

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "models" / "tcfd_sim.onnx"
ATOL = 1e-5   # embeddings are L2-normalised parts: 1e-5 is far below any decision's resolution
SHAPES = {"2d": (64, 64), "3d": (3, 64, 64)}


@pytest.fixture(scope="module")
def shipped():
    e = make_embedder("onnx", SHIPPED, threads=1)
    assert e.frame_cache is not None, "the shipped model splits at its temporal max pooling"
    return e


@pytest.fixture(scope="module")
def tiny(model, tmp_path_factory):
    from tcfd_ros.inference.export import export_onnx

    path = export_onnx(model, tmp_path_factory.mktemp("tiny_onnx") / "tiny.onnx")
    e = make_embedder("onnx", path, threads=1)
    assert e.frame_cache is not None
    return e


def _walk(modality: str, frames: int, seed: int) -> list[np.ndarray]:
    """A moving blob per frame: consecutive frames differ, as a walker's do."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:64, 0:64]
    out = []
    for k in range(frames):
        mask = ((xx - 32 - 6 * np.sin(0.7 * k)) / 9) ** 2 + ((yy - 32) / 24) ** 2 < 1
        sil = mask.astype(np.uint8) * 255
        if modality == "2d":
            out.append(sil)
        else:
            out.append((sil[None] // 255) * rng.integers(1, 256, size=(3, 1, 1), dtype=np.uint8))
    return out


def _tracklets(modality: str, seed: int, s: int = 10, hop: int = 5, n_frames: int = 40):
    seq = _walk(modality, n_frames, seed)
    return [(np.stack(seq[i:i + s]), tuple(0.1 * k for k in range(i, i + s)))
            for i in range(0, n_frames - s + 1, hop)]


@pytest.mark.parametrize("which", ["shipped", "tiny"])
@pytest.mark.parametrize("modality", ["2d", "3d"])
def test_cached_embeddings_equal_the_whole_graph(which, modality, request):
    e = request.getfixturevalue(which)
    cache = e.frame_cache
    a, b = _tracklets(modality, 1), _tracklets(modality, 2)
    computed0, reused0 = cache.frames_computed, cache.frames_reused
    # two tracks interleaved; the last two of track b arrive in one batch (they share 5 frames)
    for (fa, sa), (fb, sb) in zip(a[:-2], b[:-2]):
        got = embed_tracks(e, [fa, fb], modality, [("cam", 1), ("cam", 2)], [sa, sb])
        np.testing.assert_allclose(got, e.embed([fa, fb], modality), rtol=0, atol=ATOL)
    got = embed_tracks(e, [t for t, _ in b[-2:]], modality, [("cam", 2)] * 2, [s for _, s in b[-2:]])
    np.testing.assert_allclose(got, e.embed([t for t, _ in b[-2:]], modality), rtol=0, atol=ATOL)
    # track a: 10 + 5 per later tracklet computed; track b the same (its last two share 5 frames)
    n_a, n_b = len(a) - 2, len(b)
    assert cache.frames_computed - computed0 == (10 + 5 * (n_a - 1)) + (10 + 5 * (n_b - 1))
    assert cache.frames_reused - reused0 == 5 * (n_a - 1) + 5 * (n_b - 1)


def test_a_changed_frame_with_a_reused_stamp_is_embedded_again(shipped):
    """A tracker restart reuses track ids and stamps: the bytes decide, never the key alone."""
    e = shipped
    (f1, s1), (f2, s2) = _tracklets("2d", 3)[:2]
    embed_tracks(e, [f1], "2d", [("camera", 7)], [s1])
    other = f2.copy()     # another person's frames under the same key and stamps: one pixel differs
    other[:, 0, 0] = 255
    reused = e.frame_cache.frames_reused
    got = embed_tracks(e, [other], "2d", [("camera", 7)], [s2])
    np.testing.assert_allclose(got, e.embed([other], "2d"), rtol=0, atol=ATOL)
    assert e.frame_cache.frames_reused == reused
    assert embed_tracks(e, [f2], "2d", [("camera", 8)], [s2]).shape == got.shape


def test_unit_scale_silhouettes_are_not_mixed_with_0_255_ones(shipped):
    """{0, 1} and {0, 255} tracklets normalise alike, but the cache still keys on the scale."""
    e = shipped
    f, s = _tracklets("2d", 4)[0]
    unit = (f // 255).astype(np.uint8)
    embed_tracks(e, [f], "2d", [("c", 1)], [s])
    got = embed_tracks(e, [unit], "2d", [("c", 1)], [s])
    np.testing.assert_allclose(got, e.embed([unit], "2d"), rtol=0, atol=ATOL)


def test_memory_is_bounded_by_tracks_and_their_newest_tracklet():
    calls = []

    def frame_fn(x, m):
        calls.append(x.shape[1])
        return [x.reshape(1, x.shape[1], -1)[:, :, :4]]

    cache = FrameFeatureCache(frame_fn, lambda pooled, m: pooled[0][:, None, :], max_tracks=3)
    for track in range(5):
        for f, s in _tracklets("2d", track, n_frames=30):
            cache.embed([f], "2d", [track], [s])
    assert cache.frames_held == 3 * 10          # 3 tracks, each its newest 10 frames
    assert sum(calls) == cache.frames_computed == 5 * 30


def test_long_tracklets_and_unsplittable_models_use_the_whole_graph(shipped, tmp_path):
    long = np.stack(_walk("2d", shipped.max_frames + 6, 5))
    stamps = tuple(range(long.shape[0]))
    np.testing.assert_allclose(embed_tracks(shipped, [long], "2d", [("c", 9)], [stamps]),
                               shipped.embed([long], "2d"), rtol=0, atol=ATOL)
    # a graph without a temporal max over axis 1 (mean pooling) is not split
    node = helper.make_node("ReduceMean", ["frames"], ["embeddings"], axes=[1], keepdims=0)
    inputs = [helper.make_tensor_value_info("frames", TensorProto.FLOAT, None),
              helper.make_tensor_value_info("modality", TensorProto.INT64, None)]
    graph = helper.make_graph([node], "g", inputs,
                              [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, None)])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert split_embedding_graph(proto.SerializeToString()) is None
    assert split_embedding_graph(onnx.load(str(SHIPPED)).SerializeToString()) is not None


def test_backends_without_a_cache_embed_whole_tracklets():
    class Plain:
        parts, dim, metadata = 1, 2, {}

        def embed(self, tracklets, modality):
            return np.full((len(tracklets), 1, 2), float(len(tracklets)), np.float32)

    out = embed_tracks(Plain(), [np.zeros((3, 64, 64), np.uint8)] * 2, "2d", [1, 2], [(0, 1, 2)] * 2)
    assert out.shape == (2, 1, 2) and (out == 2.0).all()
