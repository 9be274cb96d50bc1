"""Shared helpers of the node tests: an rclpy context with a background executor, and waiting."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node


def wait_for(pred: Callable[[], Any], timeout_s: float = 10.0, period_s: float = 0.05) -> Any:
    """Poll ``pred`` until truthy; return its value, or raise AssertionError after ``timeout_s``."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(period_s)
    raise AssertionError(f"condition not met within {timeout_s} s")


#: How long the spinning thread waits for work before it looks whether it should stop, seconds.
SPIN_PERIOD_S = 0.05


class RosHarness:
    """rclpy in its own context, nodes spun by a SingleThreadedExecutor in a thread; clean shutdown.

    The thread spins one callback at a time with a timeout and stops on an event, so that when ``close``
    destroys the nodes no wait set holds them: destroying a node while the executor still waits on it
    (``executor.shutdown`` does not always wake a waiting ``spin``) blocked ``destroy_node`` forever, once
    in a fresh clone's suite."""

    def __init__(self) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.nodes: list[Node] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            while not self._stop.is_set() and self.context.ok():
                self.executor.spin_once(timeout_sec=SPIN_PERIOD_S)
        except (rclpy.executors.ExternalShutdownException, rclpy.executors.ShutdownException):
            pass

    def add(self, node: Node) -> Node:
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def close(self) -> None:
        """Stop spinning first, then destroy the nodes, then the context (nothing runs on a dead node)."""
        self._stop.set()
        self._thread.join(timeout=10.0)
        if self._thread.is_alive():
            raise AssertionError("the executor's thread did not stop within 10 s")
        for n in self.nodes:
            self.executor.remove_node(n)
        self.executor.shutdown(timeout_sec=5.0)
        for n in self.nodes:
            n.destroy_node()
        rclpy.shutdown(context=self.context)
