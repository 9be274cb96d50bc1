"""TFD: text-guided feature disentanglement (paper step 3): retrieve, reconstruct, gate, residual.

1. Retrieve the k_t prototypes of the input's modality with the highest cosine to the [CLS] feature.
2. Project prototypes and visual locations into a shared latent, L2-normalise; affinity
   Omega = softmax(cos(u^, V^) / T) over the k_t prototypes; F_mod = W_out(Omega V^) per location.
3. Gate alpha = sigmoid(MLP(avgpool(u~))) per channel; F_mod~ = alpha * F_mod.
4. Residual F_shared = u~ - F_mod~.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class TFDResult:
    """Every intermediate of one TFD pass (tests check the gate range and the residual identity)."""

    f_shared: Tensor      # [n, d, h, w] u~ - alpha * F_mod
    f_mod: Tensor         # [n, d, h, w] reconstructed modality-specific map (ungated)
    f_mod_gated: Tensor   # [n, d, h, w] alpha * F_mod
    alpha: Tensor         # [n, d] channel gate in (0, 1)
    retrieved: Tensor     # [n, k_t] int64 indices into the modality's prototype bank
    prototypes: Tensor    # [n, k_t, d] the retrieved prototypes
    affinity: Tensor      # [n, h*w, k_t] Omega


def retrieve_top_k(query: Tensor, bank: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Indices [n, k] of the k bank rows with highest cosine to each query, and those rows [n, k, d].

    query: [n, d]; bank: [n, J, d] (each sample's own modality bank). Ties resolve like torch.topk.
    """
    cos = torch.einsum("nd,njd->nj", F.normalize(query, dim=-1), F.normalize(bank, dim=-1))  # [n, J]
    idx = cos.topk(k, dim=1).indices  # [n, k]
    rows = torch.gather(bank, 1, idx.unsqueeze(-1).expand(-1, -1, bank.shape[-1]))
    return idx, rows


class TextGuidedDisentanglement(nn.Module):
    def __init__(self, dim: int, latent_dim: int, k_t: int, temperature: float, gate_hidden: int) -> None:
        super().__init__()
        self.k_t = k_t
        self.temperature = temperature
        self.proj_text = nn.Linear(dim, latent_dim)
        self.proj_visual = nn.Linear(dim, latent_dim)
        self.proj_out = nn.Linear(latent_dim, dim)
        self.gate = nn.Sequential(nn.Linear(dim, gate_hidden), nn.ReLU(inplace=True),
                                  nn.Linear(gate_hidden, dim))

    def forward(self, u_tilde: Tensor, cls: Tensor, bank: Tensor) -> TFDResult:
        # u_tilde: [n, d, h, w]; cls: [n, d]; bank: [n, J, d]
        n, d, h, w = u_tilde.shape
        idx, protos = retrieve_top_k(cls, bank, self.k_t)                    # [n, k], [n, k, d]
        v_hat = F.normalize(self.proj_text(protos), dim=-1)                  # [n, k, l]
        tokens = u_tilde.flatten(2).transpose(1, 2)                          # [n, hw, d]
        u_hat = F.normalize(self.proj_visual(tokens), dim=-1)                # [n, hw, l]
        omega = torch.softmax(u_hat @ v_hat.transpose(1, 2) / self.temperature, dim=-1)  # [n, hw, k]
        f_mod = self.proj_out(omega @ v_hat).transpose(1, 2).reshape(n, d, h, w)
        alpha = torch.sigmoid(self.gate(u_tilde.mean(dim=(2, 3))))          # [n, d]
        f_mod_gated = alpha[:, :, None, None] * f_mod
        return TFDResult(
            f_shared=u_tilde - f_mod_gated, f_mod=f_mod, f_mod_gated=f_mod_gated, alpha=alpha,
            retrieved=idx, prototypes=protos, affinity=omega,
        )
