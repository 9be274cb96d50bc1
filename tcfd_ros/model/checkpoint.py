"""TCFDNet checkpoints: one documented format (models/README.md), loaded with ``weights_only=True``.

A checkpoint is a ``torch.save``d dict of plain types and tensors only::

    format: "tcfd_ros/tcfdnet-checkpoint"   format_version: 1
    tcfd_ros_version, torch_version: str
    model_config: dict          # tcfd_ros.config_io.to_dict(ModelConfig), rebuilt strictly
    gmtd: {sha256, version, entries}       # dictionary the text embeddings came from
    clip: {variant, weights, sha256 | seed, image_size, ...}   # CLIP weights identity
    state_dict: dict[str, Tensor]          # the whole network incl. the frozen CLIP visual tower and
                                           # the frozen GMTD text embeddings -> self-contained
    metadata: {open_set_threshold: float | None, ...}   # filled by training (calibration)
    extra: dict                 # trainer state (optimizer, step, ...) -- opaque here

Anything unreadable, truncated, of another format or not matching its own config raises
``CheckpointError`` naming the file and the problem.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tcfd_ros import __version__
from tcfd_ros.config_io import from_dict, to_dict
from tcfd_ros.errors import CheckpointError, ConfigError
from tcfd_ros.model.config import ModelConfig
from tcfd_ros.model.tcfdnet import TCFDNet

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "tcfd_ros/tcfdnet-checkpoint"
CHECKPOINT_VERSION = 1
REQUIRED_KEYS = ("format", "format_version", "model_config", "gmtd", "clip", "state_dict", "metadata")
DEFAULT_METADATA: dict[str, Any] = {"open_set_threshold": None}


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model (eval mode) and everything recorded beside it."""

    model: TCFDNet
    config: ModelConfig
    metadata: dict[str, Any]
    clip: dict[str, Any]
    gmtd: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    path: str = ""


def checkpoint_dict(model: TCFDNet, metadata: dict[str, Any] | None = None,
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The dict that ``save_checkpoint`` writes (also used by exports to record provenance)."""
    meta = dict(DEFAULT_METADATA)
    meta.update(metadata or {})
    return {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "tcfd_ros_version": __version__,
        "torch_version": str(torch.__version__),
        "model_config": to_dict(model.cfg),
        "gmtd": {"sha256": model.gmtd_sha256, "version": model.gmtd_version, "entries": model.gmtd_entries},
        "clip": dict(model.clip_identity),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metadata": meta,
        "extra": dict(extra or {}),
    }


def save_checkpoint(path: str | Path, model: TCFDNet, metadata: dict[str, Any] | None = None,
                    extra: dict[str, Any] | None = None) -> Path:
    """Write atomically (temp file + rename), so a crash never leaves a half-written checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(checkpoint_dict(model, metadata, extra), tmp)
    os.replace(tmp, path)
    return path


def read_checkpoint_dict(path: str | Path) -> dict[str, Any]:
    """Load and check the outer format (no model built); CheckpointError on any problem."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint {p}: file not found")
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # zip/pickle/EOF/runtime errors all mean the same thing to the caller
        raise CheckpointError(f"checkpoint {p}: unreadable (corrupt or truncated file?): "
                              f"{type(e).__name__}: {e}") from e
    if not isinstance(blob, dict):
        raise CheckpointError(f"checkpoint {p}: holds {type(blob).__name__}, expected the "
                              f"{CHECKPOINT_FORMAT} dict")
    if blob.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint {p}: format {blob.get('format')!r}, expected "
                              f"{CHECKPOINT_FORMAT!r}")
    if blob.get("format_version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"checkpoint {p}: format_version {blob.get('format_version')!r}, "
                              f"this tcfd_ros reads {CHECKPOINT_VERSION}")
    missing = [k for k in REQUIRED_KEYS if k not in blob]
    if missing:
        raise CheckpointError(f"checkpoint {p}: missing key(s) {missing}")
    return blob


def _check_state_dict(p: Path, model: TCFDNet, state: dict[str, Any]) -> None:
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: {tuple(state[k].shape)} vs config {tuple(v.shape)}" for k, v in own.items()
              if k in state and isinstance(state[k], torch.Tensor) and state[k].shape != v.shape]
    not_tensors = [k for k in state if not isinstance(state[k], torch.Tensor)]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} tensor(s) e.g. {missing[:3]}")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)} tensor(s) e.g. {unexpected[:3]}")
    if shapes:
        problems.append(f"shape mismatch {shapes[:3]}")
    if not_tensors:
        problems.append(f"non-tensor entries {not_tensors[:3]}")
    if problems:
        raise CheckpointError(f"checkpoint {p}: state_dict does not match its model_config: "
                              f"{'; '.join(problems)}")
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(f"checkpoint {p}: non-finite values in {bad[:3]}")


def load_checkpoint(path: str | Path, expect_config: ModelConfig | None = None) -> Checkpoint:
    """Rebuild the model from a checkpoint (eval mode, CPU); no CLIP or GMTD file is read.

    ``expect_config``: if given, the stored config must equal it (else CheckpointError naming both).
    """
    p = Path(path)
    blob = read_checkpoint_dict(p)
    try:
        cfg = from_dict(ModelConfig, blob["model_config"], where=f"{p}:model_config")
    except ConfigError as e:
        raise CheckpointError(f"checkpoint {p}: model_config invalid: {e}") from e
    if expect_config is not None and cfg != expect_config:
        raise CheckpointError(f"checkpoint {p}: model_config {to_dict(cfg)} differs from the expected "
                              f"{to_dict(expect_config)}")
    gmtd = blob["gmtd"]
    if not isinstance(gmtd, dict) or not isinstance(gmtd.get("entries"), int):
        raise CheckpointError(f"checkpoint {p}: gmtd record {gmtd!r} lacks an integer 'entries'")
    try:
        model = TCFDNet(cfg, load_frozen=False, gmtd_entries=gmtd["entries"] if cfg.ablation.tfd else None)
    except ConfigError as e:
        raise CheckpointError(f"checkpoint {p}: cannot build the stored model: {e}") from e
    state = blob["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {p}: state_dict is {type(state).__name__}, expected a dict")
    _check_state_dict(p, model, state)
    model.load_state_dict(state, strict=True)
    model.clip_identity = dict(blob["clip"])
    model.gmtd_sha256 = str(gmtd.get("sha256", ""))
    model.gmtd_version = str(gmtd.get("version", ""))
    model.eval()
    if model.clip_identity.get("weights") == "random":
        log.warning("checkpoint %s was trained on a RANDOM (untrained) CLIP %s", p,
                    model.clip_identity.get("variant"))
    metadata = dict(DEFAULT_METADATA)
    metadata.update(blob["metadata"] or {})
    return Checkpoint(model=model, config=cfg, metadata=metadata, clip=dict(blob["clip"]), gmtd=dict(gmtd),
                      extra=dict(blob.get("extra") or {}), path=str(p))


def update_checkpoint_metadata(path: str | Path, updates: dict[str, Any]) -> dict[str, Any]:
    """Merge ``updates`` (e.g. the calibrated ``open_set_threshold``) into a checkpoint, atomically."""
    p = Path(path)
    blob = read_checkpoint_dict(p)
    blob["metadata"] = {**DEFAULT_METADATA, **(blob["metadata"] or {}), **updates}
    tmp = p.with_name(p.name + ".tmp")
    torch.save(blob, tmp)
    os.replace(tmp, p)
    return blob["metadata"]
