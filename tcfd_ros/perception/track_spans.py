"""When each track was seen: its first and newest tracklet frame stamps, kept after the track ends.

One sensor that sees two tracks at the same time sees two people. The recognizer's bindings and
position histories forget a track a few seconds after it ends, and then the person another track of the
same sensor walked beside could join that track's identity too (a false hand-off made before the right
track arrived, never undone). ``TrackSpans`` remembers every track's time span so the recognizer can
still tell that two tracks overlapped (``IdentityManager``, ``concurrent_overlap_s``). Pure Python.
"""

from __future__ import annotations

from collections import OrderedDict

TrackKey = tuple[str, int]
MAX_TRACKS = 4096          # tracks whose spans are kept (least recently extended dropped first)


class TrackSpans:
    """(first, newest) stamp per track, seconds; bounded by ``MAX_TRACKS``."""

    def __init__(self) -> None:
        self._spans: OrderedDict[TrackKey, tuple[float, float]] = OrderedDict()

    def add(self, key: TrackKey, first_s: float, last_s: float) -> None:
        """Extend ``key``'s span by a tracklet covering ``first_s`` .. ``last_s``."""
        old = self._spans.get(key)
        self._spans[key] = (first_s, last_s) if old is None else (min(old[0], first_s), max(old[1], last_s))
        self._spans.move_to_end(key)
        while len(self._spans) > MAX_TRACKS:
            self._spans.popitem(last=False)

    def __contains__(self, key: TrackKey) -> bool:
        return key in self._spans

    def overlap_s(self, a: TrackKey, b: TrackKey) -> float:
        """How long ``a`` and ``b`` were both seen, seconds (0 when either is unknown or they never were)."""
        sa, sb = self._spans.get(a), self._spans.get(b)
        if sa is None or sb is None:
            return 0.0
        return max(0.0, min(sa[1], sb[1]) - max(sa[0], sb[0]))
