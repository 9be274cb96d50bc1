"""Simulated rosbag2 bags: rosbags opens them, rclpy deserialises them; clocks, tf and ground truth agree."""

from __future__ import annotations

import hashlib
import importlib
import json
from pathlib import Path

import numpy as np
import pytest

from tcfd_ros.errors import ConfigError
from tcfd_ros.sim.bag import BagSimulation, BagSpec, write_bag

pytest.importorskip("rclpy")

TINY = dict(people=2, duration_s=0.6, lidar="vlp16", camera_width=96, camera_height=72, seed=3)


def _rclpy_type(msgtype: str):
    pkg, _, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{pkg}.msg"), name)


@pytest.fixture(scope="module")
def bag(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bags") / "tiny"
    write_bag(BagSpec(out=out, layout="overlap", **TINY))
    return out


def _messages(path: Path):
    from rosbags.rosbag2 import Reader

    with Reader(path) as reader:
        for conn, stamp, raw in reader.messages():
            yield conn, stamp, raw


def test_every_message_deserialises_with_rclpy(bag):
    from rclpy.serialization import deserialize_message

    seen: dict[str, int] = {}
    rclpy_checked = set()
    for conn, _, raw in _messages(bag):
        seen[conn.topic] = seen.get(conn.topic, 0) + 1
        try:
            cls = _rclpy_type(conn.msgtype)
        except ModuleNotFoundError:
            # tf2_msgs has no pip wheel here; /tf_static is checked with rosbags in the tf test
            assert conn.msgtype == "tf2_msgs/msg/TFMessage"
            continue
        deserialize_message(raw, cls)
        rclpy_checked.add(conn.topic)
    assert set(seen) == {"/camera/image_raw", "/camera/camera_info", "/lidar/points", "/tf_static",
                         "/ground_truth"}
    assert {"/camera/image_raw", "/camera/camera_info", "/lidar/points", "/ground_truth"} <= rclpy_checked
    assert seen["/lidar/points"] == 6 and seen["/camera/image_raw"] == 9
    assert seen["/ground_truth"] == seen["/lidar/points"] + seen["/camera/image_raw"]


def test_stamps_fields_camera_info_and_ground_truth_agree(bag):
    from rclpy.serialization import deserialize_message

    from tcfd_ros.point_cloud2 import read_points

    headers: dict[tuple[str, int], object] = {}
    gts = []
    infos = []
    for conn, stamp, raw in _messages(bag):
        if conn.topic in ("/camera/image_raw", "/lidar/points", "/camera/camera_info"):
            msg = deserialize_message(raw, _rclpy_type(conn.msgtype))
            ns = msg.header.stamp.sec * 10 ** 9 + msg.header.stamp.nanosec
            assert ns == stamp
            if conn.topic == "/camera/camera_info":
                infos.append(msg)
            else:
                headers[("camera" if "camera" in conn.topic else "lidar", ns)] = msg
        elif conn.topic == "/ground_truth":
            gts.append((stamp, json.loads(deserialize_message(raw, _rclpy_type(conn.msgtype)).data)))
    for stamp, gt in gts:
        assert gt["schema"] == "tcfd_ros/ground_truth" and gt["version"] == 1
        ns = gt["stamp"]["sec"] * 10 ** 9 + gt["stamp"]["nanosec"]
        assert ns == stamp
        msg = headers[(gt["sensor"], ns)]
        assert msg.header.frame_id == gt["frame_id"]
        for p in gt["people"]:
            if gt["sensor"] == "lidar":
                pts = read_points(msg)
                assert p["lidar_points"] <= pts.shape[0] and p["image_box"] is None
            elif p["mask_pixels"]:
                x0, y0, x1, y1 = p["image_box"]
                assert 0 <= x0 < x1 <= msg.width and 0 <= y0 < y1 <= msg.height
    cloud = next(m for (s, _), m in headers.items() if s == "lidar")
    assert [(f.name, f.datatype) for f in cloud.fields] == [
        ("x", 7), ("y", 7), ("z", 7), ("intensity", 7), ("ring", 4), ("time", 7)]
    image = next(m for (s, _), m in headers.items() if s == "camera")
    assert image.encoding == "bgr8" and image.step == 3 * image.width
    info = infos[0]
    assert (info.width, info.height) == (image.width, image.height)
    K = np.array(info.k).reshape(3, 3)
    assert K[0, 2] == image.width / 2 and K[1, 2] == image.height / 2
    assert np.allclose(np.array(info.p).reshape(3, 4)[:, :3], K)


def test_tf_static_round_trips_the_sensor_extrinsics(bag):
    from rosbags.typesys import Stores, get_typestore
    from scipy.spatial.transform import Rotation

    ts = get_typestore(Stores.ROS2_KILTED)
    sim = BagSimulation(BagSpec(out=Path("unused"), layout="overlap", **TINY))
    tf = [ts.deserialize_cdr(raw, conn.msgtype) for conn, _,
          raw in _messages(bag) if conn.topic == "/tf_static"]
    assert len(tf) == 1
    by_child = {t.child_frame_id: t for t in tf[0].transforms}
    for child, R, t in (("lidar", sim.R_l, sim.t_l), ("camera_optical_frame", sim.R_c, sim.t_c)):
        tr = by_child[child]
        assert tr.header.frame_id == "map"
        q = tr.transform.rotation
        np.testing.assert_allclose(Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix(), R, atol=1e-9)
        v = tr.transform.translation
        np.testing.assert_allclose([v.x, v.y, v.z], t, atol=1e-12)
    from rosbags.interfaces import QosDurability
    from rosbags.rosbag2 import Reader

    with Reader(bag) as reader:
        conn = next(c for c in reader.connections if c.topic == "/tf_static")
        assert conn.ext.offered_qos_profiles[0].durability == QosDurability.TRANSIENT_LOCAL
    # the camera looks along world +x tilted down (optical z), its x axis is the camera's right (-y)
    assert sim.R_c[0, 2] > 0.9 and sim.R_c[2, 2] < 0
    np.testing.assert_allclose(sim.R_c[:, 0], [0.0, -1.0, 0.0], atol=1e-12)


def test_projected_ground_truth_box_lies_in_its_image_box():
    sim = BagSimulation(BagSpec(out=Path("unused"), layout="overlap", people=2, duration_s=12.0,
                                lidar="vlp16",
                                camera_hz=2.0, seed=5))
    found = 0
    for k in range(len(sim.cam_t)):
        _, gt = sim.camera_frame(k)
        for p in gt["people"]:
            if p["mask_pixels"] and p["mask_pixels"] > 200 and not p["truncated"]:
                c = np.array(p["box3d"]["center"])
                uv, front = sim.cam_model.project(c[None])
                x0, y0, x1, y1 = p["image_box"]
                assert front[0] and x0 <= uv[0, 0] <= x1 and y0 <= uv[0, 1] <= y1
                found += 1
    assert found > 0


def test_disjoint_layout_never_shows_a_person_to_both_sensors_at_once():
    sim = BagSimulation(BagSpec(out=Path("unused"), layout="disjoint", people=1, duration_s=44.0,
                                lidar="vlp16",
                                camera_width=160, camera_height=120, camera_hz=2.0, seed=1))
    lidar_seen = {}
    for j in range(0, len(sim.lidar_t), 5):
        _, gt = sim.lidar_frame(j)
        for p in gt["people"]:
            if p["lidar_points"] >= 5:
                lidar_seen[round(float(sim.lidar_t[j]), 1)] = p["id"]
    cam_seen = {}
    for k in range(len(sim.cam_t)):
        _, gt = sim.camera_frame(k)
        for p in gt["people"]:
            if p["mask_pixels"] >= 30:
                cam_seen[round(float(sim.cam_t[k]), 1)] = p["id"]
    assert lidar_seen and cam_seen                       # the walker passes both zones
    t_lidar, t_cam = max(lidar_seen), min(cam_seen)
    first_lidar, last_cam = min(lidar_seen), max(cam_seen)
    assert t_lidar < t_cam or last_cam < first_lidar       # one zone strictly after the other


def test_same_seed_gives_byte_identical_bags(tmp_path):
    digests = []
    for _ in range(2):
        out = tmp_path / "det"
        write_bag(BagSpec(out=out, storage="mcap", force=True, **TINY))
        digests.append({p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())})
    assert digests[0] == digests[1]
    write_bag(BagSpec(out=out, storage="mcap", force=True, **{**TINY, "seed": 4}))
    other = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())}
    assert other != digests[0]


def _digests(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())}


@pytest.mark.parametrize("kwargs", [
    dict(layout="overlap"),
    dict(layout="overlap", conditions=("nt",)),                       # mono IR: other noise shape
    dict(layout="disjoint", conditions=("dk", "nl")),                  # dusk switch, low light
    dict(layout="overlap", mount="robot", duration_s=0.4),             # moving sensors, prefetch
])
def test_workers_write_the_same_bag_byte_for_byte(tmp_path, monkeypatch, kwargs):
    """Frames made ahead by worker processes (sim/frames_ahead.py) give the bag one process writes: the
    noise streams are drawn in frame order whoever casts the scenes."""
    import tcfd_ros.sim.frames_ahead as frames_ahead

    monkeypatch.setattr(frames_ahead, "MIN_FRAMES_FOR_WORKERS", 1)     # TINY is far below the default
    digests = []
    for workers in (1, 3):
        out = tmp_path / f"w{workers}" / "bag"      # the file names carry the folder's name
        write_bag(BagSpec(out=out, storage="mcap", workers=workers, **{**TINY, **kwargs}))
        digests.append(_digests(out))
    assert digests[0] == digests[1]


def test_a_failing_worker_stops_the_bag_and_leaves_nothing(tmp_path, monkeypatch):
    import tcfd_ros.sim.frames_ahead as frames_ahead

    def broken(self, k):
        raise ValueError(f"cannot render camera frame {k}")

    monkeypatch.setattr(frames_ahead, "MIN_FRAMES_FOR_WORKERS", 1)
    monkeypatch.setattr(BagSimulation, "camera_scene", broken)         # the forked workers inherit it
    with pytest.raises(ValueError, match="cannot render camera frame 0"):
        write_bag(BagSpec(out=tmp_path / "b", storage="mcap", workers=2, **TINY))
    assert list(tmp_path.iterdir()) == []


def test_a_worker_that_dies_is_one_clear_error(tmp_path, monkeypatch):
    import os

    import tcfd_ros.sim.frames_ahead as frames_ahead
    from tcfd_ros.errors import TcfdError

    def killed(self, k):
        os._exit(9)                      # as the kernel's OOM killer would end it: no exception, no result

    monkeypatch.setattr(frames_ahead, "MIN_FRAMES_FOR_WORKERS", 1)
    monkeypatch.setattr(BagSimulation, "camera_scene", killed)         # runs only in the forked workers
    with pytest.raises(TcfdError, match="died before frame 0.*--workers 1"):
        write_bag(BagSpec(out=tmp_path / "b", storage="mcap", workers=2, **TINY))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kwargs,match", [
    (dict(lidar="hdl128"), "unknown LiDAR model"),
    (dict(people=0), "people must be >= 1"),
    (dict(storage="rosbag1"), "storage"),
    (dict(layout="circle"), "layout"),
    (dict(conditions=("xx",)), "condition"),
    (dict(workers=0), "workers must be >= 1"),
])
def test_bad_arguments_raise_and_leave_nothing(tmp_path, kwargs, match):
    out = tmp_path / "bad"
    with pytest.raises(ConfigError, match=match):
        write_bag(BagSpec(out=out, **{**TINY, **kwargs}))
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_force_and_unwritable_path_is_reported(tmp_path):
    out = tmp_path / "exists"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(ConfigError, match="--force"):
        write_bag(BagSpec(out=out, **TINY))
    assert (out / "keep.txt").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["exists"]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="cannot write"):
        write_bag(BagSpec(out=blocker / "sub" / "bag", **TINY))


def test_cli_reports_errors_with_exit_code_2(tmp_path, capsys):
    from tcfd_ros.cli import main

    assert main(["simulate", "bag", "--out", str(tmp_path / "b"), "--lidar", "nope"]) == 2
    assert "unknown LiDAR model 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_robot_mount_moves_both_sensors_and_publishes_tf(tmp_path):
    from rosbags.typesys import Stores, get_typestore
    from scipy.spatial.transform import Rotation

    spec = BagSpec(out=tmp_path / "robot", layout="overlap", mount="robot", **{**TINY, "duration_s": 0.4})
    write_bag(spec)
    ts = get_typestore(Stores.ROS2_KILTED)
    tfs = [ts.deserialize_cdr(raw, conn.msgtype) for conn, _, raw in _messages(spec.out)
           if conn.topic == "/tf"]
    assert len(tfs) >= 4 and all(m.transforms[0].child_frame_id == "base_link" for m in tfs)
    xs = [m.transforms[0].transform.translation.x for m in tfs]
    ys = [m.transforms[0].transform.translation.y for m in tfs]
    assert np.hypot(xs[-1] - xs[0], ys[-1] - ys[0]) > 0.1      # the robot drives
    sim = BagSimulation(BagSpec(out=Path("unused"), layout="overlap", mount="robot", people=3,
                                duration_s=12.0, lidar="vlp16", camera_hz=2.0, seed=2))
    checked = 0
    for j in range(0, len(sim.lidar_t), 10):
        _, gt = sim.lidar_frame(j)
        R, t = sim.lidar_world_pose(float(sim.lidar_t[j]))
        for p in gt["people"]:
            np.testing.assert_allclose(R @ np.array(p["box3d"]["center"]) + t, p["box3d_world"]["center"],
                                       atol=2e-3)
            checked += 1
    assert checked > 0
    with pytest.raises(ConfigError, match="overlap"):
        BagSpec(out=Path("x"), mount="robot", layout="disjoint").validate()
    R0 = Rotation.from_matrix(sim.lidar_world_pose(0.0)[0]).as_euler("xyz")
    assert abs(R0[0]) < 1e-9 and abs(R0[1]) < 1e-9          # level LiDAR on a flat ground


def test_static_camera_suits_background_subtraction():
    import cv2

    sim = BagSimulation(BagSpec(out=Path("unused"), layout="overlap", people=3, duration_s=12.0,
                                lidar="vlp16", camera_hz=1.0, seed=5))
    rng = np.random.default_rng(0)
    empty1 = sim.camera.render([], rng).image.astype(np.int16)
    empty2 = sim.camera.render([], rng).image.astype(np.int16)
    noise = np.abs(empty1 - empty2)
    assert noise.mean() < 4.0 and np.percentile(noise, 99.9) < 20      # only sensor noise changes
    moved = 0
    for k in range(len(sim.cam_t)):
        i = len(sim.lidar_t) + k
        frame = sim.camera.render(sim._actors(i), rng)
        people = cv2.dilate((frame.labels >= 0).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        changed = np.abs(frame.image.astype(np.int16) - empty1).max(axis=2) > 40
        if people.sum() > 100:
            moved += 1
            assert changed[~people].mean() < 1e-3                        # changes only where people are
            assert changed[people].mean() > 0.2
    assert moved > 0
