"""Realism against real data: a simulated walker at a real KITTI pedestrian's pose gets as many
HDL-64E points as the real one, and its depth map looks alike (sparse, human-shaped)."""

from __future__ import annotations

import json

import numpy as np

from tcfd_ros.geometry import points_to_depth_map
from tcfd_ros.sim.person import sample_identity, sample_variation
from tcfd_ros.sim.scan import LidarScanner
from tcfd_ros.sim.sensors import lidar_model, lidar_pose
from tcfd_ros.sim.walker import Polyline, Walker

PED = "lidar/kitti_000000_pedestrian"


def _real(real_data):
    pts = np.fromfile(real_data / PED / "0_Pedestrian_0.bin", np.float32).reshape(-1, 4)
    info = json.loads((real_data / PED / "kitti_dbinfos_train.json").read_text())

    def find_box(obj):
        if isinstance(obj, dict):
            if "box3d_lidar" in obj:
                return obj["box3d_lidar"]
            for v in obj.values():
                r = find_box(v)
                if r is not None:
                    return r
        if isinstance(obj, list):
            for v in obj:
                r = find_box(v)
                if r is not None:
                    return r
        return None

    box = np.asarray(find_box(info), float)
    return pts, box


def test_point_count_matches_a_real_hdl64_pedestrian(real_data):
    pts, box = _real(real_data)
    real_height = float(pts[:, 2].max() - pts[:, 2].min())
    x, y, z_bottom, yaw = box[0], box[1], box[2], box[6]
    scanner = LidarScanner(lidar_model("hdl64"), *lidar_pose([0.0, 0.0, -z_bottom], 0.0), world=None)
    direction = np.array([np.cos(yaw), np.sin(yaw)])
    ratios = []
    for pid in range(10):
        ident = sample_identity(pid, 0)
        walker = Walker(pid, ident, sample_variation(ident, "nm", 0, 1), np.array([1.7 + 0.1 * pid]),
                        Polyline(np.stack([np.array([x, y]) - 3 * direction,
                                           np.array([x, y]) + 3 * direction])),
                        start_offset_m=3.0 - ident.speed_mps * (1.7 + 0.1 * pid))
        sim_pts, label = scanner.scan([walker.actor(0)], np.random.default_rng(pid))
        n = int((label == pid).sum())
        # the angular area a person covers scales with stature squared at a fixed distance
        ratios.append(n * (real_height / ident.height_m) ** 2 / pts.shape[0])
    assert 0.7 < float(np.mean(ratios)) < 1.3, ratios


def test_depth_map_of_real_and_simulated_pedestrians_alike(real_data):
    pts, box = _real(real_data)
    real_xyz = pts[:, :3].astype(np.float64) + box[:3]
    real_dm = points_to_depth_map(real_xyz)
    scanner = LidarScanner(lidar_model("hdl64"), *lidar_pose([0.0, 0.0, -box[2]], 0.0), world=None)
    ident = sample_identity(3, 0)
    direction = np.array([np.cos(box[6]), np.sin(box[6])])
    walker = Walker(3, ident, sample_variation(ident, "nm", 0, 1), np.array([2.0]),
                    Polyline(np.stack([box[:2] - 3 * direction, box[:2] + 3 * direction])),
                    start_offset_m=3.0 - 2.0 * ident.speed_mps)
    sim_pts, label = scanner.scan([walker.actor(0)], np.random.default_rng(0))
    p = sim_pts[label == 3]
    sim_dm = points_to_depth_map(np.stack([p["x"], p["y"], p["z"]], 1).astype(np.float64))
    occ_real = (real_dm.sum(0) > 0).mean()
    occ_sim = (sim_dm.sum(0) > 0).mean()
    assert 0.5 < occ_sim / occ_real < 2.0, (occ_sim, occ_real)


def _width_over_height(sil: np.ndarray) -> float:
    occ = sil > 0
    cols, rows = np.flatnonzero(occ.any(0)), np.flatnonzero(occ.any(1))
    return (cols[-1] - cols[0] + 1) / (rows[-1] - rows[0] + 1)


def test_frontal_silhouettes_have_the_aspect_of_real_ones(real_data):
    """Real: OpenGait All-in-One-Gait demo silhouettes (campus walkers, mostly frontal), aligned by us."""
    from pathlib import Path

    import cv2

    from tcfd_ros.geometry import align_silhouette
    from tcfd_ros.sim.dataset import DatasetSpec, Rig, simulate_sequence

    files = sorted((real_data / "gait" / "all_in_one_gait_demo" / "GaitSilhouette").rglob("*.png"))[::4]
    real = [_width_over_height(align_silhouette(cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) > 127))
            for f in files]
    spec = DatasetSpec(out=Path("unused"), identities=4, views=(0,), conditions=("nm",), frames=6)
    rig = Rig(spec)
    sim = [_width_over_height(s) for pid in range(4)
           for s in simulate_sequence(spec, rig, pid, 1, "01-nm", "nm", 0)["sils"]]
    assert len(real) > 50
    assert abs(np.median(sim) / np.median(real) - 1.0) < 0.25, (np.median(sim), np.median(real))
