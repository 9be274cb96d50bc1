"""Camera tracking on a moving platform (issue 12, robot patrol): the image moves under every person when
the robot turns, a person the robot passes spans half the image, and a coasting track's position is as
uncertain as its filter says."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from tcfd_ros.errors import MessageFormatError
from tcfd_ros.geometry.calibration import CameraIntrinsics, RigidTransform, reproject_ground_pixels
from tcfd_ros.perception.calibration_config import CalibrationConfig
from tcfd_ros.perception.config import PART_RESCUE_COVERAGE, TrackletConfig, camera_tracker_config
from tcfd_ros.perception.ground import SensorPlacement
from tcfd_ros.perception.sensor_tracking import SensorTracking, pixel_sigma
from tcfd_ros.perception.track import Measurement, MultiTargetTracker
from tcfd_ros.perception.tracklet import TrackletBuffer
from tcfd_ros.sim.sensors import camera_pose

CAM = CameraIntrinsics(np.array([[457.0, 0, 320], [0, 457.0, 240], [0, 0, 1]]), np.zeros(5), 640, 480)
#: The simulated robot's camera: 0.25 m ahead of base_link, 0.9 m up, tilted 5 degrees down.
BASE_FROM_CAM = RigidTransform(*camera_pose((0.25, 0.0, 0.9), 0.0, math.radians(5)))
HZ = 15.0
PERSON_HEIGHT_M = 1.7


def _tracking(ego_motion: bool, **tracker) -> SensorTracking:
    cfg = CalibrationConfig(source="params", parent_frame="base_link", translation_m=tuple(BASE_FROM_CAM.t),
                            rotation_xyzw=tuple(BASE_FROM_CAM.quaternion()), camera_ego_motion=ego_motion)
    buf = TrackletBuffer.from_config(TrackletConfig(frames=10, hop=5), "2d")
    # every live track is published, coasting ones too: these tests follow the tracks themselves
    tracker = {"publish_coasting_frames": -1, **tracker}
    return SensorTracking("2d", MultiTargetTracker(replace(camera_tracker_config(), **tracker)), buf,
                          SensorPlacement(cfg))


def _box(map_from_cam: RigidTransform, foot_map: np.ndarray) -> tuple[float, float, float, float]:
    head = foot_map + [0, 0, PERSON_HEIGHT_M]
    uv, _ = CAM.project(map_from_cam.inverse().apply(np.stack([foot_map, head])))
    (u, v1), (_, v0) = uv
    w = (v1 - v0) / 3
    return (u - w / 2, v0, u + w / 2, v1)


def _measurement(box, label: int = 1) -> Measurement:
    return Measurement(position=((box[0] + box[2]) / 2, (box[1] + box[3]) / 2),
                       size=(box[2] - box[0], box[3] - box[1]),
                       payload=(np.zeros((64, 64), np.uint8), box, label))


def _patrol(trk: SensorTracking, frames: int = 75, seen=lambda k: True) -> list[set[int]]:
    """The robot drives at 0.6 m/s and sways its heading +-0.25 rad (period 1.5 s) past a person standing
    8 m ahead; returns the confirmed track ids per frame."""
    person = np.array([8.0, 0.5, 0.0])
    ids = []
    for k in range(frames):
        t = 50.0 + k / HZ
        yaw = 0.25 * math.sin(2 * math.pi * (t - 50.0) / 1.5)
        map_from_base = RigidTransform.from_xyz_rpy((0.6 * (t - 50.0), 0.0, 0.0), (0.0, 0.0, yaw))
        trk.placement.add_pose("map", "base_link", t, map_from_base)
        box = _box(map_from_base.compose(BASE_FROM_CAM), person)
        res = trk.step(t, "camera_optical_frame", [_measurement(box)] if seen(k) else [], CAM)
        ids.append({s.track_id for s in res.states})
    return ids


def test_ground_pixels_follow_the_camera_and_a_still_camera_moves_nothing():
    before = RigidTransform(*camera_pose((0.0, 0.0, 0.9), 0.0, math.radians(5)))
    after = RigidTransform(*camera_pose((0.3, 0.1, 0.9), math.radians(4), math.radians(5)))
    foot = np.array([[6.0, 1.0, 0.0], [12.0, -2.0, 0.0]])
    uv0, _ = CAM.project(before.inverse().apply(foot))
    uv1, _ = CAM.project(after.inverse().apply(foot))
    np.testing.assert_allclose(reproject_ground_pixels(uv0, CAM, before, after), uv1, atol=1e-6)
    np.testing.assert_allclose(reproject_ground_pixels(uv0, CAM, before, before), uv0, atol=1e-9)
    # above the horizon there is no ground point: only the camera's rotation moves the pixel
    sky = np.array([[320.0, 100.0]])
    turned = RigidTransform(*camera_pose((5.0, 0.0, 0.9), math.radians(4), math.radians(5)))
    moved = reproject_ground_pixels(sky, CAM, before, turned)
    assert moved[0, 0] == pytest.approx(320.0 + 457.0 * math.tan(math.radians(4)), abs=3.0)
    assert reproject_ground_pixels(np.zeros((0, 2)), CAM, before, after).shape == (0, 2)


def test_a_swaying_robot_keeps_one_track_on_a_standing_person_with_ego_motion():
    seen = lambda k: k % 4 != 3                                       # noqa: E731  the segmenter misses
    with_ego = _patrol(_tracking(True), seen=seen)
    without = _patrol(_tracking(False), seen=seen)
    assert set().union(*with_ego) == {1} and all(with_ego[5:])        # one track, never lost
    assert len(set().union(*without)) > 1                             # the image-plane filter breaks


def test_ego_motion_changes_nothing_for_a_still_camera():
    map_from_cam = RigidTransform(*camera_pose((0.0, 0.0, 3.0), 0.0, math.radians(12)))

    def run(ego: bool):
        cfg = CalibrationConfig(source="params", parent_frame="map", translation_m=tuple(map_from_cam.t),
                                rotation_xyzw=tuple(map_from_cam.quaternion()), camera_ego_motion=ego)
        trk = SensorTracking("2d", MultiTargetTracker(camera_tracker_config()),
                             TrackletBuffer.from_config(TrackletConfig(), "2d"), SensorPlacement(cfg))
        out = []
        for k in range(30):
            box = _box(map_from_cam, np.array([6.0 + 0.08 * k, 0.5 - 0.05 * k, 0.0]))
            res = trk.step(3.0 + k / HZ, "camera_optical_frame", [_measurement(box)] if k % 5 else [], CAM)
            out.append([(s.track_id, s.box, s.ground) for s in res.states])
        return out

    assert run(True) == run(False)


def test_a_coasting_track_reports_a_growing_ground_uncertainty():
    trk = _tracking(True)
    person = np.array([8.0, 0.5, 0.0])
    sigmas = []
    for k in range(12):
        t = 10.0 + k / HZ
        trk.placement.add_pose("map", "base_link", t, RigidTransform.identity())
        box = _box(BASE_FROM_CAM, person)
        res = trk.step(t, "camera_optical_frame", [_measurement(box)] if k < 6 else [], CAM)
        if res.states:
            sigmas.append((res.states[0].detection, res.states[0].ground_sigma_m))
    measured = [s for d, s in sigmas if d >= 0]
    coasting = [s for d, s in sigmas if d < 0]
    assert max(measured) - min(measured) < 1e-6            # measured: the pixel noise only
    assert coasting[0] > measured[-1] and coasting == sorted(coasting) and coasting[-1] > 2.5 * measured[-1]


def test_pixel_sigma_of_a_measured_track_is_the_configured_noise():
    trk = MultiTargetTracker(camera_tracker_config())
    (t,) = [x for x in [trk.update(0.0, [_measurement((100, 100, 140, 220))])] for x in trk.tracks]
    assert pixel_sigma(t, 3.0) == 3.0


def _big_box_track(rescue: float) -> tuple[MultiTargetTracker, list[int]]:
    """A person passed at 2-3 m: a 200 x 380 px box; then the box jumps 40 px (the robot's pass)."""
    trk = MultiTargetTracker(replace(camera_tracker_config(), overlap_rescue_iou=rescue))
    for k in range(6):
        trk.update(k / HZ, [_measurement((200.0, 50.0, 400.0, 430.0))])
    out = trk.update(6 / HZ, [_measurement((240.0, 50.0, 440.0, 430.0))])
    return trk, [(t.track_id, t.measurement_index) for t in out]


def test_a_near_person_box_that_moved_beyond_the_gate_stays_on_its_track():
    _, kept = _big_box_track(OVERLAP := 0.5)
    assert kept == [(1, 0)]
    trk, lost = _big_box_track(0.0)
    assert lost == [(1, -1)]                                  # coasting: the measurement is a new track
    assert [t.track_id for t in trk.tracks] == [1, 2]
    assert OVERLAP == camera_tracker_config().overlap_rescue_iou


def test_rescue_needs_real_overlap_and_a_free_measurement():
    trk = MultiTargetTracker(camera_tracker_config())
    for k in range(6):
        trk.update(k / HZ, [_measurement((200.0, 50.0, 400.0, 430.0))])
    out = trk.update(6 / HZ, [_measurement((330.0, 50.0, 530.0, 430.0))])   # IoU 0.24
    assert [(t.track_id, t.measurement_index) for t in out] == [(1, -1)]


def test_translate_moves_positions_only_and_refuses_bad_shifts():
    trk = MultiTargetTracker(camera_tracker_config())
    for k in range(3):
        trk.update(k / HZ, [_measurement((100.0, 100.0, 140.0, 220.0))])
    before = trk.tracks[0]
    trk.translate({1: (30.0, -5.0), 99: (1.0, 1.0)})
    after = trk.tracks[0]
    np.testing.assert_allclose(after.x[:2], before.x[:2] + [30.0, -5.0])
    np.testing.assert_allclose(after.x[2:], before.x[2:])
    np.testing.assert_allclose(after.P, before.P)
    with pytest.raises(MessageFormatError, match="shift of track 1"):
        trk.translate({1: (math.nan, 0.0)})
    np.testing.assert_allclose(trk.tracks[0].x, after.x)


def test_a_part_of_a_person_keeps_the_track_but_gives_no_gait_frame():
    """Legs lost in 3 frames of every 8: one track, measured throughout; its tracklets hold only the frames
    that show the whole walker (half a walker is no gait frame)."""
    trk = _tracking(False, part_rescue_coverage=PART_RESCUE_COVERAGE)
    partial = {k for k in range(10, 60) if (k - 10) % 8 < 3}
    ids, stamps = set(), []
    for k in range(60):
        x = 100.0 + 5.0 * k
        box = (x - 10, 244.0, x + 10, 291.0) if k in partial else (x - 17, 244.0, x + 17, 336.0)
        res = trk.step(k / HZ, "camera_optical_frame", [_measurement(box)], CAM)
        ids |= {s.track_id for s in res.states}
        assert all(s.detection >= 0 for s in res.states)          # measured in every frame
        stamps += [float(s) for r in res.ready for s in r.tracklet.stamps]
    assert ids == {1} and trk.tracker.parts_rescued == len(partial)
    assert stamps and not {round(s * HZ) for s in stamps} & partial
