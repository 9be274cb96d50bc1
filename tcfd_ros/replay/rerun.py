"""The recognizer's identity logic re-run on a replay's recorded tracks and tracklets.

Why: a replay (``tcfd-ros replay BAG --fast --out DIR --record DIR/outputs.mcap``) records every sensor's
``tracks`` and ``tracklets`` (with their frames). Feeding them, in bag-time order (a frame's tracks before
its tracklets, as the recognizer receives them), through an ``Embedder`` and the ``IdentityManager`` the
recognizer node uses gives what the recognizer held at every decision (each track's aggregated gait
evidence, its walking speed and stature) without re-running segmenters and trackers: calibration reads the
tracks' final evidence (``training/pipeline_calibration.py``), benchmarks score identity-logic changes in a
minute. As in the node (``stamp_merge.py``), a stamp's tracklets are decided together, after every
sensor's positions up to that stamp and before any later one.

API::

    inputs = recorded_inputs(Path("out/replays/a/outputs.mcap"))  # [(ns, 0 tracks/1 tracklet, topic, json)]
    mgr, matches = rerun(inputs, embedder, IdentityConfig(), on_update=lambda mgr, obs, match: ...)
    mgr, states = final_track_states(inputs, embedder, IdentityConfig())   # {(sensor, track): TrackState}
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from tcfd_ros.inference.embedder import Embedder
from tcfd_ros.messages import stamp_to_seconds
from tcfd_ros.perception.config import IdentityConfig
from tcfd_ros.perception.ground import feet_hidden
from tcfd_ros.perception.identity import IdentityManager, TrackObservation
from tcfd_ros.perception.identity_types import IdentityMatch, TrackKey
from tcfd_ros.replay.reader import BagSource
from tcfd_ros.replay.records import MatchEvent
from tcfd_ros.track_messages import TrackletMsg, tracks_from_json

#: one recorded input: (bag time ns, 0 for tracks / 1 for a tracklet, topic, its JSON)
RecordedInput = tuple[int, int, str, str]
UpdateHook = Callable[[IdentityManager, TrackObservation, IdentityMatch], None]


def recorded_inputs(mcap: Path) -> list[RecordedInput]:
    """The recorded ``tracks`` and ``tracklets`` in the order the recognizer would see them."""
    out = []
    with BagSource(mcap) as src:
        topics = [t for t in src.topics if t.endswith("/tracks") or t.endswith("/tracklets")]
        for m in src.messages(topics):
            out.append((m.stamp_ns, int(m.topic.endswith("/tracklets")), m.topic, src.deserialize(m).data))
    out.sort(key=lambda r: (r[0], r[1]))
    return out


def rerun(inputs: list[RecordedInput], embedder: Embedder, cfg: IdentityConfig, hidden_feet: bool = False,
          on_update: UpdateHook | None = None) -> tuple[IdentityManager, list[MatchEvent]]:
    """The identity logic over ``inputs``: the manager as it ends, and every decision as a match event.
    ``on_update(manager, observation, match)`` runs after each tracklet's decision. ``hidden_feet`` drops
    the ground of camera boxes whose feet a nearer box hides (recordings made before the camera tracker
    did so itself)."""
    mgr = IdentityManager(cfg, None, embedder.metadata)
    matches: list[MatchEvent] = []
    hidden: set[tuple[str, int, float]] = set()
    group: list[TrackObservation] = []     # one stamp's tracklets, decided together as the node does

    def decide() -> None:
        for o, m in zip(group, mgr.update(group)):
            if on_update is not None:
                on_update(mgr, o, m)
            matches.append(_event(m))
        matches.extend(_event(r) for r in mgr.take_revisions())
        group.clear()

    for _, is_tracklet, _, text in inputs:
        if not is_tracklet:
            if group:
                decide()
            head, tracks = tracks_from_json(text)
            stamp = stamp_to_seconds(head["stamp"])
            if hidden_feet and head["modality"] == "2d" and tracks:
                drop = feet_hidden(np.array([t.box for t in tracks]))
                hidden |= {(head["sensor"], t.track_id, stamp) for t, d in zip(tracks, drop) if d}
                tracks = [replace(t, ground=None) if d else t for t, d in zip(tracks, drop)]
            mgr.observe_positions(head["sensor"], stamp, head["fixed_frame"],
                                  [(t.track_id, t.ground, t.ground_sigma_m, t.detection >= 0, t.stature_m)
                                   for t in tracks])
            continue
        t = TrackletMsg.from_json(text)
        e = embedder.embed([t.frames], t.modality)[0]
        stamp = stamp_to_seconds(t.stamp)
        if group and group[0].stamp_s != stamp:
            decide()
        ground = None if t.ground is None or not t.fixed_frame or (t.sensor, t.track_id, stamp) in hidden \
            else t.ground
        group.append(TrackObservation(stamp, t.sensor, t.modality, t.track_id, e, ground, t.ground_sigma_m,
                                      t.fixed_frame, t.frame_stamps, t.frames))
    if group:
        decide()
    return mgr, matches


def _event(r: IdentityMatch) -> MatchEvent:
    return MatchEvent(r.stamp_s, r.sensor, r.track_id, r.global_id,
                      float("nan") if r.distance is None else r.distance, r.known, r.decided_by, r.ground,
                      r.fixed_frame)


@dataclass(frozen=True)
class TrackState:
    """What the recognizer held of a track at its last tracklet."""

    modality: str
    evidence: np.ndarray          # the aggregate of its newest ``track_evidence_tracklets`` embeddings
    tracklets: int                # how many it delivered
    cues: dict[str, float]        # ``IdentityManager.cues``: walking speed, stature, step frequency


def final_track_states(inputs: list[RecordedInput], embedder: Embedder, cfg: IdentityConfig,
                       hidden_feet: bool = False) -> tuple[IdentityManager, dict[TrackKey, TrackState]]:
    """``rerun``, keeping each track as it stood at its last tracklet; and the manager as it ends (its
    ``decision_score`` and ``cue_likelihood_ratio`` read the states)."""
    final: dict[TrackKey, TrackState] = {}

    def keep(mgr: IdentityManager, o: TrackObservation, _match: IdentityMatch) -> None:
        ev = mgr.track_evidence(o.key)
        if ev is not None:
            final[o.key] = TrackState(o.modality, ev[0], ev[1], mgr.cues(o.key))

    mgr, _ = rerun(inputs, embedder, cfg, hidden_feet, keep)
    return mgr, final
