"""A track's lives: where the recognizer starts a track anew, so that hand-off is scored per life.

The recognizer forgets a track's binding and evidence after ``identity.track_timeout_s`` without a
tracklet; a track that delivers again is a new track to it, its past set apart (RESULTS.md, "A track's
past set apart"). A LiDAR tracker that followed a walker out to the edge of its range sometimes carries the
id over to someone else who walks in half a minute later. Scored per track, the person the whole track
followed most labels both lives: a right link of the second life counts as a false link, and the first
life's person, whose own link is right, as missed (RESULTS.md, "Hand-off scored per track life").

Here each later life is a track of its own for the hand-off and track-pair scores: it gets the id
``life_id(track, life)``, its person is the one it followed most within its tracklets' span
(``score_tracking``'s ``spans``), and a match event belongs to the life it was published in. Tracking
metrics (MOTA, IDF1, ID switches) stay per track: the tracker did switch.

API::

    lives = track_lives({("lidar", 5): [(stamp, first_frame, last_frame), ...]}, timeout_s=10.0)
    lives.spans[("lidar", 5)]       # ((first, last), (first, last)): only tracks of two lives or more
    split_matches(matches, lives)   # match events, later lives' under life_id(track, life)
    lives.scored_id(("lidar", 5), 41.0)   # the id a message stamped then is scored under
    lives.tracklet_counts(counts)   # tracklets per (sensor, track or life id)
    lives.life_of_frame(("lidar", 5), 44.2)   # the life whose frames span a stamp (None: between lives)
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

from tcfd_ros.replay.records import MatchEvent

#: a later life's id is the track's id plus ``life`` times this (published track ids are far smaller)
LIFE_ID_STRIDE = 1_000_000


def life_id(track_id: int, life: int) -> int:
    """The id a track's ``life`` (0: the first, which keeps the track's id) is scored under."""
    return track_id + life * LIFE_ID_STRIDE


def track_of(scored_id: int) -> int:
    """The published track id of an id ``life_id`` gave (the id itself for a first life)."""
    return scored_id % LIFE_ID_STRIDE


@dataclass(frozen=True)
class TrackLives:
    """Tracks the recognizer started anew at least once, with each life's tracklet span and count."""

    spans: dict[tuple[str, int], tuple[tuple[float, float], ...]] = field(default_factory=dict)
    counts: dict[tuple[str, int], tuple[int, ...]] = field(default_factory=dict)
    starts: dict[tuple[str, int], tuple[float, ...]] = field(default_factory=dict)  # each life's first stamp

    def life_at(self, key: tuple[str, int], stamp_s: float) -> int:
        """The life a message of ``key`` stamped ``stamp_s`` belongs to: the last that began by then."""
        starts = self.starts.get(key)
        return max(0, bisect_right(starts, stamp_s) - 1) if starts else 0

    def scored_id(self, key: tuple[str, int], stamp_s: float) -> int:
        """The id a message of ``key`` stamped ``stamp_s`` is scored under: its life's ``life_id``."""
        return life_id(key[1], self.life_at(key, stamp_s))

    def life_of_frame(self, key: tuple[str, int], stamp_s: float) -> int | None:
        """The life whose tracklets' frames span ``stamp_s`` (0 for a track of one life); None for a
        frame between two lives, which belongs to neither."""
        spans = self.spans.get(key)
        if spans is None:
            return 0
        return next((i for i, (first, last) in enumerate(spans) if first <= stamp_s <= last), None)

    def of_sensor(self, sensor: str) -> dict[int, tuple[tuple[float, float], ...]]:
        """Track id -> its lives' spans, for ``score_tracking``'s ``spans``."""
        return {tid: spans for (s, tid), spans in self.spans.items() if s == sensor}

    def tracklet_counts(self, counts: Mapping[tuple[str, int], int]) -> dict[tuple[str, int], int]:
        """``counts`` (per track) with each split track's counted per life, under its lives' ids."""
        out = dict(counts)
        for (sensor, tid), per_life in self.counts.items():
            for life, n in enumerate(per_life):
                out[(sensor, life_id(tid, life))] = n
        return out


def track_lives(tracklets: Mapping[tuple[str, int], Sequence[tuple[float, float, float]]],
                timeout_s: float) -> TrackLives:
    """Split each track's tracklets, ``(stamp, first frame, last frame)`` in seconds, where one follows
    the previous by more than ``timeout_s`` (the recognizer's ``identity.track_timeout_s``)."""
    spans, counts, starts = {}, {}, {}
    for key, items in tracklets.items():
        lives: list[list[float]] = []                 # [first stamp, last stamp, first frame, last frame, n]
        for stamp, first, last in sorted(items):
            if not lives or stamp - lives[-1][1] > timeout_s:
                lives.append([stamp, stamp, first, last, 0])
            life = lives[-1]
            life[1], life[2], life[3], life[4] = stamp, min(life[2], first), max(life[3], last), life[4] + 1
        if len(lives) > 1:
            spans[key] = tuple((life[2], life[3]) for life in lives)
            counts[key] = tuple(int(life[4]) for life in lives)
            starts[key] = tuple(life[0] for life in lives)
    return TrackLives(spans, counts, starts)


def split_matches(matches: Sequence[MatchEvent], lives: TrackLives) -> list[MatchEvent]:
    """``matches`` with each event of a split track under the id of the life it was published in."""
    out = []
    for m in matches:
        scored = lives.scored_id((m.sensor, m.track_id), m.stamp_s)
        out.append(replace(m, track_id=scored) if scored != m.track_id else m)
    return out
