"""Identity cross-entropy on the BNNeck logits of every part, with label smoothing 0.1 (METHOD.md L_ce)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bnneck_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.1
                         ) -> tuple[torch.Tensor, dict[str, float]]:
    """``logits`` [n, p, C], ``labels`` [n] -> (mean over parts of the smoothed CE, diagnostics)."""
    n, p, c = logits.shape
    flat = logits.float().reshape(n * p, c)
    target = labels.repeat_interleave(p)
    loss = F.cross_entropy(flat, target, label_smoothing=label_smoothing)
    acc = (flat.argmax(-1) == target).float().mean()
    return loss, {"ce": float(loss.detach()), "ce_acc": float(acc)}
