"""Tracklets -> padded input batches, shared by every backend (torch, ONNX Runtime, TensorRT).

Its own module so that the backends need not import ``embedder`` (which picks a backend and imports
it): the backends depend on this, ``embedder`` on both, and nothing depends back.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from tcfd_ros.model.preprocess import FRAME_SIZE, ModelInputError, frames_to_input, modality_index


def tracklet_to_input(frames: np.ndarray, modality: str) -> np.ndarray:
    """Raw uint8 frames (as ``frames_to_input``) or already-normalised float32 (T,3,64,64) -> float32."""
    if isinstance(frames, np.ndarray) and frames.dtype == np.float32:
        if frames.ndim != 4 or frames.shape[1:] != (3, FRAME_SIZE, FRAME_SIZE) or frames.shape[0] < 1:
            raise ModelInputError(f"tracklet shape {frames.shape} (float32), expected (T>=1, 3, 64, 64) "
                                  f"normalised")
        if not np.isfinite(frames).all():
            raise ModelInputError("tracklet (float32) contains NaN or inf")
        return frames
    return frames_to_input(frames, modality)


def subsample(x: np.ndarray, max_frames: int) -> np.ndarray:
    """Evenly spaced ``max_frames`` frames (first and last kept) when the tracklet is longer."""
    if x.shape[0] <= max_frames:
        return x
    return x[np.linspace(0, x.shape[0] - 1, max_frames).round().astype(np.int64)]


def pad_cyclic(x: np.ndarray, length: int) -> np.ndarray:
    """Repeat the tracklet's own frames cyclically up to ``length`` (exact under temporal max pooling)."""
    if x.shape[0] == length:
        return x
    return x[np.arange(length) % x.shape[0]]


def batches(tracklets: Sequence[np.ndarray], modality: str, max_frames: int,
            max_batch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (frames [n, T, 3, 64, 64] float32, modality [n] int64) chunks ready for any backend."""
    m = modality_index(modality)
    if isinstance(tracklets, np.ndarray) and tracklets.dtype != object:
        raise ModelInputError("tracklets: pass a sequence of per-tracklet arrays, not one stacked array")
    xs = [subsample(tracklet_to_input(t, modality), max_frames) for t in tracklets]
    for i in range(0, len(xs), max_batch):
        chunk = xs[i:i + max_batch]
        length = max(c.shape[0] for c in chunk)
        frames = np.ascontiguousarray(np.stack([pad_cyclic(c, length) for c in chunk]))
        yield frames, np.full(len(chunk), m, dtype=np.int64)


def empty_output(parts: int, dim: int) -> np.ndarray:
    return np.zeros((0, parts, dim), dtype=np.float32)
