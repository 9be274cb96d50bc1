"""Torch backend: runs the checkpointed TCFDNet directly (the reference for parity)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from tcfd_ros.config_io import to_dict
from tcfd_ros.inference.batching import batches, empty_output
from tcfd_ros.model.checkpoint import load_checkpoint


class TorchEmbedder:
    """Embedder over a checkpoint. ``threads`` sets torch's intra-op threads for the whole process."""

    def __init__(self, checkpoint: str | Path, threads: int, max_frames: int, max_batch: int) -> None:
        ck = load_checkpoint(checkpoint)
        self.model = ck.model.eval()
        self.parts = ck.config.parts
        self.dim = ck.config.dim
        self.max_frames = max_frames
        self.max_batch = max_batch
        self.threads = threads
        torch.set_num_threads(threads)
        self.metadata: dict[str, Any] = {
            **ck.metadata, "backend": "torch", "source": str(checkpoint), "clip": ck.clip, "gmtd": ck.gmtd,
            "model_config": to_dict(ck.config), "max_frames": max_frames,
        }

    @torch.inference_mode()
    def embed(self, tracklets: Sequence[np.ndarray], modality: str) -> np.ndarray:
        outs = [self.model(torch.from_numpy(x), torch.from_numpy(m)).embeddings.numpy()
                for x, m in batches(tracklets, modality, self.max_frames, self.max_batch)]
        if not outs:
            return empty_output(self.parts, self.dim)
        return np.concatenate(outs).astype(np.float32, copy=False)
