"""Ctrl-C racing the executor: an RCLError once the context is shut down is a clean stop, not a crash."""

from __future__ import annotations

import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node

from tcfd_ros.nodes.base import spin_until_shutdown


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


def test_an_rcl_error_while_ros_is_up_is_raised():
    def broken() -> None:
        raise _rclpy.RCLError("failed to create a subscription")

    rclpy.init(args=[])
    try:
        with pytest.raises(_rclpy.RCLError, match="subscription"):
            spin_until_shutdown(broken)
    finally:
        rclpy.shutdown()
