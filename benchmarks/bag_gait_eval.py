"""How well a gait model separates the people of a replayed bag, from the pipeline's own tracklets.

A replay (``tcfd-ros replay BAG --fast --out DIR --record DIR/outputs.mcap``) records every tracklet the
trackers cut (frames included) and, in ``DIR/recording.jsonl``, the ground truth and the tracks. Each
tracklet gets its person from the replay scorer's track-to-person map; the model embeds every tracklet,
and the script prints one JSON line: camera -> LiDAR and LiDAR -> camera Rank-1 per tracklet and per
track (the tracklets of a track aggregated as the recognizer does, ``aggregate_track_embedding``), the
median genuine / impostor track distances, the share of genuine track pairs within the model's
track threshold and of impostor pairs within it, and LiDAR -> camera tracklet Rank-1 by the person's
ground-truth LiDAR point count. It measures the model on what the recognizer receives, where
``tcfd-ros evaluate`` measures it on a clean data set. Not collected by pytest.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bag_gait_eval.py out/replay [--mcap F] [--model M]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from recognizer_rerun import DEFAULT_MODEL  # noqa: E402
from tcfd_ros.distance import aggregate_track_embedding, cross_modal_distance  # noqa: E402
from tcfd_ros.inference.embedder import make_embedder  # noqa: E402
from tcfd_ros.replay.config import ReplayConfig  # noqa: E402
from tcfd_ros.replay.recording import Recording  # noqa: E402
from tcfd_ros.replay.rerun import recorded_inputs  # noqa: E402
from tcfd_ros.track_messages import TrackletMsg  # noqa: E402
from training.harvest import track_persons  # noqa: E402

#: LiDAR point-count bins (points on the person in the tracklet's last frame) for Rank-1 by sparsity.
POINT_BINS = (0, 50, 80, 120, 200, 100000)


def labelled_tracklets(replay: Path, mcap: Path) -> list[dict]:
    """Every recorded tracklet with its person (None where its track matched nobody) and GT points."""
    rec = Recording.load(replay / "recording.jsonl")
    person = track_persons(rec, ReplayConfig().scoring)
    lidar_gt = sorted((g["stamp_s"], {p["id"]: p.get("lidar_points") or 0 for p in g["people"]})
                      for g in rec.ground_truth if g["sensor"] == "lidar")
    stamps = np.array([s for s, _ in lidar_gt])
    out = []
    for _, is_tracklet, _, text in recorded_inputs(mcap):
        if not is_tracklet:
            continue
        t = TrackletMsg.from_json(text)
        p = person.get(t.sensor, {}).get(t.track_id)
        points = None
        if t.modality == "3d" and p is not None and stamps.size:
            k = max(int(np.searchsorted(stamps, t.frame_stamps[-1])) - 1, 0)
            points = lidar_gt[k][1].get(p)
        out.append({"modality": t.modality, "track": (t.sensor, t.track_id), "person": p,
                    "frames": np.asarray(t.frames), "points": points})
    return out


def _rank1(d: np.ndarray, probe: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Per probe row that has its person in the gallery: is the nearest gallery item that person?"""
    has = np.isin(probe, gallery)
    return (gallery[np.argmin(d, axis=1)] == probe)[has] if d.size else np.zeros(0, bool)


def evaluate(items: list[dict], model: Path) -> dict:
    emb = make_embedder("onnx" if model.suffix == ".onnx" else "torch", model, threads=2)
    thr = emb.metadata.get("open_set_threshold_track") or emb.metadata.get("open_set_threshold")
    by = {}
    for m in ("2d", "3d"):
        sel = [it for it in items if it["modality"] == m and it["person"] is not None]
        by[m] = (sel, np.asarray(emb.embed([it["frames"] for it in sel], m)) if sel else None)
    (cam, e2), (lid, e3) = by["2d"], by["3d"]
    if e2 is None or e3 is None:
        return {"error": "the replay has no labelled tracklets of one modality"}
    p2, p3 = np.array([it["person"] for it in cam]), np.array([it["person"] for it in lid])
    d = cross_modal_distance(e2, e3)
    l2c = _rank1(d.T, p3, p2)
    pts = np.array([lid[i]["points"] or 0 for i in range(len(lid)) if p3[i] in p2])
    tracks = {}
    for m, sel, e in (("2d", cam, e2), ("3d", lid, e3)):
        keys = sorted({it["track"] for it in sel})
        tracks[m] = (np.array([next(it["person"] for it in sel if it["track"] == k) for k in keys]),
                     np.stack([aggregate_track_embedding(e[[it["track"] == k for it in sel]]) for k in keys]))
    dk = cross_modal_distance(tracks["2d"][1], tracks["3d"][1])
    tp2, tp3 = tracks["2d"][0], tracks["3d"][0]
    same = tp2[:, None] == tp3[None, :]
    gen, imp = dk[same], dk[~same]
    bins = {}
    for lo, hi in zip(POINT_BINS[:-1], POINT_BINS[1:]):
        s = (pts >= lo) & (pts < hi)
        if s.any():
            bins[f"{lo}-{hi}"] = {"n": int(s.sum()), "rank1": round(float(l2c[s].mean()), 3)}
    return {
        "tracklets": {"camera": len(cam), "lidar": len(lid)},
        "tracklet_rank1": {"cam_to_lidar": round(float(_rank1(d, p2, p3).mean()), 3),
                           "lidar_to_cam": round(float(l2c.mean()), 3)},
        "tracks": {"camera": len(tracks["2d"][0]), "lidar": len(tracks["3d"][0])},
        "track_rank1": {"cam_to_lidar": round(float(_rank1(dk, tp2, tp3).mean()), 3),
                        "lidar_to_cam": round(float(_rank1(dk.T, tp3, tp2).mean()), 3)},
        "track_distance_median": {"genuine": round(float(np.median(gen)), 4) if gen.size else None,
                                  "impostor": round(float(np.median(imp)), 4) if imp.size else None},
        "track_threshold": thr,
        "within_threshold": {"genuine": round(float(np.mean(gen <= thr)), 3) if gen.size else None,
                             "impostor": round(float(np.mean(imp <= thr)), 4) if imp.size else None},
        "lidar_to_cam_rank1_by_gt_points": bins,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("replay_dir", type=Path, help="a replay's --out directory (recording.jsonl)")
    ap.add_argument("--mcap", type=Path, default=None, help="its --record file (default DIR/outputs.mcap)")
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    args = ap.parse_args()
    items = labelled_tracklets(args.replay_dir, args.mcap or args.replay_dir / "outputs.mcap")
    result = evaluate(items, args.model)
    print(json.dumps({"replay": str(args.replay_dir), "model": str(args.model), **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
