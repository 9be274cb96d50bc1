"""Final trained-model files: TCFDNet through the model's own checkpoint format, the baseline in a small
format of its own (same shape: format tag, config, state_dict, metadata). Both load with
``weights_only=True``; ``load_trained`` tells them apart by the format tag."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tcfd_ros.config_io import from_dict, to_dict
from tcfd_ros.errors import CheckpointError, ConfigError
from tcfd_ros.model import load_checkpoint, save_checkpoint
from tcfd_ros.model.checkpoint import CHECKPOINT_FORMAT
from training.baseline import ResNet9Baseline
from training.config import BaselineConfig, TrainConfig

BASELINE_FORMAT = "tcfd_ros/resnet9-baseline-checkpoint"
BASELINE_VERSION = 1


def save_trained(path: str | Path, model: nn.Module, cfg: TrainConfig, metadata: dict[str, Any]) -> Path:
    """Write the trained network with its metadata (incl. the calibrated ``open_set_threshold``)."""
    path = Path(path)
    if isinstance(model, ResNet9Baseline):
        path.parent.mkdir(parents=True, exist_ok=True)
        blob = {"format": BASELINE_FORMAT, "format_version": BASELINE_VERSION,
                "baseline_config": to_dict(cfg.baseline),
                "num_classes": model.bnneck.classifier.weight.shape[-1],
                "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "metadata": {"open_set_threshold": None, **metadata}, "train_config": to_dict(cfg)}
        tmp = path.with_name(path.name + ".tmp")
        torch.save(blob, tmp)
        os.replace(tmp, path)
        return path
    extra = {"train_config": to_dict(cfg)}
    return save_checkpoint(path, model, metadata=metadata, extra=extra)  # type: ignore[arg-type]


def load_trained(path: str | Path) -> tuple[nn.Module, dict[str, Any], str]:
    """(model in eval mode on CPU, metadata, architecture name) of a file written by ``save_trained``."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint {p}: file not found")
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt/truncated files raise many types
        raise CheckpointError(f"checkpoint {p}: unreadable ({type(e).__name__}: {e})") from e
    fmt = blob.get("format") if isinstance(blob, dict) else None
    if fmt == CHECKPOINT_FORMAT:
        ck = load_checkpoint(p)
        return ck.model, ck.metadata, "tcfdnet"
    if fmt != BASELINE_FORMAT or blob.get("format_version") != BASELINE_VERSION:
        raise CheckpointError(f"checkpoint {p}: format {fmt!r} is neither {CHECKPOINT_FORMAT!r} nor "
                              f"{BASELINE_FORMAT!r} v{BASELINE_VERSION}")
    try:
        bcfg = from_dict(BaselineConfig, blob["baseline_config"], where=f"{p}:baseline_config")
        model = ResNet9Baseline(bcfg, int(blob["num_classes"]))
        model.load_state_dict(blob["state_dict"], strict=True)
    except (ConfigError, KeyError, RuntimeError) as e:
        raise CheckpointError(f"checkpoint {p}: baseline does not rebuild: {e}") from e
    model.eval()
    return model, dict(blob["metadata"]), "baseline"


def trained_config(path: str | Path) -> dict[str, Any]:
    """The training config (as a dict) recorded in a file written by ``save_trained``; {} if none."""
    p = Path(path)
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt/truncated files raise many types
        raise CheckpointError(f"checkpoint {p}: unreadable ({type(e).__name__}: {e})") from e
    if not isinstance(blob, dict):
        raise CheckpointError(f"checkpoint {p}: holds {type(blob).__name__}, expected a dict")
    found = blob.get("train_config") or (blob.get("extra") or {}).get("train_config")
    return dict(found) if isinstance(found, dict) else {}
