"""Turn a Recording (raw JSON and reduced messages) into the records the scorer works on.

Ground truth follows ``docs/ground_truth.md`` (schema ``tcfd_ros/ground_truth`` v1); tracks and
matches follow ``docs/matches.md`` (``tcfd_ros/tracks`` v1 and v2, ``tcfd_ros/match`` v1 and v2 read
by ``tcfd_ros.messages.MatchMsg``). Unknown versions are refused with the field named, never guessed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any, Collection, Iterator

from tcfd_ros.errors import BagError, MessageFormatError
from tcfd_ros.messages import MATCH_SCHEMA, TRACKS_SCHEMA, TRACKS_VERSIONS_READ, MatchMsg, stamp_to_seconds
from tcfd_ros.replay.recording import NS_PER_S, Recording
from tcfd_ros.replay.records import GTFrame, GTPerson, MatchEvent, Observation, OutputFrame

log = logging.getLogger(__name__)

GT_SCHEMA = "tcfd_ros/ground_truth"
GT_VERSION = 1


def _stamp_s(stamp: Any, where: str) -> float:
    if not isinstance(stamp, dict) or "sec" not in stamp or "nanosec" not in stamp:
        raise BagError(f"{where}: stamp = {stamp!r}: expected {{'sec': int, 'nanosec': int}}")
    return int(stamp["sec"]) + int(stamp["nanosec"]) / NS_PER_S


def ground_truth_frames(messages: list[dict[str, Any]]) -> dict[str, list[GTFrame]]:
    """Parsed /ground_truth objects -> per sensor name, frames in stamp order."""
    out: dict[str, list[GTFrame]] = defaultdict(list)
    for i, d in enumerate(messages):
        where = f"/ground_truth message {i}"
        if d.get("schema") != GT_SCHEMA or d.get("version") != GT_VERSION:
            raise BagError(f"{where}: schema/version = {d.get('schema')!r}/{d.get('version')!r}; this scorer "
                           f"reads {GT_SCHEMA!r} version {GT_VERSION}")
        sensor = d.get("sensor")
        if sensor not in ("camera", "lidar"):
            raise BagError(f"{where}: sensor = {sensor!r}: expected 'camera' or 'lidar'")
        people = []
        for p in d.get("people", []):
            box = p.get("image_box")
            center = (p.get("box3d") or {}).get("center")
            people.append(GTPerson(
                int(p["id"]),
                tuple(float(v) for v in box) if box is not None and sensor == "camera" else None,
                (float(center[0]), float(center[1])) if center is not None and sensor == "lidar" else None,
                bool(p.get("detectable", False)),
            ))
        out[sensor].append(GTFrame(sensor, _stamp_s(d.get("stamp"), where), tuple(people)))
    for frames in out.values():
        frames.sort(key=lambda f: f.stamp_s)
    return dict(out)


def stage_frames(rec: Recording, sensor: str, topic: str) -> list[OutputFrame]:
    """First-stage outputs (camera label images, LiDAR clusters) as bare detections per frame."""
    modality = rec.sensors[sensor]
    frames = []
    for r in rec.received:
        if r.topic != topic or r.stamp_ns is None or "objects" not in r.payload:
            continue
        obs = tuple(Observation(-1, image_box=tuple(o["box"])) if modality == "2d"
                    else Observation(-1, position=(o["position"][0], o["position"][1]))
                    for o in r.payload["objects"])
        frames.append(OutputFrame(sensor, r.stamp_ns / NS_PER_S, obs))
    return frames


def track_frames(rec: Recording, sensor: str, topic: str) -> list[OutputFrame]:
    """``tcfd_ros/tracks`` messages -> per frame the confirmed tracks (2d boxes / 3d box centres)."""
    modality = rec.sensors[sensor]
    frames = []
    unread = 0
    for r in rec.received:
        d = r.payload.get("json") if r.topic == topic else None
        if not isinstance(d, dict) or d.get("schema") != TRACKS_SCHEMA:
            continue
        if d.get("version") not in TRACKS_VERSIONS_READ:   # a newer tracker than this scorer
            unread += 1
            continue
        obs = []
        for t in d.get("tracks", []):
            box = t["box"]
            if modality == "2d":
                obs.append(Observation(int(t["track_id"]), image_box=tuple(float(v) for v in box[:4])))
            else:
                # 3d box: xmin ymin zmin xmax ymax zmax
                centre = (0.5 * (box[0] + box[3]), 0.5 * (box[1] + box[4]))
                obs.append(Observation(int(t["track_id"]), position=centre))
        frames.append(OutputFrame(sensor, _stamp_s(d.get("stamp"), topic), tuple(obs)))
    if unread:
        log.warning("%s: %d %s messages of a version this scorer does not read (it reads %s): not scored",
                    topic, unread, TRACKS_SCHEMA, list(TRACKS_VERSIONS_READ))
    return frames


def _tracklet_messages(rec: Recording, topics: Collection[str] | None) -> Iterator[dict[str, Any]]:
    """The recorded tracklet JSONs on ``topics`` (default every recorded sensor's ``/<sensor>/tracklets``)
    that name a sensor and a track id."""
    if topics is None:
        topics = {f"/{s}/tracklets" for s in rec.sensors}
    for r in rec.received:
        d = r.payload.get("json") if r.topic in topics else None
        if isinstance(d, dict) and isinstance(d.get("sensor"), str) and isinstance(d.get("track_id"), int):
            yield d


def tracklet_counts(rec: Recording, topics: Collection[str] | None = None) -> dict[tuple[str, int], int]:
    """(sensor, track) -> how many tracklets the graph published for it on ``topics`` (what the recognizer
    decided on; default every recorded sensor's ``/<sensor>/tracklets``); a message without a sensor and
    track id is not counted."""
    out: dict[tuple[str, int], int] = defaultdict(int)
    for d in _tracklet_messages(rec, topics):
        out[(d["sensor"], d["track_id"])] += 1
    return dict(out)


def tracklet_times(rec: Recording, topics: Collection[str] | None = None
                   ) -> dict[tuple[str, int], list[tuple[float, float, float]]]:
    """(sensor, track) -> each tracklet's (stamp, first frame, last frame), seconds, on ``topics`` (default
    every recorded sensor's ``/<sensor>/tracklets``): where the recognizer starts a track anew
    (``track_lives``). A message without a sensor, track id, stamp or frame stamps is left out."""
    out: dict[tuple[str, int], list[tuple[float, float, float]]] = defaultdict(list)
    for d in _tracklet_messages(rec, topics):
        try:
            stamp = stamp_to_seconds(d.get("stamp"))
            frames = [float(t) for t in d.get("frame_stamps") or ()]
        except (KeyError, TypeError, ValueError):
            continue
        if frames:
            out[(d["sensor"], d["track_id"])].append((stamp, min(frames), max(frames)))
    return dict(out)


def match_events(rec: Recording, topic: str) -> list[MatchEvent]:
    """``tcfd_ros/match`` v1 or v2 messages -> events; a message that does not parse is logged, skipped."""
    out = []
    bad = 0
    for r in rec.received:
        d = r.payload.get("json") if r.topic == topic else None
        if not isinstance(d, dict) or d.get("schema") != MATCH_SCHEMA:
            continue
        try:
            m = MatchMsg.from_dict(d)
        except (MessageFormatError, KeyError, TypeError, ValueError) as e:
            bad += 1
            if bad == 1:
                log.warning("%s: match message skipped: %s", topic, e)
            continue
        out.append(MatchEvent(stamp_to_seconds(m.stamp), m.sensor, m.track_id, m.global_id,
                              float("nan") if m.distance is None else m.distance, m.known, m.decided_by,
                              m.ground, m.fixed_frame))
    if bad:
        log.warning("%s: %d match messages skipped (not tcfd_ros/match v1/v2)", topic, bad)
    return out
