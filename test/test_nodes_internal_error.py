"""A bug in a node's handler (not bad input) is dropped and counted like bad input, and its traceback is
logged once per input: the one-line drop message says only the exception's type and text (a
RecursionError in the camera segmenter's row split was found this way, RESULTS.md)."""

from __future__ import annotations

import pytest

from tcfd_ros.nodes.base import TRACEBACK_LINES, internal_traceback
from tcfd_ros.nodes.camera_segmenter_node import CameraSegmenterNode

from test_nodes import _args
from test_nodes_harness import RosHarness

pytestmark = pytest.mark.ros


class _Logger:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def error(self, text: str) -> None:
        self.errors.append(text)

    def warning(self, text: str) -> None:
        self.warnings.append(text)


def _deep(n: int) -> None:
    if n == 0:
        raise ZeroDivisionError("a bug in a handler")
    _deep(n - 1)


def test_an_internal_error_logs_its_traceback_once_per_input():
    h = RosHarness()
    try:
        node = h.add(CameraSegmenterNode(context=h.context, **_args("camera_segmenter")))
        logger = _Logger()
        node.get_logger = lambda: logger
        node.health._log = logger.warning

        def handler(_msg: object) -> None:
            _deep(3)

        for _ in range(3):
            node.process_now("camera_info", handler, object())
        node.process_now("matches", handler, object())
        assert len(logger.errors) == 2                     # once for each input, not for every message
        assert "'camera_info'" in logger.errors[0] and "'matches'" in logger.errors[1]
        assert "in _deep" in logger.errors[0] and "ZeroDivisionError: a bug in a handler" in logger.errors[0]
        assert node.health.inputs["camera_info"].drops["internal_error"] == 3
        assert logger.warnings and "internal_error" in logger.warnings[0]
    finally:
        h.close()


def test_a_traceback_is_cut_to_its_innermost_lines():
    def recurse(n: int) -> int:
        return recurse(n + 1)

    try:
        recurse(0)
    except RecursionError as e:
        text = internal_traceback(e)
    lines = text.splitlines()
    assert len(lines) <= TRACEBACK_LINES
    assert lines[-1].startswith("RecursionError") and "in recurse" in text
