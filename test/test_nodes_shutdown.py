"""Ctrl-C racing the executor or arriving twice: a clean stop, not a crash."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node

from tcfd_ros.errors import TcfdError
from tcfd_ros.nodes.base import InterruptOnce, run_single, spin_until_shutdown

CONFIG = Path(__file__).resolve().parents[1] / "config" / "crossmodal.yaml"


def test_a_spin_that_meets_a_shut_down_context_ends_quietly():
    # bringup and run_single spin the default context; rclpy's SIGINT handler shuts it down, here
    # between the executor's ok() check and its wait set
    rclpy.init(args=[])
    try:
        node = Node("shutdown_race")
        executor = SingleThreadedExecutor()
        executor.add_node(node)
    finally:
        rclpy.shutdown()
    with pytest.raises(_rclpy.RCLError):   # what bringup met: rclpy raises, not ExternalShutdownException
        executor.spin_once(timeout_sec=0.01)
    spin_until_shutdown(lambda: executor.spin_once(timeout_sec=0.01))
    executor.shutdown()
    node.destroy_node()


def test_a_binding_error_from_a_take_mid_shutdown_ends_quietly():
    # CI, 2026-12-05: the one-process graph's executor took a message as the context shut down and
    # pybind11 raised a bare RuntimeError from take_message; bringup exited 1 with its traceback
    def take_mid_shutdown() -> None:
        rclpy.shutdown()
        raise RuntimeError("Unable to convert call argument '0' to Python object")

    rclpy.init(args=[])
    try:
        spin_until_shutdown(take_mid_shutdown)
    finally:
        rclpy.try_shutdown()


def test_a_runtime_error_while_ros_is_up_is_raised():
    def broken() -> None:
        raise RuntimeError("a handler's own bug")

    rclpy.init(args=[])
    try:
        with pytest.raises(RuntimeError, match="own bug"):
            spin_until_shutdown(broken)
    finally:
        rclpy.shutdown()


def test_an_rcl_error_while_ros_is_up_is_raised():
    def broken() -> None:
        raise _rclpy.RCLError("failed to create a subscription")

    rclpy.init(args=[])
    try:
        with pytest.raises(_rclpy.RCLError, match="subscription"):
            spin_until_shutdown(broken)
    finally:
        rclpy.shutdown()


def test_a_handler_failing_because_ros_shut_down_is_no_drop():
    """Ctrl-C under a busy graph: rclpy shuts the context down while the worker runs a handler, whose
    publish then fails on the invalidated context. That is the shutdown, not a bad message: no drop is
    counted or logged (the CI log of 2026-12-05 showed one)."""
    from rclpy.context import Context

    from tcfd_ros.nodes.lidar_segmenter_node import LidarSegmenterNode
    from test_nodes import _args

    context = Context()
    rclpy.init(context=context)
    node = LidarSegmenterNode(context=context, **_args("lidar_segmenter"))
    running = threading.Event()

    def publish_across_shutdown() -> None:
        running.set()
        deadline = time.monotonic() + 5.0
        while context.ok() and time.monotonic() < deadline:
            time.sleep(0.01)
        raise _rclpy.RCLError("Failed to publish: publisher's context is invalid")

    try:
        node.run_on_worker(publish_across_shutdown)
        assert running.wait(timeout=5.0)
        with context.handle:                     # what rclpy's SIGINT handler does: the context goes
            context.handle.shutdown()            # invalid, its nodes are destroyed only later
        node._worker.join(timeout=5.0)
        assert not node._worker.is_alive()       # the worker ended: nothing more can be published
        assert not [k for k, _ in node.health.key_values() if k.startswith("worker")]
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def test_only_the_first_sigint_interrupts():
    stop = InterruptOnce()
    with pytest.raises(KeyboardInterrupt):
        stop(signal.SIGINT, None)
    stop(signal.SIGINT, None)
    assert stop.received == 2


def test_a_spinning_node_is_stopped_by_rclpy_not_by_an_exception():
    # rclpy's handler ends spin; an exception raised at an arbitrary bytecode broke an rclpy logger's
    # __init__ on a loaded host
    stop = InterruptOnce()
    stop.spinning = True
    stop(signal.SIGINT, None)
    stop(signal.SIGINT, None)
    assert stop.received == 2


@pytest.mark.ros
@pytest.mark.parametrize("gap_s", [0.02, 0.1])
def test_a_node_stopped_twice_exits_cleanly(gap_s: float):
    """The terminal's Ctrl-C and then bringup's own SIGINT, ``gap_s`` apart: the second landed in the
    interpreter's exit and killed the node (exit code -2, or a traceback from threading._shutdown)."""
    p = subprocess.Popen([sys.executable, "-m", "tcfd_ros.nodes.tracker_node", "--ros-args",
                          "-r", "__node:=shutdown_twice", "--params-file", str(CONFIG)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         stdin=subprocess.DEVNULL)
    try:
        seen = []
        for line in p.stdout:               # the node logs its placement once it is built
            seen.append(line)
            if "calibration" in line:
                break
        p.send_signal(signal.SIGINT)
        time.sleep(gap_s)
        p.send_signal(signal.SIGINT)
        out = "".join(seen) + p.communicate(timeout=60)[0]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, (p.returncode, out)
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out


def test_a_node_main_run_off_the_main_thread_leaves_signals_to_the_process():
    """Embedded (a thread of someone else's process), ``run_single`` must not touch signal handlers, which
    only the main thread may set (ValueError)."""
    def refuse() -> None:
        raise TcfdError("a bad setting")

    before, result = signal.getsignal(signal.SIGINT), {}
    t = threading.Thread(target=lambda: result.update(rc=run_single(refuse, [])))
    t.start()
    t.join(timeout=60)
    assert result == {"rc": 2} and signal.getsignal(signal.SIGINT) is before
