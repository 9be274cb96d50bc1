"""Inputs of several sensors merged into stamp order before the recognizer decides on them.

Why: the recognizer's decisions read every sensor's track positions (co-location, walking pace,
stature) up to the moment of the tracklet it decides. Arriving in whatever order DDS and the
pipelines deliver them, a tracklet would see the positions that happened to come first: more of
another sensor's future on a machine whose embedding is slow, less of a lagging sensor's past on one
whose camera segmenter is slow, so the same recording gave other identities on other machines. Here
each input waits until every sensor still publishing has reached its stamp (the *watermark*), then
leaves in stamp order, a frame's positions before its tracklets. Two limits keep a stalled or ended
stream from holding the rest: a sensor whose newest stamp is more than ``window_s`` behind the newest
input is not waited for, and nothing waits longer than ``max_wait_s`` of wall time (the caller's
monotonic clock). An input that comes after its stamp was passed leaves at once and is counted late.
A sensor is waited for from its first frame of positions on: at start-up, before every sensor has
published, inputs leave as the sensors already seen allow.

API::

    merge = StampMerge(window_s=1.0, max_wait_s=0.5)
    merge.add(StampedInput(10.0, POSITIONS, "lidar", frame), now=time.monotonic())
    for item in merge.release(now=time.monotonic()):      # stamp order, up to the watermark
        ...
"""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass, field
from typing import Any

from tcfd_ros.errors import ConfigError
from tcfd_ros.messages import clock_reset

#: Kinds of input, in the order they leave at one stamp: a frame's positions before its tracklets.
POSITIONS = 0
TRACKLET = 1


@dataclass(frozen=True)
class StampedInput:
    stamp_s: float
    kind: int            # POSITIONS (a sensor's frame of track positions: moves the watermark) or TRACKLET
    sensor: str
    payload: Any = field(compare=False)


class StampMerge:
    """A stamp-ordered hold of inputs from several sensors (no ROS; the recognizer node owns one)."""

    def __init__(self, window_s: float, max_wait_s: float, reset_backward_s: float = math.inf) -> None:
        if not (math.isfinite(window_s) and window_s >= 0 and math.isfinite(max_wait_s) and max_wait_s >= 0):
            raise ConfigError(f"StampMerge(window_s={window_s}, max_wait_s={max_wait_s}): expected finite "
                              "values >= 0")
        self.window_s = window_s
        self.max_wait_s = max_wait_s
        self.reset_backward_s = reset_backward_s
        self._flushed: list[StampedInput] = []           # held when the clock reset: they leave first
        self._heap: list[tuple[float, int, str, int, float, StampedInput]] = []
        self._seq = itertools.count()
        self._newest_positions: dict[str, float] = {}   # sensor -> newest stamp of its positions
        self._newest = -math.inf                          # newest stamp of any input
        self.released_to = -math.inf                     # stamp of the last input released in order
        self.late = 0              # inputs that came after their stamp was passed (released at once)
        self.forced = 0            # inputs released by max_wait_s before the watermark reached them

    def __len__(self) -> int:
        return len(self._heap) + len(self._flushed)

    def held(self, kind: int) -> int:
        return sum(1 for entry in self._heap if entry[5].kind == kind) + sum(
            1 for item in self._flushed if item.kind == kind)

    def add(self, item: StampedInput, now: float) -> None:
        if not math.isfinite(item.stamp_s):
            raise ValueError(f"stamp {item.stamp_s!r} of a {item.sensor} input: expected finite seconds")
        if clock_reset(item.stamp_s, self._newest, self.reset_backward_s):   # bag restarted: a new time line
            self._flushed += [e[5] for e in sorted(self._heap)]
            self._heap.clear()
            self._newest_positions.clear()
            self._newest = self.released_to = -math.inf
        if item.kind == POSITIONS:
            self._newest_positions[item.sensor] = max(self._newest_positions.get(item.sensor, -math.inf),
                                                      item.stamp_s)
        self._newest = max(self._newest, item.stamp_s)
        heapq.heappush(self._heap, (item.stamp_s, item.kind, item.sensor, next(self._seq), now, item))

    def watermark(self) -> float:
        """The stamp every sensor still publishing has reached (+inf when none is being waited for)."""
        live = [s for s in self._newest_positions.values() if s >= self._newest - self.window_s]
        return min(live, default=math.inf)

    def release(self, now: float) -> list[StampedInput]:
        """The inputs that may be decided now, in stamp order."""
        out, self._flushed = self._flushed, []
        mark = self.watermark()
        if self.max_wait_s == 0:
            mark = math.inf
        overdue = [e[0] for e in self._heap if now - e[4] >= self.max_wait_s and e[0] > mark]
        forced_to = max(overdue, default=-math.inf)
        while self._heap and (self._heap[0][0] <= mark or self._heap[0][0] <= forced_to
                              or self._heap[0][0] < self.released_to):
            stamp, *_, item = heapq.heappop(self._heap)
            if stamp < self.released_to:
                self.late += 1
            elif stamp > mark and self.max_wait_s > 0:
                self.forced += 1
            self.released_to = max(self.released_to, stamp)
            out.append(item)
        return out

    def next_due(self, now: float) -> float | None:
        """Seconds until the oldest held input's wait ends (0: due now), or None when nothing is held."""
        if self._flushed:
            return 0.0
        if not self._heap:
            return None
        oldest = min(e[4] for e in self._heap)
        return max(0.0, oldest + self.max_wait_s - now)
