"""What every tcfd_ros node shares: parameters, health, ``/diagnostics``, a bounded work queue.

Subscription callbacks only stamp and enqueue; one worker thread per node runs the (slow) library
call, so the executor is never blocked, the queue depth is observable, and an overrun drops the
*oldest* message with reason ``queue_full`` instead of stalling DDS. Every failure at this boundary is
counted and logged (throttled) and the message is dropped; the node stays alive.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
import traceback
from collections import deque
from typing import Any, Callable, Sequence

from diagnostic_msgs.msg import DiagnosticArray
import rclpy
from rclpy.clock import Clock, ClockType
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from tcfd_ros.errors import MessageFormatError, TcfdError
from tcfd_ros.messages import CLOCK_RESET_BACKWARD_S, clock_reset
from tcfd_ros.nodes.diagnostics import NodeHealth, to_array
from tcfd_ros.nodes.params import ParameterBinding
from tcfd_ros.nodes.qos import OUTPUT_QOS

DIAGNOSTICS_PERIOD_S = 1.0


def stamp_seconds(stamp: Any) -> float:
    """builtin_interfaces/Time -> float seconds."""
    return float(stamp.sec) + 1e-9 * float(stamp.nanosec)


class StampOrder:
    """Per-input check that stamps increase: ``ok``, ``backwards`` (drop) or ``reset`` (restart state).

    ``check`` only judges; the watermark ``last`` moves in ``accept``, which the node calls once the
    message was processed. A message that is dropped for any reason (malformed, empty, a failing
    library call) never moves it, so one bad message stamped in the future cannot make the valid
    messages after it look old.
    """

    def __init__(self, reset_backward_s: float = CLOCK_RESET_BACKWARD_S) -> None:
        self.reset_backward_s = reset_backward_s
        self.last: float | None = None

    def check(self, t: float) -> str:
        if self.last is None or t > self.last:
            return "ok"
        if clock_reset(t, self.last, self.reset_backward_s):
            return "reset"
        return "backwards"

    def accept(self, t: float) -> None:
        """Move the watermark to ``t`` (a processed message; after a reset ``t`` may be older)."""
        self.last = t


class CountingPublisher:
    """An rclpy publisher that counts each ``publish`` in the node's health (everything else as is).

    Replay compares these counts with what the next stage received: DDS keep-last overwrites and
    lost samples are otherwise counted nowhere.
    """

    def __init__(self, pub: Any, health: NodeHealth, topic: str) -> None:
        self._pub = pub
        self._health = health
        self._topic = topic
        health.published.setdefault(topic, 0)   # reported from the start: 0 published is information
        health.matched[topic] = pub.get_subscription_count

    def publish(self, msg: Any) -> None:
        self._pub.publish(msg)
        self._health.sent(self._topic)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pub, name)


class Dropped(Exception):
    """Raised by a handler to drop the current message for a known reason (counted, not an error)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def drop_reason(err: Exception) -> str:
    """Short diagnostics key for a failure at the node boundary."""
    if isinstance(err, Dropped):
        return err.reason
    if isinstance(err, MessageFormatError):
        return "malformed"
    if isinstance(err, TcfdError):
        return type(err).__name__
    return "internal_error"


def _detail(err: Exception) -> str:
    return err.detail if isinstance(err, Dropped) else f"{type(err).__name__}: {err}"


#: lines of an internal error's traceback logged (its innermost frames; Python folds a recursion's
#: repeated frames into one line)
TRACEBACK_LINES = 40


def internal_traceback(err: Exception) -> str:
    """The last ``TRACEBACK_LINES`` lines of ``err``'s traceback: a bug's own place in the code, which the
    one-line drop message (type and text) does not say."""
    lines = "".join(traceback.format_exception(err)).rstrip().splitlines()
    return "\n".join(lines[-TRACEBACK_LINES:])


class TcfdNode(Node):
    """A node with a config dataclass as parameters, health counters and one worker thread."""

    def __init__(self, name: str, default_config: Any, *, read_only: Sequence[str] = (),
                 **node_kwargs: Any) -> None:
        super().__init__(name, **node_kwargs)
        # Set before anything that can raise: destroy_node() runs on a half-built node at shutdown.
        self._queue: deque = deque()
        self._cv = threading.Condition()
        self._stop = False
        self._worker: threading.Thread | None = None
        self._traced: set[str] = set()     # inputs whose first internal error's traceback was logged
        self.health = NodeHealth(self.get_fully_qualified_name(), self.get_logger().warning)
        if callable(default_config):  # a factory that may read parameters declared ahead (tracker modality)
            default_config = default_config(self)
        self.params = ParameterBinding(self, default_config, read_only=read_only,
                                       on_change=self._config_changed)
        self._queue_size = int(self.config.queue_size)
        self._waiting: dict[str, int] = {}
        # Held while a handler runs or parameters change, so a change never lands half-way through a frame.
        self.state_lock = threading.RLock()
        self._stamp_claims: list[tuple[StampOrder, float]] = []  # checked stamps of the running handler
        self.health.add_queue("work", lambda: len(self._queue))
        # Not counted as an output (CountingPublisher): diagnostics are about the other topics.
        self._diag_pub = super().create_publisher(DiagnosticArray, "/diagnostics", OUTPUT_QOS)
        # Steady clock: diagnostics keep flowing when /clock stops (use_sim_time with a paused bag).
        self._diag_timer = self.create_timer(DIAGNOSTICS_PERIOD_S, self._publish_diagnostics,
                                             clock=Clock(clock_type=ClockType.STEADY_TIME))

    @property
    def config(self) -> Any:
        return self.params.config

    def start(self) -> None:
        """Start the worker; subclasses call this at the end of their constructor."""
        self._worker = threading.Thread(target=self._work, name=f"{self.get_name()}-worker", daemon=True)
        self._worker.start()

    def on_config_change(self, config: Any, changed: set[str]) -> None:
        """Subclasses apply run-time parameter changes here (thresholds take effect on the next frame)."""

    def _config_changed(self, config: Any, changed: set[str]) -> None:
        self.get_logger().info(f"parameters changed: {', '.join(sorted(changed))}")
        with self.state_lock:
            self.on_config_change(config, changed)

    def enqueue(self, topic: str, handler: Callable[..., None], msg: Any,
                prepare: Callable[[Any], Any] | None = None) -> None:
        """Called from subscription callbacks: count and queue. Each topic holds at most ``queue_size``
        waiting messages; beyond that its oldest is dropped (``queue_full``), other topics unaffected.
        With ``prepare`` the worker first calls ``prepare(msg)`` outside the state lock (it may wait for
        another callback, which must be able to run) and then ``handler(msg, prepared)``."""
        self.health.received(topic)
        with self._cv:
            if self._waiting.get(topic, 0) >= self._queue_size:
                idx = next(i for i, item in enumerate(self._queue) if item[0] == topic)
                del self._queue[idx]
                self._waiting[topic] -= 1
                self.health.drop(topic, "queue_full",
                                 f"worker behind, {self._queue_size} waiting "
                                 "(raise queue_size or slow the input)")
            self._queue.append((topic, handler, msg, time.monotonic(), prepare))
            self._waiting[topic] = self._waiting.get(topic, 0) + 1
            self._cv.notify()

    def run_on_worker(self, handler: Callable[[], None], prepare: Callable[[], None] | None = None) -> None:
        """Queue ``handler()`` for the worker thread (under the state lock, like a message's handler; with
        ``prepare``, ``prepare()`` first, outside it); it is no input: nothing counts it, and a failure is
        logged (throttled) as the node's own."""
        def prepared(_msg: Any) -> None:
            if prepare is not None:
                prepare()
        with self._cv:
            self._queue.append(("", lambda _msg, _prepared: handler(), None, time.monotonic(), prepared))
            self._cv.notify()

    def transport_losses(self, topic: str) -> SubscriptionEventCallbacks:
        """Event callbacks counting samples DDS lost before they reached us (best-effort gaps)."""
        def lost(info: Any) -> None:
            self.health.drop(topic, "dds_lost", f"{info.total_count_change} sample(s) lost in transport "
                             f"({info.total_count} in all); large best-effort samples over UDP lose "
                             "fragments: use input_reliability reliable for replays", info.total_count_change)
        return SubscriptionEventCallbacks(message_lost=lost)

    def _work(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._stop:
                    self._cv.wait()
                if self._stop:
                    return
                topic, handler, msg, t0, prepare = self._queue.popleft()
                if topic:
                    self._waiting[topic] -= 1
            cpu0 = time.thread_time()
            try:
                if prepare is not None:
                    prepared = prepare(msg)
                    self._handle(lambda m: handler(m, prepared), msg)
                else:
                    self._handle(handler, msg)
            except Exception as e:  # noqa: BLE001 - the node boundary: count, log (throttled), drop
                if not self.context.ok():
                    # Ctrl-C: rclpy shut the context down under the handler (its publish raised
                    # "publisher's context is invalid"); no input was bad, and nothing more can be sent
                    return
                self._drop(topic or "worker", e)
                continue
            if topic:
                self.health.processed(topic, time.monotonic() - t0, time.thread_time() - cpu0)

    def _drop(self, topic: str, err: Exception) -> None:
        """Count and log a dropped message; the first internal error (a bug, not bad input) on each input
        also logs its traceback, once, so that it can be found and reported."""
        reason = drop_reason(err)
        if reason == "internal_error" and topic not in self._traced:
            self._traced.add(topic)
            self.get_logger().error(f"internal error on '{topic}' (its traceback is logged once; later ones "
                                    f"are counted as internal_error):\n{internal_traceback(err)}")
        self.health.drop(topic, reason, _detail(err))

    def _handle(self, handler: Callable[[Any], None], msg: Any) -> None:
        """Run a handler; the stamps it checked with ``check_order`` are accepted only if it succeeds."""
        with self.state_lock:
            self._stamp_claims.clear()
            try:
                handler(msg)
                for order, t in self._stamp_claims:
                    order.accept(t)
            finally:
                self._stamp_claims.clear()

    def process_now(self, topic: str, handler: Callable[[Any], None], msg: Any,
                    exclusive: bool = True) -> None:
        """Run a light handler in the callback itself (CameraInfo, matches), with the same accounting.

        ``exclusive`` False runs it without the node's state lock: for a handler that keeps its own (the
        platform pose), which the worker may be waiting for while it holds the state lock."""
        self.health.received(topic)
        t0 = time.monotonic()
        cpu0 = time.thread_time()
        try:
            if exclusive:
                self._handle(handler, msg)
            else:
                handler(msg)
        except Exception as e:  # noqa: BLE001 - the node boundary
            self._drop(topic, e)
            return
        self.health.processed(topic, time.monotonic() - t0, time.thread_time() - cpu0)

    def create_subscription(self, msg_type: Any, topic: str, callback: Callable[..., None], qos_profile: Any,
                            **kwargs: Any) -> Any:
        """rclpy's subscription, its matched publishers counted in diagnostics (``<topic>: matched
        publishers``: a replay waits for them before its first frame)."""
        sub = super().create_subscription(msg_type, topic, callback, qos_profile, **kwargs)
        health = getattr(self, "health", None)
        if health is not None:
            health.subscribed[sub.topic_name] = sub.get_publisher_count
        return sub

    def create_publisher(self, msg_type: Any, topic: str, qos_profile: Any, **kwargs: Any) -> Any:
        """rclpy's publisher, counting what it publishes in diagnostics (``<topic>: published``)."""
        pub = super().create_publisher(msg_type, topic, qos_profile, **kwargs)
        health = getattr(self, "health", None)   # None while rclpy's Node.__init__ makes its own
        return pub if health is None else CountingPublisher(pub, health, pub.topic_name)

    def _publish_diagnostics(self) -> None:
        for t in self.health.inputs:
            if t not in self.health.topic_names:
                try:
                    self.health.topic_names[t] = self.resolve_topic_name(t)
                except Exception:  # noqa: BLE001 - a key that is not a topic name (none today)
                    self.health.topic_names[t] = t
        self.health.values["process_cpu_s"] = f"{time.process_time():.3f}"
        self._diag_pub.publish(to_array(self.health, self.get_namespace(), self.get_clock().now().to_msg()))

    def check_order(self, order: StampOrder, stamp: Any) -> str:
        """Drop a message whose stamp is not newer than the last; return ``ok`` or ``reset``.

        The watermark moves only when the handler that called this returns normally (``_handle``).
        """
        t = stamp_seconds(stamp)
        verdict = order.check(t)
        if verdict != "backwards":
            self._stamp_claims.append((order, t))
        if verdict == "backwards":
            raise Dropped("stamp_backwards",
                          f"stamp {t:.6f} s is not newer than the last one {order.last:.6f} s")
        if verdict == "reset":
            self.get_logger().warning(f"stamp jumped back more than {order.reset_backward_s} s to {t:.3f} s: "
                                      "clock reset (bag restarted?), state cleared")
        return verdict

    def destroy_node(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._worker is not None and self._worker.is_alive():
            self._worker.join(timeout=5.0)
        super().destroy_node()


def spin_until_shutdown(spin: Callable[[], None]) -> None:
    """Run ``spin`` (an executor's) until Ctrl-C or shutdown.

    rclpy's SIGINT handler shuts the context down from another thread; an executor caught half way
    raises whatever rclpy's bindings raise at that point instead of ``ExternalShutdownException``:
    ``RCLError`` ("the given context is not valid") while rebuilding its wait set (a fresh clone's
    test run: bringup exited 1 on Ctrl-C), or pybind11's ``RuntimeError`` ("Unable to convert call
    argument '0' to Python object") from ``take_message`` on a subscription taken mid-shutdown (CI,
    2026-12-05, the one-process graph). Once the context is shut down any such error *is* the
    shutdown; before it, it is a real error.
    """
    try:
        spin()
    except RuntimeError:   # RCLError is one
        if rclpy.ok():
            raise


class InterruptOnce:
    """A process's SIGINT handler: the first SIGINT stops it, later ones are ignored.

    Why: a node under ``bringup --processes`` or ``ros2 launch`` can get SIGINT twice, from the terminal's
    Ctrl-C to the process group and again from its supervisor. rclpy's handler turns the first into a
    shutdown and then hands Python's handler back; with the default one, the second raised
    ``KeyboardInterrupt`` wherever the interpreter was in its exit (a traceback from
    ``threading._shutdown`` and exit code -2 in a replay's graph.log).

    Once the node spins (``spinning``), rclpy's own handler, which chains to this one, ends ``spin`` by
    shutting the context down, so this one only counts: a ``KeyboardInterrupt`` raised there lands at
    whatever bytecode the main thread is running, and on a loaded host that was half way through an
    rclpy logger's ``__init__`` ("Exception ignored in RcutilsLogger.__del__", a fresh clone's test run
    of 2026-12-07). Before that (while the node is built) the first SIGINT raises ``KeyboardInterrupt``.
    """

    def __init__(self) -> None:
        self.received = 0
        self.spinning = False

    def __call__(self, signum: int, frame: Any) -> None:
        self.received += 1
        if self.received == 1 and not self.spinning:
            raise KeyboardInterrupt


def run_single(factory: Callable[[], Node], args: list[str] | None = None) -> int:
    """``main()`` of one node: init, spin until Ctrl-C/shutdown, clean up; 2 on a config error.

    It owns its process: the SIGINT handler it installs (``InterruptOnce``) stays through the exit. Run
    elsewhere than a process's main thread (embedded), it leaves signals to the process's owner.
    """
    owns_signals = threading.current_thread() is threading.main_thread()
    interrupt = InterruptOnce()
    if owns_signals:
        signal.signal(signal.SIGINT, interrupt)
    try:
        with rclpy.init(args=args):
            try:
                node = factory()
            except TcfdError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
            try:
                interrupt.spinning = True   # from here rclpy's handler ends spin (InterruptOnce)
                spin_until_shutdown(lambda: rclpy.spin(node))
            finally:
                node.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    if owns_signals:   # stopped: a late SIGINT must not kill the interpreter's exit, which resets handlers
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    return 0
