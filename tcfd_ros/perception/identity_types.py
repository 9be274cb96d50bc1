"""The values the identity manager takes and returns (observations, decisions, summaries)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

TrackKey = tuple[str, int]
#: A track's past the recognizer set apart (``IdentityManager``: a track that delivers again after its
#: evidence expired is a new track to it): (sensor, track id, a number no other past of the manager has).
#: It keys the past's time span, places and stored embeddings, never a published match.
PastKey = tuple[str, int, int]
DEFAULT_FIXED_FRAME = "map"   # frame of an observation's position when the caller names none


def is_past(key: TrackKey | PastKey) -> bool:
    """Whether ``key`` is a track's past (``PastKey``) rather than a live track's ``TrackKey``."""
    return len(key) == 3


@dataclass(frozen=True)
class TrackObservation:
    """The embedding of one ready tracklet of one track of one sensor (and where the person stands, and
    its frames, which step frequency reads where it is on)."""

    stamp_s: float
    sensor: str
    modality: str               # "2d" (camera) or "3d" (LiDAR)
    track_id: int
    embedding: np.ndarray       # (parts, dim) float
    position: np.ndarray | None = None  # (2,) or (3,) metres in ``fixed_frame`` (tracklet v2 ``ground``)
    position_sigma_m: float | None = None   # 1-sigma horizontal uncertainty of ``position``
    fixed_frame: str = DEFAULT_FIXED_FRAME
    frame_stamps: tuple[float, ...] = ()   # seconds, one per frame of the tracklet
    frames: np.ndarray | None = None       # the tracklet's frames (T,64,64) / (T,3,64,64): step frequency's

    @property
    def key(self) -> TrackKey:
        return (self.sensor, int(self.track_id))


@dataclass(frozen=True)
class IdentityMatch:
    """The decision for one observation (one entry of the ``matches`` message)."""

    stamp_s: float
    sensor: str
    modality: str
    track_id: int
    global_id: int
    distance: float | None
    confidence: float
    known: bool
    label: str | None = None
    switched: bool = False
    decided_by: str | None = None          # "geometry" | "gait" | "both" | None (tcfd_ros.messages)
    ground: tuple[float, float, float] | None = None   # fused position of the person, metres
    ground_sigma_m: float | None = None
    fixed_frame: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"stamp": self.stamp_s, "sensor": self.sensor, "modality": self.modality,
                "track_id": self.track_id, "global_id": self.global_id,
                "distance": None if self.distance is None else round(float(self.distance), 6),
                "confidence": round(float(self.confidence), 6), "known": self.known, "label": self.label,
                "decided_by": self.decided_by,
                "ground": None if self.ground is None else [round(float(v), 4) for v in self.ground],
                "ground_sigma_m": self.ground_sigma_m, "fixed_frame": self.fixed_frame}


@dataclass(frozen=True)
class IdentitySummary:
    global_id: int
    label: str | None
    enrolled: bool
    last_seen_s: float
    num_embeddings: dict[str, int]
    bound_tracks: tuple[TrackKey, ...]
