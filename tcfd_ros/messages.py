"""JSON message schemas shared by the nodes, the identity code and the replay (no ROS imports).

Holds the ``matches`` schema (``tcfd_ros/match``): the one ``MATCH_SCHEMA`` and its versions, used by
``perception/identity.py`` (what a decision carries), ``nodes/recognizer_node.py`` (publishing) and
``replay/adapters.py`` (scoring). Documented in ``docs/matches.md``. Version 2 added the fused
fixed-frame position (``ground``, ``ground_sigma_m``, ``fixed_frame``) and what decided the link
(``decided_by``); readers accept versions 1 and 2 (v1 reads as no position and ``decided_by`` null)
and refuse anything else with ``MessageFormatError`` naming the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from tcfd_ros.errors import MessageFormatError
from tcfd_ros.modalities import MODALITIES  # noqa: F401 (re-exported for readers of this schema)

MATCH_SCHEMA = "tcfd_ros/match"
MATCH_VERSION = 2                         # what the recognizer writes
MATCH_VERSIONS_READ = (1, 2)              # what readers accept
#: ``tracks`` (``tcfd_ros.track_messages``): v2 adds fixed-frame ``ground``, v3 each track's
#: ``stature_m``; the replay scorer reads it too, so both take the versions from this one place.
TRACKS_SCHEMA = "tcfd_ros/tracks"
TRACKS_VERSION = 3
TRACKS_VERSIONS_READ = (1, 2, 3)
# what decided the link of a track to its identity (``decided_by``); None: nothing (a new person)
DECIDED_BY = ("geometry", "gait", "both")


def stamp_dict(sec: int, nanosec: int) -> dict[str, int]:
    return {"sec": int(sec), "nanosec": int(nanosec)}


#: A stamp this much older than the newest one of its stream is a clock reset (a bag restarted or looped),
#: not a glitch, seconds: a node's input stamp order and its platform-pose buffer start again there.
CLOCK_RESET_BACKWARD_S = 5.0


def clock_reset(stamp_s: float, newest_s: float, backward_s: float = CLOCK_RESET_BACKWARD_S) -> bool:
    """Whether ``stamp_s`` lies more than ``backward_s`` before its stream's newest stamp: a clock reset."""
    return newest_s - stamp_s > backward_s


def stamp_to_seconds(stamp: dict[str, int]) -> float:
    return float(stamp["sec"]) + 1e-9 * float(stamp["nanosec"])


def load_object(text: str, schema: str, versions: tuple[int, ...]) -> dict[str, Any]:
    """Parse one JSON message of ``schema`` in one of ``versions`` (MessageFormatError otherwise)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise MessageFormatError(f"data: not JSON ({e}); expected a {schema} object") from e
    if not isinstance(data, dict):
        raise MessageFormatError(f"data: expected a JSON object, got {type(data).__name__}")
    check_schema(data, schema, versions)
    return data


def check_schema(data: dict[str, Any], schema: str, versions: tuple[int, ...]) -> int:
    """The message's version, if ``data`` is ``schema`` in one of ``versions``."""
    if data.get("schema") != schema:
        raise MessageFormatError(f"schema = {data.get('schema')!r}: expected {schema!r}")
    version = data.get("version")
    if isinstance(version, bool) or version not in versions:
        raise MessageFormatError(f"version = {version!r}: this reader understands {list(versions)}")
    return int(version)


def require(data: dict[str, Any], key: str, types: type | tuple[type, ...]) -> Any:
    """``data[key]`` if present and of ``types`` (a bool never counts as a number)."""
    value = data.get(key)
    wanted = types if isinstance(types, tuple) else (types,)
    if key not in data or not isinstance(value, wanted) or (isinstance(value, bool) and bool not in wanted):
        raise MessageFormatError(f"{key} = {value!r}: expected {' or '.join(t.__name__ for t in wanted)}")
    return value


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_ground(d: dict[str, Any], where: str = "") -> tuple[tuple[float, float, float] | None, float | None]:
    """(``ground`` [x, y, z] metres or None, ``ground_sigma_m`` or None) of a v2 object.

    Each field is checked on its own (either may be null); ``where`` prefixes the field name in errors,
    e.g. ``"tracks[3]."``. Shared by the matches, tracks and tracklet readers.
    """
    ground, sigma = d.get("ground"), d.get("ground_sigma_m")
    if ground is not None:
        if not isinstance(ground, list) or len(ground) != 3 or not all(_number(v) for v in ground):
            raise MessageFormatError(f"{where}ground = {ground!r}: expected [x, y, z] finite metres or null")
        ground = (float(ground[0]), float(ground[1]), float(ground[2]))
    if sigma is not None:
        if not _number(sigma) or sigma < 0:
            raise MessageFormatError(f"{where}ground_sigma_m = {sigma!r}: expected metres >= 0 or null")
        sigma = float(sigma)
    return ground, sigma


def read_stature(d: dict[str, Any], where: str = "") -> float | None:
    """``stature_m`` (metres > 0) of a ``tracks`` v3 track, or None (null, or absent before v3)."""
    value = d.get("stature_m")
    if value is not None and (not _number(value) or value <= 0):
        raise MessageFormatError(f"{where}stature_m = {value!r}: expected metres > 0 or null")
    return None if value is None else float(value)


@dataclass(frozen=True)
class MatchMsg:
    """The recognizer's decision for one tracklet (``matches`` topic, schema ``tcfd_ros/match`` v2)."""

    stamp: dict[str, int]            # the tracklet's newest frame's sensor stamp
    frame_id: str                    # that sensor's frame
    sensor: str                      # sensor namespace, e.g. "camera", "lidar"
    modality: str                    # "2d" | "3d"
    track_id: int                    # the sensor tracker's track id
    global_id: int                   # one identity per person across sensors (new id for an unknown person)
    known: bool                      # the identity is supported by other tracks (gait, geometry) or gallery
    distance: float | None           # track-level distance to the identity; None: nothing to compare
    confidence: float                # sigmoid((threshold - distance) / T) in [0, 1]; 0 without distance
    threshold: float                 # the open-set threshold in force
    label: str | None = None         # the enrolled name of the identity, if any
    switched: bool = False           # the track changed identity with this tracklet (strong evidence)
    # v2: where the person is (fused over the identity's co-located tracks) and why the link holds
    ground: tuple[float, float, float] | None = None   # metres in ``fixed_frame``; None: not calibrated
    ground_sigma_m: float | None = None                # 1-sigma horizontal uncertainty of ``ground``
    fixed_frame: str = ""                              # REP-105 fixed frame of ``ground``; "" without one
    decided_by: str | None = None                      # "geometry" | "gait" | "both" | None (see DECIDED_BY)
    version: int = MATCH_VERSION                       # the schema version read (writing always uses v2)

    def to_json(self) -> str:
        return json.dumps({
            "schema": MATCH_SCHEMA, "version": MATCH_VERSION, "stamp": self.stamp, "frame_id": self.frame_id,
            "sensor": self.sensor, "modality": self.modality, "track_id": int(self.track_id),
            "global_id": int(self.global_id), "known": bool(self.known),
            "distance": None if self.distance is None else float(self.distance),
            "confidence": float(self.confidence), "threshold": float(self.threshold),
            "label": self.label, "switched": bool(self.switched),
            "ground": None if self.ground is None else [round(float(v), 4) for v in self.ground],
            "ground_sigma_m": None if self.ground_sigma_m is None else round(float(self.ground_sigma_m), 4),
            "fixed_frame": self.fixed_frame if self.ground is not None else "",
            "decided_by": self.decided_by,
        })

    @staticmethod
    def from_json(text: str) -> "MatchMsg":
        return MatchMsg.from_dict(load_object(text, MATCH_SCHEMA, MATCH_VERSIONS_READ))

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "MatchMsg":
        """A parsed ``tcfd_ros/match`` v1 or v2 object (v1: no position, ``decided_by`` None)."""
        version = check_schema(d, MATCH_SCHEMA, MATCH_VERSIONS_READ)
        distance = d.get("distance")
        if distance is not None and (isinstance(distance, bool) or not isinstance(distance, (int, float))):
            raise MessageFormatError(f"distance = {distance!r}: expected a number or null")
        confidence = float(require(d, "confidence", (int, float)))
        if not 0.0 <= confidence <= 1.0:
            raise MessageFormatError(f"confidence = {confidence}: expected 0..1")
        stamp = require(d, "stamp", dict)
        label = d.get("label")
        if label is not None and not isinstance(label, str):
            raise MessageFormatError(f"label = {label!r}: expected a string or null")
        modality = require(d, "modality", str)
        if modality not in MODALITIES:
            raise MessageFormatError(f"modality = {modality!r}: expected one of {list(MODALITIES)}")
        ground, sigma, frame, decided = None, None, "", None
        if version >= 2:
            ground, sigma = read_ground(d)
            frame = str(d.get("fixed_frame") or "")
            decided = d.get("decided_by")
            if decided is not None and decided not in DECIDED_BY:
                raise MessageFormatError(f"decided_by = {decided!r}: "
                                         f"expected one of {list(DECIDED_BY)} or null")
        return MatchMsg(stamp_dict(stamp.get("sec", 0), stamp.get("nanosec", 0)), str(d.get("frame_id", "")),
                        require(d, "sensor", str), modality, int(require(d, "track_id", int)),
                        int(require(d, "global_id", int)), bool(require(d, "known", bool)),
                        None if distance is None else float(distance), confidence,
                        float(require(d, "threshold", (int, float))), label, bool(d.get("switched", False)),
                        ground, sigma, frame, decided, version)
