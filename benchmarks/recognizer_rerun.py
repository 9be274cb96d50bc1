"""Re-run the recognizer's identity logic on a replay's recorded tracks and tracklets, and score hand-off.

A replay (``tcfd-ros replay BAG --fast --out DIR --record DIR/outputs.mcap``) records every sensor's
``tracks`` and ``tracklets`` (with their frames) in the mcap and the ground truth and tracks in
``DIR/recording.jsonl``. This script feeds the recorded messages, in bag-time order (a frame's tracks
before its tracklets, as the recognizer receives them), through the same ``Embedder`` and
``IdentityManager`` the recognizer node uses, and scores the resulting matches with the replay's
scorer. The segmenters and trackers are not re-run, so an identity-logic change is measured in seconds
instead of a full replay; the inputs are grouped by stamp as the node decides them (``replay/rerun.py``),
so on a recording made with the same identity logic the re-run reproduces the real path's decisions.
Prints one JSON line: hand-off, and the camera x LiDAR track pairs the decisions link (all, and where
both tracks delivered ``gait_min_tracklets``), for the re-run and for the recorded decisions; ``--events``
also prints every new binding and identity change. Not collected by pytest.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/recognizer_rerun.py out/replays/pole_7707 [--events] \
        [--identity open_set_threshold=0.012]
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tcfd_ros.inference.embedder import Embedder, make_embedder  # noqa: E402
from tcfd_ros.perception.config import IdentityConfig  # noqa: E402
from tcfd_ros.perception.identity import IdentityManager, TrackObservation  # noqa: E402
from tcfd_ros.perception.identity_types import IdentityMatch  # noqa: E402
from tcfd_ros.replay import adapters  # noqa: E402
from tcfd_ros.replay.config import ReplayConfig, ScoringConfig  # noqa: E402
from tcfd_ros.replay.recording import Recording  # noqa: E402
from tcfd_ros.replay.records import MatchEvent  # noqa: E402
from tcfd_ros.replay.rerun import recorded_inputs  # noqa: E402
from tcfd_ros.replay.rerun import rerun as rerun_identities  # noqa: E402
from tcfd_ros.replay.scoring import (  # noqa: E402
    HandoffScore, TrackingScore, score_decisions_per_track_pair, score_handoff)
from tcfd_ros.replay.track_lives import TrackLives  # noqa: E402
from training.harvest import recording_lives, tracking_scores  # noqa: E402

DEFAULT_MODEL = REPO / "models" / "tcfd_sim.onnx"


@functools.lru_cache(maxsize=2)
def onnx_embedder(model: Path) -> Embedder:
    """One ONNX session per model for all re-runs of a process (an embedder keeps no state between calls)."""
    return make_embedder("onnx", str(model), threads=1)


def rerun(inputs: list[tuple[int, int, str, str]], model: Path, cfg: IdentityConfig,
          events: bool = False, hidden_feet: bool = False) -> list[MatchEvent]:
    """``tcfd_ros.replay.rerun.rerun`` with the ONNX model at ``model``; ``events`` prints each new binding
    and identity change to stderr."""
    seen: set[tuple[str, int]] = set()

    def hook(mgr: IdentityManager, o: TrackObservation, m: IdentityMatch) -> None:
        if events and (m.switched or (m.sensor, m.track_id) not in seen):
            print(f"{m.stamp_s % 1000:8.2f} {m.sensor:6s} track {m.track_id:3d} -> G{m.global_id} "
                  f"by {m.decided_by} switched={m.switched} d={m.distance}", file=sys.stderr)
        seen.add((m.sensor, m.track_id))
    return rerun_identities(inputs, onnx_embedder(model), cfg, hidden_feet, hook)[1]


def identity_config(items: list[str]) -> IdentityConfig:
    """The default ``IdentityConfig`` with ``NAME=VALUE`` overrides (YAML values), validated."""
    overrides = {}
    for item in items:
        name, _, value = item.partition("=")
        overrides[name] = yaml.safe_load(value)
    cfg = replace(IdentityConfig(), **overrides)
    cfg.validate()
    return cfg


def rerun_handoff(rec: Recording, matches: Sequence[MatchEvent], scoring: ScoringConfig,
                  tracking: dict[str, TrackingScore] | None = None,
                  lives: TrackLives | None = None) -> HandoffScore:
    """The replay scorer's hand-off of ``matches`` against the recording's ground truth and tracks, per
    track life as the replay scores it (``tracking`` made with the same ``lives``)."""
    lives = recording_lives(rec, IdentityConfig().track_timeout_s) if lives is None else lives
    trk = tracking if tracking is not None else tracking_scores(rec, scoring, lives)
    return score_handoff(adapters.ground_truth_frames(rec.ground_truth), rec.sensors, trk, matches,
                         rec.info.bag_duration_s, scoring, lives)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("replay_dir", type=Path, help="a replay's --out directory (recording.jsonl)")
    ap.add_argument("--mcap", type=Path, default=None, help="its --record file (default DIR/outputs.mcap)")
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--events", action="store_true", help="print each new binding and identity change")
    ap.add_argument("--hidden-feet", action="store_true",
                    help="drop the ground of camera boxes whose feet a nearer box hides (recordings made "
                         "before the camera tracker did so itself)")
    ap.add_argument("--identity", action="append", default=[], metavar="NAME=VALUE",
                    help="override an IdentityConfig field (YAML value), e.g. open_set_threshold=0.012")
    args = ap.parse_args()
    cfg = identity_config(args.identity)
    rec = Recording.load(args.replay_dir / "recording.jsonl")
    inputs = recorded_inputs(args.mcap or args.replay_dir / "outputs.mcap")
    matches = rerun(inputs, args.model, cfg, args.events, args.hidden_feet)
    scoring = ReplayConfig().scoring
    lives = recording_lives(rec, cfg.track_timeout_s)
    trk = tracking_scores(rec, scoring, lives)
    hand = rerun_handoff(rec, matches, scoring, trk, lives)
    recorded_matches = adapters.match_events(rec, "/matches")
    recorded = rerun_handoff(rec, recorded_matches, scoring, trk, lives)
    counts = adapters.tracklet_counts(rec)

    def pairs(events: Sequence[MatchEvent]) -> dict:
        score = score_decisions_per_track_pair(events, trk, rec.sensors, counts, cfg.gait_min_tracklets,
                                               lives)
        return {"all": asdict(score.tracks), "gait": asdict(score.gait)}
    print(json.dumps({
        "replay": str(args.replay_dir), "people_both": hand.people_both,
        "rerun": {"handed_off": hand.handed_off, "false_links": hand.false_links, "links_by": hand.links_by,
                  "false_links_by": hand.false_links_by},
        "track_pairs": pairs(matches),
        "recorded": {"handed_off": recorded.handed_off, "false_links": recorded.false_links,
                     "track_pairs": pairs(recorded_matches)},
        "mota": {s: round(t.mota, 3) for s, t in trk.items()},
        "track_to_person": {s: dict(sorted(t.track_to_person.items())) for s, t in trk.items()},
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
