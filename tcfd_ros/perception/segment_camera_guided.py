"""LiDAR-guided camera segmentation: person clusters -> image regions -> silhouettes.

Background subtraction needs a camera that stands still; on a robot the whole image moves. The LiDAR
segmenter finds people in 3-D without a background model, so each of its clusters is projected into
the image through a plain 3x4 projection matrix ``P = K [R | t]`` (optical <- LiDAR, no distortion;
see ``projection_matrix``) and the person's silhouette is cut out of the region it covers:

1. region: the cluster's ground footprint (plus a margin) from its lowest point up to
   ``person_height_m`` (a LiDAR on a robot sees legs and torso but often not the head), projected;
2. GrabCut on that region, shrunk to ``work_height_px`` rows (the silhouette ends up 64x64 anyway),
   seeded with the projected cluster points as probable foreground, a context frame around the
   region as sure background and the rest as probable background;
3. the component that holds most seed points, scaled back; nearer people are cut first and their
   pixels are sure background for the people behind them. A component that reaches the region's top
   is taller than a person (a pole) and dropped, unless the image's top edge cut the region (a person
   a few metres away whose head is above the image).

The LiDAR frame's z axis is taken as up (a level LiDAR, as mounted on a robot or pole). Cost: about
``grabcut_iterations`` x 1.2 ms per person at 64 rows on one core (RESULTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from tcfd_ros.perception.guided_config import GuidedSegmenterConfig
from tcfd_ros.perception.segment_camera import CameraDetection, check_bgr

#: Points closer than this in front of the camera (optical z, metres) are not projected.
MIN_DEPTH_M = 0.1
#: Projected seed points are drawn as discs of this radius (work-image pixels).
SEED_RADIUS_PX = 1
#: Closing that joins neighbouring LiDAR seeds (several beams apart) into body area, work-image pixels.
_SEED_CLOSE = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))


@dataclass(frozen=True)
class GuidedRegion:
    """One cluster's image region: the box (x0, y0, x1, y1) in pixels, seed pixels and its range."""

    box: tuple[int, int, int, int]
    seeds_uv: np.ndarray          # (N, 2) projected cluster points inside the image
    range_m: float                # camera-to-cluster distance (nearer people are cut first)
    top_clipped: bool = False     # the region's top lies above the image: the box's top is the image's


def projection_matrix(K: np.ndarray, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``P = K [R | t]`` (3x4) for optical <- LiDAR extrinsics (R, t) and intrinsics K."""
    return np.asarray(K, float) @ np.hstack([np.asarray(R, float), np.asarray(t, float).reshape(3, 1)])


def _project(P: np.ndarray, xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (N, 2) and depth (N,) of LiDAR points through P."""
    h = xyz @ P[:, :3].T + P[:, 3]
    z = h[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = h[:, :2] / z[:, None]
    return uv, z


def cluster_region(P: np.ndarray, xyz: np.ndarray, shape: tuple[int, int], cfg: GuidedSegmenterConfig
                   ) -> GuidedRegion | None:
    """The image region of one cluster, or None when too few of its points land in the image."""
    h_img, w_img = shape
    xyz = np.asarray(xyz, float)
    uv, z = _project(P, xyz)
    ok = (z > MIN_DEPTH_M) & (uv[:, 0] >= 0) & (uv[:, 0] < w_img) & (uv[:, 1] >= 0) & (uv[:, 1] < h_img)
    if int(ok.sum()) < cfg.min_points:
        return None
    c = np.median(xyz[:, :2], axis=0)
    if cfg.min_footprint_m > 0:                # a pole or sign post: thinner than a person seen from any side
        d = xyz[:, :2] - c
        _, vecs = np.linalg.eigh(d.T @ d)
        proj = d @ vecs
        extent = float((np.percentile(proj, 95, axis=0) - np.percentile(proj, 5, axis=0)).max())
        if extent < cfg.min_footprint_m:
            return None
    r = float(np.percentile(np.hypot(*(xyz[:, :2] - c).T), 90)) + cfg.footprint_margin_m
    z_lo = float(xyz[:, 2].min()) - 0.1
    z_hi = max(float(xyz[:, 2].max()), z_lo + cfg.person_height_m)
    corners = np.array([[c[0] + sx * r, c[1] + sy * r, zz] for sx in (-1, 1) for sy in (-1, 1)
                        for zz in (z_lo, z_hi)])
    cuv, cz = _project(P, corners)
    if (cz <= MIN_DEPTH_M).any():              # region reaches behind the camera: use the seeds' extent
        cuv = uv[ok]
    x0 = int(np.clip(np.floor(cuv[:, 0].min()), 0, w_img))
    x1 = int(np.clip(np.ceil(cuv[:, 0].max()), 0, w_img))
    top = float(np.floor(cuv[:, 1].min()))
    y0 = int(np.clip(top, 0, h_img))
    y1 = int(np.clip(np.ceil(cuv[:, 1].max()), 0, h_img))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return GuidedRegion((x0, y0, x1, y1), uv[ok], float(np.median(z[ok])), top_clipped=top < 0)


def _silhouette(bgr: np.ndarray, region: GuidedRegion, taken: np.ndarray, cfg: GuidedSegmenterConfig
                ) -> np.ndarray | None:
    """The person's (H, W) bool mask inside the region, or None."""
    h_img, w_img = bgr.shape[:2]
    x0, y0, x1, y1 = region.box
    mx = int(round((x1 - x0) * cfg.context_fraction))
    my = int(round((y1 - y0) * cfg.context_fraction))
    cx0, cy0, cx1, cy1 = max(0, x0 - mx), max(0, y0 - my), min(w_img, x1 + mx), min(h_img, y1 + my)
    ch, cw = cy1 - cy0, cx1 - cx0
    scale = min(1.0, cfg.work_height_px / ch)
    wh, ww = max(2, int(round(ch * scale))), max(2, int(round(cw * scale)))
    crop = cv2.resize(bgr[cy0:cy1, cx0:cx1], (ww, wh), interpolation=cv2.INTER_AREA)
    gc = np.full((wh, ww), cv2.GC_BGD, np.uint8)
    rx0, ry0 = int((x0 - cx0) * scale), int((y0 - cy0) * scale)
    rx1, ry1 = int(np.ceil((x1 - cx0) * scale)), int(np.ceil((y1 - cy0) * scale))
    gc[ry0:ry1, rx0:rx1] = cv2.GC_PR_BGD
    seeds = np.round((region.seeds_uv - [cx0, cy0]) * scale).astype(int)
    seeds[:, 0] = np.clip(seeds[:, 0], 0, ww - 1)
    seeds[:, 1] = np.clip(seeds[:, 1], 0, wh - 1)
    seed_img = np.zeros((wh, ww), np.uint8)
    seed_img[seeds[:, 1], seeds[:, 0]] = 1
    if SEED_RADIUS_PX > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * SEED_RADIUS_PX + 1, 2 * SEED_RADIUS_PX + 1))
        seed_img = cv2.dilate(seed_img, k)
    # sure foreground only in the body's central columns (the clusters may be a scan older than the
    # image, so edge points can land beside the person); the rest of the seeds are probable foreground
    u = region.seeds_uv[:, 0]
    lo, hi = np.percentile(u, [10, 90])
    core = np.abs(u - np.median(u)) <= cfg.core_fraction * max(hi - lo, 1.0)
    core_img = np.zeros((wh, ww), np.uint8)
    core_img[seeds[core, 1], seeds[core, 0]] = 1
    gc[seed_img > 0] = cv2.GC_PR_FGD
    gc[core_img > 0] = cv2.GC_FGD
    if taken.any():                           # pixels of nearer people are not this person's
        tk = cv2.resize(taken[cy0:cy1, cx0:cx1].astype(np.uint8), (ww, wh), interpolation=cv2.INTER_NEAREST)
        gc[tk > 0] = cv2.GC_BGD
    if not (gc == cv2.GC_FGD).any() or not ((gc == cv2.GC_BGD) | (gc == cv2.GC_PR_BGD)).any():
        return None
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    try:
        cv2.grabCut(crop, gc, None, bgd, fgd, cfg.grabcut_iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error:                         # a colour model with too few samples of one class
        return None
    fg = ((gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)).astype(np.uint8)
    # where the LiDAR hit the person, the person is, whatever the colours say (a dark coat in front of a
    # dark wall): the seeds, closed over the beam spacing, join the colour mask
    fg |= cv2.morphologyEx(seed_img, cv2.MORPH_CLOSE, _SEED_CLOSE) & (gc != cv2.GC_BGD)
    n, labels = cv2.connectedComponents(fg, connectivity=8)
    if n <= 1:
        return None
    votes = np.bincount(labels[seed_img > 0], minlength=n)
    votes[0] = 0
    best = int(np.argmax(votes))
    if votes[best] == 0:
        return None
    part = (labels == best).astype(np.uint8)
    # reaches the region's top: taller than a person (a pole); unless the image cut the region off there
    # (a person a few metres from the camera: head above the image, every silhouette reaches its top)
    if not region.top_clipped and part[ry0:ry0 + 2].any():
        return None
    full = cv2.resize(part, (cw, ch), interpolation=cv2.INTER_NEAREST) > 0
    mask = np.zeros((h_img, w_img), bool)
    mask[cy0:cy1, cx0:cx1] = full & ~taken[cy0:cy1, cx0:cx1]
    return mask


def predict_clusters(previous: Sequence[np.ndarray], previous_s: float, latest: Sequence[np.ndarray],
                     latest_s: float, target_s: float, max_jump_m: float = 1.0) -> list[np.ndarray]:
    """The latest clusters moved to ``target_s`` at the velocity their centroids had since ``previous``.

    An image is paired with the newest clusters that have arrived, often a scan 50-150 ms older (people
    walk 10-20 cm in that time, and on a robot the whole scene shifts). Each latest cluster is matched
    to the nearest previous centroid within ``max_jump_m``; unmatched clusters are not moved. Both
    messages are in the (moving) LiDAR frame, so the velocity includes the platform's own motion, which
    is what the projection into the rigidly mounted camera needs.
    """
    dt = latest_s - previous_s
    ahead = target_s - latest_s
    if not previous or dt <= 0 or ahead == 0:
        return [np.asarray(c, float) for c in latest]
    prev_c = np.array([np.mean(c, axis=0) for c in previous if len(c)]).reshape(-1, 3)
    out = []
    for c in latest:
        c = np.asarray(c, float)
        if len(c) == 0 or len(prev_c) == 0:
            out.append(c)
            continue
        cen = c.mean(axis=0)
        d = np.hypot(*(prev_c[:, :2] - cen[:2]).T)
        k = int(np.argmin(d))
        if d[k] > max_jump_m:
            out.append(c)
            continue
        v = (cen - prev_c[k]) / dt
        v[2] = 0.0                      # people and platforms move on the ground
        out.append(c + v * ahead)
    return out


def segment_guided(bgr: np.ndarray, clusters: Sequence[np.ndarray], P: np.ndarray,
                   cfg: GuidedSegmenterConfig = GuidedSegmenterConfig()) -> list[CameraDetection]:
    """One detection per cluster that lands in the image and yields a person-sized silhouette.

    ``clusters``: (N_i, 3) point arrays in the LiDAR frame; ``P``: 3x4 LiDAR -> pixel projection.
    Detections are returned far to near, so ``label_image`` draws nearer people on top.
    """
    check_bgr(bgr)
    shape = bgr.shape[:2]
    regions = [r for r in (cluster_region(P, xyz, shape, cfg) for xyz in clusters if len(xyz)) if r]
    regions.sort(key=lambda r: r.range_m)
    taken = np.zeros(shape, bool)
    dets: list[tuple[float, CameraDetection]] = []
    for region in regions:
        mask = _silhouette(bgr, region, taken, cfg)
        if mask is None:
            continue
        ys, xs = np.nonzero(mask)
        if xs.size < max(1, cfg.min_area_px):
            continue
        x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
        aspect = (y1 - y0) / (x1 - x0)
        if y1 - y0 < cfg.min_height_px or not cfg.min_aspect_h_over_w <= aspect <= cfg.max_aspect_h_over_w:
            continue
        taken |= mask
        score = float(min(1.0, xs.size / ((x1 - x0) * (y1 - y0))))
        dets.append((region.range_m, CameraDetection(mask, (float(x0), float(y0), float(x1), float(y1)),
                                                     score)))
    dets.sort(key=lambda d: -d[0])
    return [d for _, d in dets]
