"""The matches schema (tcfd_ros.messages): v2 written, v1 and v2 read, the replay adapter reads both."""

from __future__ import annotations

import json

import pytest

from tcfd_ros.errors import MessageFormatError
from tcfd_ros.messages import MATCH_SCHEMA, MATCH_VERSION, MatchMsg, stamp_dict
from tcfd_ros.replay.adapters import match_events
from tcfd_ros.replay.recording import Received, Recording
from tcfd_ros.replay.records import RunInfo

V1 = {"schema": "tcfd_ros/match", "version": 1, "stamp": {"sec": 12, "nanosec": 300000000},
      "frame_id": "lidar", "sensor": "lidar", "modality": "3d", "track_id": 4, "global_id": 2,
      "known": True, "distance": 0.21, "confidence": 0.97, "threshold": 0.38, "label": None,
      "switched": False}


def _v2(**kw) -> dict:
    d = dict(V1, version=2, ground=[1.5, -2.0, 0.0], ground_sigma_m=0.12, fixed_frame="map",
             decided_by="both")
    d.update(kw)
    return d


def test_v2_round_trip():
    m = MatchMsg(stamp_dict(3, 5), "camera_optical_frame", "camera", "2d", 9, 4, True, None, 1.0, 0.3,
                 None, True, (1.0, 2.0, 0.0), 0.2, "map", "geometry")
    d = json.loads(m.to_json())
    assert d["schema"] == MATCH_SCHEMA and d["version"] == MATCH_VERSION == 2
    assert d["ground"] == [1.0, 2.0, 0.0] and d["fixed_frame"] == "map" and d["decided_by"] == "geometry"
    back = MatchMsg.from_json(m.to_json())
    assert back.ground == (1.0, 2.0, 0.0) and back.decided_by == "geometry" and back.switched
    unplaced = MatchMsg(stamp_dict(3, 5), "c", "camera", "2d", 9, 4, False, None, 0.0, 0.3)
    d = json.loads(unplaced.to_json())
    assert d["ground"] is None and d["fixed_frame"] == "" and d["decided_by"] is None


def test_v1_still_reads_without_position_or_reason():
    m = MatchMsg.from_json(json.dumps(V1))
    assert m.version == 1 and m.ground is None and m.decided_by is None and m.fixed_frame == ""
    assert (m.global_id, m.track_id, m.distance) == (2, 4, 0.21)


@pytest.mark.parametrize("change,field", [
    ({"version": 3}, "version"), ({"version": True}, "version"), ({"schema": "tcfd_ros/tracks"}, "schema"),
    ({"decided_by": "luck"}, "decided_by"), ({"ground": [1.0, 2.0]}, "ground"),
    ({"ground": [1.0, float("nan"), 0.0]}, "ground"), ({"ground_sigma_m": -1.0}, "ground_sigma_m"),
    ({"confidence": 2.0}, "confidence"),
])
def test_bad_matches_are_refused_naming_the_field(change, field):
    with pytest.raises(MessageFormatError, match=field):
        MatchMsg.from_dict(_v2(**change))


def test_replay_adapter_reads_v1_and_v2_and_skips_bad_ones():
    rec = Recording(RunInfo(bag="b", bag_duration_s=20.0))
    for d in (V1, _v2(track_id=5, stamp={"sec": 13, "nanosec": 0}), _v2(version=7), {"schema": "other"}):
        rec.received.append(Received("/matches", "string", 0.0, None, {"json": d}))
    events = match_events(rec, "/matches")
    assert [(e.track_id, e.decided_by) for e in events] == [(4, None), (5, "both")]
    assert events[1].ground == (1.5, -2.0, 0.0) and events[1].fixed_frame == "map"
    assert events[0].stamp_s == pytest.approx(12.3)
