"""The project's projection code on real calibrated data: nuScenes pedestrians, LiDAR -> six cameras.

    python -m tcfd_ros.perception.nuscenes_projection --out docs/nuscenes_projection.png \\
        [--data ../shared/data/real/lidar/nuscenes_n015]

Reads the JSON copy of the mmdetection3d info file (never the pickle): the LiDAR sweep, per camera the
intrinsics ``cam2img`` and extrinsics ``lidar2cam`` (camera <- LiDAR, ego motion between the two
timestamps included), the annotated 3-D boxes (``instances``, LiDAR frame, gravity centre, yaw about z)
and the per-camera 2-D boxes (``cam_instances``, with the same box in camera coordinates). For every
pedestrian seen by a camera, the LiDAR points inside its 3-D box are projected into that camera with
``tcfd_ros.geometry.calibration`` and compared with its annotated 2-D box; the contact sheet overlays
the projected sweep (grey, by range) and the pedestrians' points (orange) and annotated 2-D boxes (green
when at least 90 % of the points fall inside, red otherwise) on the six images, with full-resolution
crops of the six pedestrians with the most points below.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tcfd_ros.geometry.calibration import CameraIntrinsics, RigidTransform, project_points

log = logging.getLogger(__name__)

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "lidar" / "nuscenes_n015"
PEDESTRIAN = 7                      # mmdetection3d nuScenes class index
CAMERAS = ("CAM_FRONT_LEFT", "CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_LEFT", "CAM_BACK", "CAM_BACK_RIGHT")
MATCH_MAX_M = 1.0                   # LiDAR box centre (in camera coordinates) to the camera box's centre
PANEL_WIDTH = 360                   # contact sheet panel width in pixels (images are 1600 x 900)
PALETTE_COLOURS = 64                # the sheet is quantised to keep the PNG small (< 300 KB)
SWEEP_STRIDE = 1                    # every n-th point of the sweep is drawn
ZOOM_CROPS = 6                      # bottom row: crops around the pedestrians with the most points
ZOOM_HEIGHT = 200


@dataclass(frozen=True)
class Camera:
    name: str
    intrinsics: CameraIntrinsics
    cam_from_lidar: RigidTransform
    image_path: Path


@dataclass(frozen=True)
class PedestrianView:
    """One annotated pedestrian in one camera: its LiDAR points' pixels against its 2-D box."""

    camera: str
    instance: int                   # index into the sample's LiDAR ``instances``
    box2d: tuple[float, float, float, float]
    uv: np.ndarray                  # (n, 2) pixels of its LiDAR points in front of the camera, in the image
    inside: np.ndarray              # (n,) inside the 2-D box (with the margin used)

    @property
    def inside_fraction(self) -> float:
        return float(self.inside.mean()) if len(self.inside) else float("nan")


def _info(data: Path) -> dict:
    (path,) = data.glob("*_info.json")
    return json.loads(path.read_text())["data_list"][0]


def load_points(data: Path, info: dict) -> np.ndarray:
    """(N, 3) LiDAR points (x, y, z) of the sweep (``.pcd.bin``: x y z intensity ring, float32)."""
    raw = np.fromfile(data / info["lidar_points"]["lidar_path"], dtype=np.float32)
    return raw.reshape(-1, info["lidar_points"]["num_pts_feats"])[:, :3].astype(np.float64)


def load_cameras(data: Path, info: dict) -> dict[str, Camera]:
    out = {}
    for name in CAMERAS:
        c = info["images"][name]
        path = data / c["img_path"]
        h, w = cv2.imread(str(path), cv2.IMREAD_UNCHANGED).shape[:2]
        out[name] = Camera(name, CameraIntrinsics(np.asarray(c["cam2img"]), np.zeros(5), w, h),
                           RigidTransform.from_matrix(np.asarray(c["lidar2cam"])), path)
    return out


def points_in_box(points: np.ndarray, box: list[float]) -> np.ndarray:
    """(N,) mask of points inside ``[x, y, z, l, w, h, yaw]`` (gravity centre, yaw about z)."""
    x, y, z, length, width, height, yaw = box
    p = points - [x, y, z]
    c, s = np.cos(yaw), np.sin(yaw)
    lx, ly = p[:, 0] * c + p[:, 1] * s, -p[:, 0] * s + p[:, 1] * c
    return (np.abs(lx) <= length / 2) & (np.abs(ly) <= width / 2) & (np.abs(p[:, 2]) <= height / 2)


def pedestrian_views(data: Path = DEFAULT_DATA, margin_px: float = 0.0) -> tuple[list[PedestrianView], dict]:
    """Every (camera, pedestrian) pair with at least one LiDAR point of that pedestrian in the image."""
    info = _info(data)
    points = load_points(data, info)
    cameras = load_cameras(data, info)
    lidar_peds = [(i, inst) for i, inst in enumerate(info["instances"]) if inst["bbox_label"] == PEDESTRIAN]
    views = []
    for name, cam in cameras.items():
        for ci in info["cam_instances"].get(name, []):
            if ci["bbox_label"] != PEDESTRIAN:
                continue
            centre_cam = np.asarray(ci["bbox_3d"][:3])
            best, dist = None, MATCH_MAX_M
            for i, inst in lidar_peds:
                centre = cam.cam_from_lidar.apply(np.asarray(inst["bbox_3d"][:3]))
                d = float(np.linalg.norm(centre - centre_cam))
                if d < dist:
                    best, dist = (i, inst), d
            if best is None:
                continue
            sel = points[points_in_box(points, best[1]["bbox_3d"])]
            uv, ok = project_points(sel, cam.intrinsics, cam.cam_from_lidar)
            uv = uv[ok]
            if not len(uv):
                continue
            x0, y0, x1, y1 = ci["bbox"]
            inside = ((uv[:, 0] >= x0 - margin_px) & (uv[:, 0] <= x1 + margin_px)
                      & (uv[:, 1] >= y0 - margin_px) & (uv[:, 1] <= y1 + margin_px))
            views.append(PedestrianView(name, best[0], (x0, y0, x1, y1), uv, inside))
    return views, {"points": points, "cameras": cameras, "info": info}


def _zoom_row(views: list[PedestrianView], cameras: dict[str, Camera], width: int) -> np.ndarray:
    """Full-resolution crops around the pedestrians with the most LiDAR points, points drawn large."""
    chosen = sorted(views, key=lambda v: -len(v.uv))[:ZOOM_CROPS]
    tile = width // ZOOM_CROPS
    tiles = []
    for v in chosen:
        img = cv2.imread(str(cameras[v.camera].image_path))
        x0, y0, x1, y1 = v.box2d
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        half = max(y1 - y0, (x1 - x0) * ZOOM_HEIGHT / tile) * 0.75
        hx = half * tile / ZOOM_HEIGHT
        u0, v0 = int(max(0, cx - hx)), int(max(0, cy - half))
        u1, v1 = int(min(img.shape[1], cx + hx)), int(min(img.shape[0], cy + half))
        crop = img[v0:v1, u0:u1].copy()
        sx, sy = tile / max(1, crop.shape[1]), ZOOM_HEIGHT / max(1, crop.shape[0])
        crop = cv2.resize(crop, (tile, ZOOM_HEIGHT), interpolation=cv2.INTER_LINEAR)
        cv2.rectangle(crop, (int((x0 - u0) * sx), int((y0 - v0) * sy)),
                      (int((x1 - u0) * sx), int((y1 - v0) * sy)), (60, 220, 60), 2)
        for u, w in v.uv:
            cv2.circle(crop, (int((u - u0) * sx), int((w - v0) * sy)), 3, (0, 200, 255), -1)
        cv2.putText(crop, f"{v.camera[4:]} #{v.instance}: {len(v.uv)} pts", (4, 14), cv2.FONT_HERSHEY_SIMPLEX,
                    0.38, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(crop)
    while len(tiles) < ZOOM_CROPS:
        tiles.append(np.zeros((ZOOM_HEIGHT, tile, 3), np.uint8))
    row = np.hstack(tiles)
    return np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)))


def render_sheet(views: list[PedestrianView], ctx: dict, out: Path) -> Path:
    """Six panels (two rows of three) with the projected sweep and the pedestrians' points and boxes."""
    points, cameras = ctx["points"], ctx["cameras"]
    rng_all = np.linalg.norm(points[:, :2], axis=1)
    panels = []
    for name in CAMERAS:
        cam = cameras[name]
        img = cv2.imread(str(cam.image_path))
        scale = PANEL_WIDTH / img.shape[1]
        img = cv2.resize(img, (PANEL_WIDTH, int(round(img.shape[0] * scale))), interpolation=cv2.INTER_AREA)
        img = (0.75 * img).astype(np.uint8)
        uv, ok = project_points(points[::SWEEP_STRIDE], cam.intrinsics, cam.cam_from_lidar)
        for (u, v), r in zip(uv[ok] * scale, rng_all[::SWEEP_STRIDE][ok]):
            g = int(np.clip(255 - 4 * r, 80, 255))
            img[min(int(v), img.shape[0] - 1), min(int(u), img.shape[1] - 1)] = (g, g, g)
        n = 0
        for view in views:
            if view.camera != name:
                continue
            n += 1
            x0, y0, x1, y1 = (np.asarray(view.box2d) * scale).round().astype(int)
            good = view.inside_fraction >= 0.9
            colour = (60, 220, 60) if good else (40, 40, 230)
            cv2.rectangle(img, (x0, y0), (max(x1, x0 + 1), max(y1, y0 + 1)), colour, 1)
            for u, v in view.uv * scale:
                cv2.circle(img, (int(round(u)), int(round(v))), 1, (0, 200, 255), -1)
        label = f"{name}: {n} pedestrian(s) with LiDAR points"
        cv2.putText(img, label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
        panels.append(img)
    sheet = np.vstack([np.hstack(panels[:3]), np.hstack(panels[3:]),
                       _zoom_row(views, cameras, 3 * PANEL_WIDTH)])
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        from PIL import Image

        Image.fromarray(sheet[:, :, ::-1]).quantize(PALETTE_COLOURS, dither=Image.Dither.NONE).save(
            out, optimize=True)
    except ImportError:
        cv2.imwrite(str(out), sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Project nuScenes LiDAR pedestrians into the six cameras")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=Path("docs/nuscenes_projection.png"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    views, ctx = pedestrian_views(args.data)
    for v in views:
        log.info("%s pedestrian %d: %d LiDAR points in the image, %.0f %% inside its 2-D box", v.camera,
                 v.instance, len(v.uv), 100 * v.inside_fraction)
    path = render_sheet(views, ctx, args.out)
    log.info("wrote %s (%d bytes)", path, path.stat().st_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
