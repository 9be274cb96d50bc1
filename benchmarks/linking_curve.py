"""The recognizer's own operating curve: what its decisions link, at thresholds around the one it runs by.

``decision_gar.py`` scores every camera x LiDAR track pair of recorded replays by the recognizer's final
evidence: a statistic. The recognizer does more than threshold it: one identity per track, a sensor's
concurrent tracks are different people, the walking-pace rule, hysteresis. This re-runs the whole identity
logic (``tcfd_ros.replay.rerun``) on each recorded replay with the threshold the model gives scaled by each
of ``--scales`` and counts what the run ends with: a camera track and a LiDAR track are *linked* when their
last decisions put them in one global identity. Genuine pairs (the replay scorer labels both tracks with one
person) linked over all genuine pairs is the genuine-accept rate; impostor pairs linked over all impostor
pairs is the false-match rate; pairs as ``decision_gar.py`` counts them (tracks that delivered a tracklet;
a pair with a fragment too short for gait counts, unlinked; ``scoring.score_track_pairs``, which the
replay report uses too) and, under ``gait_decides``, only the pairs whose two tracks both delivered
``gait_min_tracklets``. Per scale it also gives the replay scorer's hand-offs and false links (what the
replay report says), and ``gar_at_fmr_0.01`` (``gait_decides_gar_at_fmr_0.01``): the best genuine-accept
rate among the scales whose false-match rate is <= 1 %. Each distinct tracklet is embedded once per replay.
Prints one JSON line; not collected by pytest.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/linking_curve.py out/replays/a out/replays/b \
        [--scales 0.1,1,10,100] [--model M.onnx] [--identity NAME=VALUE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from recognizer_rerun import DEFAULT_MODEL, identity_config, rerun_handoff  # noqa: E402
from track_pairs import summary  # noqa: E402
from tcfd_ros.inference.embedder import Embedder, make_embedder  # noqa: E402
from tcfd_ros.perception.identity import threshold_from  # noqa: E402
from tcfd_ros.perception.identity_types import TrackKey  # noqa: E402
from tcfd_ros.replay import adapters  # noqa: E402
from tcfd_ros.replay.config import ReplayConfig  # noqa: E402
from tcfd_ros.replay.recording import Recording  # noqa: E402
from tcfd_ros.replay.records import MatchEvent  # noqa: E402
from tcfd_ros.replay.rerun import recorded_inputs, rerun  # noqa: E402
from tcfd_ros.replay.scoring import TrackPairScore, score_track_pairs  # noqa: E402
from training.harvest import track_persons  # noqa: E402

#: the false-match rate ``gar_at_fmr_0.01`` is read at (issue 13's)
TARGET_FMR = 0.01
DEFAULT_SCALES = (0.1, 0.3, 1.0, 3.0, 10.0, 100.0)


class OnceEmbedder:
    """An embedder that embeds each distinct tracklet once (keyed by modality and its frames' bytes): the
    re-runs of one replay at several thresholds see the same tracklets."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.parts, self.dim, self.metadata = inner.parts, inner.dim, inner.metadata
        self._seen: dict[tuple[str, str], np.ndarray] = {}

    def embed(self, tracklets: Sequence[np.ndarray], modality: str) -> np.ndarray:
        keys = [(modality, hashlib.sha1(np.ascontiguousarray(t).tobytes()).hexdigest()) for t in tracklets]
        todo = [i for i, k in enumerate(keys) if k not in self._seen]
        if todo:
            for i, e in zip(todo, self.inner.embed([tracklets[i] for i in todo], modality)):
                self._seen[keys[i]] = e
        return np.stack([self._seen[k] for k in keys]) if keys else self.inner.embed([], modality)


def final_bindings(events: Iterable[MatchEvent]) -> dict[TrackKey, int]:
    """Each track's global identity as its last decision (or revision) left it."""
    return {(e.sensor, e.track_id): e.global_id for e in events}


def curve(replays: Sequence[Path], model: Path, cfg_base: Any, scales: Sequence[float]) -> dict:
    """Per scale of the threshold: the pairs linked (all, and those gait may decide) and the hand-offs over
    ``replays``."""
    inner = make_embedder("onnx", str(model), threads=1)
    base = threshold_from(cfg_base, inner.metadata)[0]
    pairs = {s: TrackPairScore(cfg_base.gait_min_tracklets) for s in scales}
    hand = {s: {"people_both": 0, "handed_off": 0, "false_links": 0} for s in scales}
    scoring = ReplayConfig().scoring
    for d in replays:
        rec = Recording.load(d / "recording.jsonl")
        person = track_persons(rec, scoring)
        inputs = recorded_inputs(d / "outputs.mcap")
        counts = adapters.tracklet_counts(rec)
        embedder = OnceEmbedder(inner)
        for s in scales:
            events = rerun(inputs, embedder, replace(cfg_base, open_set_threshold=base * s))[1]
            pairs[s] += score_track_pairs(final_bindings(events), person, rec.sensors, counts,
                                          cfg_base.gait_min_tracklets)
            h = rerun_handoff(rec, events, scoring)
            for k in hand[s]:
                hand[s][k] += getattr(h, k)
    rows = [{"scale": s, "threshold": base * s, **summary(pairs[s].tracks),
             "gait_decides": summary(pairs[s].gait), **hand[s]} for s in scales]
    return {"replays": len(replays), "base_threshold": base, "min_tracklets": cfg_base.gait_min_tracklets,
            "curve": rows, f"gar_at_fmr_{TARGET_FMR}": _best_within(rows, lambda r: r),
            f"gait_decides_gar_at_fmr_{TARGET_FMR}": _best_within(rows, lambda r: r["gait_decides"])}


def _best_within(rows: list[dict], level: Any) -> float | None:
    """The best genuine-accept rate among the scales whose false-match rate is <= ``TARGET_FMR``."""
    within = [c["gar"] for c in map(level, rows)
              if c["fmr"] is not None and c["fmr"] <= TARGET_FMR and c["gar"] is not None]
    return max(within) if within else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("replay_dirs", type=Path, nargs="+", help="replays' --out directories (recording.jsonl, "
                    "outputs.mcap from --record)")
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--scales", default=",".join(map(str, DEFAULT_SCALES)),
                    help="comma-separated factors on the threshold the model (or --identity) gives")
    ap.add_argument("--identity", action="append", default=[], metavar="NAME=VALUE",
                    help="override an IdentityConfig field (YAML value)")
    args = ap.parse_args()
    scales = [float(s) for s in args.scales.split(",")]
    if not scales or min(scales) <= 0:
        ap.error(f"--scales {args.scales!r}: positive factors expected")
    print(json.dumps(curve(args.replay_dirs, args.model, identity_config(args.identity), scales)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
