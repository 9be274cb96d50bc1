"""TCFDNet configuration: one frozen dataclass per paper component, loaded strictly.

The paper (``shared/docs/METHOD.md``) leaves many values open. Every such value is a field here whose
docstring says "our choice" and why; paper values say "paper". Build from YAML with
``tcfd_ros.config_io.from_dict(ModelConfig, mapping)``; unknown keys raise ``ConfigError``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from tcfd_ros.errors import ConfigError

#: Values of ``ClipConfig.weights`` that select a random (untrained) CLIP instead of a file.
RANDOM_WEIGHTS = "random"

#: Name of the small CLIP variant defined by this project for CPU training and tests.
TINY_CLIP_VARIANT = "tcfd-tiny"

#: k_t values the paper tried (16 was best); others are allowed but warned about in validate().
PAPER_K_T = (4, 8, 16, 32)


@dataclass(frozen=True)
class ClipConfig:
    """The frozen CLIP encoders (visual for the global tokens, text for the GMTD)."""

    variant: str = "ViT-B-16"
    """open_clip model name, or ``tcfd-tiny`` (our 2-layer, width-64 ViT for CPU tests/training).
    ViT-B-16 is the paper's natural choice (METHOD.md)."""
    weights: str = "models/clip/open_clip_model.safetensors"
    """Local open_clip checkpoint (.safetensors, or .bin/.pt holding a plain state dict) for
    ``variant``; relative paths are resolved against the working directory. Or an open_clip
    pretrained tag of ``variant`` (``openai``, ``laion2b_s34b_b88k`` for ViT-B-16): downloaded into
    open_clip's (Hugging Face) cache on first use when online; offline a missing file fails in one
    line that says which file to put where. ``random`` builds an
    untrained CLIP on purpose (logged as a warning, recorded in every checkpoint). Our default path."""
    image_size: int = 64
    """Input side in pixels; open_clip ``force_image_size=64`` resizes the positional embedding to a
    4x4 patch grid for ViT-B/16, so o = 16 patch tokens (METHOD.md: cheap, keeps o = 16)."""
    seed: int = 0
    """Seed for the random initialisation when ``weights: random`` (our choice: makes a random CLIP
    reproducible, so its identity can be recorded)."""

    @property
    def is_random(self) -> bool:
        return self.weights == RANDOM_WEIGHTS


@dataclass(frozen=True)
class GmtdConfig:
    """The gait modality text dictionary file and its text-embedding cache."""

    path: str = "models/gmtd.yaml"
    """Versioned dictionary (2 modalities x 8 views x l rounds). Relative paths: first against the
    working directory, then against the repository / installed share directory."""
    cache_dir: str = "models/cache"
    """Where frozen-text-encoder embeddings are cached, keyed by the hash of dictionary and CLIP
    weights identity (our choice; git-ignored)."""


@dataclass(frozen=True)
class AdapterConfig:
    """The 2-layer MLP adapters after the frozen CLIP visual and text encoders (paper: 2 layers)."""

    hidden: int = 512
    """Hidden width of both adapters (our choice: equal to d)."""


@dataclass(frozen=True)
class ResNet9Config:
    """The trainable ResNet-9 bypass (OpenGait ResNet9 layout: 4 stages, blocks 1,2,2,1), projected to d."""

    channels: tuple[int, ...] = (32, 64, 128, 256)
    """Output channels of the four stages. Our choice: half of OpenGait's (64, 128, 256, 512), followed by
    a 1x1 projection to d. With the stride-2 stem this costs ~0.31 GFLOPs per 64x64 frame, 16% of the
    frozen ViT-B/16 at 17 tokens (~1.95 GFLOPs), leaving room for the per-sequence modules within the
    latency budget (full model <= 1.25x CLIP alone under ONNX Runtime). OpenGait's widths with the same
    stem cost 1.16 GFLOPs per frame (60% of CLIP) and measured 1.76x CLIP alone under ORT at batch 8."""
    blocks: tuple[int, ...] = (1, 2, 2, 1)
    """BasicBlocks per stage (paper/OpenGait)."""
    strides: tuple[int, ...] = (1, 2, 2, 1)
    """Stride of each stage's first block (OpenGait)."""
    stem_stride: int = 2
    """Stride of the 3x3 stem conv. Our choice: 2 (OpenGait uses 1 on 64x44). A stride-1 stem on 64x64
    quadruples the bypass cost; stride 2 still leaves an 8x8 map (h' = 8 rows for the horizontal
    pyramid), twice the resolution of CLIP's 4x4 patch grid, which is what the bypass is for."""

    def validate(self) -> None:
        if not (len(self.channels) == len(self.blocks) == len(self.strides) and self.channels):
            raise ConfigError(
                f"resnet: channels {self.channels}, blocks {self.blocks} and strides {self.strides} "
                "must be non-empty and of equal length (one entry per stage)"
            )
        if self.stem_stride not in (1, 2, 4):
            raise ConfigError(f"resnet.stem_stride: {self.stem_stride} is not one of [1, 2, 4]")


@dataclass(frozen=True)
class MFConfig:
    """Multi-grained fusion: bidirectional multi-head cross-attention (heads/layers open)."""

    heads: int = 8
    """Attention heads (our choice: 8, d/heads = 64 as in ViT-B)."""
    layers: int = 1
    """Bidirectional fusion layers (our choice: 1; the global path is frozen CLIP, fusion is a light
    adapter on top)."""
    ffn_mult: int = 2
    """Hidden width of the feed-forward after the local tokens' attention, as a multiple of d (our
    choice: 2, half of ViT's 4, since it runs once per sequence on h'w' = 64 tokens)."""


@dataclass(frozen=True)
class SWConfig:
    """Spatial weighting: 1x1 conv + BN + LeakyReLU -> one weight per location (paper)."""

    negative_slope: float = 0.01
    """LeakyReLU slope (our choice: torch default)."""


@dataclass(frozen=True)
class TFDConfig:
    """Text-guided feature disentanglement."""

    k_t: int = 16
    """Retrieved GMTD prototypes per sample (paper: 16 best of 4, 8, 16, 32)."""
    latent_dim: int = 256
    """Shared latent where prototypes and visual features meet (our choice: d/2, cheap and enough
    for at most 32 prototypes)."""
    temperature: float = 0.1
    """Softmax temperature of the affinity Omega = softmax(cos / T) (our choice: cosines lie in
    [-1, 1], so without a temperature the softmax over k_t entries is nearly uniform)."""
    gate_hidden: int = 128
    """Hidden width of the gate MLP alpha = sigmoid(MLP(avgpool(u~))) (our choice: d/4)."""


@dataclass(frozen=True)
class FSEConfig:
    """Feature stability enhancement."""

    bottleneck: int = 128
    """d' of the d -> d' -> d channel bottleneck (our choice: d/4, SE-style reduction)."""
    conv1d_kernel: int = 3
    """Kernel of the 1D conv over channels before the softmax (paper: 3)."""


@dataclass(frozen=True)
class HeadConfig:
    """Horizontal pyramid pooling, separate FCs per part, BNNeck classifier."""

    bins: tuple[int, ...] = (1, 2, 4, 8)
    """Horizontal strips per pyramid level (our choice: GaitSet-style pyramid up to the 8 rows of the
    bypass map; p = sum(bins) = 15 parts)."""
    num_classes: int = 250
    """Identities of the BNNeck classifier (our default: SUSTech1K's 250 training subjects; the trainer
    sets it to its training split)."""


@dataclass(frozen=True)
class AblationConfig:
    """Switches that each really remove one component (paper ablation table)."""

    gmtd: bool = True
    """False: TFD prototypes are a learned bank of the same size instead of text (our reading of
    "w/o GMTD": the disentanglement stays, the text prior goes); ``text`` output is None."""
    resnet_bypass: bool = True
    """False: no ResNet-9; the local map is CLIP's patch grid (adapted), upsampled (nearest) to the
    bypass grid so the head and the part count do not change."""
    sw: bool = True
    """False: u~ = u."""
    mf: bool = True
    """False: u = f + broadcast adapted [CLS] (plain additive fusion instead of cross-attention)."""
    fse: bool = True
    """False: the head sees F_shared directly."""
    tfd: bool = True
    """False: no retrieval or disentanglement, F_shared = u~ (then ``gmtd`` has no effect)."""


@dataclass(frozen=True)
class ModelConfig:
    """Everything that defines a TCFDNet; stored verbatim in every checkpoint and ONNX export."""

    dim: int = 512
    """d: channels of every fused map and of each part embedding (paper: 512)."""
    clip: ClipConfig = field(default_factory=ClipConfig)
    gmtd: GmtdConfig = field(default_factory=GmtdConfig)
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    resnet: ResNet9Config = field(default_factory=ResNet9Config)
    mf: MFConfig = field(default_factory=MFConfig)
    sw: SWConfig = field(default_factory=SWConfig)
    tfd: TFDConfig = field(default_factory=TFDConfig)
    fse: FSEConfig = field(default_factory=FSEConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    ablation: AblationConfig = field(default_factory=AblationConfig)

    @property
    def parts(self) -> int:
        """p: number of part embeddings."""
        return sum(self.head.bins)

    @property
    def map_size(self) -> int:
        """Side of the square local map (h' = w') produced by the bypass for a 64x64 input."""
        size = self.clip.image_size // self.resnet.stem_stride
        for s in self.resnet.strides:
            size = -(-size // s)
        return size

    def validate(self) -> None:
        """Cross-field checks; called by ``config_io.from_dict`` and by TCFDNet."""
        self.resnet.validate()
        positive = {
            "dim": self.dim, "adapter.hidden": self.adapter.hidden, "mf.heads": self.mf.heads,
            "mf.layers": self.mf.layers, "mf.ffn_mult": self.mf.ffn_mult, "tfd.k_t": self.tfd.k_t,
            "tfd.latent_dim": self.tfd.latent_dim,
            "tfd.gate_hidden": self.tfd.gate_hidden, "fse.bottleneck": self.fse.bottleneck,
            "head.num_classes": self.head.num_classes, "clip.image_size": self.clip.image_size,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"model.{name}: {value} must be > 0")
        if self.dim % self.mf.heads:
            raise ConfigError(f"model.mf.heads: {self.mf.heads} must divide dim {self.dim}")
        if self.tfd.temperature <= 0:
            raise ConfigError(f"model.tfd.temperature: {self.tfd.temperature} must be > 0")
        if self.fse.conv1d_kernel % 2 != 1:
            raise ConfigError(f"model.fse.conv1d_kernel: {self.fse.conv1d_kernel} must be odd")
        rows = self.map_size
        for b in self.head.bins:
            if b <= 0 or rows % b:
                raise ConfigError(
                    f"model.head.bins: {b} must be > 0 and divide the {rows} rows of the local map "
                    f"(image_size {self.clip.image_size}, stem_stride {self.resnet.stem_stride}, "
                    f"strides {self.resnet.strides})"
                )

    def replace_ablation(self, **switches: bool) -> "ModelConfig":
        """Copy with some ablation switches changed, e.g. ``cfg.replace_ablation(tfd=False)``."""
        return dataclasses.replace(self, ablation=dataclasses.replace(self.ablation, **switches))


def tiny_model_config(num_classes: int = 8, **ablation: bool) -> ModelConfig:
    """A small random-CLIP TCFDNet for CPU tests and quick training runs (same graph, narrow widths)."""
    cfg = ModelConfig(
        dim=32,
        clip=ClipConfig(variant=TINY_CLIP_VARIANT, weights=RANDOM_WEIGHTS),
        adapter=AdapterConfig(hidden=32),
        resnet=ResNet9Config(channels=(8, 16, 32, 32)),
        mf=MFConfig(heads=4, layers=1),
        tfd=TFDConfig(k_t=8, latent_dim=16, gate_hidden=16),
        fse=FSEConfig(bottleneck=8),
        head=HeadConfig(bins=(1, 2, 4), num_classes=num_classes),
        ablation=AblationConfig(**ablation),
    )
    cfg.validate()
    return cfg
