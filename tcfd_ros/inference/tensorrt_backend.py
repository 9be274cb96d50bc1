"""TensorRT: build a serialised engine from our ONNX export, and run it (GPU, TensorRT >= 10).

Build (``build_engine``): ONNX parser -> one optimisation profile over batch and frame count ->
optional FP16 -> timing cache reused and updated across builds -> serialised engine. Beside the engine
a JSON sidecar ``<engine>.json`` records the TensorRT version, the profile, the precision and the
ONNX metadata (parts, dim, threshold, config). Loading checks the sidecar's TensorRT version against
the runtime's (engines are not portable across TensorRT versions) and refuses a mismatch.

Device buffers are torch CUDA tensors, so no pycuda is needed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tcfd_ros.errors import CheckpointError, ConfigError
from tcfd_ros.inference.batching import batches, empty_output
from tcfd_ros.inference.onnx_format import ONNX_INPUTS, ONNX_OUTPUT, read_onnx_metadata

log = logging.getLogger(__name__)

ENGINE_FORMAT = "tcfd_ros/embedder-engine"
MIN_TENSORRT_MAJOR = 10  # int64 inputs (modality) and execute_async_v3 / set_tensor_address
DEFAULT_WORKSPACE_BYTES = 2 << 30


@dataclass(frozen=True)
class EngineProfile:
    """Optimisation profile bounds (min is always 1 tracklet of 1 frame); our defaults match the benchmark."""

    opt_batch: int = 8
    max_batch: int = 32
    opt_frames: int = 30
    max_frames: int = 64

    def validate(self) -> None:
        if not (1 <= self.opt_batch <= self.max_batch and 1 <= self.opt_frames <= self.max_frames):
            raise ConfigError(f"engine profile {asdict(self)}: need 1 <= opt <= max for batch and frames")


def import_tensorrt() -> Any:
    """The tensorrt module, or ConfigError saying how to get it; checks the major version."""
    try:
        import tensorrt as trt
    except ImportError as e:
        raise ConfigError(
            "TensorRT engines need the `tensorrt` Python package (NVIDIA, GPU machines only): "
            "pip install tensorrt, or use --format onnx / backend onnx on this machine"
        ) from e
    major = int(str(trt.__version__).split(".")[0])
    if major < MIN_TENSORRT_MAJOR:
        raise ConfigError(f"tensorrt {trt.__version__} found, tcfd_ros needs >= {MIN_TENSORRT_MAJOR}")
    return trt


def sidecar_path(engine: Path) -> Path:
    return engine.with_name(engine.name + ".json")


def build_engine(onnx_path: str | Path, out: str | Path, *, fp16: bool = False,
                 timing_cache: str | Path | None = None, profile: EngineProfile = EngineProfile(),
                 workspace_bytes: int = DEFAULT_WORKSPACE_BYTES) -> Path:
    """Build and serialise an engine for ``onnx_path`` (an export of ours); returns the engine path."""
    trt = import_tensorrt()
    profile.validate()
    onnx_path, out = Path(onnx_path), Path(out)
    meta = read_onnx_metadata(onnx_path)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT >= 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise CheckpointError(f"onnx model {onnx_path}: TensorRT ONNX parser failed: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    if fp16:
        if not builder.platform_has_fast_fp16:
            log.warning("this GPU has no fast FP16; building FP16 anyway as requested")
        config.set_flag(trt.BuilderFlag.FP16)
    cache_file = Path(timing_cache) if timing_cache is not None else out.with_suffix(".timing_cache")
    cache = config.create_timing_cache(cache_file.read_bytes() if cache_file.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    size = json.loads(meta["model_config"])["clip"]["image_size"]
    prof = builder.create_optimization_profile()
    frames, modality = ONNX_INPUTS
    prof.set_shape(frames, (1, 1, 3, size, size), (profile.opt_batch, profile.opt_frames, 3, size, size),
                   (profile.max_batch, profile.max_frames, 3, size, size))
    prof.set_shape(modality, (1,), (profile.opt_batch,), (profile.max_batch,))
    config.add_optimization_profile(prof)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise CheckpointError(f"TensorRT could not build an engine from {onnx_path} (see the TensorRT log "
                              f"above)")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(bytes(serialized))
    cache_file.write_bytes(bytes(config.get_timing_cache().serialize()))
    sidecar = {"format": ENGINE_FORMAT, "tensorrt_version": str(trt.__version__), "fp16": fp16,
               "profile": asdict(profile), "onnx": str(onnx_path), "onnx_metadata": meta}
    sidecar_path(out).write_text(json.dumps(sidecar, indent=2, sort_keys=True))
    log.info("built TensorRT %s engine %s (fp16=%s, timing cache %s)", trt.__version__, out, fp16, cache_file)
    return out


def read_sidecar(engine: Path, runtime_version: str) -> dict[str, Any]:
    """The engine's sidecar, refusing a missing/foreign one or another TensorRT version."""
    side = sidecar_path(engine)
    if not side.is_file():
        raise CheckpointError(f"engine {engine}: sidecar {side} missing (rebuild with tcfd-ros export "
                              f"--format engine)")
    try:
        data = json.loads(side.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"engine {engine}: sidecar {side} is not JSON: {e}") from e
    if data.get("format") != ENGINE_FORMAT:
        raise CheckpointError(f"engine {engine}: sidecar format {data.get('format')!r}, expected "
                              f"{ENGINE_FORMAT!r}")
    if data.get("tensorrt_version") != runtime_version:
        raise CheckpointError(
            f"engine {engine}: built with TensorRT {data.get('tensorrt_version')}, this runtime is "
            f"{runtime_version}; "
            "engines are not portable across versions -- rebuild with tcfd-ros export --format engine"
        )
    return data


class TensorRTEmbedder:
    """Runs a serialised engine on the current CUDA device; batches respect the engine's profile."""

    def __init__(self, path: str | Path, max_frames: int, max_batch: int) -> None:
        trt = import_tensorrt()
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("backend tensorrt needs a CUDA GPU; none is visible to torch")
        p = Path(path)
        side = read_sidecar(p, str(trt.__version__))
        self._torch = torch
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(p.read_bytes())
        if self.engine is None:
            raise CheckpointError(f"engine {p}: TensorRT could not deserialise it (corrupt or built "
                                  f"elsewhere?)")
        self.context = self.engine.create_execution_context()
        meta = side["onnx_metadata"]
        prof = side["profile"]
        self.parts, self.dim = int(meta["parts"]), int(meta["dim"])
        self.max_frames = min(max_frames, int(prof["max_frames"]))
        self.max_batch = min(max_batch, int(prof["max_batch"]))
        self.metadata: dict[str, Any] = {
            "open_set_threshold": json.loads(meta["open_set_threshold"]), **json.loads(meta["metadata"]),
            "backend": "tensorrt", "source": str(p), "clip": json.loads(meta["clip"]),
            "gmtd": json.loads(meta["gmtd"]),
            "model_config": json.loads(meta["model_config"]), "fp16": side["fp16"],
            "tensorrt_version": side["tensorrt_version"], "max_frames": self.max_frames,
        }

    def _run(self, frames: np.ndarray, modality: np.ndarray) -> np.ndarray:
        torch = self._torch
        x = torch.from_numpy(frames).cuda()
        m = torch.from_numpy(modality).cuda()
        self.context.set_input_shape(ONNX_INPUTS[0], tuple(x.shape))
        self.context.set_input_shape(ONNX_INPUTS[1], tuple(m.shape))
        shape = tuple(self.context.get_tensor_shape(ONNX_OUTPUT))
        out = torch.empty(shape, dtype=torch.float32, device="cuda")
        for name, t in ((ONNX_INPUTS[0], x), (ONNX_INPUTS[1], m), (ONNX_OUTPUT, out)):
            self.context.set_tensor_address(name, t.data_ptr())
        stream = torch.cuda.current_stream()
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise CheckpointError("TensorRT execution failed (see the TensorRT log)")
        stream.synchronize()
        return out.cpu().numpy()

    def embed(self, tracklets: Sequence[np.ndarray], modality: str) -> np.ndarray:
        outs = [self._run(x, m) for x, m in batches(tracklets, modality, self.max_frames, self.max_batch)]
        if not outs:
            return empty_output(self.parts, self.dim)
        return np.concatenate(outs).astype(np.float32, copy=False)
