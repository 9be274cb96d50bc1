"""A fresh clone's recognizer node needs no model argument: the shipped reference model is the default."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcfd_ros.graph import build_graph
from tcfd_ros.inference.model_files import DEFAULT_MODEL, SOURCE_ROOT
from tcfd_ros.nodes.bringup import node_arguments
from tcfd_ros.nodes.recognizer_node import RecognizerNode

from test_nodes_harness import RosHarness

pytestmark = pytest.mark.ros
CONFIG = Path(__file__).resolve().parents[1] / "config" / "crossmodal.yaml"


def test_recognizer_starts_with_the_shipped_model_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)   # a relative model_path must not depend on the working directory
    spec = next(s for s in build_graph().nodes if s.name == "recognizer")
    h = RosHarness()
    try:
        node = h.add(RecognizerNode(context=h.context, namespace=spec.namespace,
                                    cli_args=node_arguments(spec, CONFIG), use_global_arguments=False))
        meta = node.embedder.metadata
        assert meta["backend"] == "onnx" and Path(meta["source"]) == SOURCE_ROOT / DEFAULT_MODEL
        assert meta["open_set_threshold_track"] > 0.0 and meta["open_set_threshold"] > 0.0
    finally:
        h.close()
