"""GaitBase-like plain cross-modal baseline: one ResNet-9 shared by both modalities, temporal max
pooling, horizontal pyramid pooling, separate FCs per part and a BNNeck; trained with the same
cross-modal triplet + CE, the same data and the same evaluator as TCFDNet. Reuses the model's ResNet9
and head blocks so that the comparison isolates TCFDNet's CLIP/text/disentanglement parts."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from tcfd_ros.model.head import BNNeck, HorizontalPyramidPooling, SeparateFCs
from tcfd_ros.model.resnet9 import ResNet9
from training.config import BaselineConfig


@dataclass
class BaselineOutput:
    """Same field names as ``TCFDOutput`` for the terms the baseline has."""

    embeddings: Tensor  # [n, p, d]
    bnneck_logits: Tensor | None  # [n, p, num_classes]
    bnneck_features: Tensor | None  # [n, p, d]


class ResNet9Baseline(nn.Module):
    """[n, t, 3, 64, 64] -> part embeddings [n, p, d]; ``modality`` is ignored (shared weights)."""

    def __init__(self, cfg: BaselineConfig, num_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = ResNet9(3, cfg.channels, cfg.blocks, cfg.strides, cfg.stem_stride)
        self.hpp = HorizontalPyramidPooling(cfg.bins)
        self.parts = sum(cfg.bins)
        self.dim = cfg.dim
        self.fcs = SeparateFCs(self.parts, cfg.channels[-1], cfg.dim)
        self.bnneck = BNNeck(self.parts, cfg.dim, num_classes)

    def forward(self, x: Tensor, modality: Tensor | None = None) -> BaselineOutput:
        n, t = x.shape[:2]
        f = self.backbone(x.flatten(0, 1))  # [n*t, C, h', w']
        f = f.reshape(n, t, *f.shape[1:]).amax(dim=1)  # temporal max -> [n, C, h', w']
        emb = self.fcs(self.hpp(f))  # [n, p, d]
        if not self.training:
            return BaselineOutput(emb, None, None)
        feats, logits = self.bnneck(emb)
        return BaselineOutput(emb, logits, feats)
