"""An exported embedder split at its temporal max pooling: a per-frame graph and a per-tracklet head.

TCFDNet's layers before the temporal max pooling work frame by frame (``inference/embedder.py``), so
``embed(frames) == head(max_t frame_graph(frames))`` exactly. Consecutive tracklets of a track overlap
(``tracklet.hop`` < ``tracklet.frames``: with the defaults 10 and 5 every frame is in two tracklets),
and the per-frame part is ~85 % of an embedding's CPU; splitting lets the recognizer compute each
frame's features once (``frame_cache.py``). No torch: this works on the ONNX file.

The split points are the graph's ``ReduceMax`` nodes over axis 1 (the frame axis of ``frames``
[N, T, 3, 64, 64]) with ``keepdims = 0``; the head must need nothing from ``frames`` but those.
A model without that pattern (the ResNet-9 baseline, a future architecture) is not split.
"""

from __future__ import annotations

from dataclasses import dataclass

from tcfd_ros.inference.onnx_format import ONNX_INPUTS, ONNX_OUTPUT

FRAME_AXIS = 1


@dataclass(frozen=True)
class SplitGraph:
    """Two ONNX models (serialized) and the names that join them."""

    frame_model: bytes            # inputs ONNX_INPUTS -> outputs ``frame_outputs`` [N, T, ...] each
    head_model: bytes             # inputs ``pooled_inputs`` + modality -> ONNX_OUTPUT
    frame_outputs: tuple[str, ...]
    pooled_inputs: tuple[str, ...]  # pooled_inputs[i] = max over FRAME_AXIS of frame_outputs[i]


def _temporal_max_nodes(graph) -> list:
    import onnx

    out = []
    for n in graph.node:
        if n.op_type != "ReduceMax" or len(n.input) != 1:   # opset >= 18 passes axes as an input
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        if list(attrs.get("axes", [])) == [FRAME_AXIS] and attrs.get("keepdims", 1) == 0:
            out.append(n)
    return out


def split_embedding_graph(model_bytes: bytes) -> SplitGraph | None:
    """The split of an exported embedder, or None when the graph has no clean temporal max pooling."""
    import onnx
    from onnx.utils import Extractor

    model = onnx.load_from_string(model_bytes)
    pools = _temporal_max_nodes(model.graph)
    if not pools:
        return None
    model = onnx.shape_inference.infer_shapes(model)
    known = {v.name for v in [*model.graph.value_info, *model.graph.input, *model.graph.output]}
    for n in pools:   # dynamic shapes leave these without value_info, which the extractor needs
        for name in (n.input[0], n.output[0]):
            if name not in known:
                model.graph.value_info.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT,
                                                                                 None))
    frame_outputs = tuple(n.input[0] for n in pools)
    pooled = tuple(n.output[0] for n in pools)
    ex = Extractor(model)
    head_nodes = ex._collect_reachable_nodes([*pooled, ONNX_INPUTS[1]], [ONNX_OUTPUT])
    needed = {i for n in head_nodes for i in n.input} - {o for n in head_nodes for o in n.output}
    if ONNX_INPUTS[0] in needed:   # the head reads the frames themselves (e.g. their shape): no split
        return None
    head = ex.extract_model([*pooled, ONNX_INPUTS[1]], [ONNX_OUTPUT])
    frame = ex.extract_model(list(ONNX_INPUTS), list(frame_outputs))
    return SplitGraph(frame.SerializeToString(), head.SerializeToString(), frame_outputs, pooled)
