"""LiDAR detection precision/recall of the segmenter on simulated bags, scored as ``tcfd-ros replay`` does.

Each case (layout, LiDAR pattern, condition, seed) is a ``BagSimulation`` (the same world and sensors
``tcfd-ros simulate bag`` writes). Every LiDAR sweep goes through one ``LidarSegmenter`` in order (its
static-object memory needs the sequence), with the ``ring`` field as the node passes it, and the
clusters are scored by ``tcfd_ros.replay.scoring.score_detection`` (0.5 m centroid match, people the
simulator does not mark detectable are don't-care). A fast offline check; the replay is the reference.

    .venv/bin/python benchmarks/lidar_conditions.py --seeds 31 47 --lidars hdl64 hdl32 vlp16 \
        --conditions nm oc --layouts overlap disjoint

Prints one JSON line per case and a summary table.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from tcfd_ros.perception.segment_lidar import LidarSegmenter
from tcfd_ros.replay.config import ScoringConfig
from tcfd_ros.replay.records import GTFrame, GTPerson, Observation, OutputFrame
from tcfd_ros.replay.scoring import score_detection
from tcfd_ros.sim.bag import BagSimulation, BagSpec


def run_case(layout: str, lidar: str, condition: str, seed: int, people: int, duration: float,
             use_ring: bool = True) -> dict:
    sim = BagSimulation(BagSpec(out=Path(tempfile.gettempdir()) / "unused", people=people,
                                duration_s=duration, layout=layout, seed=seed, lidar=lidar,
                                conditions=(condition,)))
    seg = LidarSegmenter()
    gt, out = [], []
    cpu = 0.0
    for j in range(len(sim.lidar_t)):
        pts, truth = sim.lidar_frame(j)
        t = float(sim.lidar_t[j])
        xyz = np.stack([pts["x"], pts["y"], pts["z"]], axis=1)
        t0 = time.process_time()
        clusters = seg.segment(xyz, ring=pts["ring"] if use_ring else None)
        cpu += time.process_time() - t0
        gt.append(GTFrame("lidar", t, tuple(
            GTPerson(int(p["id"]), None, (float(p["box3d"]["center"][0]), float(p["box3d"]["center"][1])),
                     bool(p["detectable"])) for p in truth["people"])))
        out.append(OutputFrame("lidar", t, tuple(
            Observation(-1, position=(float(c.centroid[0]), float(c.centroid[1]))) for c in clusters)))
    s = score_detection(gt, out, "3d", ScoringConfig())
    return {"layout": layout, "lidar": lidar, "condition": condition, "seed": seed, "frames": s.frames,
            "tp": s.true_positives, "fp": s.false_positives, "fn": s.false_negatives,
            "precision": round(s.precision, 3), "recall": round(s.recall, 3),
            "segment_cpu_ms": round(1e3 * cpu / max(s.frames, 1), 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[31, 47])
    p.add_argument("--layouts", nargs="+", default=["overlap", "disjoint"])
    p.add_argument("--lidars", nargs="+", default=["hdl64", "hdl32", "vlp16"])
    p.add_argument("--conditions", nargs="+", default=["nm", "oc"])
    p.add_argument("--people", type=int, default=4)
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--no-ring", action="store_true", help="segment x, y, z only (config resolution)")
    args = p.parse_args()
    rows = []
    cases = itertools.product(args.layouts, args.lidars, args.conditions, args.seeds)
    for layout, lidar, cond, seed in cases:
        r = run_case(layout, lidar, cond, seed, args.people, args.duration, not args.no_ring)
        print(json.dumps(r), flush=True)
        rows.append(r)
    print("| layout | LiDAR | condition | seeds | P | R | TP / FP / FN |")
    print("|---|---|---|---|---|---|---|")
    for key, grp in itertools.groupby(rows, key=lambda r: (r["layout"], r["lidar"], r["condition"])):
        g = list(grp)
        tp, fp, fn = (sum(r[k] for r in g) for k in ("tp", "fp", "fn"))
        print(f"| {key[0]} | {key[1]} | {key[2]} | {' '.join(str(r['seed']) for r in g)} | "
              f"{tp / max(tp + fp, 1):.3f} | {tp / max(tp + fn, 1):.3f} | {tp} / {fp} / {fn} |")


if __name__ == "__main__":
    main()
