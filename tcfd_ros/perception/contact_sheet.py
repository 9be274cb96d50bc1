"""A PNG contact sheet of the perception pipeline on the real recordings in ``../shared/data/real``.

    python -m tcfd_ros.perception.contact_sheet --out out/real_contact_sheet.png \\
        [--real-data ../shared/data/real]

Panels: camera background subtraction on the real courtyard video (masks, boxes, aligned 64x64
silhouettes), and bird's-eye views of the real LiDAR scans with the ground plane removed, clusters
and the person gate's verdict: KITTI 000008 (cars only: nobody passes), the real KITTI pedestrian
placed at its annotated box in that scan (passes, with its LidarGait depth map), and a nuScenes
32-beam sweep. Only JSON copies of the mmdetection3d infos are read, never the pickles.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

import cv2
import numpy as np

from tcfd_ros.perception.annotate import Annotation, draw_annotations
from tcfd_ros.perception.config import CameraSegmenterConfig, LidarSegmenterConfig
from tcfd_ros.perception.segment_camera import CameraSegmenter
from tcfd_ros.perception.segment_lidar import LidarSegmenter

log = logging.getLogger(__name__)

DEFAULT_REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"
VIDEO_FRAMES = (60, 200, 400)      # frames of vtest shown (after the background model warmed up)
SILHOUETTES = 8                    # silhouettes shown (2 rows of 4)
BEV_HALF_M = 25.0                  # bird's-eye views show +-25 m around the sensor
KITTI_HRES_DEG = 0.08              # KITTI's HDL-64E at 10 Hz: ~4500 columns
NUSCENES_HRES_DEG = 0.33           # nuScenes' HDL-32E at 20 Hz
NUSCENES_VRES_DEG = 1.33
NUSCENES_MIN_POINTS = 8


def _video_panels(real: Path) -> list[tuple[str, np.ndarray, list]]:
    cap = cv2.VideoCapture(str(real / "video" / "vtest_480x360.avi"))
    seg = CameraSegmenter(CameraSegmenterConfig())
    panels = []
    try:
        for i in range(max(VIDEO_FRAMES) + 1):
            ok, frame = cap.read()
            if not ok:
                break
            dets = seg.segment(frame)
            if i in VIDEO_FRAMES:
                img = draw_annotations(frame, [Annotation(d.bbox_xyxy, d.mask, track_id=k + 1)
                                               for k, d in enumerate(dets)])
                panels.append((f"vtest frame {i}: {len(dets)} people", img[:, :, ::-1], dets))
    finally:
        cap.release()
    return panels


def _kitti(path: Path) -> np.ndarray:
    return np.fromfile(path, dtype=np.float32).reshape(-1, 4)


def _lidar_cases(real: Path) -> list[tuple[str, np.ndarray, LidarSegmenter, list]]:
    lid = real / "lidar"
    scene = _kitti(lid / "kitti_000008" / "000008.bin")
    ped = _kitti(lid / "kitti_000000_pedestrian" / "0_Pedestrian_0.bin").copy()
    info = json.loads((lid / "kitti_000000_pedestrian" / "kitti_dbinfos_train.json").read_text())
    ped[:, :3] += np.asarray(info["Pedestrian"][0]["box3d_lidar"][:3], dtype=np.float32)
    (nus_bin,) = (lid / "nuscenes_n015").glob("*LIDAR_TOP*.pcd.bin")
    nus = np.fromfile(nus_bin, dtype=np.float32).reshape(-1, 5)[:, :4]
    kitti_cfg = dataclasses.replace(LidarSegmenterConfig(), sensor_hres_deg=KITTI_HRES_DEG)
    nus_cfg = dataclasses.replace(LidarSegmenterConfig(), sensor_hres_deg=NUSCENES_HRES_DEG,
                                  sensor_vres_deg=NUSCENES_VRES_DEG, min_points=NUSCENES_MIN_POINTS)
    cases = []
    for title, pts, cfg in (("KITTI 000008 (cars only)", scene, kitti_cfg),
                            ("KITTI 000008 + real KITTI pedestrian", np.concatenate([scene, ped]), kitti_cfg),
                            ("nuScenes n015 (HDL-32E)", nus, nus_cfg)):
        seg = LidarSegmenter(cfg)
        clusters = seg.segment(pts)
        cases.append((title, pts, seg, clusters))
    return cases


def _bev(ax, title: str, pts: np.ndarray, seg: LidarSegmenter, clusters: list) -> None:
    xyz = pts[:, :3].astype(np.float64)
    plane = np.asarray(seg.last_stats.ground_plane)
    h = xyz @ plane[:3] + plane[3]
    near = (np.abs(xyz[:, 0]) < BEV_HALF_M) & (np.abs(xyz[:, 1]) < BEV_HALF_M)
    ground = near & (h < seg.cfg.ground_distance_m)
    rest = near & ~ground
    ax.scatter(xyz[ground, 0], xyz[ground, 1], s=0.2, c="0.8", linewidths=0)
    ax.scatter(xyz[rest, 0], xyz[rest, 1], s=0.3, c=np.clip(h[rest], 0, 2.5), cmap="viridis",
               linewidths=0)
    for c in clusters:
        (x0, y0, _), (x1, y1, _) = c.box
        ax.add_patch(_rect(x0, y0, x1 - x0, y1 - y0))
        ax.annotate(f"{c.height_m:.2f} m", (x1, y1), color="red", fontsize=7)
    st = seg.last_stats
    ax.set_title(f"{title}\nground {st.n_ground}/{st.n_roi} pts, {st.n_clusters} clusters, "
                 f"{st.n_people} people", fontsize=8)
    ax.set_xlim(-5, BEV_HALF_M)
    ax.set_ylim(-BEV_HALF_M, BEV_HALF_M)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=6)
    ax.set_xlabel("x, forward (m)", fontsize=7)
    ax.set_ylabel("y, left (m)", fontsize=7)


def _rect(x: float, y: float, w: float, h: float):
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.3, y - 0.3), w + 0.6, h + 0.6, fill=False, edgecolor="red", linewidth=1.2)


def build_contact_sheet(real: Path, out: Path) -> dict:
    """Render the sheet to ``out``; return a summary of what was found (also logged)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    video = _video_panels(real)
    lidar = _lidar_cases(real)
    fig, axes = plt.subplots(3, 4, figsize=(16, 11), dpi=110)
    for ax in axes.ravel():
        ax.axis("off")
    for k, (title, img, dets) in enumerate(video):
        ax = axes[0, k]
        ax.imshow(img)
        ax.set_title(title, fontsize=8)
    sils = [d.silhouette() for _, _, dets in video for d in dets][:SILHOUETTES]
    sils += [np.zeros((64, 64), np.uint8)] * (SILHOUETTES - len(sils))
    grid = np.concatenate([np.concatenate(sils[r * 4:(r + 1) * 4], axis=1)
                           for r in range(SILHOUETTES // 4)], axis=0)
    axes[0, 3].imshow(grid, cmap="gray")
    axes[0, 3].set_title("aligned 64x64 silhouettes", fontsize=8)
    for k, (title, pts, seg, clusters) in enumerate(lidar):
        ax = axes[1, k]
        ax.axis("on")
        _bev(ax, title, pts, seg, clusters)
    depth_maps = [(title, c) for title, _, _, cl in lidar for c in cl][:4]
    for k, (title, c) in enumerate(depth_maps):
        ax = axes[2, k]
        ax.imshow(c.depth_map().transpose(1, 2, 0))
        ax.set_title(f"depth map: {title.split('(')[0].strip()}\n{c.num_points} pts at "
                     f"{np.hypot(*c.centroid[:2]):.1f} m", fontsize=8)
    fig.suptitle("tcfd_ros perception on real recordings (camera: MOG2 background subtraction; "
                 "LiDAR: RANSAC ground, KD-tree clustering, person gate)", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    summary = {"video_people": [len(d) for _, _, d in video],
               "lidar_people": {t: len(cl) for t, _, _, cl in lidar}, "out": str(out)}
    log.info("contact sheet written: %s", summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tcfd_ros.perception.contact_sheet", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("out/real_contact_sheet.png"))
    p.add_argument("--real-data", type=Path, default=DEFAULT_REAL)
    args = p.parse_args(argv)
    if not args.real_data.is_dir():
        print(f"real recordings not found at {args.real_data}; pass --real-data", file=sys.stderr)
        return 2
    summary = build_contact_sheet(args.real_data, args.out)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
