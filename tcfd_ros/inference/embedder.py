"""The ``Embedder`` interface: a batch of tracklets in, (N, parts, dim) float32 embeddings out.

Variable tracklet length (documented contract): a tracklet longer than ``max_frames`` is subsampled to
``max_frames`` evenly spaced frames; within a batch, shorter tracklets are padded to the longest by
repeating their own frames cyclically. Padding is *exact*: every layer before TCFDNet's temporal max
pooling works frame by frame (BatchNorm in eval mode), and the maximum over a multiset of frame features
with repeats equals the maximum over the original frames. So a tracklet's embedding does not depend on
what it was batched with; the ONNX and TensorRT graphs keep a dynamic frame axis as well.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Hashable, Protocol, Sequence, runtime_checkable

import numpy as np

from tcfd_ros.errors import ConfigError
from tcfd_ros.inference.batching import batches  # re-exported; the backends import batching directly
from tcfd_ros.model.preprocess import MODALITIES
from tcfd_ros.optional_packages import needs_full_setup

BACKENDS = ("torch", "onnx", "tensorrt")
DEFAULT_MAX_FRAMES = 64
"""Longest tracklet fed to the network; longer ones are evenly subsampled (our choice: 2x the
benchmark's 30 frames; bounds latency and the TensorRT optimisation profile)."""
DEFAULT_MAX_BATCH = 32
"""Tracklets per forward pass; larger requests are split (our choice: the largest benchmarked batch)."""


@runtime_checkable
class Embedder(Protocol):
    parts: int
    dim: int
    metadata: dict[str, Any]

    def embed(self, tracklets: Sequence[np.ndarray], modality: str) -> np.ndarray:
        """(N, parts, dim) float32 for N tracklets of one modality."""
        ...


def make_embedder(backend: str, path: str | Path, threads: int = 2, *, max_frames: int = DEFAULT_MAX_FRAMES,
                  max_batch: int = DEFAULT_MAX_BATCH, projection: bool = True) -> Embedder:
    """``torch`` (a checkpoint .pt), ``onnx`` (an exported .onnx) or ``tensorrt`` (a built .engine).

    A relative ``path`` is resolved by ``model_files.resolve_model_path`` (working directory, source
    tree, installed share directory). A model whose metadata holds a pipeline projection
    (``projection.py``) gives projected embeddings, the space its track threshold was calibrated in;
    ``projection=False`` gives the network's own (what fitting a new projection starts from)."""
    base = _backend_embedder(backend, path, threads, max_frames, max_batch)
    if not projection:
        return base
    from tcfd_ros.inference.projection import PipelineProjection, ProjectedEmbedder

    proj = PipelineProjection.from_metadata(base.metadata)
    return base if proj is None else ProjectedEmbedder(base, proj)


def _backend_embedder(backend: str, path: str | Path, threads: int, max_frames: int, max_batch: int
                      ) -> Embedder:
    if threads < 1 or max_frames < 1 or max_batch < 1:
        raise ConfigError(f"make_embedder: threads {threads}, max_frames {max_frames}, max_batch "
                          f"{max_batch} must be >= 1")
    if backend not in BACKENDS:
        raise ConfigError(f"backend: {backend!r} is not one of {list(BACKENDS)}")
    from tcfd_ros.inference.model_files import resolve_model_path

    path = resolve_model_path(path)
    if backend == "torch":
        with needs_full_setup("backend 'torch' (or use backend 'onnx' with an exported model)"):
            from tcfd_ros.inference.torch_backend import TorchEmbedder

        return TorchEmbedder(path, threads=threads, max_frames=max_frames, max_batch=max_batch)
    if backend == "onnx":
        from tcfd_ros.inference.onnx_backend import OnnxEmbedder

        return OnnxEmbedder(path, threads=threads, max_frames=max_frames, max_batch=max_batch)
    if backend == "tensorrt":
        from tcfd_ros.inference.tensorrt_backend import TensorRTEmbedder

        return TensorRTEmbedder(path, max_frames=max_frames, max_batch=max_batch)
    raise ConfigError(f"backend: {backend!r} is not one of {list(BACKENDS)}")


def embed_tracks(embedder: Embedder, tracklets: Sequence[np.ndarray], modality: str,
                 tracks: Sequence[Hashable], stamps: Sequence[Sequence[float]]) -> np.ndarray:
    """``embedder.embed`` for tracklets of known tracks (``tracks[i]``, e.g. ``(sensor, track_id)``, and
    ``stamps[i]``, one stamp per frame): a backend that caches per-frame features (ONNX Runtime,
    ``frame_cache.py``) embeds a frame seen in an earlier tracklet of the track only once; the result is
    the same."""
    cached = getattr(embedder, "embed_tracks", None)
    if cached is None:
        return embedder.embed(tracklets, modality)
    return cached(tracklets, modality, tracks, stamps)


__all__ = ["BACKENDS", "Embedder", "MODALITIES", "batches", "embed_tracks", "make_embedder"]
