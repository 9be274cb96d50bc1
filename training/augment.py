"""Cross-modal Patch Exchange: swap local regions between the paired 2D and 3D clips of one sequence.

The paper gives no exact recipe (METHOD.md marks it open); ours, after PMCM (arXiv 2302.08212):

* applied to a paired sequence with probability ``prob``;
* the 64x64 frame is cut into a grid of ``patch_size`` squares (16 px -> the 4x4 grid that matches the
  CLIP token grid at 64x64, so one exchanged patch is exactly one CLIP token);
* each grid cell is exchanged independently with probability ``patch_prob`` (at least one cell is
  exchanged when the sequence is selected), in *both* directions: the silhouette clip receives the
  depth clip's cell and vice versa;
* the same cells for every frame of the clip (the two clips share frame indices, so a swapped cell
  shows the same body region at the same instant in the other modality).

It works on the model inputs (CLIP-normalised float tensors), so it touches CLIP's input: it cannot be
combined with the frozen-CLIP feature cache (the trainer refuses that combination).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from tcfd_ros.errors import ConfigError


@dataclass(frozen=True)
class PatchExchangeConfig:
    """Cross-modal Patch Exchange; ``enabled: false`` turns it off."""

    enabled: bool = True
    prob: float = 0.5  # probability that a paired sequence is augmented (our choice)
    patch_size: int = 16  # grid cell side in pixels; must divide 64
    patch_prob: float = 0.25  # per-cell exchange probability within a selected sequence (our choice)

    def validate(self) -> None:
        if not 0.0 <= self.prob <= 1.0 or not 0.0 <= self.patch_prob <= 1.0:
            raise ConfigError(f"patch_exchange.prob = {self.prob}, patch_prob = {self.patch_prob}: "
                              "probabilities must lie in [0, 1]")
        if self.patch_size < 1 or 64 % self.patch_size:
            raise ConfigError(f"patch_exchange.patch_size = {self.patch_size} must divide 64")


def patch_exchange(x2d: torch.Tensor, x3d: torch.Tensor, cfg: PatchExchangeConfig, rng: np.random.Generator
                   ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Return augmented copies of paired clips ``[n, t, c, H, W]`` and the exchanged-cell mask [n, gh, gw]."""
    if x2d.shape != x3d.shape:
        raise ConfigError(f"patch exchange needs paired clips of equal shape, got {tuple(x2d.shape)} and "
                          f"{tuple(x3d.shape)}")
    n, _, _, h, w = x2d.shape
    gh, gw = h // cfg.patch_size, w // cfg.patch_size
    cells = np.zeros((n, gh, gw), dtype=bool)
    if not cfg.enabled:
        return x2d, x3d, cells
    for i in range(n):
        if rng.random() >= cfg.prob:
            continue
        m = rng.random((gh, gw)) < cfg.patch_prob
        if not m.any():
            m[rng.integers(gh), rng.integers(gw)] = True
        cells[i] = m
    if not cells.any():
        return x2d, x3d, cells
    pix = torch.from_numpy(np.repeat(np.repeat(cells, cfg.patch_size, 1), cfg.patch_size, 2))  # [n, H, W]
    pix = pix[:, None, None].to(x2d.device)  # broadcast over t and c
    return torch.where(pix, x3d, x2d), torch.where(pix, x2d, x3d), cells
