"""Re-run the camera tracker and a geometry-only recognizer on a replay's recording, and score it.

A replay (``tcfd-ros replay BAG --out DIR``) records every camera detection box, every LiDAR track and
tracklet, and the ground truth in ``DIR/recording.jsonl``. This tool feeds the recorded detection boxes
through ``SensorTracking`` (the camera tracker node's code: Kalman tracks, ground positions, tracklets;
the camera's extrinsics, platform poses and intrinsics come from the bag's /tf_static, /tf and
camera_info), then every camera and LiDAR track position and tracklet, in stamp order, through an
``IdentityManager`` whose embeddings are random (gait never links: only geometry does), and scores
the result as ``tcfd-ros replay`` does (hand-off, false links, camera and LiDAR MOTA). Segmentation is
not re-run, so what it measures is the tracker and the fusion; a few seconds instead of a replay's
minutes. With ``--keep-camera`` the recorded camera tracks and tracklets are used (the recognizer alone);
with ``--rescore`` only the recording's own matches are scored (a check that scoring agrees with the
replay's report). On the replays of issue 12 the re-run reproduced the replays' hand-off and camera
MOTA exactly (RESULTS.md, "Robot patrol hand-off (issue 12)"). The replay is the reference.

    .venv/bin/python benchmarks/camera_handoff_offline.py out/replay/robot_8282_after out/robot_8282
    PYTHONPATH=/path/to/older/tree .venv/bin/python benchmarks/camera_handoff_offline.py ...   # before

``--no-ego-motion``, ``--no-rescue``, ``--no-gate-max`` switch off this branch's three changes one by one.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tcfd_ros.geometry.calibration import CameraIntrinsics, RigidTransform
from tcfd_ros.messages import MATCH_SCHEMA, stamp_dict
from tcfd_ros.nodes.node_configs import camera_tracker_node_config
from tcfd_ros.perception.config import IdentityConfig
from tcfd_ros.perception.ground import SensorPlacement
from tcfd_ros.perception.identity import IdentityManager, TrackObservation
from tcfd_ros.perception.sensor_tracking import SensorTracking
from tcfd_ros.perception.track import Measurement, MultiTargetTracker
from tcfd_ros.perception.tracklet import TrackletBuffer
from tcfd_ros.replay import adapters
from tcfd_ros.replay.calibration import read_tf
from tcfd_ros.replay.config import ScoringConfig
from tcfd_ros.replay.reader import BagSource
from tcfd_ros.replay.recording import Received, Recording
from tcfd_ros.replay.scoring import score_run
from tcfd_ros.track_messages import tracks_to_json

NS = 1_000_000_000
SILHOUETTE = np.zeros((64, 64), np.uint8)
#: Random embeddings are ~1 apart in cross-modal distance: far beyond any open-set threshold.
THRESHOLD = 0.007
EMBEDDING_SHAPE = (4, 16)
TOPICS = {"camera": ("/camera/detections", "/camera/tracks", "/camera/tracklets"),
          "lidar": ("/lidar/clusters", "/lidar/tracks", "/lidar/tracklets")}


def bag_camera(bag: Path) -> tuple[CameraIntrinsics, str, str, RigidTransform, list[tuple[float, Any]]]:
    """(intrinsics, optical frame, parent frame, parent_from_camera, [(stamp, map_from_base)]) of a bag."""
    with BagSource(bag) as src:
        static = {e.child: e for _, e in read_tf(src, "/tf_static")}
        poses = [(t, e.transform) for t, e in read_tf(src, "/tf")]
        for m in src.messages(["/camera/camera_info"]):
            info = src.deserialize(m)
            break
    camera = CameraIntrinsics.from_camera_info(info)
    edge = static[str(info.header.frame_id)]
    return camera, str(info.header.frame_id), edge.parent, edge.transform, poses


def match_json(m: Any, stamp_ns: int) -> dict[str, Any]:
    return {"schema": MATCH_SCHEMA, "version": 2, "stamp": stamp_dict(stamp_ns // NS, stamp_ns % NS),
            "frame_id": "", "sensor": m.sensor, "modality": m.modality, "track_id": m.track_id,
            "global_id": m.global_id, "known": m.known, "distance": m.distance, "confidence": m.confidence,
            "threshold": THRESHOLD, "label": None, "switched": m.switched,
            "ground": None if m.ground is None else list(m.ground), "ground_sigma_m": m.ground_sigma_m,
            "fixed_frame": m.fixed_frame, "decided_by": m.decided_by}


def rerun(rec: Recording, bag: Path, args: argparse.Namespace) -> None:
    """Replace the recording's matches (and camera tracks unless ``--keep-camera``) by a re-run."""
    camera, frame, parent, T, poses = bag_camera(bag)
    node = camera_tracker_node_config()
    calib = replace(node.calibration, parent_frame=parent, translation_m=tuple(T.t),
                    rotation_xyzw=tuple(T.quaternion()))
    tracker = node.tracker
    if args.no_ego_motion:
        calib = replace(calib, camera_ego_motion=False)
    if args.no_rescue:
        tracker = replace(tracker, overlap_rescue_iou=0.0)
    placement = SensorPlacement(calib)
    for t, pose in poses:
        placement.add_pose(calib.fixed_frame, calib.base_frame, t, pose)
    buffer = TrackletBuffer.from_config(node.tracklet, "2d")
    tracking = SensorTracking("2d", MultiTargetTracker(tracker), buffer, placement)
    identity = IdentityConfig(geometry_gate_max_m=1e9) if args.no_gate_max else IdentityConfig()
    mgr = IdentityManager(identity, None, {"open_set_threshold": THRESHOLD})
    rng = np.random.default_rng(0)
    replaced = {"/matches"} | (set() if args.keep_camera else {TOPICS["camera"][1], TOPICS["camera"][2]})
    kept = [r for r in rec.received if r.topic not in replaced]
    inputs = {TOPICS["lidar"][1], TOPICS["lidar"][2]} | ({TOPICS["camera"][1], TOPICS["camera"][2]}
                                                         if args.keep_camera else {TOPICS["camera"][0]})
    events = sorted((r for r in rec.received if r.topic in inputs and r.stamp_ns is not None),
                    key=lambda r: (r.stamp_ns, not r.topic.endswith("tracks")))

    def recognize(d: dict[str, Any], stamp_ns: int) -> None:
        ground = d.get("ground")
        o = TrackObservation(stamp_ns / NS, d["sensor"], d["modality"], int(d["track_id"]),
                             rng.normal(size=EMBEDDING_SHAPE),
                             None if ground is None else np.asarray(ground), d.get("ground_sigma_m"),
                             d.get("fixed_frame") or calib.fixed_frame)
        (m,) = mgr.update([o])
        kept.append(Received("/matches", "string", 0.0, stamp_ns, {"json": match_json(m, stamp_ns)}))

    for r in events:
        s = r.stamp_ns / NS
        if r.topic == TOPICS["camera"][0]:
            ms = [Measurement(position=((b[0] + b[2]) / 2, (b[1] + b[3]) / 2),
                              size=(b[2] - b[0], b[3] - b[1]), payload=(SILHOUETTE, tuple(b), o["label"]))
                  for o in r.payload["objects"] for b in [o["box"]]]
            res = tracking.step(s, frame, ms, camera)
            stamp = stamp_dict(r.stamp_ns // NS, r.stamp_ns % NS)
            msg = json.loads(tracks_to_json(stamp, frame, "camera", "2d", res.states, res.fixed_frame))
            kept.append(Received(TOPICS["camera"][1], "string", 0.0, r.stamp_ns, {"json": msg}))
            mgr.observe_positions("camera", s, msg["fixed_frame"],
                                  [(x["track_id"], x["ground"], x["ground_sigma_m"], x["detection"] >= 0)
                                   for x in msg["tracks"]])
            for ready in res.ready:
                recognize({"sensor": "camera", "modality": "2d", "track_id": ready.tracklet.track_id,
                           "ground": ready.ground, "ground_sigma_m": ready.ground_sigma_m,
                           "fixed_frame": res.fixed_frame}, r.stamp_ns)
        elif r.topic.endswith("/tracks"):
            d = r.payload["json"]
            mgr.observe_positions(d["sensor"], s, d.get("fixed_frame", ""),
                                  [(x["track_id"], x.get("ground"), x.get("ground_sigma_m"),
                                    x.get("detection", 0) >= 0) for x in d["tracks"]])
        else:
            recognize(r.payload["json"], r.stamp_ns)
    kept.sort(key=lambda r: r.stamp_ns or 0)
    rec.received = kept


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("replay", type=Path, help="a replay's --out folder (its recording.jsonl)")
    ap.add_argument("bag", type=Path, nargs="?", help="the replayed bag (its tf and camera_info)")
    ap.add_argument("--keep-camera", action="store_true", help="use the recorded camera tracks")
    ap.add_argument("--rescore", action="store_true", help="only score the recording as it is")
    ap.add_argument("--no-ego-motion", action="store_true")
    ap.add_argument("--no-rescue", action="store_true")
    ap.add_argument("--no-gate-max", action="store_true")
    args = ap.parse_args()
    rec = Recording.load(args.replay / "recording.jsonl")
    if not args.rescore:
        if args.bag is None:
            ap.error("the bag is needed unless --rescore")
        rerun(rec, args.bag, args)
    det = {k: adapters.stage_frames(rec, k, v[0]) for k, v in TOPICS.items()}
    trk = {k: adapters.track_frames(rec, k, v[1]) for k, v in TOPICS.items()}
    score = score_run(adapters.ground_truth_frames(rec.ground_truth), rec.sensors, det, trk,
                      adapters.match_events(rec, "/matches"), [], rec.info.bag_duration_s, ScoringConfig())
    h, cam, lid = score.handoff, score.tracking["camera"], score.tracking["lidar"]
    print(f"hand-off {h.handed_off}/{h.people_both}, false links {h.false_links}, links by {h.links_by}; "
          f"camera P/R {score.detection['camera'].precision:.3f}/{score.detection['camera'].recall:.3f} "
          f"MOTA {cam.mota:.3f} IDF1 {cam.idf1:.3f}; LiDAR MOTA {lid.mota:.3f}; "
          f"camera tracks scored {len(cam.track_to_person)}")


if __name__ == "__main__":
    main()
