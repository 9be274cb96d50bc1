"""Per-node health for ``/diagnostics``: input rates, drops and why, latency, queue depths.

:class:`NodeHealth` is plain Python (tested without ROS); :func:`to_status` turns it into a
``diagnostic_msgs/DiagnosticStatus``. Every drop is counted under a short reason (``decode``,
``stamp_backwards``, ``queue_full``, ...) and logged at most once per ``log_period_s`` per reason, so a
sensor spewing garbage cannot flood the log.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Callable

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from tcfd_ros.diagnostic_keys import MATCHED, MATCHED_PUBLISHERS, PUBLISHED

# Sliding window over which rates and latency percentiles are computed.
WINDOW_S = 5.0
# A subscribed input that was once alive and has been silent this long makes the node WARN.
STALE_AFTER_S = 2.0
# At most one log line per (input, reason) per this many seconds.
LOG_PERIOD_S = 1.0


@dataclass
class InputHealth:
    """Counters of one input topic."""

    received: int = 0
    processed: int = 0
    drops: Counter = field(default_factory=Counter)
    arrivals: deque = field(default_factory=deque)     # monotonic arrival times within the window
    latencies_s: deque = field(default_factory=deque)  # (t, latency) within the window
    recent_drops: deque = field(default_factory=deque)  # monotonic drop times within the window
    last_arrival: float | None = None
    last_drop_reason: str = ""
    cpu_s: float = 0.0                                 # handler CPU time (its thread), all messages
    unsubscribed: int = 0                              # times the node stopped taking it on purpose


def _locked(method: Callable) -> Callable:
    @functools.wraps(method)
    def wrapper(self: "NodeHealth", *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)
    return wrapper


class NodeHealth:
    """Counts what happens to each input; cheap enough to call on every message from any thread."""

    def __init__(self, name: str, log: Callable[[str], None], clock: Callable[[], float] = time.monotonic,
                 window_s: float = WINDOW_S, stale_after_s: float = STALE_AFTER_S,
                 log_period_s: float = LOG_PERIOD_S) -> None:
        self.name = name
        self._log = log
        self._clock = clock
        self.window_s = window_s
        self.stale_after_s = stale_after_s
        self.log_period_s = log_period_s
        self.inputs: dict[str, InputHealth] = {}
        self.periodic: set[str] = set()   # inputs whose silence is a problem (see watch)
        self.queues: dict[str, Callable[[], int]] = {}
        self.values: dict[str, str] = {}
        self.topic_names: dict[str, str] = {}   # input key -> resolved (remapped, absolute) topic name
        self.published: dict[str, int] = {}     # resolved output topic -> messages published
        # resolved output topic -> its publisher's count of matched subscriptions (a replay waits for them)
        self.matched: dict[str, Callable[[], int]] = {}
        # resolved input topic -> its subscription's count of matched publishers
        self.subscribed: dict[str, Callable[[], int]] = {}
        self.error: str = ""
        self._last_log: dict[tuple[str, str], float] = {}
        self.suppressed_logs = 0
        self._lock = threading.RLock()

    def _input(self, topic: str) -> InputHealth:
        if topic not in self.inputs:
            self.inputs[topic] = InputHealth()
        return self.inputs[topic]

    def _trim(self, h: InputHealth, now: float) -> None:
        lo = now - self.window_s
        while h.arrivals and h.arrivals[0] < lo:
            h.arrivals.popleft()
        while h.latencies_s and h.latencies_s[0][0] < lo:
            h.latencies_s.popleft()
        while h.recent_drops and h.recent_drops[0] < lo:
            h.recent_drops.popleft()

    @_locked
    def watch(self, topic: str, stale: bool = True) -> None:
        """Register an input so that it is reported before its first message; with ``stale`` a silence
        longer than ``stale_after_s`` after it was alive makes the node WARN (periodic inputs only:
        sporadic ones such as tracklets or matches are registered with ``stale=False``)."""
        self._input(topic)
        if stale:
            self.periodic.add(topic)

    @_locked
    def unsubscribed(self, topic: str) -> None:
        """The node stopped taking ``topic`` on purpose: its silence is no longer a problem, and what
        its publishers sent meanwhile was not lost (reported as ``<topic>: unsubscribed``, which replay's
        loss count reads). ``watch`` it again when the node subscribes again."""
        self.periodic.discard(topic)
        self._input(topic).unsubscribed += 1

    @_locked
    def received(self, topic: str) -> None:
        now = self._clock()
        h = self._input(topic)
        h.received += 1
        h.arrivals.append(now)
        h.last_arrival = now
        self._trim(h, now)

    @_locked
    def processed(self, topic: str, latency_s: float, cpu_s: float = 0.0) -> None:
        now = self._clock()
        h = self._input(topic)
        h.processed += 1
        h.cpu_s += cpu_s
        h.latencies_s.append((now, latency_s))
        self._trim(h, now)

    @_locked
    def drop(self, topic: str, reason: str, detail: str = "", count: int = 1) -> None:
        """Count ``count`` dropped messages under ``reason`` and log it, throttled per (topic, reason)."""
        now = self._clock()
        h = self._input(topic)
        h.drops[reason] += count
        h.recent_drops.extend([now] * count)
        h.last_drop_reason = f"{reason}: {detail}" if detail else reason
        self._trim(h, now)
        key = (topic, reason)
        last = self._last_log.get(key)
        if last is None or now - last >= self.log_period_s:
            self._last_log[key] = now
            self._log(f"dropped a message on '{topic}' ({reason}, {h.drops[reason]} so far): {detail}")
        else:
            self.suppressed_logs += 1

    @_locked
    def sent(self, topic: str) -> None:
        """Count one message published on ``topic`` (so a consumer's ``received`` can be checked)."""
        self.published[topic] = self.published.get(topic, 0) + 1

    def add_queue(self, name: str, depth: Callable[[], int]) -> None:
        self.queues[name] = depth

    @_locked
    def rate_hz(self, topic: str) -> float:
        h = self._input(topic)
        self._trim(h, self._clock())
        return len(h.arrivals) / self.window_s

    @_locked
    def stale_inputs(self) -> list[str]:
        now = self._clock()
        return [t for t, h in self.inputs.items() if t in self.periodic
                and h.last_arrival is not None and now - h.last_arrival > self.stale_after_s]

    @_locked
    def level_and_message(self) -> tuple[int, str]:
        """(level, summary): ERROR on a component failure, WARN on recent drops or a silent input."""
        if self.error:
            return 2, self.error
        now = self._clock()
        problems = []
        for t, h in self.inputs.items():
            self._trim(h, now)
            if h.recent_drops:
                problems.append(f"{len(h.recent_drops)} drops on {t} in {self.window_s:.0f} s "
                                f"(last: {h.last_drop_reason})")
        problems += [f"no message on {t} for > {self.stale_after_s:.1f} s" for t in self.stale_inputs()]
        if problems:
            return 1, "; ".join(problems)
        return 0, "ok"

    @_locked
    def key_values(self) -> list[tuple[str, str]]:
        now = self._clock()
        out: list[tuple[str, str]] = []
        for t, h in self.inputs.items():
            self._trim(h, now)
            lat = sorted(v for _, v in h.latencies_s)
            out.append((f"{t}: rate_hz", f"{len(h.arrivals) / self.window_s:.2f}"))
            out.append((f"{t}: received", str(h.received)))
            out.append((f"{t}: processed", str(h.processed)))
            out.append((f"{t}: dropped", str(sum(h.drops.values()))))
            out.append((f"{t}: cpu_s", f"{h.cpu_s:.3f}"))
            if h.unsubscribed:
                out.append((f"{t}: unsubscribed", str(h.unsubscribed)))
            if t in self.topic_names:
                out.append((f"{t}: topic", self.topic_names[t]))
            for reason, n in sorted(h.drops.items()):
                out.append((f"{t}: dropped.{reason}", str(n)))
            if lat:
                out.append((f"{t}: latency_ms_p50", f"{1e3 * lat[len(lat) // 2]:.2f}"))
                out.append((f"{t}: latency_ms_max", f"{1e3 * lat[-1]:.2f}"))
            if h.last_arrival is not None:
                out.append((f"{t}: age_s", f"{now - h.last_arrival:.2f}"))
        for q, depth in self.queues.items():
            out.append((f"queue {q}: depth", str(depth())))
        for topic, n in sorted(self.published.items()):
            out.append((f"{topic}{PUBLISHED}", str(n)))
        for suffix, counts in ((MATCHED, self.matched), (MATCHED_PUBLISHERS, self.subscribed)):
            for topic, count in sorted(counts.items()):
                try:
                    out.append((f"{topic}{suffix}", str(count())))
                except Exception:  # noqa: BLE001 - an endpoint destroyed (unsubscribed, shutting down)
                    continue
        out.append(("suppressed_log_lines", str(self.suppressed_logs)))
        out += sorted(self.values.items())
        return out


def to_status(health: NodeHealth, hardware_id: str) -> DiagnosticStatus:
    level, message = health.level_and_message()
    status = DiagnosticStatus()
    status.level = bytes([level])
    status.name = health.name
    status.message = message
    status.hardware_id = hardware_id
    status.values = [KeyValue(key=k, value=v) for k, v in health.key_values()]
    return status


def to_array(health: NodeHealth, hardware_id: str, stamp) -> DiagnosticArray:
    arr = DiagnosticArray()
    arr.header.stamp = stamp
    arr.status = [to_status(health, hardware_id)]
    return arr
