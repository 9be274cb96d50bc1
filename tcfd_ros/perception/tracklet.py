"""Tracklet buffers: the last ``s`` frames of every track, with bounded memory at any input rate.

API (used by the tracker node)::

    buf = TrackletBuffer(s=10, stride=1, max_age=2.0, modality="2d")   # or TrackletBuffer.from_config
    ready: Tracklet | None = buf.push(track_id, stamp_s, frame, position=None)
    buf.prune(stamp_s) -> list[int]        # drop tracks unseen for more than max_age seconds
    buf.frames_held, buf.nbytes, buf.num_tracks   # memory accounting (diagnostics, tests)
    t.frames     # (s, 64, 64) uint8 silhouettes ("2d") or (s, 3, 64, 64) uint8 depth maps ("3d")
    t.stamps     # (s,) float64 seconds, increasing
    t.track_id, t.modality, t.stamp (last frame's), t.position (last given position or None)

Memory bound: every ``stride``-th frame of a track is kept, in a ring of ``s`` frames, and at most
``max_tracks`` tracks exist (pushing a new track beyond that evicts the one seen longest ago), so the
buffer never holds more than ``max_tracks * s`` frames, whatever the input rate.

Emission: once a track has ``s`` strided frames, a tracklet is emitted, then again after every
``hop`` newly buffered frames (overlapping windows when ``hop < s``). ``push`` takes every frame; a
frame whose stamp is not later than the track's previous frame is dropped (returns None, counted in
``dropped_stale``). A frame of the wrong shape or dtype raises ``MessageFormatError``.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from tcfd_ros.errors import ConfigError, MessageFormatError
from tcfd_ros.modalities import FRAME_SIZE
from tcfd_ros.perception.config import TrackletConfig

log = logging.getLogger(__name__)

FRAME_SHAPES = {"2d": (FRAME_SIZE, FRAME_SIZE), "3d": (3, FRAME_SIZE, FRAME_SIZE)}


@dataclass(frozen=True)
class Tracklet:
    """``s`` frames of one track, ready for the embedder."""

    track_id: int
    modality: str               # "2d" or "3d"
    stamps: np.ndarray          # (s,) float64
    frames: np.ndarray          # (s, 64, 64) or (s, 3, 64, 64) uint8
    position: np.ndarray | None = None  # last position given with a frame (sensor/common frame)

    @property
    def stamp(self) -> float:
        return float(self.stamps[-1])


@dataclass
class _TrackBuffer:
    frames: deque
    stamps: deque
    last_seen_s: float
    taken: int = 0              # frames buffered since the track began
    since_emit: int = 0
    pushes: int = 0             # frames offered (for the stride)
    position: np.ndarray | None = field(default=None)


class TrackletBuffer:
    """Bounded per-track frame buffers emitting s-frame tracklets (see module docstring)."""

    def __init__(self, s: int, stride: int = 1, max_age: float = 2.0, modality: str = "2d",
                 hop: int | None = None, max_tracks: int = 64) -> None:
        for name, v in (("s", s), ("stride", stride), ("max_tracks", max_tracks)):
            if not isinstance(v, int) or v < 1:
                raise ConfigError(f"TrackletBuffer.{name} = {v!r}: expected an integer >= 1")
        if not (isinstance(max_age, (int, float)) and math.isfinite(max_age) and max_age > 0):
            raise ConfigError(f"TrackletBuffer.max_age = {max_age!r}: expected seconds > 0")
        if modality not in FRAME_SHAPES:
            raise ConfigError(f"TrackletBuffer.modality = {modality!r}: expected one of {list(FRAME_SHAPES)}")
        hop = s if hop is None else hop
        if not isinstance(hop, int) or hop < 1:
            raise ConfigError(f"TrackletBuffer.hop = {hop!r}: expected an integer >= 1")
        self.s, self.stride, self.max_age, self.modality = s, stride, float(max_age), modality
        self.hop, self.max_tracks = hop, max_tracks
        self.window = s
        self._tracks: dict[int, _TrackBuffer] = {}
        self.dropped_stale = 0
        self.evicted = 0

    @classmethod
    def from_config(cls, cfg: TrackletConfig, modality: str) -> "TrackletBuffer":
        cfg.validate()
        return cls(cfg.frames, cfg.stride, cfg.max_age_s, modality, cfg.hop, cfg.max_tracks)

    @property
    def num_tracks(self) -> int:
        return len(self._tracks)

    @property
    def frames_held(self) -> int:
        return sum(len(b.frames) for b in self._tracks.values())

    @property
    def nbytes(self) -> int:
        return sum(f.nbytes for b in self._tracks.values() for f in b.frames)

    @property
    def max_frames(self) -> int:
        """The bound on ``frames_held``."""
        return self.max_tracks * self.window

    def _check_frame(self, frame: np.ndarray) -> np.ndarray:
        shape = FRAME_SHAPES[self.modality]
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.shape != shape:
            got = (frame.shape, frame.dtype) if isinstance(frame, np.ndarray) else type(frame).__name__
            raise MessageFormatError(f"{self.modality} frame {got}: expected uint8 array of shape {shape}")
        return frame

    def push(self, track_id: int, stamp_s: float, frame: np.ndarray,
             position: np.ndarray | None = None) -> Tracklet | None:
        """Buffer one frame of a track; return a tracklet when one is due, else None."""
        self._check_frame(frame)
        if not isinstance(stamp_s, (int, float)) or not math.isfinite(stamp_s):
            raise MessageFormatError(f"stamp_s = {stamp_s!r}: expected a finite number of seconds")
        buf = self._tracks.get(track_id)
        if buf is None:
            if len(self._tracks) >= self.max_tracks:
                stalest = min(self._tracks, key=lambda k: self._tracks[k].last_seen_s)
                del self._tracks[stalest]
                self.evicted += 1
                log.debug("tracklet buffer full: evicted track %d", stalest)
            buf = _TrackBuffer(deque(maxlen=self.window), deque(maxlen=self.window), float(stamp_s))
            self._tracks[track_id] = buf
        elif buf.stamps and stamp_s <= buf.stamps[-1]:
            self.dropped_stale += 1
            return None
        buf.last_seen_s = float(stamp_s)
        if position is not None:
            buf.position = np.asarray(position, dtype=np.float64).copy()
        buf.pushes += 1
        if (buf.pushes - 1) % self.stride:
            return None
        buf.frames.append(frame.copy())
        buf.stamps.append(float(stamp_s))
        buf.taken += 1
        buf.since_emit += 1
        if len(buf.frames) < self.window:
            return None
        first_emit = buf.taken == self.window
        if not first_emit and buf.since_emit < self.hop:
            return None
        buf.since_emit = 0
        return Tracklet(track_id, self.modality, np.array(buf.stamps), np.stack(buf.frames),
                        None if buf.position is None else buf.position.copy())

    def prune(self, stamp_s: float) -> list[int]:
        """Drop tracks not seen for more than ``max_age`` seconds before ``stamp_s``; return their ids."""
        old = [k for k, b in self._tracks.items() if stamp_s - b.last_seen_s > self.max_age]
        for k in old:
            del self._tracks[k]
        return old

    def drop(self, track_id: int) -> None:
        """Forget one track (e.g. the tracker reported its death)."""
        self._tracks.pop(track_id, None)
