"""Why a replay missed a hand-off: each missed person's camera x LiDAR track pairs.

A replay's report says how many people seen by both sensors were handed off; this says, for each one
who was not, what the recognizer held: every pair of that person's camera and LiDAR tracks with their
tracklet counts, the cues each track measured (walking speed, stature, step frequency; a cue a track does
not show was withheld, e.g. a stature whose frames spread too far), the gait distance, the decision score
(``IdentityManager.decision_score``) against the threshold, and the pair's rank among the LiDAR tracks the
camera track could be compared with. The first applicable reason is named: ``too few tracklets`` (the
pair is never decided by gait), ``another person scores better`` (rank > 1), ``passes, not linked``
(a veto, the walking-pace rule or one identity per track decided otherwise), else ``above the threshold``
by the factor shown. It re-runs the recognizer on the recorded tracks and tracklets
(``tcfd_ros.replay.rerun``), so it needs a replay made with ``--record``; the missed people are those
the replay's own ``score.json`` did not hand off, among the people both sensors' tracks are labelled
with. Not collected by pytest.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/handoff_misses.py out/replay_a out/replay_b [--model M.onnx]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from decision_gar import BagTracks, bag_tracks  # noqa: E402
from recognizer_rerun import DEFAULT_MODEL  # noqa: E402
from tcfd_ros.perception.config import IdentityConfig  # noqa: E402


@dataclass(frozen=True)
class MissedPair:
    """One camera x LiDAR track pair of a person the replay did not hand off."""

    person: int
    camera_track: int
    lidar_track: int
    tracklets: tuple[int, int]                 # camera, LiDAR
    cues: tuple[dict[str, float], dict[str, float]]
    gait: float
    score: float
    threshold: float
    rank: int | None                           # among the LiDAR tracks with enough tracklets; None: too few
    best_other: int | None                     # the person of the best-scoring LiDAR track when not this one
    reason: str


def handed_off(score_json: Path) -> set[int]:
    """The people the replay linked across sensors (its scorer's camera and LiDAR person agree)."""
    doc = json.loads(score_json.read_text())
    return {h["camera_person"] for h in doc.get("handoffs") or []
            if h.get("camera_person") is not None and h["camera_person"] == h.get("lidar_person")}


def reason(rank: int | None, score: float, threshold: float) -> str:
    """The first that applies; ``rank`` None: the pair has too few tracklets to be decided by gait."""
    if rank is None:
        return "too few tracklets"
    if rank > 1:
        return "another person scores better"
    if score <= threshold:
        return "passes, not linked"
    return f"above the threshold x{score / threshold:.3g}"


def missed_pairs(b: BagTracks, linked: set[int], min_tracklets: int) -> list[MissedPair]:
    """Every camera x LiDAR pair of each labelled person both sensors tracked and the replay did not link."""
    both = ({p for p in b.label_c if p is not None} & {p for p in b.label_l if p is not None}) - linked
    enough_l = np.array([s.tracklets >= min_tracklets for _, s in b.lids], dtype=bool)
    out = []
    for i, (kc, c) in enumerate(b.cams):
        if b.label_c[i] not in both:
            continue
        scores = np.array([b.decision(i, j) for j in range(len(b.lids))])
        ranked = np.where(enough_l, scores, np.inf)
        best = int(np.argmin(ranked)) if np.isfinite(ranked).any() else None
        for j, (kl, lt) in enumerate(b.lids):
            if b.label_l[j] != b.label_c[i]:
                continue
            ok = min(c.tracklets, lt.tracklets) >= min_tracklets
            rank = int((ranked < scores[j]).sum()) + 1 if ok else None
            other = b.label_l[best] if best is not None and best != j else None
            out.append(MissedPair(int(b.label_c[i]), kc[1], kl[1], (c.tracklets, lt.tracklets),
                                  (dict(c.cues), dict(lt.cues)), float(b.dist[i, j]), float(scores[j]),
                                  b.manager.threshold, rank, other,
                                  reason(rank, float(scores[j]), b.manager.threshold)))
    return out


def _line(p: MissedPair) -> str:
    def cues(c: dict[str, float]) -> str:
        return ", ".join(f"{k} {v:.2f}" for k, v in sorted(c.items())) or "none"
    better = f"; best: person {p.best_other}'s track" if p.best_other is not None else ""
    return (f"  person {p.person}: camera {p.camera_track} ({p.tracklets[0]} tracklets; {cues(p.cues[0])}) x "
            f"LiDAR {p.lidar_track} ({p.tracklets[1]}; {cues(p.cues[1])}): gait {p.gait:.4f}, score "
            f"{p.score:.3g} vs {p.threshold:.3g}, rank {p.rank}{better} -> {p.reason}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("replay_dirs", type=Path, nargs="+",
                    help="replays' --out directories, made with --record")
    ap.add_argument("--mcap-dir", type=Path, default=None,
                    help="where each replay's --record file is, as NAME.mcap (default DIR/outputs.mcap)")
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--json", action="store_true", help="one JSON object per missed pair instead of text")
    args = ap.parse_args()
    cfg = IdentityConfig()
    for d in args.replay_dirs:
        mcap = args.mcap_dir / f"{d.name}.mcap" if args.mcap_dir else d / "outputs.mcap"
        for need in (d / "score.json", d / "recording.jsonl", mcap):
            if not need.is_file():
                print(f"{d}: no {need.name} (a replay's --out directory, made with --record)",
                      file=sys.stderr)
                return 2
        pairs = missed_pairs(bag_tracks(d, mcap, args.model, cfg), handed_off(d / "score.json"),
                             cfg.gait_min_tracklets)
        if args.json:
            for p in pairs:
                print(json.dumps({"replay": str(d), **p.__dict__}))
            continue
        people = sorted({p.person for p in pairs})
        print(f"{d}: {len(people)} missed hand-off(s) among people both sensors tracked")
        for p in pairs:
            print(_line(p))
    return 0


if __name__ == "__main__":
    sys.exit(main())
