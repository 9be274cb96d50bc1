"""Modality orthogonality (MO, METHOD.md L_ortho): mean |cos(F_shared, F_mod)| over the batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def orthogonality(shared: torch.Tensor | None, specific: torch.Tensor | None
                  ) -> tuple[torch.Tensor | None, dict[str, float]]:
    """``shared``, ``specific`` [n, c] pooled features -> (loss, diagnostics); None without TFD."""
    if shared is None or specific is None:
        return None, {}
    loss = F.cosine_similarity(shared.float(), specific.float(), dim=-1).abs().mean()
    return loss, {"ortho": float(loss.detach())}
