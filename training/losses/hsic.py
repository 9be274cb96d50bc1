"""HSIC independence penalty between shared and modality-specific features (METHOD.md L_HSIC).

HSIC = tr(K_c L_c) / (N - 1)^2 with linear-kernel Gram matrices K = X X^T, L = Y Y^T centred by
H = I - 11^T / N. Our choice: rows are L2-normalised first (``normalize``), so the penalty cannot be
lowered by merely shrinking the features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def hsic(shared: torch.Tensor | None, specific: torch.Tensor | None, normalize: bool = True
         ) -> tuple[torch.Tensor | None, dict[str, float]]:
    """``shared``, ``specific`` [n, c] -> (HSIC, diagnostics); None without TFD or with n < 2."""
    if shared is None or specific is None or shared.shape[0] < 2:
        return None, {}
    x, y = shared.float(), specific.float()
    if normalize:
        x, y = F.normalize(x, dim=-1), F.normalize(y, dim=-1)
    n = x.shape[0]
    h = torch.eye(n, device=x.device) - 1.0 / n
    kc = h @ (x @ x.T) @ h
    lc = h @ (y @ y.T) @ h
    loss = torch.trace(kc @ lc) / (n - 1) ** 2
    return loss, {"hsic": float(loss.detach())}
