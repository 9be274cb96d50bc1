"""The recognizer's decisions per camera x LiDAR track pair, pooled over replays, as each replay ran them.

A replay's report gives its own ``track_pairs`` (``tcfd_ros.replay.scoring.TrackPairScore``): of the track
pairs the replay scorer labelled, how many of one person (genuine) and of two (impostor) the recognizer's
last decisions put in one global identity; all pairs, and those whose two tracks both delivered
``gait_min_tracklets`` tracklets (where gait can decide). One bag's few dozen impostor pairs cannot resolve a
1 % false-match rate; this pools them over many replays. It reads each replay's ``recording.jsonl`` (no
``--record`` file or model is needed: the decisions are the ones the graph published on ``/matches``), so
replays made before the report carried the numbers count too. Prints one JSON line; not collected by
pytest.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/track_pairs.py out/replays/a out/replays/b [--min-tracklets 4]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tcfd_ros.perception.config import IdentityConfig  # noqa: E402
from tcfd_ros.replay import adapters  # noqa: E402
from tcfd_ros.replay.config import ReplayConfig  # noqa: E402
from tcfd_ros.replay.recording import Recording  # noqa: E402
from tcfd_ros.replay.scoring import PairCounts, TrackPairScore, score_decisions_per_track_pair  # noqa: E402
from training.harvest import tracking_scores  # noqa: E402

MATCHES_TOPIC = "/matches"


def replay_track_pairs(replay_dir: Path, min_tracklets: int) -> TrackPairScore:
    """One replay's decisions per track pair, from its ``recording.jsonl``."""
    rec = Recording.load(replay_dir / "recording.jsonl")
    return score_decisions_per_track_pair(adapters.match_events(rec, MATCHES_TOPIC),
                                          tracking_scores(rec, ReplayConfig().scoring), rec.sensors,
                                          adapters.tracklet_counts(rec), min_tracklets)


def summary(c: PairCounts) -> dict:
    """The counts with their rates rounded (None where there is no pair to rate)."""
    return {**vars(c), "gar": None if math.isnan(c.gar) else round(c.gar, 4),
            "fmr": None if math.isnan(c.fmr) else round(c.fmr, 4)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("replay_dirs", type=Path, nargs="+", help="replays' --out directories (recording.jsonl)")
    ap.add_argument("--min-tracklets", type=int, default=IdentityConfig.gait_min_tracklets,
                    help="tracklets each track of a pair needs for gait to decide it (the recognizer's "
                         "identity.gait_min_tracklets the replays ran with; default %(default)s)")
    args = ap.parse_args()
    if args.min_tracklets < 1:
        ap.error(f"--min-tracklets {args.min_tracklets}: at least 1")
    per, pooled = {}, TrackPairScore(args.min_tracklets)
    for d in args.replay_dirs:
        tp = replay_track_pairs(d, args.min_tracklets)
        per[str(d)] = {"tracks": summary(tp.tracks), "gait_decides": summary(tp.gait)}
        pooled += tp
    print(json.dumps({"replays": len(args.replay_dirs), "min_tracklets": args.min_tracklets,
                      "tracks": summary(pooled.tracks), "gait_decides": summary(pooled.gait),
                      "per_replay": per}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
