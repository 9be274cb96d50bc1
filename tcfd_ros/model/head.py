"""Head: horizontal pyramid pooling (mean + max per strip), separate FCs per part, BNNeck."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn


class HorizontalPyramidPooling(nn.Module):
    """[n, c, h, w] -> [n, c, p] with p = sum(bins); each strip pooled by mean + max (OpenGait HPP)."""

    def __init__(self, bins: Sequence[int]) -> None:
        super().__init__()
        self.bins = tuple(bins)

    def forward(self, x: Tensor) -> Tensor:
        n, c = x.shape[:2]
        feats = []
        for b in self.bins:
            z = x.reshape(n, c, b, -1)  # strips of h/b rows
            feats.append(z.mean(-1) + z.amax(-1))
        return torch.cat(feats, dim=-1)


class SeparateFCs(nn.Module):
    """One linear map per part: [n, c_in, p] -> [n, p, c_out]."""

    def __init__(self, parts: int, c_in: int, c_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(nn.init.xavier_uniform_(torch.empty(parts, c_in, c_out)))

    def forward(self, x: Tensor) -> Tensor:
        return torch.einsum("ncp,pco->npo", x, self.weight)


class BNNeck(nn.Module):
    """BN over all part features, then a classifier per part: [n, p, d] -> ([n, p, d], [n, p, K])."""

    def __init__(self, parts: int, dim: int, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(parts * dim)
        self.classifier = SeparateFCs(parts, dim, num_classes)

    def forward(self, emb: Tensor) -> tuple[Tensor, Tensor]:
        n, p, d = emb.shape
        feats = self.bn(emb.reshape(n, p * d)).reshape(n, p, d)
        return feats, self.classifier(feats.transpose(1, 2))
