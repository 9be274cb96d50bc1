"""When and where each track was seen: its first and newest tracklet frame stamps, and the fixed-frame ground
positions of its first and newest tracklets, kept after the track ends.

One sensor that sees two tracks at the same time sees two people. The recognizer's bindings and
position histories forget a track a few seconds after it ends, and then the person another track of the
same sensor walked beside could join that track's identity too (a false hand-off made before the right
track arrived, never undone). ``TrackSpans`` remembers every track's time span so the recognizer can
still tell that two tracks overlapped (``IdentityManager``, ``concurrent_overlap_s``).

Likewise a person cannot be in two places faster than they walk: where one track ended and another began,
and how long lay between, bound the speed a person seen as both would have needed
(``required_speed_mps``; ``IdentityManager``, ``max_walking_speed_mps``). Two tracks of different sensors
seen at overlapping times are bound the same way by their first and newest places taken at least
``OVERLAP_MIN_DT_S`` apart: a person the LiDAR saw for a few seconds 30 m from where the camera saw
another at the same time is not that person, even after the LiDAR track ended and the position
histories that would have vetoed the pair were forgotten. And a walker a tracker lost and found again goes
on roughly where their own walk would have taken them (``continuation_miss_m``; ``fragments.py``). Pure
Python.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterable

from tcfd_ros.perception.identity_types import PastKey, TrackKey

MAX_TRACKS = 4096          # tracks whose spans are kept (least recently extended dropped first)
#: Combined 1-sigmas of the two positions subtracted from the distance between them (the positions'
#: own error must not make a person look faster than they walked).
PLACE_SIGMAS = 2.0
#: Tracks seen at overlapping times are compared only by places at least this far apart in time, s:
#: over shorter times, the two sensors' disagreement on where one person stands (calibration, ranging)
#: would read as speed.
OVERLAP_MIN_DT_S = 2.0
#: A track's mean velocity (first to newest place) is read only over at least this long, s: over a shorter
#: span the places' own error dominates it.
VELOCITY_MIN_SPAN_S = 1.0


@dataclass(frozen=True)
class Place:
    """A track's fixed-frame ground position at a stamp."""

    stamp_s: float
    frame: str
    x: float
    y: float
    sigma_m: float


class TrackSpans:
    """(first, newest) stamp per track, seconds; bounded by ``MAX_TRACKS``."""

    def __init__(self) -> None:
        self._spans: OrderedDict[TrackKey, tuple[float, float]] = OrderedDict()
        self._places: OrderedDict[TrackKey, tuple[Place, Place]] = OrderedDict()   # (first, newest)

    def add(self, key: TrackKey, first_s: float, last_s: float) -> None:
        """Extend ``key``'s span by a tracklet covering ``first_s`` .. ``last_s``."""
        old = self._spans.get(key)
        self._spans[key] = (first_s, last_s) if old is None else (min(old[0], first_s), max(old[1], last_s))
        _bounded(self._spans, key)

    def place(self, key: TrackKey, stamp_s: float, frame: str, ground: Iterable[float],
              sigma_m: float | None) -> None:
        """Record where ``key`` was at ``stamp_s`` (``frame``'s x, y, metres; 1-sigma ``sigma_m``): its first
        and newest positions are kept. Non-finite positions and stamps are ignored."""
        x, y = (float(v) for v in list(ground)[:2])
        sigma = float(sigma_m) if sigma_m is not None and math.isfinite(float(sigma_m)) else 0.0
        if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(stamp_s)) or not frame:
            return
        p = Place(float(stamp_s), frame, x, y, max(sigma, 0.0))
        old = self._places.get(key)
        if old is None:
            self._places[key] = (p, p)
        else:
            first, last = old
            self._places[key] = (p if p.stamp_s < first.stamp_s else first,
                                 p if p.stamp_s >= last.stamp_s else last)
        _bounded(self._places, key)

    def rename(self, key: TrackKey, new: PastKey) -> None:
        """Keep ``key``'s span and places under ``new`` (a track's past the recognizer set apart); ``key``
        starts afresh."""
        for d in (self._spans, self._places):
            if key in d:
                d[new] = d.pop(key)
                _bounded(d, new)

    def __contains__(self, key: TrackKey) -> bool:
        return key in self._spans

    def overlap_s(self, a: TrackKey, b: TrackKey) -> float:
        """How long ``a`` and ``b`` were both seen, seconds (0 when either is unknown or they never were)."""
        gap = self.gap_s(a, b)
        return 0.0 if gap is None else max(0.0, -gap)

    def gap_s(self, a: TrackKey | PastKey, b: TrackKey | PastKey) -> float | None:
        """Seconds from the end of the earlier of ``a`` and ``b`` to the start of the later: negative when
        they were seen at overlapping times, None when either is unknown."""
        sa, sb = self._spans.get(a), self._spans.get(b)
        if sa is None or sb is None:
            return None
        return max(sa[0], sb[0]) - min(sa[1], sb[1])

    def required_speed_mps(self, a: TrackKey, b: TrackKey) -> float | None:
        """The speed (m/s) one person seen as both ``a`` and ``b`` would have needed: from where the
        earlier track was last placed to where the later one was first placed, or, for tracks placed at
        overlapping times, the most any of their first and newest places ``OVERLAP_MIN_DT_S`` or more
        apart asks for; each the straight distance less ``PLACE_SIGMAS`` combined sigmas, over the time
        between (infinite if none passed). None when either was never placed or no pair of places shares
        a frame (and, when they overlap, is far enough apart in time)."""
        pa, pb = self._places.get(a), self._places.get(b)
        if pa is None or pb is None:
            return None
        if pa[1].stamp_s < pb[0].stamp_s:
            return _speed(pa[1], pb[0])
        if pb[1].stamp_s < pa[0].stamp_s:
            return _speed(pb[1], pa[0])
        needs = [n for p in pa for q in pb
                 if abs(q.stamp_s - p.stamp_s) >= OVERLAP_MIN_DT_S and (n := _speed(p, q)) is not None]
        return max(needs) if needs else None

    def continuation_miss_m(self, a: TrackKey, b: TrackKey) -> float | None:
        """How far (m) the later of two tracks seen one after the other began from where a walk at constant
        velocity would have carried the earlier one's end across the gap, by the nearer of the two tracks'
        own mean velocities (first to newest place, each over ``VELOCITY_MIN_SPAN_S`` or more; the later
        one's run backwards), less ``PLACE_SIGMAS`` combined sigmas of the two places (at least 0). None
        when either was never placed, they overlap in time, their places lie in different frames, or
        neither has a velocity."""
        pa, pb = self._places.get(a), self._places.get(b)
        if pa is None or pb is None:
            return None
        if pb[1].stamp_s < pa[0].stamp_s:
            pa, pb = pb, pa
        end, start = pa[1], pb[0]
        gap_s = start.stamp_s - end.stamp_s
        if gap_s < 0.0 or end.frame != start.frame:
            return None
        misses = []
        for first, newest in (pa, pb):
            span_s = newest.stamp_s - first.stamp_s
            if span_s < VELOCITY_MIN_SPAN_S or first.frame != newest.frame or first.frame != end.frame:
                continue
            vx, vy = (newest.x - first.x) / span_s, (newest.y - first.y) / span_s
            misses.append(math.hypot(end.x + vx * gap_s - start.x, end.y + vy * gap_s - start.y))
        if not misses:
            return None
        return max(0.0, min(misses) - PLACE_SIGMAS * math.hypot(end.sigma_m, start.sigma_m))


def _speed(p: Place, q: Place) -> float | None:
    """Speed from ``p`` to ``q`` (either order in time), m/s; None in different frames."""
    if p.frame != q.frame:
        return None
    gap_m = math.hypot(q.x - p.x, q.y - p.y) - PLACE_SIGMAS * math.hypot(p.sigma_m, q.sigma_m)
    if gap_m <= 0.0:
        return 0.0
    dt = abs(q.stamp_s - p.stamp_s)
    return gap_m / dt if dt > 0 else math.inf


def _bounded(d: OrderedDict, key: TrackKey) -> None:
    """``key`` was just used: keep it, drop the least recently used beyond ``MAX_TRACKS``."""
    d.move_to_end(key)
    while len(d) > MAX_TRACKS:
        d.popitem(last=False)
