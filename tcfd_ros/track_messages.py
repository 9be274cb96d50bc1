"""The graph's JSON-over-``std_msgs/String`` schemas of tracks and tracklets (no ROS imports).

Written by the tracker node and read by the recognizer, the camera segmenter, the replay and training's
harvest; the perception code builds ``TrackState`` without knowing ROS. The ``matches`` schema, and the
versions of ``tracks`` every reader shares, are in ``tcfd_ros.messages``.

Documented in ``docs/matches.md``. Every message carries ``schema`` and ``version``; a decoder refuses
another schema or a newer version with ``MessageFormatError`` naming the field, so a consumer never
guesses. Stamps are ``{"sec", "nanosec"}`` copied from the sensor message the data came from.

Versions: ``tracklet`` is written as v2 (v1 plus the fixed-frame position ``ground``, ``ground_sigma_m``
and the message's ``fixed_frame``) and read as v1 or v2 (v1: ``ground`` = None, ``fixed_frame`` = "");
``tracks`` is written as ``TRACKS_VERSION`` (v2 adds the same fixed-frame fields, v3 each track's
``stature_m``) and read as any of ``TRACKS_VERSIONS_READ``.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from tcfd_ros.errors import MessageFormatError
from tcfd_ros.messages import (TRACKS_SCHEMA, TRACKS_VERSION, TRACKS_VERSIONS_READ, load_object, read_ground,
                               read_stature, stamp_dict)
from tcfd_ros.messages import require as _require
from tcfd_ros.modalities import FRAME_SHAPES

TRACKLET_SCHEMA = "tcfd_ros/tracklet"
TRACKLET_VERSION = 2
#: Versions each reader accepts (older versions lack the fixed-frame fields, read as None / "").
READABLE_VERSIONS = {TRACKS_SCHEMA: TRACKS_VERSIONS_READ, TRACKLET_SCHEMA: (1, 2)}


def _load(text: str, schema: str) -> dict[str, Any]:
    return load_object(text, schema, READABLE_VERSIONS[schema])


def _fixed_frame(d: dict[str, Any]) -> str:
    f = d.get("fixed_frame", "")
    if not isinstance(f, str):
        raise MessageFormatError(f"fixed_frame = {f!r}: expected a string")
    return f


def _ground_json(ground: Sequence[float] | None, sigma: float | None) -> dict[str, Any]:
    return {"ground": None if ground is None else [float(v) for v in ground],
            "ground_sigma_m": None if sigma is None else float(sigma)}


@dataclass(frozen=True)
class TrackletMsg:
    """One tracklet: ``frames`` (T,64,64) silhouettes (2d) or (T,3,64,64) depth maps (3d), uint8."""

    stamp: dict[str, int]            # of the newest frame
    frame_id: str                    # sensor frame of ``position``
    sensor: str                      # sensor namespace, e.g. "camera"
    modality: str                    # "2d" | "3d"
    track_id: int
    frame_stamps: tuple[float, ...]  # seconds, one per frame
    position: tuple[float, ...]      # last position: pixels (u, v) for 2d, metres (x, y, z) for 3d
    frames: np.ndarray
    ground: tuple[float, float, float] | None = None  # newest frame: where the person stands, metres
    ground_sigma_m: float | None = None   # 1-sigma horizontal uncertainty of ``ground``
    fixed_frame: str = ""            # frame of ``ground``; "" when the sensor is not calibrated

    def to_json(self) -> str:
        frames = np.ascontiguousarray(self.frames, dtype=np.uint8)
        head = json.dumps({
            "schema": TRACKLET_SCHEMA, "version": TRACKLET_VERSION, "stamp": self.stamp,
            "frame_id": self.frame_id, "fixed_frame": self.fixed_frame,
            "sensor": self.sensor, "modality": self.modality, "track_id": int(self.track_id),
            "frame_stamps": [float(t) for t in self.frame_stamps],
            "position": [float(v) for v in self.position],
            **_ground_json(self.ground, self.ground_sigma_m),
            "shape": list(frames.shape), "dtype": "uint8",
        })
        # "frames" last, spliced in: base64 needs no JSON escaping, so the text is what json.dumps of
        # the whole object gives, without json.dumps scanning 55-165 kB of it (0.45 ms per tracklet)
        return f'{head[:-1]}, "frames": "{base64.b64encode(frames.tobytes()).decode("ascii")}"}}'

    @staticmethod
    def from_json(text: str) -> "TrackletMsg":
        d = _load(text, TRACKLET_SCHEMA)
        modality = _require(d, "modality", str)
        if modality not in FRAME_SHAPES:
            raise MessageFormatError(f"modality = {modality!r}: "
                                     f"expected one of {list(FRAME_SHAPES)}")
        shape = tuple(_require(d, "shape", list))
        if len(shape) < 1 or tuple(shape[1:]) != FRAME_SHAPES[modality] or shape[0] < 1:
            raise MessageFormatError(f"shape = {list(shape)}: "
                                     f"expected [T, {FRAME_SHAPES[modality]}] "
                                     f"for modality {modality}")
        if d.get("dtype") != "uint8":
            raise MessageFormatError(f"dtype = {d.get('dtype')!r}: expected 'uint8'")
        try:
            raw = base64.b64decode(_require(d, "frames", str), validate=True)
        except ValueError as e:
            raise MessageFormatError(f"frames: not base64 ({e})") from e
        if len(raw) != math.prod(shape):
            raise MessageFormatError(f"frames: {len(raw)} bytes, "
                                     f"expected {math.prod(shape)} for shape {list(shape)}")
        stamps = tuple(float(t) for t in _require(d, "frame_stamps", list))
        if len(stamps) != shape[0]:
            raise MessageFormatError(f"frame_stamps: {len(stamps)} stamps for {shape[0]} frames")
        stamp = _require(d, "stamp", dict)
        ground, sigma = read_ground(d)
        return TrackletMsg(stamp_dict(stamp.get("sec", 0), stamp.get("nanosec", 0)),
                           str(d.get("frame_id", "")),
                           _require(d, "sensor", str), modality, int(_require(d, "track_id", int)), stamps,
                           tuple(float(v) for v in _require(d, "position", list)),
                           np.frombuffer(raw, dtype=np.uint8).reshape(shape), ground, sigma, _fixed_frame(d))


@dataclass(frozen=True)
class TrackState:
    """One confirmed track in one frame (the ``tracks`` topic; used for markers and annotation)."""

    track_id: int
    position: tuple[float, ...]      # pixels (u, v) for 2d, metres (x, y, z) for 3d
    box: tuple[float, ...]           # 2d: (x0, y0, x1, y1) pixels; 3d: (xmin, ymin, zmin, xmax, ymax, zmax) m
    detection: int = -1              # this frame's label in ``detections`` / ``clusters``; -1 coasting
    ground: tuple[float, float, float] | None = None  # where the person stands in the fixed frame, metres
    ground_sigma_m: float | None = None   # 1-sigma horizontal uncertainty of ``ground``, metres
    stature_m: float | None = None        # v3: how tall the person is this frame (``perception.stature``)


def tracks_to_json(stamp: dict[str, int], frame_id: str, sensor: str, modality: str,
                   tracks: Sequence[TrackState], fixed_frame: str = "") -> str:
    """A ``tcfd_ros/tracks`` v3 message; ``fixed_frame`` names the frame of every track's ``ground``."""
    return json.dumps({
        "schema": TRACKS_SCHEMA, "version": TRACKS_VERSION, "stamp": stamp, "frame_id": frame_id,
        "fixed_frame": fixed_frame, "sensor": sensor, "modality": modality,
        "tracks": [{"track_id": int(t.track_id), "position": [float(v) for v in t.position],
                    "box": [float(v) for v in t.box], "detection": int(t.detection),
                    **_ground_json(t.ground, t.ground_sigma_m),
                    "stature_m": None if t.stature_m is None else round(float(t.stature_m), 4)}
                   for t in tracks],
    })


def tracks_from_json(text: str) -> tuple[dict[str, Any], list[TrackState]]:
    """(header fields, tracks) of a ``tcfd_ros/tracks`` v1, v2 or v3 message.

    The header holds ``stamp``, ``frame_id``, ``sensor``, ``modality``, ``version`` and ``fixed_frame``
    ("" for v1, whose tracks all have ``ground`` None); tracks before v3 have ``stature_m`` None.
    """
    d = _load(text, TRACKS_SCHEMA)
    out = []
    for i, t in enumerate(_require(d, "tracks", list)):
        if not isinstance(t, dict):
            raise MessageFormatError(f"tracks[{i}] = {t!r}: expected an object")
        try:
            ground, sigma = read_ground(t, f"tracks[{i}].")
            out.append(TrackState(int(t["track_id"]), tuple(float(v) for v in t["position"]),
                                  tuple(float(v) for v in t["box"]), int(t.get("detection", -1)),
                                  ground, sigma, read_stature(t, f"tracks[{i}].")))
        except (KeyError, TypeError, ValueError) as e:
            raise MessageFormatError(f"tracks[{i}] = {t!r}: {e}") from e
    header = {k: d[k] for k in ("stamp", "frame_id", "sensor", "modality")}
    header.update(version=d["version"], fixed_frame=_fixed_frame(d))
    return header, out
