"""ONNX Runtime backend: an exported TCFDNet (see ``export.py``), metadata read from the model file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tcfd_ros.errors import CheckpointError
from tcfd_ros.inference.batching import batches, empty_output
from tcfd_ros.inference.onnx_format import ONNX_FORMAT, ONNX_INPUTS, ONNX_OUTPUT, read_onnx_metadata


#: ONNX Runtime session option: intra-op worker threads busy-wait for work between operators unless it
#: is "0". On a robot's few cores that spinning takes CPU from the segmenters beside the recognizer.
ORT_SPIN_OPTION = "session.intra_op.allow_spinning"


class OnnxEmbedder:
    """CPU ONNX Runtime session with ``threads`` intra-op threads (sequential execution, no spinning)."""

    def __init__(self, path: str | Path, threads: int, max_frames: int, max_batch: int) -> None:
        import onnxruntime as ort

        p = Path(path)
        meta = read_onnx_metadata(p)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry(ORT_SPIN_OPTION, "0")
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(p), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # ORT raises its own Fail/InvalidGraph types
            raise CheckpointError(f"onnx model {p}: ONNX Runtime cannot load it: {e}") from e
        names = [i.name for i in self.session.get_inputs()]
        if names != list(ONNX_INPUTS) or [o.name for o in self.session.get_outputs()] != [ONNX_OUTPUT]:
            raise CheckpointError(f"onnx model {p}: inputs {names}, expected {list(ONNX_INPUTS)} "
                                  f"({ONNX_FORMAT})")
        self.parts = int(meta["parts"])
        self.dim = int(meta["dim"])
        self.max_frames = max_frames
        self.max_batch = max_batch
        self.metadata: dict[str, Any] = {
            "open_set_threshold": json.loads(meta["open_set_threshold"]), **json.loads(meta["metadata"]),
            "backend": "onnx", "source": str(p), "clip": json.loads(meta["clip"]),
            "gmtd": json.loads(meta["gmtd"]),
            "model_config": json.loads(meta["model_config"]), "max_frames": max_frames,
        }

    def embed(self, tracklets: Sequence[np.ndarray], modality: str) -> np.ndarray:
        outs = [self.session.run([ONNX_OUTPUT], {ONNX_INPUTS[0]: x, ONNX_INPUTS[1]: m})[0]
                for x, m in batches(tracklets, modality, self.max_frames, self.max_batch)]
        if not outs:
            return empty_output(self.parts, self.dim)
        return np.concatenate(outs).astype(np.float32, copy=False)
