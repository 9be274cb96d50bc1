"""TCFDNet wiring (paper Fig. 2): frozen CLIP + adapter, ResNet-9 bypass, MF, SW, TFD, FSE, HPP head.

One encoder for both modalities. Every component is built only when its ablation switch is on, so
switching one off really removes it from the graph (and from the state dict).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tcfd_ros.errors import ConfigError
from tcfd_ros.model.clip_encoder import FrozenClipVisual, MLPAdapter, build_clip, clip_identity, encode_texts
from tcfd_ros.model.config import ModelConfig
from tcfd_ros.model.fse import FeatureStabilityEnhancement
from tcfd_ros.model.fusion import MultiGrainedFusion, SpatialWeighting
from tcfd_ros.model.gmtd import GMTD_MODALITIES, load_gmtd, text_features
from tcfd_ros.model.head import BNNeck, HorizontalPyramidPooling, SeparateFCs
from tcfd_ros.model.preprocess import ModelInputError
from tcfd_ros.model.resnet9 import ResNet9
from tcfd_ros.model.tfd import TextGuidedDisentanglement

log = logging.getLogger(__name__)

PROTOTYPE_INIT_STD = 0.02
"""Init std of the learned prototype bank used when the ``gmtd`` switch is off (our choice, as ViT
token embeddings)."""


@dataclass
class ClipFeatures:
    """Frozen-CLIP output cache: tokens [n, t, 1+o, c_clip] (no grad). See ``TCFDNet.clip_features``."""

    tokens: Tensor


@dataclass
class TCFDOutput:
    """Everything the losses and the retrieval need; None where an ablation removes it or in eval."""

    embeddings: Tensor                 # [n, p, d] retrieval features (shared path only)
    bnneck_logits: Tensor | None       # [n, p, num_classes] (training)
    bnneck_features: Tensor | None     # [n, p, d] after BNNeck (training)
    shared: Tensor | None              # [n, d] pooled F_shared (training, tfd on)
    specific: Tensor | None            # [n, d] pooled gated F_mod (training, tfd on)
    text: Tensor | None                # [n, d] mean retrieved adapted text embedding (training, tfd+gmtd)
    retrieved: Tensor | None           # [n, k_t] indices into the input modality's GMTD (training, tfd)


class TCFDNet(nn.Module):
    """``TCFDNet(cfg)``; ``forward(x [n,t,3,H,W], modality [n] int64, clip_feats=None) -> TCFDOutput``.

    ``load_frozen=False`` builds the frozen parts (CLIP visual tower, GMTD text embeddings) without
    reading any file: used by ``load_checkpoint``, whose state dict then fills them; it needs
    ``gmtd_entries`` (prototypes per modality) because the dictionary file is not read either.
    """

    def __init__(self, cfg: ModelConfig, *, load_frozen: bool = True,
                 gmtd_entries: int | None = None) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        ab = cfg.ablation
        d = cfg.dim
        full_clip = build_clip(cfg.clip, load_weights=load_frozen)
        self.clip = FrozenClipVisual(full_clip.visual)
        c_clip = self.clip.out_dim
        self.clip_identity: dict[str, Any] = clip_identity(cfg.clip) if load_frozen else {}
        self.gmtd_sha256 = ""
        self.gmtd_version = ""
        self.visual_adapter = MLPAdapter(c_clip, cfg.adapter.hidden, d)

        # GMTD prototypes (text, or a learned bank of the same size when the gmtd switch is off)
        self.gmtd_entries = 0
        self.text_adapter: MLPAdapter | None = None
        self.prototypes: nn.Parameter | None = None
        self.tfd: TextGuidedDisentanglement | None = None
        if ab.tfd:
            if load_frozen:
                gmtd = load_gmtd(cfg.gmtd.path)
                self.gmtd_sha256, self.gmtd_version = gmtd.sha256, gmtd.version
                entries = gmtd.entries_per_modality
            elif gmtd_entries is None:
                raise ConfigError("TCFDNet(load_frozen=False) needs gmtd_entries (from the checkpoint)")
            else:
                entries = gmtd_entries
            if cfg.tfd.k_t > entries:
                raise ConfigError(f"model.tfd.k_t: {cfg.tfd.k_t} > {entries} GMTD entries per modality")
            self.gmtd_entries = entries
            if ab.gmtd:
                if load_frozen:
                    text = text_features(gmtd, self.clip_identity,
                                         lambda texts, clip=full_clip: encode_texts(clip, cfg.clip.variant,
                                                                                    texts),
                                         cfg.gmtd.cache_dir)
                else:
                    text = torch.zeros(len(GMTD_MODALITIES), entries, c_clip)
                self.register_buffer("gmtd_text", text.float().contiguous())  # [2, J, c_clip] frozen
                self.text_adapter = MLPAdapter(c_clip, cfg.adapter.hidden, d)
            else:
                bank = torch.randn(len(GMTD_MODALITIES), entries, d)
                self.prototypes = nn.Parameter(PROTOTYPE_INIT_STD * bank)
            self.tfd = TextGuidedDisentanglement(d, cfg.tfd.latent_dim, cfg.tfd.k_t, cfg.tfd.temperature,
                                                 cfg.tfd.gate_hidden)
        del full_clip  # the text tower is not part of the network: its output is the gmtd_text buffer

        self.map_size = cfg.map_size
        self.resnet = (ResNet9(3, cfg.resnet.channels, cfg.resnet.blocks, cfg.resnet.strides,
                               cfg.resnet.stem_stride, out_channels=d) if ab.resnet_bypass else None)
        self.mf = MultiGrainedFusion(d, cfg.mf.heads, cfg.mf.layers, cfg.mf.ffn_mult) if ab.mf else None
        self.sw = SpatialWeighting(d, cfg.sw.negative_slope) if ab.sw else None
        self.fse = (FeatureStabilityEnhancement(d, cfg.fse.bottleneck, cfg.fse.conv1d_kernel)
                    if ab.fse else None)
        self.hpp = HorizontalPyramidPooling(cfg.head.bins)
        self.fcs = SeparateFCs(cfg.parts, d, d)
        self.bnneck = BNNeck(cfg.parts, d, cfg.head.num_classes)

    # -- frozen parts -------------------------------------------------------------------------
    def train(self, mode: bool = True) -> "TCFDNet":
        super().train(mode)
        self.clip.eval()  # frozen in every code path (FrozenClipVisual.train also refuses)
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def clip_features(self, x: Tensor) -> ClipFeatures:
        """Run the frozen CLIP visual tower on every frame: [n, t, 3, H, W] -> tokens [n, t, 1+o, c]."""
        self._check_frames(x)
        n, t = x.shape[:2]
        with torch.no_grad():
            tokens = self.clip(x.reshape(n * t, *x.shape[2:]))
        return ClipFeatures(tokens=tokens.reshape(n, t, *tokens.shape[1:]))

    # -- forward ------------------------------------------------------------------------------
    def _check_frames(self, x: Tensor) -> None:
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            return  # shapes are symbolic while exporting; the exported graph is checked by its runtime
        size = self.cfg.clip.image_size
        if x.dim() != 5 or tuple(x.shape[2:]) != (3, size, size) or not x.is_floating_point():
            raise ModelInputError(f"x: shape {tuple(x.shape)} dtype {x.dtype}, expected float [n, t, 3, "
                                  f"{size}, {size}]")

    def _check_inputs(self, x: Tensor, modality: Tensor, clip_feats: ClipFeatures | None) -> None:
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            return
        self._check_frames(x)
        if modality.dim() != 1 or modality.shape[0] != x.shape[0] or modality.dtype != torch.int64:
            raise ModelInputError(f"modality: shape {tuple(modality.shape)} dtype {modality.dtype}, "
                                  f"expected int64 [{x.shape[0]}]")
        bad = (modality < 0) | (modality >= len(GMTD_MODALITIES))
        if bool(bad.any()):
            raise ModelInputError(f"modality: values {modality[bad].tolist()} not in {{0 (2d), 1 (3d)}}")
        if clip_feats is not None:
            want = (x.shape[0], x.shape[1], self.clip.num_tokens, self.clip.out_dim)
            if tuple(clip_feats.tokens.shape) != want:
                raise ModelInputError(f"clip_feats.tokens: shape {tuple(clip_feats.tokens.shape)}, expected "
                                      f"{want}")

    def prototype_bank(self) -> Tensor | None:
        """[2, J, d] adapted GMTD embeddings (or the learned bank when gmtd is off); None without TFD."""
        if self.text_adapter is not None:
            return self.text_adapter(self.gmtd_text)
        return self.prototypes

    def forward(self, x: Tensor, modality: Tensor, clip_feats: ClipFeatures | None = None) -> TCFDOutput:
        self._check_inputs(x, modality, clip_feats)
        n, t = x.shape[:2]
        tokens = (clip_feats if clip_feats is not None else self.clip_features(x)).tokens  # [n, t, 1+o, c]
        g = self.visual_adapter(tokens).amax(dim=1)               # [n, 1+o, d] temporal max pooling
        cls = g[:, 0]                                             # [n, d]
        s = self.map_size
        if self.resnet is not None:
            f = self.resnet(x.reshape(n * t, *x.shape[2:]))       # [n*t, d, s, s]
            f = f.reshape(n, t, *f.shape[1:]).amax(dim=1)         # [n, d, s, s]
        else:
            gh, gw = self.clip.grid
            f = g[:, 1:].transpose(1, 2).reshape(n, -1, gh, gw)   # CLIP patch grid [n, d, 4, 4]
            f = F.interpolate(f, size=(s, s), mode="nearest")     # [n, d, s, s]
        u = self.mf(g, f) if self.mf is not None else f + cls[:, :, None, None]
        u_tilde = self.sw(u)[0] if self.sw is not None else u

        shared = specific = text = retrieved = None
        if self.tfd is not None:
            bank = self.prototype_bank()[modality]                # [n, J, d] the input's modality
            r = self.tfd(u_tilde, cls, bank)
            f_shared = r.f_shared
            shared = f_shared.mean(dim=(2, 3))
            specific = r.f_mod_gated.mean(dim=(2, 3))
            retrieved = r.retrieved
            if self.text_adapter is not None:
                text = r.prototypes.mean(dim=1)
        else:
            f_shared = u_tilde
        feat = self.fse(f_shared) if self.fse is not None else f_shared
        emb = self.fcs(self.hpp(feat))                            # [n, p, d]
        if not self.training:
            return TCFDOutput(emb, None, None, None, None, None, None)
        bn_feat, logits = self.bnneck(emb)
        return TCFDOutput(emb, logits, bn_feat, shared, specific, text, retrieved)
