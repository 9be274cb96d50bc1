"""The LiDAR segmenter on the real scans in ``../shared/data/real``, with the shipped config.

Scans: KITTI 000008 (HDL-64E, cars only, no ring field), the real KITTI pedestrian placed at its
annotated box in that scan, the nuScenes n015 HDL-32E sweep (ring field; 30 annotated pedestrians with
0-14 points each, 22 barriers) and both Ouster OS1-64 scans of ``bags/ouster_os1_64/test.mcap``
(ring field; a ROS 1 MCAP, whose PointCloud2 data blob is read directly). Each scan is segmented
with the shipped ``LidarSegmenterConfig()`` with and without its ring field; detections per frame are
printed as JSON (nuScenes: matched to the annotated boxes) and drawn on a contact sheet with the
LidarGait depth maps of the people found, next to simulated VLP-16 / HDL-32E / HDL-64E depth maps of
one walker at three ranges.

    .venv/bin/python benchmarks/lidar_real.py --out out/lidar_real.png [--real-data ../shared/data/real]
"""

from __future__ import annotations

import argparse
import json
import struct
import tempfile
from pathlib import Path

import numpy as np

from tcfd_ros.perception.segment_lidar import LidarSegmenter
from tcfd_ros.sim.bag import BagSimulation, BagSpec

DEFAULT_REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
OUSTER_TOPIC = "/os1_cloud_node/points"
OUSTER_POINTS, OUSTER_STEP, OUSTER_RING_OFFSET = 64 * 2048, 48, 26
BEV_HALF_M = 25.0
MATCH_M = 1.0


def _ouster_scans(path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(xyz, ring) of each OS1-64 cloud: the ROS 1 message ends with uint32 len, data, uint8 is_dense."""
    from mcap.reader import make_reader
    out = []
    with path.open("rb") as f:
        for _, _channel, msg in make_reader(f).iter_messages(topics=[OUSTER_TOPIC]):
            n = OUSTER_POINTS * OUSTER_STEP
            buf = msg.data
            (length,) = struct.unpack_from("<I", buf, len(buf) - 1 - n - 4)
            if length != n:
                raise ValueError(f"{path}: unexpected PointCloud2 layout (data length {length}, "
                                 f"expected {n})")
            raw = np.frombuffer(buf, dtype=np.uint8, count=n, offset=len(buf) - 1 - n)
            raw = raw.reshape(-1, OUSTER_STEP)
            xyz = raw[:, :12].copy().view("<f4").reshape(-1, 3)
            ring = raw[:, OUSTER_RING_OFFSET].astype(np.uint16)
            keep = np.abs(xyz).sum(axis=1) > 0            # organised cloud: zeros are no return
            out.append((xyz[keep], ring[keep]))
    return out


def _cases(real: Path) -> list[tuple[str, np.ndarray, np.ndarray | None, list]]:
    lid = real / "lidar"
    kitti = np.fromfile(lid / "kitti_000008" / "000008.bin", dtype=np.float32).reshape(-1, 4)[:, :3]
    ped = np.fromfile(lid / "kitti_000000_pedestrian" / "0_Pedestrian_0.bin", dtype=np.float32).reshape(-1, 4)
    info = json.loads((lid / "kitti_000000_pedestrian" / "kitti_dbinfos_train.json").read_text())
    box = np.asarray(info["Pedestrian"][0]["box3d_lidar"], dtype=np.float32)
    ped = ped[:, :3] + box[:3]
    (nus_bin,) = (lid / "nuscenes_n015").glob("*LIDAR_TOP*.pcd.bin")
    nus = np.fromfile(nus_bin, dtype=np.float32).reshape(-1, 5)
    (nus_info,) = (lid / "nuscenes_n015").glob("*_info.json")
    d = json.loads(nus_info.read_text())
    names = {v: k for k, v in d["metainfo"]["categories"].items()}
    nus_boxes = [(names.get(i["bbox_label_3d"], "?"), i["bbox_3d"][:2], i["num_lidar_pts"])
                 for i in d["data_list"][0]["instances"]]
    cases = [("KITTI 000008 (HDL-64E, cars only)", kitti, None, []),
             ("KITTI 000008 + real KITTI pedestrian", np.concatenate([kitti, ped]), None,
              [("pedestrian", box[:2].tolist(), 377)]),
             ("nuScenes n015 (HDL-32E)", nus[:, :3], nus[:, 4].astype(np.uint16), nus_boxes)]
    for k, (xyz, ring) in enumerate(_ouster_scans(real / "bags" / "ouster_os1_64" / "test.mcap")):
        cases.append((f"Ouster OS1-64 scan {k}", xyz, ring, []))
    return cases


def _match(clusters, boxes) -> list[str]:
    """Label of the nearest annotated box within MATCH_M of each cluster ("-" for none)."""
    out = []
    for c in clusters:
        best = min(((np.hypot(c.centroid[0] - b[0], c.centroid[1] - b[1]), name) for name, b, _ in boxes),
                   default=(np.inf, "-"))
        out.append(best[1] if best[0] <= MATCH_M else "-")
    return out


def _sim_depth_maps() -> list[tuple[str, np.ndarray]]:
    """One simulated walker (seed 733, overlap layout) seen by each LiDAR pattern at ~6, ~10, ~15 m."""
    out = []
    for lidar in ("vlp16", "hdl32", "hdl64"):
        sim = BagSimulation(BagSpec(out=Path(tempfile.gettempdir()) / "unused", people=1, duration_s=16.0,
                                    layout="overlap", seed=733, lidar=lidar))
        seg = LidarSegmenter()
        seen: list[tuple[float, int, np.ndarray]] = []
        for j in range(len(sim.lidar_t)):
            pts, gt = sim.lidar_frame(j)
            clusters = seg.segment(np.stack([pts["x"], pts["y"], pts["z"]], axis=1), ring=pts["ring"])
            seen += [(float(np.hypot(*c.centroid[:2])), c.num_points, c.depth_map()) for c in clusters]
        for want in (6.0, 10.0, 15.0):
            if seen:
                r, n, dm = min(seen, key=lambda s: abs(s[0] - want))
                out.append((f"{lidar} {r:.1f} m\n{n} pts", dm))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--real-data", type=Path, default=DEFAULT_REAL)
    p.add_argument("--out", type=Path, default=Path("out/lidar_real.png"))
    args = p.parse_args()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    cases = _cases(args.real_data)
    sims = _sim_depth_maps()
    fig = plt.figure(figsize=(4 * len(cases), 9))
    grid = fig.add_gridspec(3, max(len(cases), 9), height_ratios=[4, 1.2, 1.2])
    for k, (title, xyz, ring, boxes) in enumerate(cases):
        seg = LidarSegmenter()
        clusters = seg.segment(xyz, ring=ring)
        plain = LidarSegmenter().segment(xyz)
        st = seg.last_stats
        rec = {"scan": title, "points": int(xyz.shape[0]), "beams": st.beams,
               "beam_model": None if seg.beams.elevations_rad is None else
               {"beams": seg.beams.n_beams, "vres_deg": round(float(np.degrees(seg.beams.vres_rad)), 3),
                "hres_deg": round(float(np.degrees(seg.beams.hres_rad)), 3)},
               "ground_plane": st.ground_plane, "clusters": st.n_clusters,
               "people": len(clusters), "people_without_ring": len(plain),
               "people_at": [[round(float(v), 2) for v in c.centroid[:2]]
                             + [round(c.height_m, 2), c.num_points] for c in clusters],
               "matched_annotation": _match(clusters, boxes), "rejected": st.rejected}
        print(json.dumps(rec), flush=True)
        ax = fig.add_subplot(grid[0, k])
        near = (np.abs(xyz[:, 0]) < BEV_HALF_M) & (np.abs(xyz[:, 1]) < BEV_HALF_M)
        ax.scatter(xyz[near, 0], xyz[near, 1], s=0.1, c=np.clip(xyz[near, 2], -2.5, 1.0), cmap="viridis",
                   linewidths=0)
        for name, b, _ in boxes:
            if name == "pedestrian":
                ax.plot(b[0], b[1], "x", color="orange", ms=4)
        for c, m in zip(clusters, rec["matched_annotation"]):
            (x0, y0, _), (x1, y1, _) = c.box
            ax.add_patch(Rectangle((x0 - 0.3, y0 - 0.3), x1 - x0 + 0.6, y1 - y0 + 0.6, fill=False,
                                   edgecolor="red", linewidth=1.0))
            ax.annotate(f"{c.height_m:.1f} {m}", (x1, y1), color="red", fontsize=6)
        ax.set_title(f"{title}\n{len(clusters)} people ({st.beams} beams; {len(plain)} without ring)",
                     fontsize=8)
        ax.set_xlim(-BEV_HALF_M, BEV_HALF_M)
        ax.set_ylim(-BEV_HALF_M, BEV_HALF_M)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=6)
        for i, c in enumerate(clusters[:2]):
            a = fig.add_subplot(grid[1, 2 * k + i]) if 2 * k + i < grid.ncols else None
            if a is not None:
                a.imshow(np.transpose(c.depth_map(), (1, 2, 0)))
                a.set_title(f"{title.split(' (')[0][:14]} {np.hypot(*c.centroid[:2]):.1f} m", fontsize=6)
                a.axis("off")
    for i, (title, dm) in enumerate(sims[:grid.ncols]):
        a = fig.add_subplot(grid[2, i])
        a.imshow(np.transpose(dm, (1, 2, 0)))
        a.set_title(f"sim {title}", fontsize=6)
        a.axis("off")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(json.dumps({"contact_sheet": str(args.out), "sim_depth_maps": [t for t, _ in sims]}))


if __name__ == "__main__":
    main()
