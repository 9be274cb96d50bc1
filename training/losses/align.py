"""Modality alignment (MA, METHOD.md L_align): 1 - mean cosine between the pooled modality-specific
feature and the mean of the adapted text embeddings it retrieved from the GMTD."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def text_alignment(specific: torch.Tensor | None, text: torch.Tensor | None
                   ) -> tuple[torch.Tensor | None, dict[str, float]]:
    """``specific``, ``text`` [n, c] -> (loss, diagnostics); None when the model has no text path."""
    if specific is None or text is None:
        return None, {}
    cos = F.cosine_similarity(specific.float(), text.float(), dim=-1)
    loss = 1.0 - cos.mean()
    return loss, {"align": float(loss.detach())}
