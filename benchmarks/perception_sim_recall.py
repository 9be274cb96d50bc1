"""Detection recall and false positives of the segmenters on the project's synthetic world.

For each (layout, seed), a ``BagSimulation`` (the same sensors and scenes ``tcfd-ros simulate bag``
writes) is sampled: every ``--lidar-step``-th LiDAR sweep through ``LidarSegmenter`` with the default
config, every camera frame through ``CameraSegmenter`` (background subtraction, default config).
A person the simulator marks ``detectable`` counts as found when a cluster centre lies within 0.7 m
of their box centre (LiDAR) or a detection's box centre within 30 px of theirs (camera, after the
background model's warm-up); a cluster or detection near no person, visible or not, is a false
positive.

    .venv/bin/python benchmarks/perception_sim_recall.py [--people 4] [--duration 30]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from tcfd_ros.perception.segment_camera import CameraSegmenter
from tcfd_ros.perception.segment_lidar import LidarSegmenter
from tcfd_ros.sim.bag import BagSimulation, BagSpec
from tcfd_ros.sim.truth_match import detection_counts

MATCH_M = 0.7
MATCH_PX = 30.0
CASES = (("overlap", 1), ("overlap", 2), ("disjoint", 1), ("disjoint", 2))


def _lidar(sim: BagSimulation, step: int) -> dict:
    seg = LidarSegmenter()
    found = total = false = 0
    for j in range(0, len(sim.lidar_t), step):
        pts, gt = sim.lidar_frame(j)
        centres = [c.centroid[:2] for c in seg.segment(np.stack([pts["x"], pts["y"], pts["z"]], axis=1))]
        truth = [np.array(p["box3d"]["center"][:2]) for p in gt["people"]]
        counts = detection_counts(centres, truth, [p["detectable"] for p in gt["people"]], MATCH_M)
        found, total, false = found + counts[0], total + counts[1], false + counts[2]
    return {"found": found, "detectable": total, "false_positives": false}


def _camera(sim: BagSimulation, frames: int) -> dict:
    seg = CameraSegmenter()
    found = total = false = 0
    for k in range(min(frames, len(sim.cam_t))):
        img, gt = sim.camera_frame(k)
        dets = seg.segment(img)
        if k < 2 * seg.cfg.warmup_frames:
            continue
        boxed = [p for p in gt["people"] if p["image_box"] is not None]
        truth = [np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]) for b in (p["image_box"] for p in boxed)]
        detectable = [p["detectable"] for p in boxed]
        counts = detection_counts([d.centre_xy for d in dets], truth, detectable, MATCH_PX)
        found, total, false = found + counts[0], total + counts[1], false + counts[2]
    return {"found": found, "detectable": total, "false_positives": false}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--people", type=int, default=4)
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--lidar-step", type=int, default=6)
    p.add_argument("--camera-frames", type=int, default=150)
    args = p.parse_args()
    out = {"benchmark": "perception_sim_recall", "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
           "people": args.people, "duration_s": args.duration, "cases": []}
    with tempfile.TemporaryDirectory() as tmp:
        for layout, seed in CASES:
            sim = BagSimulation(BagSpec(out=Path(tmp) / f"{layout}{seed}", people=args.people,
                                        duration_s=args.duration, layout=layout, seed=seed))
            out["cases"].append({"layout": layout, "seed": seed, "lidar": _lidar(sim, args.lidar_step),
                                 "camera": _camera(sim, args.camera_frames)})
    for sensor in ("lidar", "camera"):
        f = sum(c[sensor]["found"] for c in out["cases"])
        t = sum(c[sensor]["detectable"] for c in out["cases"])
        out[f"{sensor}_recall"] = round(f / max(t, 1), 4)
        out[f"{sensor}_false_positives"] = sum(c[sensor]["false_positives"] for c in out["cases"])
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
