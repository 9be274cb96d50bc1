"""Frozen open_clip encoders and the trainable 2-layer MLP adapters (paper: Multi-grained encoder).

The visual tower gives the global tokens ([CLS] + o patch tokens, after ``ln_post`` and the joint
projection, so the [CLS] lives in the space the text encoder shares). It is frozen in every code path:
parameters have ``requires_grad=False``, it runs under ``torch.no_grad()`` and ``FrozenClipVisual.train``
keeps it in eval mode. The text tower is only used once, to embed the GMTD (see ``gmtd.py``).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import open_clip
import torch
from torch import nn

from tcfd_ros.errors import CheckpointError, ConfigError, MissingWeightsError
from tcfd_ros.model.config import TINY_CLIP_VARIANT, ClipConfig

log = logging.getLogger(__name__)

#: Our small CLIP (2 layers, width 64) for CPU tests and quick training; random weights only.
TINY_CLIP_CFG: dict[str, Any] = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}

_HASH_CHUNK = 1 << 20
_HF_DEFAULT_FILE = "open_clip_pytorch_model.bin"  # open_clip's name when a hub entry names no file
_HF_SAFE_FILE = "open_clip_model.safetensors"  # the safetensors twin open_clip tries first


def pretrained_tag_config(cfg: ClipConfig) -> dict[str, Any] | None:
    """open_clip's pretrained entry when ``clip.weights`` is one of its tags for ``clip.variant``
    (``openai``, ``laion2b_s34b_b88k``, ... see ``open_clip.list_pretrained_tags_by_model``), else None."""
    if cfg.is_random or cfg.variant == TINY_CLIP_VARIANT or Path(cfg.weights).suffix or "/" in cfg.weights:
        return None
    if cfg.weights not in open_clip.list_pretrained_tags_by_model(cfg.variant):
        return None
    return open_clip.get_pretrained_cfg(cfg.variant, cfg.weights)


def _hf_download(repo_id: str, filename: str, local_only: bool) -> str:
    """One file of a Hugging Face repo into open_clip's (= the hub's) cache, through the downloader
    open_clip itself uses (its huggingface_hub dependency); a seam for tests."""
    from open_clip import pretrained

    if pretrained.hf_hub_download is None:
        raise MissingWeightsError("clip.weights: open_clip pretrained tags need huggingface_hub "
                                  "(pip install huggingface_hub)")
    return pretrained.hf_hub_download(repo_id=repo_id, filename=filename, local_files_only=local_only)


def resolve_pretrained_tag(cfg: ClipConfig, tag_cfg: dict[str, Any]) -> Path:
    """The cached file of an open_clip pretrained tag, downloaded on first use when online.

    Offline (or any failed download) raises MissingWeightsError in one line naming the file, where it
    comes from and how to point ``clip.weights`` at it instead.
    """
    # 'org/repo/file.bin', or 'org/repo/' meaning open_clip's default file name
    model_id, filename = os.path.split(str(tag_cfg.get("hf_hub", "")))
    filename = filename or _HF_DEFAULT_FILE
    if not model_id:
        raise MissingWeightsError(f"clip.weights: open_clip tag {cfg.weights!r} of {cfg.variant} has no "
                                  "Hugging Face file; download it yourself and set clip.weights to its path")
    names = [_HF_SAFE_FILE, filename] if filename == _HF_DEFAULT_FILE else [filename]
    for local_only in (True, False):
        last: Exception | None = None
        for name in names:
            try:
                return Path(_hf_download(model_id, name, local_only))
            except Exception as e:  # hub errors: not cached, offline, HTTP, ...; reported below
                last = e
        if local_only:
            log.info("clip.weights: %s (%s) not cached; downloading from huggingface.co/%s", cfg.weights,
                     cfg.variant, model_id)
    raise MissingWeightsError(
        f"clip.weights: open_clip tag {cfg.weights!r} for {cfg.variant} is not in open_clip's cache and "
        f"could not be downloaded ({type(last).__name__}); on a machine that is online run once, or fetch "
        f"https://huggingface.co/{model_id}/resolve/main/{filename} and put it at "
        f"models/clip/{filename} with clip.weights: models/clip/{filename}")


def _build_architecture(cfg: ClipConfig) -> nn.Module:
    """Instantiate the open_clip model (both towers) with random weights, seeded by ``cfg.seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        if cfg.variant == TINY_CLIP_VARIANT:
            arch = dict(TINY_CLIP_CFG)
            arch["vision_cfg"] = dict(arch["vision_cfg"], image_size=cfg.image_size)
            return open_clip.CLIP(**arch)
        if open_clip.get_model_config(cfg.variant) is None:
            raise ConfigError(
                f"clip.variant: {cfg.variant!r} is not an open_clip model name nor {TINY_CLIP_VARIANT!r}; "
                f"known: {', '.join(open_clip.list_models()[:12])}, ..."
            )
        tag = pretrained_tag_config(cfg)
        quick_gelu = bool(tag and tag.get("quick_gelu", False))  # OpenAI's weights need QuickGELU
        return open_clip.create_model(cfg.variant, pretrained=None, force_image_size=cfg.image_size,
                                      force_quick_gelu=quick_gelu)


def resolve_weights_path(cfg: ClipConfig) -> Path:
    """The CLIP weights file (a path, or an open_clip pretrained tag resolved through its cache);
    MissingWeightsError saying what to put where if it is absent."""
    tag = pretrained_tag_config(cfg)
    if tag is not None:
        return resolve_pretrained_tag(cfg, tag)
    path = Path(cfg.weights).expanduser()
    if not path.is_file():
        raise MissingWeightsError(
            f"clip.weights: {str(path)!r} not found (cwd {Path.cwd()}). Put an open_clip {cfg.variant} "
            "checkpoint there: a .safetensors or a .bin/.pt holding a plain state dict, e.g. "
            "open_clip_model.safetensors from the Hugging Face repo laion/CLIP-ViT-B-16-laion2B-s34B-b88K "
            "for ViT-B-16, or name an open_clip pretrained tag (clip.weights: openai or laion2b_s34b_b88k "
            "for ViT-B-16). Or set clip.weights: random to use an untrained CLIP on purpose."
        )
    return path


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd: Any = load_file(str(path), device="cpu")
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch/safetensors raise many types for a bad file; we name the file
        raise CheckpointError(f"clip.weights: {path} could not be read as a state dict: {e}") from e
    if isinstance(sd, dict) and "state_dict" in sd:
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise CheckpointError(f"clip.weights: {path} holds {type(sd).__name__}, expected a state dict")
    return {k.removeprefix("module."): v for k, v in sd.items()}


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def clip_identity(cfg: ClipConfig) -> dict[str, Any]:
    """What identifies the CLIP weights (recorded in checkpoints, exports and results)."""
    if cfg.is_random:
        return {"variant": cfg.variant, "weights": "random", "seed": cfg.seed,
                "image_size": cfg.image_size, "open_clip": open_clip.__version__}
    path = resolve_weights_path(cfg)
    ident = {"variant": cfg.variant, "weights": str(path), "sha256": file_sha256(path),
             "image_size": cfg.image_size}
    if pretrained_tag_config(cfg) is not None:
        ident["pretrained_tag"] = cfg.weights
    return ident


def build_clip(cfg: ClipConfig, load_weights: bool = True) -> nn.Module:
    """The full frozen open_clip model; weights from ``cfg.weights`` unless random or not requested."""
    model = _build_architecture(cfg)
    if load_weights and not cfg.is_random:
        path = resolve_weights_path(cfg)
        sd = _read_state_dict(path)
        open_clip.model.resize_pos_embed(sd, model)
        try:
            model.load_state_dict(sd, strict=True)
        except RuntimeError as e:
            raise CheckpointError(f"clip.weights: {path} does not fit variant {cfg.variant}: {e}") from e
        log.info("loaded CLIP %s weights from %s", cfg.variant, path)
    elif load_weights:
        log.warning(
            "clip.weights: random -- CLIP %s is UNTRAINED (seed %d); results are recorded as such",
            cfg.variant, cfg.seed,
        )
    model.eval()
    model.requires_grad_(False)
    return model


class FrozenClipVisual(nn.Module):
    """The frozen CLIP visual tower returning all tokens: [b, 3, H, W] -> [b, 1 + o, c_clip]."""

    def __init__(self, visual: nn.Module) -> None:
        super().__init__()
        if getattr(visual, "attn_pool", None) is not None or getattr(visual, "final_ln_after_pool", False) \
                or not hasattr(visual, "_embeds"):
            raise ConfigError(
                f"clip.variant: visual tower {type(visual).__name__} is not a plain open_clip "
                "VisionTransformer with a [CLS] token (attention pooling and ResNet towers are unsupported)"
            )
        self.visual = visual
        self.visual.requires_grad_(False)
        self.visual.eval()
        grid = visual.grid_size
        self.grid: tuple[int, int] = (int(grid[0]), int(grid[1]))
        proj = visual.proj
        width = int(visual.positional_embedding.shape[1])
        self.out_dim: int = int(proj.shape[1]) if proj is not None else width

    @property
    def num_tokens(self) -> int:
        return 1 + self.grid[0] * self.grid[1]

    def train(self, mode: bool = True) -> "FrozenClipVisual":
        """Stay in eval mode whatever the parent asks: CLIP is frozen in every code path."""
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        v = self.visual
        x = v.transformer(v._embeds(images))  # [b, 1 + o, width]
        x = v.ln_post(x)
        if v.proj is not None:
            x = x @ v.proj  # [b, 1 + o, c_clip]: the joint vision-text space
        return x

    @torch.no_grad()
    def pooled(self, images: torch.Tensor) -> torch.Tensor:
        """The stock open_clip image embedding (CLIP alone, for the latency baseline)."""
        return self.visual(images)


class MLPAdapter(nn.Module):
    """2-layer MLP adapter on frozen CLIP features (paper): Linear-GELU-Linear, applied per token."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@torch.no_grad()
def encode_texts(clip_model: nn.Module, variant: str, texts: list[str]) -> torch.Tensor:
    """Frozen text-encoder embeddings of ``texts``, L2-normalised: [len(texts), c_clip]."""
    tokenizer = open_clip.get_tokenizer("ViT-B-16" if variant == TINY_CLIP_VARIANT else variant)
    tokens = tokenizer(texts)
    feats = clip_model.encode_text(tokens)
    return torch.nn.functional.normalize(feats.float(), dim=-1)
