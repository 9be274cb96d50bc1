"""ONNX Runtime backend: an exported TCFDNet (see ``export.py``), metadata read from the model file."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Hashable, Sequence

import numpy as np

from tcfd_ros.errors import CheckpointError
from tcfd_ros.inference.batching import batches, empty_output
from tcfd_ros.inference.frame_cache import FrameFeatureCache
from tcfd_ros.inference.onnx_format import ONNX_FORMAT, ONNX_INPUTS, ONNX_OUTPUT, read_onnx_metadata
from tcfd_ros.inference.onnx_split import split_embedding_graph

log = logging.getLogger(__name__)


#: ONNX Runtime session option: intra-op worker threads busy-wait for work between operators unless it
#: is "0". On a robot's few cores that spinning takes CPU from the segmenters beside the recognizer.
ORT_SPIN_OPTION = "session.intra_op.allow_spinning"
#: The split graph must give the whole graph's embeddings to this absolute tolerance on a probe
#: tracklet at load time (it is exact in theory; kernels may differ in the last bits), else no split.
SPLIT_CHECK_ATOL = 1e-4
PROBE_FRAMES = 6


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
        self._opts = opts
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

        self.frame_cache: FrameFeatureCache | None = self._split(p)

    def _split(self, path: Path) -> FrameFeatureCache | None:
        """Frame graph + head (``onnx_split.py``) behind a frame cache, if the model splits and the split
        gives the whole graph's embeddings on a probe tracklet of each modality."""
        import onnxruntime as ort

        try:
            split = split_embedding_graph(path.read_bytes())
            if split is None:
                log.info("onnx model %s: no temporal max pooling to split at; every frame is embedded "
                         "with its tracklet", path)
                return None
            frame = ort.InferenceSession(split.frame_model, sess_options=self._opts,
                                         providers=["CPUExecutionProvider"])
            head = ort.InferenceSession(split.head_model, sess_options=self._opts,
                                        providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - onnx / ORT raise many types; the whole graph still works
            log.warning("onnx model %s: cannot split at the temporal pooling (%s); frames are not cached",
                        path, e)
            return None
        frame_inputs = [i.name for i in frame.get_inputs()]
        head_inputs = [i.name for i in head.get_inputs()]

        def frame_fn(x: np.ndarray, m: np.ndarray) -> list:
            feed = {ONNX_INPUTS[0]: x, ONNX_INPUTS[1]: m}
            return frame.run(list(split.frame_outputs), {k: feed[k] for k in frame_inputs})

        def head_fn(pooled: list, m: np.ndarray) -> np.ndarray:
            feed = dict(zip(split.pooled_inputs, pooled), **{ONNX_INPUTS[1]: m})
            return head.run([ONNX_OUTPUT], {k: feed[k] for k in head_inputs})[0]

        cache = FrameFeatureCache(frame_fn, head_fn)
        rng = np.random.default_rng(0)
        for modality, shape in (("2d", (PROBE_FRAMES, 64, 64)), ("3d", (PROBE_FRAMES, 3, 64, 64))):
            probe = rng.integers(0, 256, size=shape, dtype=np.uint8)
            whole = self.embed([probe], modality)
            parts = cache.embed([probe], modality, [("probe", modality)], [range(PROBE_FRAMES)])
            if parts.shape != whole.shape or not np.allclose(parts, whole, rtol=0.0, atol=SPLIT_CHECK_ATOL):
                diff = float(np.abs(parts - whole).max()) if parts.shape == whole.shape else float("inf")
                log.warning("onnx model %s: the split graph differs from the whole one by %.2g; frames are "
                            "not cached", path, diff)
                return None
            cache.forget(("probe", modality))
        cache.frames_computed = cache.frames_reused = 0
        return cache

    def embed_tracks(self, tracklets: Sequence[np.ndarray], modality: str, tracks: Sequence[Hashable],
                     stamps: Sequence[Sequence[float]]) -> np.ndarray:
        """``embed`` for tracklets of known tracks: frames embedded before (same track, stamp and
        bytes) are not embedded again (``frame_cache.py``); the same result as ``embed``."""
        if (self.frame_cache is None or not tracklets
                or any(np.asarray(t).shape[0] > self.max_frames for t in tracklets)):
            return self.embed(tracklets, modality)
        return self.frame_cache.embed(tracklets, modality, tracks, stamps).astype(np.float32, copy=False)

    def embed(self, tracklets: Sequence[np.ndarray], modality: str) -> np.ndarray:
        outs = [self.session.run([ONNX_OUTPUT], {ONNX_INPUTS[0]: x, ONNX_INPUTS[1]: m})[0]
                for x, m in batches(tracklets, modality, self.max_frames, self.max_batch)]
        if not outs:
            return empty_output(self.parts, self.dim)
        return np.concatenate(outs).astype(np.float32, copy=False)
