"""TCFDNet's training objective, one module per term (METHOD.md):

L = g1 (L_tri + L_ce) + g2 L_align + g3 (L_ortho + L_HSIC), with g1, g2, g3 = 1.0, 0.5, 0.1.

Terms whose inputs the model does not produce (an ablation without TFD or GMTD) are left out, and the
diagnostics say so; every term returns its scalar and a dict of diagnostics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from training.losses.align import text_alignment
from training.losses.ce import bnneck_cross_entropy
from training.losses.hsic import hsic
from training.losses.ortho import orthogonality
from training.losses.triplet import cross_modal_triplet

__all__ = ["LossConfig", "bnneck_cross_entropy", "cross_modal_triplet", "hsic", "orthogonality",
           "text_alignment", "total_loss"]


@dataclass(frozen=True)
class LossConfig:
    """Weights and hyper-parameters of the objective (paper values unless marked)."""

    margin: float = 0.2  # triplet margin (OpenGait's usual value; METHOD.md: open)
    label_smoothing: float = 0.1  # CE label smoothing (paper)
    g1: float = 1.0  # weight of L_tri + L_ce (paper)
    g2: float = 0.5  # weight of L_align (paper)
    g3: float = 0.1  # weight of L_ortho + L_HSIC (paper)
    hsic_normalize: bool = True  # L2-normalise rows before the HSIC Gram matrices (our choice)


def total_loss(out: Any, labels: torch.Tensor, modality: torch.Tensor, cfg: LossConfig
               ) -> tuple[torch.Tensor, dict[str, float]]:
    """Combine the terms from a ``TCFDOutput``-like object (the baseline's output has no text/shared)."""
    tri, diag = cross_modal_triplet(out.embeddings, labels, modality, cfg.margin)
    total = cfg.g1 * tri
    if out.bnneck_logits is not None:
        ce, d = bnneck_cross_entropy(out.bnneck_logits, labels, cfg.label_smoothing)
        total = total + cfg.g1 * ce
        diag.update(d)
    shared, specific = getattr(out, "shared", None), getattr(out, "specific", None)
    align, d = text_alignment(specific, getattr(out, "text", None))
    if align is not None:
        total = total + cfg.g2 * align
        diag.update(d)
    for term in (orthogonality(shared, specific), hsic(shared, specific, cfg.hsic_normalize)):
        if term[0] is not None:
            total = total + cfg.g3 * term[0]
            diag.update(term[1])
    diag["loss"] = float(total.detach())
    return total, diag
