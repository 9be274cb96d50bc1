"""Reducing graph outputs on arrival (label images, cluster clouds, JSON) and saving a recording."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from tcfd_ros.image_conversions import cv2_to_imgmsg
from tcfd_ros.modalities import FRAME_SHAPES
from tcfd_ros.point_cloud2 import FLOAT32, UINT16, FieldSpec, create_cloud
from tcfd_ros.replay.adapters import tracklet_counts
from tcfd_ros.replay.recording import (Received, Recording, convert_clusters, convert_detections,
                                       convert_diagnostics, convert_string)
from tcfd_ros.replay.records import RunInfo
from tcfd_ros.track_messages import TrackletMsg


def test_label_image_becomes_boxes() -> None:
    labels = np.zeros((48, 64), np.uint16)
    labels[10:20, 5:9] = 1
    labels[30:40, 50:60] = 2
    out = convert_detections(cv2_to_imgmsg(labels, "mono16"))["objects"]
    assert out == [{"label": 1, "box": [5.0, 10.0, 9.0, 20.0], "pixels": 40},
                   {"label": 2, "box": [50.0, 30.0, 60.0, 40.0], "pixels": 100}]


def test_cluster_cloud_becomes_centroids() -> None:
    from std_msgs.msg import Header
    fields = ([FieldSpec(n, 4 * i, FLOAT32, 1) for i, n in enumerate("xyz")]
              + [FieldSpec("cluster", 12, UINT16, 1)])
    pts = [(1.0, 2.0, 0.0, 1), (3.0, 2.0, 1.0, 1), (-5.0, 0.5, 0.2, 2)]
    msg = create_cloud(Header(frame_id="lidar"), fields, pts)
    out = convert_clusters(msg)["objects"]
    assert [o["label"] for o in out] == [1, 2]
    np.testing.assert_allclose(out[0]["position"], [2.0, 2.0, 0.5])
    assert out[1]["points"] == 1


def test_tracklet_imagery_is_dropped_and_bad_json_kept_as_error() -> None:
    msg = SimpleNamespace(data=json.dumps({"schema": "tcfd_ros/tracklet", "frames": "QUJD", "track_id": 3}))
    d = convert_string(msg)["json"]
    assert d["frames"] == {"omitted": True, "count": 4} and d["track_id"] == 3
    assert "invalid_json" in convert_string(SimpleNamespace(data="{nope"))


def test_tracklets_are_counted_per_track_from_what_the_recorder_kept() -> None:
    def tracklet(sensor: str, track: int) -> Received:
        msg = TrackletMsg({"sec": 1, "nanosec": 0}, sensor, sensor, "2d", track, (1.0,), (0.0, 0.0),
                          np.zeros((1, *FRAME_SHAPES["2d"]), np.uint8))
        reduced = convert_string(SimpleNamespace(data=msg.to_json()))      # as the recorder keeps it
        return Received(f"/{sensor}/tracklets", "string", 0.0, 1, reduced)

    rec = Recording(RunInfo("b", 2.0, {}), [], [
        Received("/camera/tracks", "string", 0.0, 1, {"json": {"sensor": "camera", "track_id": 3}}),
        tracklet("camera", 3), tracklet("camera", 3), tracklet("lidar", 3),
        Received("/lidar/tracklets", "string", 0.0, 1, convert_string(SimpleNamespace(data="{nope")))],
        [], {"camera": "2d", "lidar": "3d"})
    assert tracklet_counts(rec) == {("camera", 3): 2, ("lidar", 3): 1}
    assert tracklet_counts(rec, {"/lidar/tracklets"}) == {("lidar", 3): 1}


def test_diagnostics_values() -> None:
    st = SimpleNamespace(name="recognizer", level=b"\x01", message="slow",
                         values=[SimpleNamespace(key="tracklets: received", value="5")])
    assert convert_diagnostics(SimpleNamespace(status=[st]))["status"] == [
        {"name": "recognizer", "level": 1, "message": "slow", "values": {"tracklets: received": "5"}}]


def test_recording_round_trip(tmp_path: Path) -> None:
    rec = Recording(RunInfo("b", 2.0, {"/lidar/points": 3}), [("lidar", 5, 0.5)],
                    [Received("/matches", "string", 1.0, 5, {"json": {"a": 1}})], [{"schema": "x"}],
                    {"lidar": "3d"})
    rec.save(tmp_path / "r.jsonl")
    back = Recording.load(tmp_path / "r.jsonl")
    assert back.info == rec.info and back.received == rec.received and back.published == [("lidar", 5, 0.5)]
    assert back.ground_truth == rec.ground_truth and back.sensors == rec.sensors
