"""FSE: feature stability enhancement (paper step 4).

Our reading: S = F + BN(conv3x3(F)) (local spatial context, residual so an untrained FSE is near the
identity); channel descriptor avgpool(S) -> bottleneck d -> d' -> d -> 1D conv (k=3) over channels ->
softmax; beta = d * softmax (scaled by d so the mean weight is 1 and the feature scale is kept);
output beta * S.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class FeatureStabilityEnhancement(nn.Module):
    def __init__(self, dim: int, bottleneck: int, conv1d_kernel: int) -> None:
        super().__init__()
        self.spatial = nn.Sequential(nn.Conv2d(dim, dim, 3, 1, 1, bias=False), nn.BatchNorm2d(dim))
        self.bottleneck = nn.Sequential(nn.Linear(dim, bottleneck), nn.ReLU(inplace=True),
                                        nn.Linear(bottleneck, dim))
        self.channel_conv = nn.Conv1d(1, 1, conv1d_kernel, padding=conv1d_kernel // 2, bias=False)
        self.dim = dim

    def channel_weights(self, s: Tensor) -> Tensor:
        z = self.bottleneck(s.mean(dim=(2, 3)))              # [n, d]
        z = self.channel_conv(z.unsqueeze(1)).squeeze(1)     # [n, d]
        return self.dim * torch.softmax(z, dim=1)            # beta [n, d], mean 1

    def forward(self, f_shared: Tensor) -> Tensor:
        s = f_shared + self.spatial(f_shared)                # [n, d, h, w]
        beta = self.channel_weights(s)
        return beta[:, :, None, None] * s
