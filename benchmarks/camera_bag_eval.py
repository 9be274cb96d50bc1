"""Camera detection P/R and tracking of ``CameraSegmenter`` + the camera tracker on simulated bags, offline.

Reads each bag's /camera/image_raw and /ground_truth directly (no DDS), segments every image with
the shipped ``CameraSegmenter`` config, and scores the per-frame boxes with the replay scorer's own
functions (``tcfd_ros.replay.scoring``: IoU >= 0.5, Hungarian, non-detectable people are don't-care),
so the numbers equal what ``tcfd-ros replay`` reports for the ``detections`` stage; the camera
tracker (``camera_tracker_config``, with each detection's clothing colour) runs on the same boxes for
MOTA / IDF1, scored on every confirmed track as the tracker node publishes them (coasting ones too),
which reproduces a pole replay's camera MOTA / IDF1 / ID switches exactly. Segmentation and colour CPU
time per frame (one thread) are reported too; ``--tracker appearance_cost=0 --tracker
appearance_reacquire_gate=1`` turns the colours off. A quick tool for iterating; RESULTS.md numbers
come from ``tcfd-ros replay --fast``.

    .venv/bin/python benchmarks/camera_bag_eval.py out/bags/nt_7311 [more bags] [--param bg_scale=0.5]

Prints one JSON line per bag.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402
from rosbags.highlevel import AnyReader  # noqa: E402
from rosbags.typesys import Stores, get_typestore  # noqa: E402

from tcfd_ros.image_conversions import imgmsg_to_cv2  # noqa: E402
from tcfd_ros.perception.appearance import describe  # noqa: E402
from tcfd_ros.perception.config import CameraSegmenterConfig, camera_tracker_config  # noqa: E402
from tcfd_ros.perception.segment_camera import CameraSegmenter  # noqa: E402
from tcfd_ros.perception.track import Measurement, MultiTargetTracker  # noqa: E402
from tcfd_ros.replay.adapters import ground_truth_frames  # noqa: E402
from tcfd_ros.replay.config import ScoringConfig  # noqa: E402
from tcfd_ros.replay.records import Observation, OutputFrame  # noqa: E402
from tcfd_ros.replay.scoring import score_detection, score_tracking  # noqa: E402


def evaluate(bag: str, max_frames: int | None = None, overrides: dict | None = None,
             tracker_overrides: dict | None = None) -> dict:
    seg = CameraSegmenter(dataclasses.replace(CameraSegmenterConfig(), **(overrides or {})))
    trk = MultiTargetTracker(dataclasses.replace(camera_tracker_config(), **(tracker_overrides or {})))
    app_cpu: list[float] = []
    det_frames, trk_frames, gt_msgs, cpu = [], [], [], []
    encodings = set()
    with AnyReader([Path(bag)], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
        conns = [c for c in reader.connections if c.topic in ("/camera/image_raw", "/ground_truth")]
        n = 0
        for conn, _, raw in reader.messages(connections=conns):
            msg = reader.deserialize(raw, conn.msgtype)
            if conn.topic == "/ground_truth":
                d = json.loads(msg.data)
                if d.get("sensor") == "camera":
                    gt_msgs.append(d)
                continue
            if max_frames is not None and n >= max_frames:
                continue
            n += 1
            encodings.add(msg.encoding)
            img = imgmsg_to_cv2(msg, "mono8" if msg.encoding == "mono8" else "bgr8")
            stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
            t0 = time.process_time()
            dets = seg.segment(img)
            cpu.append(time.process_time() - t0)
            boxes = [d.bbox_xyxy for d in dets]
            det_frames.append(OutputFrame("camera", stamp,
                                          tuple(Observation(-1, image_box=b) for b in boxes)))
            t0 = time.process_time()
            apps = []
            for d in dets:
                rows, cols = d.box_slices()
                apps.append(describe(img, d.mask[rows, cols], (cols.start, rows.start, cols.stop, rows.stop)))
            app_cpu.append(time.process_time() - t0)
            meas = [Measurement(position=d.centre_xy, size=d.size_wh, payload=d.bbox_xyxy, appearance=a)
                    for d, a in zip(dets, apps)]
            tracks = trk.update(stamp, meas)
            obs = []
            for t in tracks:             # coasting tracks too: the tracker node publishes them
                if t.size is None:
                    continue
                (cx, cy), (w, h) = t.position, t.size
                box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
                obs.append(Observation(t.track_id, image_box=box))
            trk_frames.append(OutputFrame("camera", stamp, tuple(obs)))
    gt = ground_truth_frames(gt_msgs)["camera"]
    stamps = {round(f.stamp_s, 6) for f in det_frames}
    gt = [g for g in gt if round(g.stamp_s, 6) in stamps]
    cfg = ScoringConfig()
    d = score_detection(gt, det_frames, "2d", cfg)
    t = score_tracking(gt, trk_frames, "2d", cfg)
    ms = np.array(cpu[seg.cfg.warmup_frames:]) * 1000.0
    return {"bag": bag, "overrides": overrides or {}, "tracker": tracker_overrides or {},
            "appearance_ms_mean": round(float(np.mean(app_cpu)) * 1000.0, 3),
            "encoding": sorted(encodings), "frames": d.frames,
            "precision": round(d.precision, 3), "recall": round(d.recall, 3),
            "tp": d.true_positives, "fp": d.false_positives, "fn": d.false_negatives,
            "mota": round(t.mota, 3), "idf1": round(t.idf1, 3), "id_switches": t.id_switches,
            "tracks": len(t.track_to_person),
            "cpu_ms_mean": round(float(ms.mean()), 2), "cpu_ms_p90": round(float(np.percentile(ms, 90)), 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bags", nargs="+")
    p.add_argument("--frames", type=int, default=None, help="only the first N camera frames")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="CameraSegmenterConfig field override, e.g. bg_scale=0.5 (YAML value; repeatable)")
    p.add_argument("--tracker", action="append", default=[], metavar="NAME=VALUE",
                   help="TrackerConfig field override of the camera tracker, e.g. appearance_cost=0 "
                        "(YAML value; repeatable)")
    args = p.parse_args()
    overrides = {k: yaml.safe_load(v) for k, v in (a.split("=", 1) for a in args.param)}
    tracker = {k: yaml.safe_load(v) for k, v in (a.split("=", 1) for a in args.tracker)}
    cv2.setNumThreads(1)
    for bag in args.bags:
        print(json.dumps(evaluate(bag, args.frames, overrides, tracker)), flush=True)


if __name__ == "__main__":
    main()
