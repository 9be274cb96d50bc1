"""tracks / tracklet schema v2 (fixed-frame ``ground``), tracks v3 (``stature_m``) and the trackers'
``calibration`` parameters."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tcfd_ros.config_io import from_dict
from tcfd_ros.errors import ConfigError, MessageFormatError
from tcfd_ros.perception.calibration_config import CalibrationConfig
from tcfd_ros.track_messages import TrackletMsg, TrackState, tracks_from_json, tracks_to_json

STAMP = {"sec": 5, "nanosec": 7}


def test_tracks_v3_round_trip_and_v2_v1_still_read():
    tracks = [TrackState(1, (320.0, 200.0), (300.0, 100.0, 340.0, 300.0), 2, (4.0, -1.5, 0.0), 0.42, 1.72),
              TrackState(2, (10.0, 20.0), (0.0, 0.0, 20.0, 40.0), -1)]
    text = tracks_to_json(STAMP, "camera_optical_frame", "camera", "2d", tracks, fixed_frame="map")
    d = json.loads(text)
    assert d["version"] == 3 and d["fixed_frame"] == "map"
    assert d["tracks"][0]["ground"] == [4.0, -1.5, 0.0] and d["tracks"][1]["ground"] is None
    assert d["tracks"][0]["stature_m"] == 1.72 and d["tracks"][1]["stature_m"] is None
    header, back = tracks_from_json(text)
    assert header["fixed_frame"] == "map" and header["version"] == 3
    assert back == tracks
    for t in d["tracks"]:
        del t["stature_m"]
    header, back = tracks_from_json(json.dumps(dict(d, version=2)))
    assert header["version"] == 2 and back[0].stature_m is None and back[0].ground == (4.0, -1.5, 0.0)
    v1 = {"schema": "tcfd_ros/tracks", "version": 1, "stamp": STAMP, "frame_id": "lidar", "sensor": "lidar",
          "modality": "3d", "tracks": [{"track_id": 3, "position": [1, 2, 0.9], "box": [0, 1, 0, 2, 3, 1.8],
                                        "detection": 0}]}
    header, back = tracks_from_json(json.dumps(v1))
    assert header["fixed_frame"] == "" and back[0].ground is None and back[0].ground_sigma_m is None


@pytest.mark.parametrize("ground, sigma, match", [
    ([1.0, 2.0], 0.1, "ground"), ([1.0, "x", 0.0], 0.1, "ground"), ([1.0, 2.0, float("nan")], 0.1, "ground"),
    ([1.0, 2.0, 0.0], -1.0, "ground_sigma_m"), ([1.0, 2.0, 0.0], True, "ground_sigma_m")])
def test_tracks_v2_refuses_bad_ground(ground, sigma, match):
    d = json.loads(tracks_to_json(STAMP, "c", "c", "2d", [TrackState(1, (0, 0), (0, 0, 1, 1))], "map"))
    d["tracks"][0].update(ground=ground, ground_sigma_m=sigma)
    with pytest.raises(MessageFormatError, match=match):
        tracks_from_json(json.dumps(d))


@pytest.mark.parametrize("stature", [0.0, -1.7, "1.7", True, [1.7]])
def test_tracks_v3_refuses_bad_stature(stature):
    d = json.loads(tracks_to_json(STAMP, "c", "c", "2d", [TrackState(1, (0, 0), (0, 0, 1, 1))], "map"))
    d["tracks"][0]["stature_m"] = stature
    with pytest.raises(MessageFormatError, match="stature_m"):
        tracks_from_json(json.dumps(d))


def test_newer_versions_are_refused():
    d = json.loads(tracks_to_json(STAMP, "c", "c", "2d", [], "map"))
    for v in (4, 0, True, "2"):
        with pytest.raises(MessageFormatError, match="version"):
            tracks_from_json(json.dumps(dict(d, version=v)))


def test_tracklet_v2_round_trip_and_v1():
    frames = np.zeros((3, 64, 64), np.uint8)
    msg = TrackletMsg(STAMP, "camera_optical_frame", "camera", "2d", 4, (0.1, 0.2, 0.3), (320.0, 240.0),
                      frames, (3.0, 1.0, 0.0), 0.6, "map")
    d = json.loads(msg.to_json())
    assert d["version"] == 2 and d["ground"] == [3.0, 1.0, 0.0] and d["fixed_frame"] == "map"
    back = TrackletMsg.from_json(msg.to_json())
    assert back.ground == (3.0, 1.0, 0.0) and back.ground_sigma_m == 0.6 and back.fixed_frame == "map"
    for k in ("ground", "ground_sigma_m", "fixed_frame"):
        del d[k]
    d["version"] = 1
    old = TrackletMsg.from_json(json.dumps(d))
    assert old.ground is None and old.ground_sigma_m is None and old.fixed_frame == ""


def test_calibration_config_validation():
    cfg = from_dict(CalibrationConfig, {"parent_frame": "base_link", "translation_m": [0.25, 0, 0.9]},
                    where="t")
    assert cfg.on_platform and cfg.has_extrinsics
    np.testing.assert_allclose(cfg.extrinsics().t, [0.25, 0, 0.9])
    assert not CalibrationConfig().has_extrinsics and CalibrationConfig().extrinsics() is None
    assert not CalibrationConfig(parent_frame="map").on_platform
    for bad, match in (({"parent_frame": "camera_link"}, "parent_frame"),
                       ({"translation_m": [1.0, 2.0]}, "translation_m"),
                       ({"rotation_xyzw": [0.0, 0.0, 0.0, 0.0]}, "rotation_xyzw"),
                       ({"pixel_sigma_px": 0.0}, "pixel_sigma_px"),
                       ({"source": "urdf"}, "source"),
                       ({"base_frame": "map"}, "base_frame")):
        with pytest.raises(ConfigError, match=match):
            from_dict(CalibrationConfig, bad, where="t")


def test_tracker_params_carry_calibration():
    from tcfd_ros.nodes.config_file import render_params_file
    from tcfd_ros.nodes.node_configs import TrackerNodeConfig
    from tcfd_ros.nodes.params import param_specs

    names = {s.name: s for s in param_specs(TrackerNodeConfig())}
    assert {"calibration.parent_frame", "calibration.translation_m", "calibration.rotation_xyzw",
            "calibration.fixed_frame", "calibration.pose_topic"} <= set(names)
    assert names["calibration.source"].read_only and not names["calibration.translation_m"].read_only
    text = render_params_file()
    assert text.count("    calibration:") == 3   # camera_tracker, lidar_tracker, lidar_segmenter


@pytest.mark.parametrize("modality, shape, ground", [("2d", (10, 64, 64), (1.5, -2.0, 0.0)),
                                                     ("3d", (7, 3, 64, 64), None)])
def test_tracklet_json_is_what_json_dumps_of_the_whole_object_gives(modality, shape, ground):
    """to_json splices the base64 frames in after the header; the text must be json.dumps' own."""
    import base64

    frames = np.random.default_rng(5).integers(0, 256, size=shape, dtype=np.uint8)
    msg = TrackletMsg({"sec": 3, "nanosec": 4}, "cam\"era", "camera", modality, 12,
                      tuple(0.1 * k for k in range(shape[0])), (1.0, 2.0), frames, ground,
                      None if ground is None else 0.25, "map" if ground else "")
    reference = json.dumps({
        "schema": "tcfd_ros/tracklet", "version": 2, "stamp": {"sec": 3, "nanosec": 4},
        "frame_id": "cam\"era", "fixed_frame": "map" if ground else "", "sensor": "camera",
        "modality": modality, "track_id": 12, "frame_stamps": [0.1 * k for k in range(shape[0])],
        "position": [1.0, 2.0], "ground": None if ground is None else list(ground),
        "ground_sigma_m": None if ground is None else 0.25, "shape": list(shape), "dtype": "uint8",
        "frames": base64.b64encode(frames.tobytes()).decode("ascii")})
    assert msg.to_json() == reference
    back = TrackletMsg.from_json(msg.to_json())
    assert np.array_equal(back.frames, frames) and back.frame_id == "cam\"era"


def test_the_replay_scorer_reads_every_tracks_version_the_trackers_write_and_says_what_it_cannot(caplog):
    from tcfd_ros.replay.adapters import track_frames
    from tcfd_ros.replay.recording import Received, Recording, RunInfo

    tracks = [TrackState(1, (320.0, 200.0), (300.0, 100.0, 340.0, 300.0), 2, (4.0, -1.5, 0.0), 0.42, 1.72)]
    d = json.loads(tracks_to_json(STAMP, "camera_optical_frame", "camera", "2d", tracks, fixed_frame="map"))
    msgs = [dict(d, version=v) for v in (1, 2, d["version"], d["version"] + 1)]
    received = [Received("/camera/tracks", "string", 1.0, 5, {"json": m}) for m in msgs]
    rec = Recording(RunInfo("b", 2.0, {}), [], received, [], {"camera": "2d"})
    frames = track_frames(rec, "camera", "/camera/tracks")
    assert len(frames) == 3 and frames[-1].observations[0].image_box == (300.0, 100.0, 340.0, 300.0)
    assert "1 tcfd_ros/tracks messages of a version this scorer does not read" in caplog.text
