"""LiDAR segmenter + LiDAR tracker on a simulated bag, offline: MOTA / IDF1 / ID switches and the body cue.

Reads the bag's /lidar/points and /ground_truth directly (no DDS), segments every cloud with the shipped
``LidarSegmenter`` config (a pole: no platform pose), builds the tracker node's measurements
(``lidar_measurements`` on the segmenter node's ``clusters`` rows) and runs the LiDAR tracker
(``TrackerConfig()`` with ``--tracker`` overrides), scored with the replay scorer's functions on every
confirmed track. ``--cues FILE`` writes each cluster's body cue (top height, torso / leg intensity) with
the ground-truth person it is alone with (nearest within 0.3 m, no other person within 1 m), for the
within- vs between-person spread. A quick tool for iterating; RESULTS.md numbers come from replays.

    .venv/bin/python benchmarks/lidar_bag_eval.py BAG [--tracker body_reacquire_gate=1] [--cues out/x.json]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import yaml  # noqa: E402
from numpy.lib.recfunctions import structured_to_unstructured  # noqa: E402
from rosbags.highlevel import AnyReader  # noqa: E402
from rosbags.typesys import Stores, get_typestore  # noqa: E402

from tcfd_ros.nodes.lidar_segmenter_node import clusters_to_points  # noqa: E402
from tcfd_ros.perception.config import LidarSegmenterConfig, TrackerConfig  # noqa: E402
from tcfd_ros.perception.segment_lidar import LidarSegmenter  # noqa: E402
from tcfd_ros.perception.sensor_tracking import lidar_measurements  # noqa: E402
from tcfd_ros.perception.track import MultiTargetTracker  # noqa: E402
from tcfd_ros.point_cloud2 import read_points  # noqa: E402
from tcfd_ros.replay.adapters import ground_truth_frames  # noqa: E402
from tcfd_ros.replay.config import ScoringConfig  # noqa: E402
from tcfd_ros.replay.records import Observation, OutputFrame  # noqa: E402
from tcfd_ros.replay.scoring import score_tracking  # noqa: E402

ALONE_M = 1.0
MATCH_M = 0.3


def evaluate(bag: str, tracker_overrides: dict | None = None, cues_out: str | None = None) -> dict:
    seg = LidarSegmenter(LidarSegmenterConfig())
    trk = MultiTargetTracker(dataclasses.replace(TrackerConfig(), **(tracker_overrides or {})))
    frames, gt_msgs, clouds = [], [], []
    with AnyReader([Path(bag)], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
        conns = [c for c in reader.connections if c.topic in ("/lidar/points", "/ground_truth")]
        for conn, _, raw in reader.messages(connections=conns):
            msg = reader.deserialize(raw, conn.msgtype)
            if conn.topic == "/ground_truth":
                d = json.loads(msg.data)
                if d.get("sensor") == "lidar":
                    gt_msgs.append(d)
                continue
            stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
            pts = read_points(msg).reshape(-1)
            xyz = structured_to_unstructured(pts[["x", "y", "z"]], copy=False)
            names = pts.dtype.names or ()
            clusters = seg.segment(xyz, ring=pts["ring"] if "ring" in names else None)
            meas = lidar_measurements(clusters_to_points(pts, clusters))
            clouds.append((stamp, meas))
            tracks = trk.update(stamp, meas)
            frames.append(OutputFrame("lidar", stamp, tuple(
                Observation(t.track_id, position=(float(t.position[0]), float(t.position[1])))
                for t in tracks)))
    gt = ground_truth_frames(gt_msgs)["lidar"]
    t = score_tracking(gt, frames, "3d", ScoringConfig())
    out = {"bag": bag, "tracker": tracker_overrides or {}, "frames": len(frames), "mota": round(t.mota, 3),
           "idf1": round(t.idf1, 3), "id_switches": t.id_switches, "tracks": len(t.track_to_person)}
    if cues_out:
        by_stamp = {round(g.stamp_s, 3): g for g in gt}
        rows = []
        for stamp, meas in clouds:
            g = by_stamp.get(round(stamp, 3))
            if g is None:
                continue
            people = [(p.person_id, np.array(p.position)) for p in g.people if p.position is not None]
            for m in meas:
                if m.body is None:
                    continue
                d = [(float(np.hypot(*(np.asarray(m.position) - pos))), pid) for pid, pos in people]
                d.sort()
                if not d or d[0][0] > MATCH_M or (len(d) > 1 and d[1][0] < ALONE_M):
                    continue
                rows.append({"t": stamp, "person": d[0][1], "cue": [float(v) for v in m.body]})
        Path(cues_out).write_text(json.dumps(rows))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bags", nargs="+")
    p.add_argument("--tracker", action="append", default=[], metavar="NAME=VALUE",
                   help="TrackerConfig field override of the LiDAR tracker (YAML value; repeatable)")
    p.add_argument("--cues", default=None, help="write matched cluster cues (JSON) here (one bag)")
    args = p.parse_args()
    tracker = {k: yaml.safe_load(v) for k, v in (a.split("=", 1) for a in args.tracker)}
    for bag in args.bags:
        print(json.dumps(evaluate(bag, tracker, args.cues)), flush=True)


if __name__ == "__main__":
    main()
