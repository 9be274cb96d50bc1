"""Export a TCFDNet checkpoint (or the training ResNet-9 baseline's) to ONNX (dynamic batch and frame
axes, provenance in metadata_props).

The exported graph is the eval-mode embedding path only: inputs ``frames`` [N, T, 3, 64, 64] float32
(CLIP-normalised, see ``model.preprocess``) and ``modality`` [N] int64; output ``embeddings``
[N, parts, dim] float32. ``metadata_props`` hold the format tag, parts, dim, the model config, the
calibrated ``open_set_threshold`` and the rest of the checkpoint metadata, CLIP identity and GMTD hash.
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

import torch
from torch import Tensor, nn

from tcfd_ros.config_io import to_dict
from tcfd_ros.model.checkpoint import Checkpoint, load_checkpoint
from tcfd_ros.model.clip_encoder import file_sha256
from tcfd_ros.model.tcfdnet import TCFDNet
# the format's names and its reader live in a torch-free module (the recognizer loads models without torch)
from tcfd_ros.inference.onnx_format import (  # noqa: F401 - re-exported
    ONNX_FORMAT,
    ONNX_FORMAT_VERSION,
    ONNX_INPUTS,
    ONNX_OUTPUT,
    REQUIRED_METADATA,
    read_onnx_metadata,
)

log = logging.getLogger(__name__)

DEFAULT_OPSET = 17
"""Our choice: opset 17 has LayerNormalization and is supported by ORT >= 1.14 and TensorRT >= 8.6."""
EXAMPLE_BATCH, EXAMPLE_FRAMES = 2, 3  # trace shapes; both axes are exported as dynamic
BASELINE_IMAGE_SIZE = 64  # the baseline sees the same 64 x 64 inputs as TCFDNet (model.preprocess)


class EmbeddingGraph(nn.Module):
    """The deployable path: (frames, modality) -> embeddings, always in eval mode."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, frames: Tensor, modality: Tensor) -> Tensor:
        emb = self.model(frames, modality).embeddings
        if not isinstance(self.model, TCFDNet):
            # the ResNet-9 baseline shares its weights across modalities and ignores `modality`; keep the
            # input in the graph (x 0) so every export has the same two inputs
            emb = emb + 0.0 * modality.to(emb.dtype)[:, None, None]
        return emb


def _baseline_checkpoint(path: str | Path) -> Checkpoint | None:
    """The ResNet-9 baseline of ``training`` (its own checkpoint format) as a ``Checkpoint``-like
    record for export, or None when ``path`` is not a baseline checkpoint."""
    try:
        blob = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception:  # unreadable: load_checkpoint reports it
        return None
    from training.checkpoints import BASELINE_FORMAT, load_trained

    if not isinstance(blob, dict) or blob.get("format") != BASELINE_FORMAT:
        return None
    model, meta, _ = load_trained(path)
    cfg = SimpleNamespace(parts=model.parts, dim=model.dim,
                          clip=SimpleNamespace(image_size=BASELINE_IMAGE_SIZE))
    return Checkpoint(model=model, config=cfg, metadata=meta,  # type: ignore[arg-type]
                      clip={"variant": None, "weights": "none: the ResNet-9 baseline has no CLIP"},
                      gmtd={"entries": 0}, extra={"architecture": "baseline",
                                                  "baseline_config": to_dict(model.cfg)},
                      path=str(path))


@contextlib.contextmanager
def _exportable_attention() -> Iterator[None]:
    """nn.MultiheadAttention's eval fast path (a fused op) has no ONNX symbolic; disable it while tracing."""
    before = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(before)


def onnx_metadata(ck: Checkpoint, source_sha256: str = "") -> dict[str, str]:
    meta = dict(ck.metadata)
    threshold = meta.pop("open_set_threshold", None)
    if isinstance(ck.model, TCFDNet):
        model_config = to_dict(ck.config)
    else:  # the baseline: its own config, plus the input size readers take from clip.image_size
        model_config = {**ck.extra, "clip": {"image_size": BASELINE_IMAGE_SIZE}}
    return {
        "format": ONNX_FORMAT,
        "format_version": ONNX_FORMAT_VERSION,
        "parts": str(ck.config.parts),
        "dim": str(ck.config.dim),
        "model_config": json.dumps(model_config, sort_keys=True),
        "open_set_threshold": json.dumps(threshold),
        "metadata": json.dumps(meta, sort_keys=True, default=str),
        "clip": json.dumps(ck.clip, sort_keys=True),
        "gmtd": json.dumps(ck.gmtd, sort_keys=True),
        "source_checkpoint_sha256": source_sha256,
        "inputs": "frames [N,T,3,64,64] float32 CLIP-normalised; modality [N] int64 (0=2d, 1=3d)",
    }


def export_onnx(checkpoint: str | Path, out: str | Path, opset: int = DEFAULT_OPSET) -> Path:
    """Checkpoint -> ONNX file with dynamic N and T; checked with onnx.checker before returning."""
    import onnx

    ck = _baseline_checkpoint(checkpoint) or load_checkpoint(checkpoint)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    graph = EmbeddingGraph(ck.model).eval()
    size = ck.config.clip.image_size
    frames = torch.randn(EXAMPLE_BATCH, EXAMPLE_FRAMES, 3, size, size)
    modality = torch.arange(EXAMPLE_BATCH, dtype=torch.int64) % 2
    tmp = out.with_name(out.name + ".tmp")
    with _exportable_attention(), torch.no_grad(), warnings.catch_warnings():
        # the TorchScript exporter is deprecated in favour of dynamo, which needs onnxscript (not installed)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(
            graph, (frames, modality), str(tmp), input_names=list(ONNX_INPUTS), output_names=[ONNX_OUTPUT],
            dynamic_axes={"frames": {0: "batch", 1: "frames"}, "modality": {0: "batch"},
                          "embeddings": {0: "batch"}},
            opset_version=opset, dynamo=False, do_constant_folding=True,
        )
    proto = onnx.load(str(tmp))
    for k, v in onnx_metadata(ck, file_sha256(Path(checkpoint))).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    proto.producer_name = "tcfd_ros"
    onnx.save(proto, str(tmp))
    onnx.checker.check_model(str(tmp))
    tmp.replace(out)
    log.info("exported %s -> %s (parts %d, dim %d, opset %d)", checkpoint, out, ck.config.parts,
             ck.config.dim, opset)
    return out


__all__ = ["EmbeddingGraph", "export_onnx", "read_onnx_metadata", "ONNX_INPUTS", "ONNX_OUTPUT"]
