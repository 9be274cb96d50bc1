"""The camera tracker publishes only measured tracks (``tracker.publish_coasting_frames`` 0): a coasting
image-plane prediction drifts off its person on a robot (RESULTS.md, "Robot patrol hand-off, more
seeds"), while the track lives on so the person keeps its id when measured again."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tcfd_ros.errors import ConfigError
from tcfd_ros.perception.calibration_config import CalibrationConfig
from tcfd_ros.perception.config import TrackerConfig, TrackletConfig, camera_tracker_config
from tcfd_ros.perception.ground import SensorPlacement
from tcfd_ros.perception.sensor_tracking import SensorTracking
from tcfd_ros.perception.track import Measurement, MultiTargetTracker
from tcfd_ros.perception.tracklet import TrackletBuffer

HZ = 15.0
MISSED = (8, 9, 10)          # frames without a detection of the walker


def _measurement(box, label: int = 1) -> Measurement:
    return Measurement(position=((box[0] + box[2]) / 2, (box[1] + box[3]) / 2),
                       size=(box[2] - box[0], box[3] - box[1]),
                       payload=(np.zeros((64, 64), np.uint8), box, label))


def _run(tracker: TrackerConfig) -> list[list[tuple[int, int]]]:
    """A walker crosses the image at 60 px/s, missed on frames MISSED; (track id, detection) per frame."""
    buffer = TrackletBuffer.from_config(TrackletConfig(), "2d")
    trk = SensorTracking("2d", MultiTargetTracker(tracker), buffer, SensorPlacement(CalibrationConfig()))
    out = []
    for k in range(16):
        x = 100.0 + 4.0 * k
        seen = [] if k in MISSED else [_measurement((x, 120.0, x + 40.0, 240.0))]
        res = trk.step(k / HZ, "camera_optical_frame", seen)
        out.append([(s.track_id, s.detection) for s in res.states])
    return out


def test_the_camera_publishes_measured_tracks_only_and_keeps_the_id():
    assert camera_tracker_config().publish_coasting_frames == 0
    frames = _run(camera_tracker_config())
    for k in MISSED:
        assert frames[k] == []                              # coasting: not published
    ids = {tid for f in frames for tid, _ in f}
    assert ids == {1} and all(d >= 0 for f in frames for _, d in f)
    assert all(frames[k] for k in range(4, 16) if k not in MISSED)   # back on the same track


def test_coasting_frames_are_published_up_to_the_limit_and_always_with_minus_one():
    one = _run(replace(camera_tracker_config(), publish_coasting_frames=1))
    assert one[8] == [(1, -1)] and one[9] == [] and one[10] == []
    always = _run(replace(camera_tracker_config(), publish_coasting_frames=-1))
    assert all(always[k] == [(1, -1)] for k in MISSED)
    assert TrackerConfig().publish_coasting_frames == -1    # the LiDAR default: unchanged


def test_publish_coasting_frames_is_validated():
    with pytest.raises(ConfigError, match="publish_coasting_frames"):
        TrackerConfig(publish_coasting_frames=-2).validate()
