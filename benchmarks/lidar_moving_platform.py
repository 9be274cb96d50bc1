"""LiDAR false positives on a robot bag, with and without the platform pose, located in the fixed frame.

Reads a bag written by ``tcfd-ros simulate bag --mount robot`` (``/lidar/points`` with its ring field,
``/tf`` map -> base_link at every sensor stamp, ``/tf_static`` base_link -> lidar, ``/ground_truth``),
runs every sweep in order through one ``LidarSegmenter`` (the static memories need the sequence), with
``fixed_from_sensor`` = the sweep's pose (``--pose``, what the lidar_segmenter node does on a moving
platform) or without it (the sensor-frame memories), and scores the clusters as ``tcfd-ros replay``
does (0.5 m centroid match, people the simulator does not mark detectable are don't-care). Every false
cluster is placed in the map with the sweep's pose, so one sees which objects they are (the world's
poles, walls and cars are at fixed map positions). A fast offline check; the replay is the reference.

    .venv/bin/python benchmarks/lidar_moving_platform.py out/robot_6061 --pose

Prints detection P / R, CPU per sweep and the false clusters per 1 m map cell (most first).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter

import numpy as np

from tcfd_ros.perception.segment_lidar import LidarSegmenter
from tcfd_ros.point_cloud2 import read_points
from tcfd_ros.replay.adapters import ground_truth_frames
from tcfd_ros.replay.calibration import tf_edges
from tcfd_ros.replay.config import ScoringConfig
from tcfd_ros.replay.reader import BagSource
from tcfd_ros.replay.records import Observation, OutputFrame
from tcfd_ros.replay.scoring import _assign, _cost, _pair_frames, _split_dont_care

#: Stamps are matched to /tf poses and ground truth to this many decimals of a second.
STAMP_DECIMALS = 3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bag")
    ap.add_argument("--pose", action="store_true", help="pass each sweep's pose (static memories in the map)")
    ap.add_argument("--lidar-frame", default="lidar")
    ap.add_argument("--top", type=int, default=12, help="map cells listed")
    a = ap.parse_args()
    src = BagSource(a.bag)
    static, poses, gt_msgs, sweeps = {}, {}, [], []
    for m in src.messages(["/tf_static", "/tf", "/ground_truth", "/lidar/points"]):
        msg = src.deserialize(m)
        if m.topic == "/tf_static":
            static.update({e.child: e for _, e in tf_edges(msg)})
        elif m.topic == "/tf":
            poses.update({round(t, STAMP_DECIMALS): e.transform for t, e in tf_edges(msg)})
        elif m.topic == "/ground_truth":
            gt_msgs.append(json.loads(msg.data))
        else:
            st = msg.header.stamp
            sweeps.append((st.sec + 1e-9 * st.nanosec, read_points(msg)))
    base_from_lidar = static[a.lidar_frame].transform
    seg = LidarSegmenter()
    frames, world, cpu = [], {}, 0.0
    for t, pts in sweeps:
        pose = poses.get(round(t, STAMP_DECIMALS))
        T = pose.compose(base_from_lidar) if pose is not None else None
        xyz = np.stack([pts["x"], pts["y"], pts["z"]], axis=1)
        c0 = time.process_time()
        clusters = seg.segment(xyz, ring=pts["ring"], fixed_from_sensor=T if a.pose else None)
        cpu += time.process_time() - c0
        obs = tuple(Observation(-1, position=(float(c.centroid[0]), float(c.centroid[1]))) for c in clusters)
        frames.append(OutputFrame("lidar", t, obs))
        world[t] = [T.apply(c.centroid) if T is not None else c.centroid for c in clusters]
    cfg = ScoringConfig()
    tp = fp = fn = 0
    cells: Counter = Counter()
    for g, o in _pair_frames(ground_truth_frames(gt_msgs)["lidar"], frames, cfg.stamp_tolerance_s):
        if o is None:
            continue
        vis, obs = _split_dont_care(g, o, "3d", cfg)
        hits = _assign(_cost(vis, obs, "3d", cfg))
        tp, fn, fp = tp + len(hits), fn + len(vis) - len(hits), fp + len(obs) - len(hits)
        taken = {obs[j] for _, j in hits}
        for ob in obs:
            if ob in taken:
                continue
            k = next(i for i, x in enumerate(o.observations) if x is ob)
            w = world[o.stamp_s][k]
            cells[(int(round(w[0])), int(round(w[1])))] += 1
    print(f"{a.bag}: {len(frames)} sweeps, pose {'yes' if a.pose else 'no'}: TP {tp} FP {fp} FN {fn}, "
          f"P {tp / max(tp + fp, 1):.3f} R {tp / max(tp + fn, 1):.3f}, "
          f"segment() CPU {1000 * cpu / max(len(frames), 1):.1f} ms/sweep")
    print("false clusters per 1 m map cell (x, y):", cells.most_common(a.top))


if __name__ == "__main__":
    main()
