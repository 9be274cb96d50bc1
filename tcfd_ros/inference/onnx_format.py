"""The exported embedder's ONNX format: input / output names, metadata keys and their reader.

No torch import: ``export.py`` writes this format (and needs torch); the ONNX Runtime and TensorRT
backends only read it, so a recognizer running an ``.onnx`` model starts without loading torch
(~5 CPU-s and a few hundred MB less per start on a 2-core machine).
"""

from __future__ import annotations

from pathlib import Path

from tcfd_ros.errors import CheckpointError

ONNX_FORMAT = "tcfd_ros/embedder-onnx"
ONNX_FORMAT_VERSION = "1"
ONNX_INPUTS = ("frames", "modality")
ONNX_OUTPUT = "embeddings"
REQUIRED_METADATA = ("format", "format_version", "parts", "dim", "model_config", "open_set_threshold",
                     "metadata", "clip", "gmtd")


def read_onnx_metadata(path: str | Path) -> dict[str, str]:
    """metadata_props of an exported model, checked for our format tag and required keys."""
    import onnx

    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"onnx model {p}: file not found (export one with: tcfd-ros export --format "
                              f"onnx)")
    try:
        proto = onnx.load(str(p), load_external_data=False)
    except Exception as e:  # protobuf DecodeError and friends
        raise CheckpointError(f"onnx model {p}: unreadable (corrupt or truncated?): {e}") from e
    meta = {m.key: m.value for m in proto.metadata_props}
    if meta.get("format") != ONNX_FORMAT or meta.get("format_version") != ONNX_FORMAT_VERSION:
        raise CheckpointError(f"onnx model {p}: format {meta.get('format')!r} "
                              f"v{meta.get('format_version')!r}, "
                              f"expected {ONNX_FORMAT!r} v{ONNX_FORMAT_VERSION} (export with tcfd-ros "
                              f"export)")
    missing = [k for k in REQUIRED_METADATA if k not in meta]
    if missing:
        raise CheckpointError(f"onnx model {p}: metadata_props lack {missing}")
    return meta
