"""Fixed-frame ground positions: SensorTracking, the bag's tf as calibration, and the simulator's truth."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tcfd_ros.geometry.calibration import CameraIntrinsics, RigidTransform
from tcfd_ros.perception.calibration_config import CalibrationConfig
from tcfd_ros.perception.config import TrackletConfig, camera_tracker_config
from tcfd_ros.perception.config import TrackerConfig
from tcfd_ros.perception.ground import NoTransform, SensorPlacement, camera_ground, feet_hidden
from tcfd_ros.perception.sensor_tracking import SensorTracking, lidar_measurements
from tcfd_ros.perception.track import Measurement, MultiTargetTracker
from tcfd_ros.perception.tracklet import TrackletBuffer
from tcfd_ros.sim.bag import BagSimulation, BagSpec, write_bag
from tcfd_ros.sim.sensors import camera_pose

TINY = dict(people=2, duration_s=0.6, lidar="vlp16", camera_width=96, camera_height=72, seed=5151,
            layout="overlap")


def _cfg(T: RigidTransform, parent: str = "map", **kw) -> CalibrationConfig:
    return CalibrationConfig(source="params", parent_frame=parent, translation_m=tuple(T.t),
                             rotation_xyzw=tuple(T.quaternion()), **kw)


def _tracking(modality: str, cfg: CalibrationConfig, frames: int = 3) -> SensorTracking:
    tcfg = camera_tracker_config() if modality == "2d" else TrackerConfig()
    buf = TrackletBuffer.from_config(TrackletConfig(frames=frames, hop=frames), modality)
    return SensorTracking(modality, MultiTargetTracker(tcfg), buf, SensorPlacement(cfg))


def _lidar_measurement(centroid_sensor: np.ndarray) -> Measurement:
    c = np.asarray(centroid_sensor, float)
    lo, hi = c - [0.3, 0.3, 0.8], c + [0.3, 0.3, 0.8]
    return Measurement(position=(c[0], c[1]), size=(0.6, 0.6),
                       payload=(np.zeros((3, 64, 64), np.uint8), (*lo, *hi), 0, c))


def test_lidar_on_a_turning_robot_tracks_a_standing_person_in_the_fixed_frame():
    """The base spins at 0.8 rad/s: in the sensor frame the person sweeps sideways, in map it stands."""
    base_from_lidar = RigidTransform.from_xyz_rpy((0.0, 0.0, 1.0), (0, 0, 0))
    cfg = _cfg(base_from_lidar, parent="base_link", lidar_offset_m=0.0)
    trk = _tracking("3d", cfg)
    person_map = np.array([6.0, 2.0, 0.9])
    results = []
    for k in range(30):
        t = 100.0 + 0.1 * k
        map_from_base = RigidTransform.from_xyz_rpy((0.1 * k, 0.0, 0.0), (0, 0, 0.8 * (t - 100.0)))
        trk.placement.add_pose("map", "base_link", t, map_from_base)
        map_from_lidar = map_from_base.compose(base_from_lidar)
        c = map_from_lidar.inverse().apply(person_map)
        results.append((trk.step(t, "lidar", [_lidar_measurement(c)]), c))
    res, c = results[-1]
    assert res.fixed_frame == "map" and len(res.states) == 1
    s = res.states[0]
    np.testing.assert_allclose(s.ground, [6.0, 2.0, 0.0], atol=0.05)
    np.testing.assert_allclose(s.position[:2], c[:2], atol=0.05)      # published in the sensor frame
    assert s.ground_sigma_m == cfg.lidar_sigma_m
    assert {st.track_id for r, _ in results[3:] for st in r.states} == {s.track_id}   # one track throughout
    ready = [rt for r, _ in results for rt in r.ready]
    assert ready and all(rt.ground is not None for rt in ready)


def test_ground_offsets_move_away_from_the_sensor():
    from tcfd_ros.perception.ground import lidar_ground

    T = RigidTransform.from_xyz_rpy((1.0, 1.0, 2.0), (0, 0, 0))
    g = lidar_ground(np.array([[3.0, 4.0, -1.0], [0.0, 0.0, -1.0]]), T, CalibrationConfig(lidar_offset_m=0.5))
    np.testing.assert_allclose(g.points, [[4.3, 5.4, 0.0], [1.0, 1.0, 0.0]])


def test_lidar_without_a_pose_for_the_stamp_raises_and_keeps_state():
    cfg = _cfg(RigidTransform.identity(), parent="base_link")
    trk = _tracking("3d", cfg)
    with pytest.raises(NoTransform, match="no pose received"):
        trk.step(1.0, "lidar", [_lidar_measurement(np.array([3.0, 0, 0.9]))])
    assert trk.tracker.tracks == []


def test_uncalibrated_sensor_tracks_as_before_without_ground():
    trk = _tracking("3d", CalibrationConfig(source="params"))
    for k in range(4):
        res = trk.step(float(k) * 0.1, "lidar", [_lidar_measurement(np.array([3.0 + 0.05 * k, 0, 0.9]))])
    assert res.fixed_frame == "" and res.states[0].ground is None and res.placement_error == "not calibrated"
    np.testing.assert_allclose(res.states[0].position[:2], [3.15, 0.0], atol=0.05)


def _person_box(cam: CameraIntrinsics, map_from_cam: RigidTransform, p: np.ndarray) -> tuple[float, ...]:
    """The image box of a 1.7 m person standing at ``p`` (a third as wide as tall)."""
    uv, _ = cam.project(map_from_cam.inverse().apply(np.stack([p, p + [0, 0, 1.7]])))
    (fx, fy), (_, hy) = uv
    return (fx - (fy - hy) / 6, hy, fx + (fy - hy) / 6, fy)


def _box_measurements(boxes: list) -> list[Measurement]:
    """Camera measurements of ``boxes`` as the camera tracker node builds them (label ``i + 1``)."""
    return [Measurement(position=((b[0] + b[2]) / 2, (b[1] + b[3]) / 2), size=(b[2] - b[0], b[3] - b[1]),
                        payload=(np.zeros((64, 64), np.uint8), b, i + 1)) for i, b in enumerate(boxes)]


def test_camera_tracks_get_ground_positions_that_grow_uncertain_with_distance():
    cam = CameraIntrinsics(np.array([[400.0, 0, 320], [0, 400.0, 240], [0, 0, 1]]), np.zeros(5), 640, 480)
    map_from_cam = RigidTransform(*camera_pose((0.0, 0.0, 3.0), 0.0, math.radians(12)))
    trk = _tracking("2d", _cfg(map_from_cam, foot_offset_m=0.0))
    people = [np.array([6.0, 0.5, 0.0]), np.array([15.0, -1.0, 0.0])]
    for k in range(5):
        ms = _box_measurements([_person_box(cam, map_from_cam, p) for p in people])
        res = trk.step(10.0 + k / 15, "camera_optical_frame", ms, cam)
        assert res.fixed_frame == "map" or k == 0
    by_x = sorted(res.states, key=lambda s: s.ground[0])
    for s, p in zip(by_x, people):
        np.testing.assert_allclose(s.ground, p, atol=0.02)
    assert by_x[0].ground_sigma_m < by_x[1].ground_sigma_m
    no_info = _tracking("2d", _cfg(map_from_cam))
    res = no_info.step(1.0, "camera_optical_frame", [], None)
    assert res.placement_error == "no camera_info received yet"


def test_a_camera_blob_over_a_hidden_track_measures_no_stature():
    """Two walkers merge into one blob: the near track keeps its old size (the tracker's ``size_kept``) around
    the blob's feet row, so its box's top is no head; its stature waits for frames it holds alone."""
    cam = CameraIntrinsics(np.array([[400.0, 0, 320], [0, 400.0, 240], [0, 0, 1]]), np.zeros(5), 640, 480)
    map_from_cam = RigidTransform(*camera_pose((0.0, 0.0, 3.0), 0.0, math.radians(12)))
    trk = _tracking("2d", _cfg(map_from_cam, foot_offset_m=0.0))

    for k in range(26):                     # the far walker passes behind the near one, head above it
        b = _person_box(cam, map_from_cam, np.array([6.0, -0.6 + 0.01 * k, 0.0]))
        c = _person_box(cam, map_from_cam, np.array([7.2, 0.4 - 0.03 * k, 0.0]))
        apart = c[2] < b[0] or b[2] < c[0]
        blob = (min(b[0], c[0]), min(b[1], c[1]), max(b[2], c[2]), max(b[3], c[3]))
        ms = _box_measurements([b, c] if apart else [blob])
        states = trk.step(10.0 + k / 15, "camera_optical_frame", ms, cam).states
        if k == 12:
            assert apart and [s.stature_m for s in states] == [pytest.approx(1.7, abs=0.02)] * 2
            near_id = min(states, key=lambda s: s.ground[0]).track_id
    assert not apart
    (s,) = states
    assert s.track_id == near_id and s.detection >= 0 and s.stature_m is None
    assert next(t for t in trk.tracker.tracks if t.track_id == near_id).size_kept


def test_camera_box_cut_off_at_the_bottom_has_no_ground():
    cam = CameraIntrinsics(np.array([[400.0, 0, 320], [0, 400.0, 240], [0, 0, 1]]), np.zeros(5), 640, 480)
    map_from_cam = RigidTransform(*camera_pose((0.0, 0.0, 3.0), 0.0, math.radians(12)))
    g = camera_ground(np.array([[300, 200, 340, 400.0], [400, 200, 440, 480.0]]), cam, map_from_cam,
                      CalibrationConfig())
    assert g.valid.tolist() == [True, False]


def test_camera_box_whose_feet_a_nearer_person_hides_has_no_ground():
    """A person behind another is cut off at the nearer one's outline: that bottom edge is no foot point."""
    cam = CameraIntrinsics(np.array([[400.0, 0, 320], [0, 400.0, 240], [0, 0, 1]]), np.zeros(5), 640, 480)
    map_from_cam = RigidTransform(*camera_pose((0.0, 0.0, 4.0), 0.0, math.radians(18)))
    far = [300, 180, 320, 232.0]      # legs hidden: its bottom lies on the near person's box ...
    near = [305, 210, 345, 330.0]     # ... which reaches lower in the image
    aside = [400, 180, 420, 240.0]    # a third person, not behind anyone
    g = camera_ground(np.array([far, near, aside]), cam, map_from_cam, CalibrationConfig())
    assert g.valid.tolist() == [False, True, True]
    assert feet_hidden(np.array([far, aside])).tolist() == [False, False]     # alone, the same box is a foot
    grazing = [280, 180, 306, 232.0]  # shares 1 px of 26 with the near box: its feet are beside it
    assert feet_hidden(np.array([grazing, near])).tolist() == [False, False]
    below = [300, 180, 320, 340.0]    # reaching below the other: it is the nearer one
    assert feet_hidden(np.array([below, near])).tolist() == [False, True]
    assert feet_hidden(np.zeros((0, 4))).tolist() == []


# ---- the simulator's bags: tf as calibration, ground truth as the reference -----------------------------
@pytest.fixture(scope="module")
def bags(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("calib_bags")
    out = {}
    for mount in ("pole", "robot"):
        out[mount] = root / mount
        write_bag(BagSpec(out=out[mount], mount=mount, **TINY))
    return out


def _frames():
    return [("camera", "camera_tracker", "/camera/image_raw"), ("lidar", "lidar_tracker", "/lidar/points")]


CONFIG = Path(__file__).resolve().parents[1] / "config" / "crossmodal.yaml"


@pytest.mark.parametrize("mount", ["pole", "robot"])
def test_bag_tf_becomes_the_trackers_calibration(bags, mount):
    from tcfd_ros.nodes.bringup import parse_param
    from tcfd_ros.nodes.config_file import validate_params_file
    from tcfd_ros.replay.calibration import bag_calibration, pose_messages, read_tf
    from tcfd_ros.replay.reader import BagSource

    sim = BagSimulation(BagSpec(out=Path("unused"), mount=mount, **TINY))
    with BagSource(bags[mount]) as src:
        sensors, platform, notes = bag_calibration(src, CONFIG, "/tf_static", "/tf", _frames())
        dynamic = read_tf(src, "/tf")
    assert notes == []
    by = {c.sensor: c for c in sensors}
    parent = "base_link" if mount == "robot" else "map"
    assert by["camera"].frame == "camera_optical_frame" and by["camera"].parent == parent
    np.testing.assert_allclose(by["camera"].transform.R, sim.R_c, atol=1e-6)
    np.testing.assert_allclose(by["camera"].transform.t, sim.t_c, atol=1e-6)
    np.testing.assert_allclose(by["lidar"].transform.t, sim.t_l, atol=1e-6)
    overrides: dict[str, dict] = {}
    for text in [p for c in sensors for p in c.params("map")]:
        o = parse_param(text)
        assert o.namespace in ("camera", "lidar")
        overrides.setdefault(o.node, {})[o.key] = o.value
    from tcfd_ros.nodes.bringup import _typed
    typed = {n: {k: _typed(n, k, v) for k, v in d.items()} for n, d in overrides.items()}
    configs = validate_params_file(CONFIG, typed)
    cal = configs["camera_tracker"].calibration
    assert cal.parent_frame == parent and cal.on_platform == (mount == "robot")
    np.testing.assert_allclose(cal.extrinsics().R, sim.R_c, atol=1e-6)
    if mount == "pole":
        assert platform is None and dynamic == []
        return
    assert platform.fixed_frame == "map" and platform.base_frame == "base_link"
    assert platform.pose_topic == "/platform_pose"
    poses = pose_messages(dynamic, platform)
    assert len(poses) == len(sim.lidar_t) + len(sim.cam_t)
    t0 = min(t for t, _ in poses)
    for t, T in poses[::7]:
        Rb, tb = sim.base_pose(t - 1_750_000_000.0)
        np.testing.assert_allclose(T.R, Rb, atol=1e-6)
        np.testing.assert_allclose(T.t, tb, atol=1e-6)
    assert t0 >= 1_750_000_000.0


def test_ground_truth_image_boxes_land_where_the_simulated_people_walk():
    """Camera foot points (the simulator's ground-truth image boxes) through the calibration onto the
    ground, against the simulator's position_world: within 0.2 m (median), unbiased along the ray."""
    sim = BagSimulation(BagSpec(out=Path("unused"), people=4, duration_s=12.0, lidar="vlp16", seed=5152,
                                layout="overlap"))
    cam = CameraIntrinsics(sim.cam_model.K, np.zeros(5), sim.cam_model.width, sim.cam_model.height)
    T = RigidTransform(sim.R_c, sim.t_c)
    errors, along = [], []
    for k in range(0, len(sim.cam_t), 4):
        _, gt = sim.camera_frame(k)
        people = [p for p in gt["people"] if p["image_box"] and p["detectable"]]
        if not people:
            continue
        g = camera_ground(np.array([p["image_box"] for p in people], float), cam, T, CalibrationConfig())
        for i, p in enumerate(people):
            if g.valid[i]:
                truth = np.array(p["position_world"][:2])
                ray = (truth - T.t[:2]) / np.linalg.norm(truth - T.t[:2])
                errors.append(np.linalg.norm(g.points[i, :2] - truth))
                along.append(float((g.points[i, :2] - truth) @ ray))
    assert len(errors) >= 30
    assert np.median(errors) < 0.2 and abs(np.median(along)) < 0.08, (np.median(errors), np.median(along))


def _cluster_points(centres_counts: list[tuple[np.ndarray, int]], rng: np.random.Generator) -> np.ndarray:
    """A clusters PointCloud2's rows: a standing person's box of points per (centre, point count)."""
    rows = np.zeros(sum(n for _, n in centres_counts),
                    dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("intensity", "f4"), ("cluster", "i4")])
    i = 0
    for k, (c, n) in enumerate(centres_counts):
        pts = c + rng.uniform([-0.2, -0.2, -0.85], [0.2, 0.2, 0.85], (n, 3))
        rows["x"][i:i + n], rows["y"][i:i + n], rows["z"][i:i + n] = pts.T
        rows["intensity"][i:i + n] = 30.0
        rows["cluster"][i:i + n] = k
        i += n
    return rows


def test_a_sparse_far_cluster_is_tracked_but_gives_no_tracklet_frame():
    """min_lidar_points: the far person keeps a track (hand-off by geometry, MOT) but no gait evidence."""
    rng = np.random.default_rng(0)
    trk = _tracking("3d", CalibrationConfig(source="params"), frames=3)
    near, far = np.array([8.0, -2.0, -1.3]), np.array([25.0, 6.0, -1.3])
    ready = []
    for k in range(8):
        meas = lidar_measurements(_cluster_points([(near, 250), (far, 40)], rng), min_frame_points=80)
        assert meas[0].payload[0].shape == (3, 64, 64) and meas[1].payload[0] is None
        res = trk.step(0.1 * k, "lidar", meas)
        ready += res.ready
    assert len(res.states) == 2                                   # both people are tracked
    near_track = min(res.states, key=lambda s: s.position[0]).track_id
    assert ready and {r.tracklet.track_id for r in ready} == {near_track}
    assert 0 < trk.sparse_frames <= 8                             # the far track's detections, counted
    every = lidar_measurements(_cluster_points([(far, 40)], rng))  # 0 = every cluster gives a frame
    assert every[0].payload[0].shape == (3, 64, 64)


# pole: the head is seen; robot: the cluster's top lies at the HDL-64E's top beam (+2 degrees)
@pytest.mark.parametrize("mount_z, centroid_z, expected", [(2.2, -1.25, 1.75), (1.0, -0.59, None)])
def test_lidar_track_states_carry_the_stature_unless_the_top_beam_cuts_the_head_off(
        mount_z, centroid_z, expected):
    trk = _tracking("3d", _cfg(RigidTransform.from_xyz_rpy((0.0, 0.0, mount_z), (0, 0, 0))))
    for k in range(4):
        res = trk.step(0.1 * k, "lidar", [_lidar_measurement(np.array([6.0, 0.0, centroid_z]))])
    (s,) = res.states
    assert s.stature_m == (None if expected is None else pytest.approx(expected, abs=0.01))
    coasting = trk.step(0.5, "lidar", []).states
    assert all(c.stature_m is None for c in coasting)              # a prediction measures nothing
