"""Inference: one ``Embedder`` interface over torch, ONNX Runtime and TensorRT, plus exports.

``make_embedder(backend, path, threads=2)`` -> ``Embedder`` with ``parts``, ``dim``, ``metadata`` and
``embed(tracklets, modality) -> (N, parts, dim) float32``. See ``embedder.py`` for how variable
tracklet lengths are handled (exactly).
"""

from tcfd_ros.inference.embedder import BACKENDS, Embedder, make_embedder

__all__ = ["BACKENDS", "Embedder", "make_embedder"]
