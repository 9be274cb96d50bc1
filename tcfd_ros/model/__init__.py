"""TCFDNet (CVPR 2026) in torch: one module per paper component, config, GMTD, checkpoints.

Public contract (docs/DESIGN.md): ``MODALITIES``, ``ModelConfig``, ``TCFDNet``, ``TCFDOutput``,
``ClipFeatures``, ``save_checkpoint`` / ``load_checkpoint``, ``preprocess.frames_to_input``.

The names are imported on first use (PEP 562): ``tcfd_ros.model.preprocess`` and ``tcfd_ros.model.config``
are numpy-only, and importing them must not load torch (the ONNX recognizer runs without it).
"""

from __future__ import annotations

import importlib
from typing import Any

_SOURCES = {
    "Checkpoint": "checkpoint", "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
    "ModelConfig": "config", "tiny_model_config": "config",
    "MODALITIES": "preprocess", "ModelInputError": "preprocess", "frames_to_input": "preprocess",
    "ResNet9": "resnet9",
    "ClipFeatures": "tcfdnet", "TCFDNet": "tcfdnet", "TCFDOutput": "tcfdnet",
}

__all__ = sorted(_SOURCES)


def __getattr__(name: str) -> Any:
    module = _SOURCES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SOURCES))
