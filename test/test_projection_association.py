"""LiDAR clusters projected into the image and paired with camera detections (projection_association)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tcfd_ros.geometry import GeometryError
from tcfd_ros.geometry.calibration import CameraIntrinsics, RigidTransform, box_corners
from tcfd_ros.geometry.projection_association import (
    associate,
    overlap_matrix,
    project_cluster_boxes,
    project_clusters,
)
from tcfd_ros.sim.bag import BagSimulation, BagSpec
from tcfd_ros.sim.sensors import camera_pose

CAM = CameraIntrinsics(np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]]), np.zeros(5), 640, 480)
# camera 0.3 m above and 0.2 m ahead of a level LiDAR, both looking along the LiDAR's +x
LIDAR_FROM_CAM = RigidTransform(*camera_pose((0.2, 0.0, 0.3), 0.0, math.radians(5)))
CAM_FROM_LIDAR = LIDAR_FROM_CAM.inverse()


def _person(x: float, y: float, rng: np.random.Generator, n: int = 300) -> np.ndarray:
    """Points on a 0.5 x 0.4 x 1.7 m body standing at (x, y) on ground 1.8 m below the LiDAR."""
    return np.column_stack([x + rng.uniform(-0.2, 0.2, n), y + rng.uniform(-0.25, 0.25, n),
                            -1.8 + rng.uniform(0.0, 1.7, n)])


def test_overlap_matrix_iou_and_iomin():
    a = np.array([[0, 0, 10, 10.0]])
    b = np.array([[0, 0, 10, 10.0], [5, 0, 15, 10.0], [2, 2, 4, 4.0], [20, 20, 30, 30.0]])
    np.testing.assert_allclose(overlap_matrix(a, b, "iou"), [[1.0, 50 / 150, 4 / 100, 0.0]])
    np.testing.assert_allclose(overlap_matrix(a, b, "iomin"), [[1.0, 0.5, 1.0, 0.0]])
    with pytest.raises(GeometryError):
        overlap_matrix(a, b, "giou")


def test_clusters_pair_with_their_own_detections_one_to_one():
    rng = np.random.default_rng(11)
    people = [(8.0, 1.5), (12.0, -2.0), (8.6, 1.2), (-5.0, 0.0)]   # the third stands just behind the first;
    clusters = [_person(x, y, rng) for x, y in people]              # the last is behind the camera
    proj = project_clusters(clusters, CAM, CAM_FROM_LIDAR)
    assert proj.valid.tolist() == [True, True, True, False]
    assert proj.depth_m[0] < proj.depth_m[2] < proj.depth_m[1]
    truth = project_cluster_boxes(np.stack([box_corners((x, y, -0.95), (0.4, 0.5, 1.7)) for x, y in people]),
                                  CAM, CAM_FROM_LIDAR)
    assert truth.valid.tolist() == [True, True, True, False]
    detections = truth.boxes[[1, 0, 2]] + rng.normal(0, 2.0, (3, 4))   # shuffled, noisy, plus a stranger
    detections = np.vstack([detections, [600, 10, 630, 90.0]])
    pairs = associate(proj, detections, "iou", 0.3)
    assert [(p.cluster, p.detection) for p in pairs] == [(0, 1), (1, 0), (2, 2)]
    assert all(p.score > 0.5 for p in pairs)
    assert associate(proj, np.zeros((0, 4))) == []


def test_partial_clusters_need_iomin():
    """Only the legs are scanned (two low beams): IoU with the full-body detection is small, IoMin is 1."""
    rng = np.random.default_rng(12)
    legs = _person(10.0, 0.0, rng)
    legs = legs[legs[:, 2] < -1.3]
    proj = project_clusters([legs], CAM, CAM_FROM_LIDAR)
    full = project_cluster_boxes(box_corners((10.0, 0.0, -0.95), (0.4, 0.5, 1.7))[None], CAM, CAM_FROM_LIDAR)
    assert associate(proj, full.boxes, "iou", 0.5) == []
    assert [p.detection for p in associate(proj, full.boxes, "iomin", 0.5)] == [0]


def test_quantile_trims_a_stray_point():
    rng = np.random.default_rng(13)
    pts = np.vstack([_person(9.0, 0.0, rng), [[9.0, 3.0, 0.5]]])
    loose = project_clusters([pts], CAM, CAM_FROM_LIDAR).boxes[0]
    tight = project_clusters([pts], CAM, CAM_FROM_LIDAR, quantile=0.01).boxes[0]
    assert (loose[2] - loose[0]) > 1.5 * (tight[2] - tight[0])
    with pytest.raises(GeometryError):
        project_clusters([pts], CAM, CAM_FROM_LIDAR, quantile=0.5)


def test_simulated_lidar_people_project_onto_their_camera_boxes():
    """The simulator's overlap layout: each person's LiDAR points, through the bag's two extrinsics,
    pair with that person's ground-truth image box in the camera frame nearest in time."""
    sim = BagSimulation(BagSpec(out=Path("unused"), people=3, duration_s=14.0, lidar="vlp16", seed=5153,
                                layout="overlap"))
    cam = CameraIntrinsics(sim.cam_model.K, np.zeros(5), sim.cam_model.width, sim.cam_model.height)
    cam_from_lidar = RigidTransform(sim.R_c, sim.t_c).inverse().compose(RigidTransform(sim.R_l, sim.t_l))
    pairs = correct = 0
    for j in range(20, len(sim.lidar_t), 10):
        pts, label = sim.scanner.scan(sim._actors(j), sim.rng_lidar)
        k = int(np.argmin(np.abs(sim.cam_t - sim.lidar_t[j])))
        _, gt = sim.camera_frame(k)
        boxes = [(p["id"], p["image_box"]) for p in gt["people"] if p["image_box"] and p["detectable"]]
        ids = [i for i in np.unique(label) if i >= 0 and (label == i).sum() >= 20]
        if not boxes or not ids:
            continue
        xyz = np.stack([pts["x"], pts["y"], pts["z"]], axis=1).astype(float)
        proj = project_clusters([xyz[label == i] for i in ids], cam, cam_from_lidar)
        for a in associate(proj, np.array([b for _, b in boxes], float), "iou", 0.3):
            pairs += 1
            correct += ids[a.cluster] == boxes[a.detection][0]
    assert pairs >= 15 and correct == pairs, (pairs, correct)
