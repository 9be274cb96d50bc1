"""Ground-position error of every sensor's tracks against the simulator's truth, from a replay recording.

Usage::

    tcfd-ros replay BAG --fast --model M --out out/replay/X
    python benchmarks/ground_projection.py out/replay/X/recording.jsonl [--json]

A camera track is paired with the ground-truth person whose image box overlaps its box most (IoU >= 0.5)
in the frame of the same stamp; a LiDAR track with the person whose sensor-frame box centre is nearest
(<= 0.5 m). Reported per sensor: how many tracks had a ``ground`` position, the median / 90th percentile
horizontal error to ``position_world`` (metres, the fixed frame ``map``), the error by distance from the
sensor, and how often the error stayed within 1 and 2 ``ground_sigma_m`` (for a 2-D Gaussian with the
reported sigma as the worst-direction 1-sigma, at least 39 % and 86 %); and how far apart the camera's
and the LiDAR's ground positions of the same person are (states within 50 ms), what a geometric gate
between the two sensors has to allow.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from tcfd_ros.replay.recording import Recording
from tcfd_ros.replay.scoring import box_iou

STAMP_TOLERANCE_S = 0.001
CAMERA_IOU_MIN = 0.5
LIDAR_DISTANCE_MAX_M = 0.5
DISTANCE_BINS_M = (0.0, 6.0, 10.0, 15.0, 25.0, 60.0)
CROSS_MAX_DT_S = 0.05               # camera and LiDAR states of one person compared this close in time


def _gt_index(rec: Recording) -> dict[str, list[tuple[float, dict]]]:
    out: dict[str, list[tuple[float, dict]]] = defaultdict(list)
    for d in rec.ground_truth:
        out[d["sensor"]].append((float(d["stamp_s"]), d))
    for v in out.values():
        v.sort(key=lambda x: x[0])
    return out


def _at(frames: list[tuple[float, dict]], t: float) -> dict | None:
    stamps = [s for s, _ in frames]
    i = int(np.searchsorted(stamps, t))
    for j in (i - 1, i):
        if 0 <= j < len(frames) and abs(frames[j][0] - t) <= STAMP_TOLERANCE_S:
            return frames[j][1]
    return None


def measure(rec: Recording) -> dict[str, dict]:
    gt = _gt_index(rec)
    rows: dict[str, list[tuple[float, float, float]]] = defaultdict(list)   # (error, sigma, distance)
    # person id -> modality -> [(stamp, ground xy, sigma)], for the cross-sensor distances
    seen: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"tracks": 0, "with_ground": 0, "paired": 0})
    for r in rec.received:
        d = r.payload.get("json")
        if not isinstance(d, dict) or d.get("schema") != "tcfd_ros/tracks":
            continue
        sensor, modality = d["sensor"], d["modality"]
        kind = "camera" if modality == "2d" else "lidar"
        t = d["stamp"]["sec"] + 1e-9 * d["stamp"]["nanosec"]
        frame = _at(gt.get(kind, []), t)
        for tr in d["tracks"]:
            counts[sensor]["tracks"] += 1
            if tr.get("ground") is None:
                continue
            counts[sensor]["with_ground"] += 1
            if frame is None:
                continue
            best, score = None, 0.0
            for p in frame["people"]:
                if modality == "2d" and p.get("image_box"):
                    s = box_iou(tr["box"], p["image_box"])
                    if s >= CAMERA_IOU_MIN and s > score:
                        best, score = p, s
                elif modality == "3d" and p.get("box3d"):
                    c = np.array(p["box3d"]["center"][:2])
                    dist = float(np.linalg.norm(np.array(tr["position"][:2]) - c))
                    if dist <= LIDAR_DISTANCE_MAX_M and (best is None or -dist > score):
                        best, score = p, -dist
            if best is None:
                continue
            counts[sensor]["paired"] += 1
            sample = (t, np.array(tr["ground"][:2]), float(tr["ground_sigma_m"]))
            seen[int(best["id"])][modality].append(sample)
            truth = np.array(best["position_world"][:2])
            err = float(np.linalg.norm(np.array(tr["ground"][:2]) - truth))
            sensor_xy = np.array(best["position_world"][:2]) - _sensor_offset(best, kind)
            rows[sensor].append((err, float(tr["ground_sigma_m"]), float(np.linalg.norm(truth - sensor_xy))))
    out = {}
    for sensor, c in counts.items():
        a = np.array(rows.get(sensor, []), dtype=float).reshape(-1, 3)
        res: dict = dict(c)
        if len(a):
            res.update(median_error_m=round(float(np.median(a[:, 0])), 3),
                       p90_error_m=round(float(np.percentile(a[:, 0], 90)), 3),
                       within_1_sigma=round(float(np.mean(a[:, 0] <= a[:, 1])), 3),
                       within_2_sigma=round(float(np.mean(a[:, 0] <= 2 * a[:, 1])), 3),
                       by_distance={})
            for lo, hi in zip(DISTANCE_BINS_M[:-1], DISTANCE_BINS_M[1:]):
                m = (a[:, 2] >= lo) & (a[:, 2] < hi)
                if m.any():
                    res["by_distance"][f"{lo:g}-{hi:g} m"] = {
                        "n": int(m.sum()), "median_error_m": round(float(np.median(a[m, 0])), 3),
                        "median_sigma_m": round(float(np.median(a[m, 1])), 3)}
        out[sensor] = res
    out["camera-lidar"] = _cross(seen)
    return out


def _cross(seen: dict[int, dict[str, list]]) -> dict:
    """Distance between the camera's and the LiDAR's ground position of the same person within
    CROSS_MAX_DT_S, plain and in units of the combined sigma."""
    d, z = [], []
    for per in seen.values():
        lid = per.get("3d", [])
        if not lid:
            continue
        lt = np.array([x[0] for x in lid])
        for t, g, s in per.get("2d", []):
            i = int(np.argmin(np.abs(lt - t)))
            if abs(lt[i] - t) <= CROSS_MAX_DT_S:
                dist = float(np.linalg.norm(g - lid[i][1]))
                d.append(dist)
                z.append(dist / float(np.hypot(s, lid[i][2])))
    if not d:
        return {"pairs": 0}
    return {"pairs": len(d), "median_m": round(float(np.median(d)), 3),
            "p90_m": round(float(np.percentile(d, 90)), 3), "p99_m": round(float(np.percentile(d, 99)), 3),
            "median_over_sigma": round(float(np.median(z)), 2),
            "p99_over_sigma": round(float(np.percentile(z, 99)), 2)}


def _sensor_offset(person: dict, kind: str) -> np.ndarray:
    """Person position minus sensor position (x, y) in the world: box3d is in the sensor's frame, so its
    centre's norm is the range; returned as a vector of that length (direction does not matter here)."""
    c = np.array(person["box3d"]["center"], dtype=float)
    rng = float(np.linalg.norm(c[[0, 2]] if kind == "camera" else c[:2]))
    return np.array([rng, 0.0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recording", type=Path)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    res = measure(Recording.load(args.recording))
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    cross = res.pop("camera-lidar")
    for sensor, r in res.items():
        print(f"{sensor}: {r['with_ground']}/{r['tracks']} track states with ground, {r['paired']} paired; "
              f"median {r.get('median_error_m')} m, p90 {r.get('p90_error_m')} m, within 1/2 sigma "
              f"{r.get('within_1_sigma')}/{r.get('within_2_sigma')}")
        for k, v in r.get("by_distance", {}).items():
            print(f"  {k}: n={v['n']} median {v['median_error_m']} m (sigma {v['median_sigma_m']} m)")
    print(f"camera vs LiDAR ground of the same person: {cross}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
