"""When a replay publishes ``/clock``: at most every ``CLOCK_PERIOD_NS`` of bag time, never backwards.

Every node of a ``--use-sim-time`` graph receives every ``/clock`` message, and rclpy spends ~0.5 ms of
CPU per received message (measured, RESULTS.md "Recognizer and graph CPU"). One ``/clock`` per input
message (an image, its camera_info and a cloud: ~40 per bag-second, 80 at 2x, to each of the five
nodes) cost about as much CPU as the perception handlers. The graph reads sim time only for
diagnostics stamps and timers (track timeouts and retention use message stamps; markers carry their
tracks' stamps; the only sim-time timer is the recognizer's 60 s retention sweep), so 5 Hz is plenty:
a diagnostics stamp lags bag time by at most 0.2 s. At 20 Hz the five nodes still received 1200
``/clock`` messages per 12 s bag, 40 % of everything they received (RESULTS.md "Graph CPU for slower
machines"). ``ros2 bag play --clock`` publishes at a fixed rate too (40 Hz by default).
"""

from __future__ import annotations

#: /clock period in bag time: 5 Hz.
CLOCK_PERIOD_NS = 200_000_000


class ClockThinner:
    """Says which bag stamps deserve a ``/clock`` message (the first, then one per period)."""

    def __init__(self, period_ns: int = CLOCK_PERIOD_NS):
        if period_ns < 0:
            raise ValueError(f"period_ns must be >= 0, got {period_ns}")
        self.period_ns = int(period_ns)
        self.last_ns: int | None = None

    def due(self, stamp_ns: int) -> bool:
        """True if ``stamp_ns`` should be published now (and remember it)."""
        if self.last_ns is not None and stamp_ns < self.last_ns + max(self.period_ns, 1):
            return False
        self.last_ns = int(stamp_ns)
        return True
