"""Embedding whole sequences with a trained network, for evaluation and open-set calibration."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from tcfd_ros.model.preprocess import frames_to_input
from training.calibrate import tracklet_windows
from training.datasets import GaitDataset

_MODALITY_INDEX = {"2d": 0, "3d": 1}


def evenly_spaced(length: int, max_frames: int) -> np.ndarray:
    """All frame indices (``max_frames`` 0 or >= length) or ``max_frames`` evenly spaced ones."""
    if max_frames <= 0 or length <= max_frames:
        return np.arange(length)
    return np.unique(np.rint(np.linspace(0, length - 1, max_frames)).astype(np.int64))


def embed_sequences(model: nn.Module, ds: GaitDataset, indices: Sequence[int], modality: str,
                    max_frames: int = 0, batch_sequences: int = 16, device: torch.device | str = "cpu",
                    lengths: Sequence[int] | None = None) -> np.ndarray:
    """Embeddings (N, parts, d) float32 of the records ``indices`` in one modality, model in eval mode.

    Sequences are grouped by (sampled) length so a batch never pads or truncates a sequence.
    ``lengths``: the records' frame counts in this modality where known (``GaitDataset.frame_counts``),
    otherwise each file is read once to count them.
    """
    if lengths is None:
        lengths = [ds.load_modality(int(i), modality).shape[0] for i in indices]
    windows = [[evenly_spaced(n, max_frames)] for n in lengths]
    return embed_tracklets(model, ds, indices, modality, windows, batch_sequences, device)


@torch.no_grad()
def embed_tracklets(model: nn.Module, ds: GaitDataset, indices: Sequence[int], modality: str,
                    windows: Sequence[Sequence[np.ndarray]], batch_sequences: int = 16,
                    device: torch.device | str = "cpu") -> np.ndarray:
    """Embeddings (M, parts, d) of the tracklets ``windows[j]`` (frame-index arrays) of record
    ``indices[j]``, in order: record 0's tracklets first. Batched by tracklet length like
    ``embed_sequences``."""
    was_training = model.training
    model.eval()
    clips = []
    for i, wins in zip(indices, windows):
        frames = ds.load_modality(int(i), modality)
        clips.extend(frames_to_input(frames[w], modality) for w in wins)
    out: list[np.ndarray | None] = [None] * len(clips)
    by_len: dict[int, list[int]] = {}
    for j, c in enumerate(clips):
        by_len.setdefault(c.shape[0], []).append(j)
    for group in by_len.values():
        for s in range(0, len(group), batch_sequences):
            chunk = group[s:s + batch_sequences]
            x = torch.from_numpy(np.stack([clips[j] for j in chunk])).to(device)
            mod = torch.full((len(chunk),), _MODALITY_INDEX[modality], dtype=torch.int64, device=device)
            emb = model(x, mod).embeddings.float().cpu().numpy()
            for k, j in enumerate(chunk):
                out[j] = emb[k]
    model.train(was_training)
    if not clips:
        return np.zeros((0, 0, 0), np.float32)
    return np.stack(out).astype(np.float32)  # type: ignore[arg-type]


def embed_pair_tracklets(model: nn.Module, ds: GaitDataset, indices: Sequence[int], frames: int, hop: int,
                         max_frames: int = 0, batch_sequences: int = 16, device: torch.device | str = "cpu",
                         counts: dict[str, list[int]] | None = None
                         ) -> tuple[np.ndarray, np.ndarray, list[str], list[int]]:
    """Both modalities' embeddings of the tracklets perception would cut from the records ``indices``
    (``frames`` every ``hop``, from the first ``max_frames`` frames; 0 = all), with each tracklet's
    person and record: (f2, f3, labels, record_of). ``counts``: frame counts per modality of every
    record of ``ds`` where known (``GaitDataset.frame_counts``), otherwise each pair is read to count."""
    windows, labels, record_of = [], [], []
    for i in indices:
        if counts and {"2d", "3d"} <= counts.keys():
            length = ds.pair_length(i, counts["2d"][i], counts["3d"][i])
        else:
            length = ds.load_pair(i)[0].shape[0]
        if max_frames > 0:
            length = min(length, max_frames)
        wins = tracklet_windows(length, frames, hop)
        windows.append(wins)
        labels += [ds.records[i].subject] * len(wins)
        record_of += [i] * len(wins)
    f2, f3 = (embed_tracklets(model, ds, indices, m, windows, batch_sequences, device) for m in ("2d", "3d"))
    return f2, f3, labels, record_of
