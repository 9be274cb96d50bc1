"""LiDAR clusters -> camera image -> camera detections (as Autoware's ``image_projection_based_fusion``).

Pure numpy/scipy. Each person cluster (its points, or its 3-D box) is projected into the image with the
camera's intrinsics and the ``camera <- lidar`` extrinsics; its image box is the extent of the projected
points that fall in front of the camera and inside the image (optionally trimmed to a quantile range,
so a stray point does not stretch it). Clusters are then paired one-to-one with camera detection boxes
by the Hungarian method on the overlap score, pairs below the gate never matched:

- ``iou``: intersection over union (Autoware's ``roi_cluster_fusion`` default);
- ``iomin``: intersection over the smaller box, for clusters whose points cover only part of the person
  (a few beams across the legs) or detections cut by occlusion.

A projected cluster nearer the camera is not preferred over a farther one: the assignment is
one-to-one, so two people behind each other pair with the two detections that overlap them best.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from tcfd_ros.geometry import GeometryError
from tcfd_ros.geometry.calibration import CameraIntrinsics, RigidTransform, project_boxes

SCORES = ("iou", "iomin")


@dataclass(frozen=True)
class ProjectedClusters:
    """Image boxes (M, 4) ``[x0, y0, x1, y1]`` of M clusters, validity (M,), points in the image (M,) and
    median depth along the optical axis (M,) metres (NaN where invalid)."""

    boxes: np.ndarray
    valid: np.ndarray
    points_in_image: np.ndarray
    depth_m: np.ndarray


def project_clusters(clusters: Sequence[np.ndarray], camera: CameraIntrinsics,
                     camera_from_lidar: RigidTransform, min_points: int = 3,
                     quantile: float = 0.0) -> ProjectedClusters:
    """Project each cluster's (n, 3) LiDAR-frame points; a cluster with fewer than ``min_points`` points in
    front of the camera and inside the image is invalid. ``quantile`` q in [0, 0.5) trims the box to the
    [q, 1 - q] range of the projected coordinates."""
    if not 0.0 <= quantile < 0.5:
        raise GeometryError(f"quantile = {quantile}: expected 0 <= q < 0.5")
    m = len(clusters)
    boxes = np.zeros((m, 4))
    valid = np.zeros(m, bool)
    count = np.zeros(m, int)
    depth = np.full(m, np.nan)
    for i, pts in enumerate(clusters):
        p = np.asarray(pts, dtype=np.float64).reshape(-1, 3)
        pc = camera_from_lidar.apply(p)
        uv, front = camera.project(pc)
        ok = front & camera.inside(uv)
        count[i] = int(ok.sum())
        if count[i] < max(1, min_points):
            continue
        sel = uv[ok]
        lo = np.quantile(sel, quantile, axis=0) if quantile > 0 else sel.min(axis=0)
        hi = np.quantile(sel, 1 - quantile, axis=0) if quantile > 0 else sel.max(axis=0)
        boxes[i] = [lo[0], lo[1], hi[0], hi[1]]
        valid[i] = True
        depth[i] = float(np.median(pc[ok, 2]))
    return ProjectedClusters(boxes, valid, count, depth)


def project_cluster_boxes(corners: np.ndarray, camera: CameraIntrinsics,
                          camera_from_lidar: RigidTransform) -> ProjectedClusters:
    """Project (M, 8, 3) LiDAR-frame box corners (see ``calibration.box_corners``) to image boxes."""
    c = np.asarray(corners, dtype=np.float64).reshape(-1, 8, 3)
    boxes, valid = project_boxes(c, camera, camera_from_lidar)
    depth = np.where(valid, camera_from_lidar.apply(c.mean(axis=1))[:, 2], np.nan)
    return ProjectedClusters(boxes, valid, np.where(valid, 8, 0), depth)


def overlap_matrix(a: np.ndarray, b: np.ndarray, score: str = "iou") -> np.ndarray:
    """(M, N) overlap of boxes ``a`` (M, 4) and ``b`` (N, 4): IoU, or intersection over the smaller area."""
    if score not in SCORES:
        raise GeometryError(f"score = {score!r}: expected one of {SCORES}")
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ix = (np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])).clip(0)
    iy = (np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])).clip(0)
    inter = ix * iy
    area_a = ((a[:, 2] - a[:, 0]).clip(0) * (a[:, 3] - a[:, 1]).clip(0))[:, None]
    area_b = ((b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0))[None, :]
    denom = area_a + area_b - inter if score == "iou" else np.minimum(area_a, area_b)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, inter / np.where(denom > 0, denom, 1.0), 0.0)


@dataclass(frozen=True)
class Association:
    cluster: int                    # index into the clusters
    detection: int                  # index into the detection boxes
    score: float                    # overlap of the pair


def associate(projected: ProjectedClusters, detections: np.ndarray, score: str = "iou",
              min_score: float = 0.3) -> list[Association]:
    """One-to-one pairs of valid projected clusters and detection boxes (N, 4), Hungarian on the overlap,
    every pair with overlap >= ``min_score``; sorted by cluster index."""
    if not 0.0 < min_score <= 1.0:
        raise GeometryError(f"min_score = {min_score}: expected 0 < value <= 1")
    det = np.asarray(detections, dtype=np.float64).reshape(-1, 4)
    idx = np.flatnonzero(projected.valid)
    if len(idx) == 0 or len(det) == 0:
        return []
    s = overlap_matrix(projected.boxes[idx], det, score)
    rows, cols = linear_sum_assignment(-s)
    out = [Association(int(idx[r]), int(c), float(s[r, c]))
           for r, c in zip(rows, cols) if s[r, c] >= min_score]
    return sorted(out, key=lambda a: a.cluster)
