"""Re-run the recognizer's identity logic on a replay's recorded tracks and tracklets, and score hand-off.

A replay (``tcfd-ros replay BAG --fast --out DIR --record DIR/outputs.mcap``) records every sensor's
``tracks`` and ``tracklets`` (with their frames) in the mcap and the ground truth and tracks in
``DIR/recording.jsonl``. This script feeds the recorded messages, in bag-time order (a frame's tracks
before its tracklets, as the recognizer receives them), through the same ``Embedder`` and
``IdentityManager`` the recognizer node uses, and scores the resulting matches with the replay's
scorer. The segmenters and trackers are not re-run, so an identity-logic change is measured in a
minute instead of a full replay; the recognizer's batching differs (one tracklet at a time here), so
numbers can differ slightly from a full replay's. Prints one JSON line; ``--events`` also prints every
identity change. Not collected by pytest.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/recognizer_rerun.py out/replays/pole_7707 [--events] \
        [--identity open_set_threshold=0.012]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tcfd_ros.inference.embedder import make_embedder  # noqa: E402
from tcfd_ros.messages import stamp_to_seconds  # noqa: E402
from tcfd_ros.nodes.json_messages import TrackletMsg, tracks_from_json  # noqa: E402
from tcfd_ros.perception.config import IdentityConfig  # noqa: E402
from tcfd_ros.perception.ground import feet_hidden  # noqa: E402
from tcfd_ros.perception.identity import IdentityManager, TrackObservation  # noqa: E402
from tcfd_ros.replay import adapters  # noqa: E402
from tcfd_ros.replay.config import ReplayConfig  # noqa: E402
from tcfd_ros.replay.reader import BagSource  # noqa: E402
from tcfd_ros.replay.recording import Recording  # noqa: E402
from tcfd_ros.replay.records import MatchEvent  # noqa: E402
from tcfd_ros.replay.scoring import score_handoff  # noqa: E402
from training.harvest import tracking_scores  # noqa: E402

DEFAULT_MODEL = REPO / "models" / "tcfd_sim.onnx"


def recorded_inputs(mcap: Path) -> list[tuple[int, int, str, str]]:
    """(bag time ns, 0 tracks / 1 tracklet, topic, JSON) in the order the recognizer would see them."""
    out = []
    with BagSource(mcap) as src:
        topics = [t for t in src.topics if t.endswith("/tracks") or t.endswith("/tracklets")]
        for m in src.messages(topics):
            out.append((m.stamp_ns, int(m.topic.endswith("/tracklets")), m.topic, src.deserialize(m).data))
    out.sort(key=lambda r: (r[0], r[1]))
    return out


def rerun(inputs: list[tuple[int, int, str, str]], model: Path, cfg: IdentityConfig,
          events: bool = False, hidden_feet: bool = False,
          on_update: Callable[[IdentityManager, TrackObservation], None] | None = None) -> list[MatchEvent]:
    """The recognizer's identity logic over ``inputs``; ``on_update(manager, observation)`` runs after
    each tracklet's decision (to look at what the manager holds then)."""
    embedder = make_embedder("onnx", str(model), threads=1)
    mgr = IdentityManager(cfg, None, embedder.metadata)
    matches: list[MatchEvent] = []
    hidden: set[tuple[str, int, float]] = set()
    for _, is_tracklet, _, text in inputs:
        if not is_tracklet:
            head, tracks = tracks_from_json(text)
            if hidden_feet and head["modality"] == "2d" and tracks:
                drop = feet_hidden(np.array([t.box for t in tracks]))
                stamp = stamp_to_seconds(head["stamp"])
                hidden |= {(head["sensor"], t.track_id, stamp) for t, d in zip(tracks, drop) if d}
                tracks = [replace(t, ground=None) if d else t for t, d in zip(tracks, drop)]
            mgr.observe_positions(head["sensor"], stamp_to_seconds(head["stamp"]), head["fixed_frame"],
                                  [(t.track_id, t.ground, t.ground_sigma_m, t.detection >= 0, t.stature_m)
                                   for t in tracks])
            continue
        t = TrackletMsg.from_json(text)
        e = embedder.embed([t.frames], t.modality)[0]
        ground = None if t.ground is None or not t.fixed_frame else t.ground
        if (t.sensor, t.track_id, stamp_to_seconds(t.stamp)) in hidden:
            ground = None
        o = TrackObservation(stamp_to_seconds(t.stamp), t.sensor, t.modality, t.track_id, e, ground,
                             t.ground_sigma_m, t.fixed_frame)
        m = mgr.update([o])[0]
        if on_update is not None:
            on_update(mgr, o)
        if events and (m.switched or not matches or all(
                (x.sensor, x.track_id) != (m.sensor, m.track_id) for x in matches)):
            print(f"{m.stamp_s % 1000:8.2f} {m.sensor:6s} track {m.track_id:3d} -> G{m.global_id} "
                  f"by {m.decided_by} switched={m.switched} d={m.distance}", file=sys.stderr)
        matches.append(MatchEvent(m.stamp_s, m.sensor, m.track_id, m.global_id,
                                  float("nan") if m.distance is None else m.distance, m.known, m.decided_by,
                                  m.ground, m.fixed_frame))
    return matches


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
    overrides = {}
    for item in args.identity:
        name, _, value = item.partition("=")
        overrides[name] = yaml.safe_load(value)
    cfg = replace(IdentityConfig(), **overrides)
    cfg.validate()
    rec = Recording.load(args.replay_dir / "recording.jsonl")
    inputs = recorded_inputs(args.mcap or args.replay_dir / "outputs.mcap")
    matches = rerun(inputs, args.model, cfg, args.events, args.hidden_feet)
    scoring = ReplayConfig().scoring
    gt = adapters.ground_truth_frames(rec.ground_truth)
    trk = tracking_scores(rec, scoring)
    hand = score_handoff(gt, rec.sensors, trk, matches, rec.info.bag_duration_s, scoring)
    recorded = score_handoff(gt, rec.sensors, trk, adapters.match_events(rec, "/matches"),
                             rec.info.bag_duration_s, scoring)
    print(json.dumps({
        "replay": str(args.replay_dir), "people_both": hand.people_both,
        "rerun": {"handed_off": hand.handed_off, "false_links": hand.false_links, "links_by": hand.links_by,
                  "false_links_by": hand.false_links_by},
        "recorded": {"handed_off": recorded.handed_off, "false_links": recorded.false_links},
        "mota": {s: round(t.mota, 3) for s, t in trk.items()},
        "track_to_person": {s: dict(sorted(t.track_to_person.items())) for s, t in trk.items()},
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
