"""Open-set calibration where the recognizer decides: track pairs of replayed simulated bags.

Why: training calibrates a model's track threshold on held-out people of its clean data set, but the
recognizer compares tracks the node graph cut out of bags, whose distances sit elsewhere (a model
fine-tuned on pipeline tracklets pulls them all closer: its clean threshold then accepts ~7 % of a bag's
impostor pairs; RESULTS.md, "Fine-tuning on the pipeline's tracklets"). The replays of simulated bags
(``tcfd-ros replay BAG --out DIR --record DIR/outputs.mcap``) give exactly the recognizer's situation:
each recorded track's tracklets, embedded by the model and aggregated over the newest
``track_evidence_tracklets`` as the recognizer does, labelled with the person the replay scorer matched
the track to. Every camera track x LiDAR track pair of a bag whose tracks both delivered at least
``gait_min_tracklets`` tracklets is a genuine or an impostor pair; the threshold is the ``target_fmr``
quantile of the impostor distances, and the false-match-rate curve that walking speed and stature move
along (``tcfd_ros.open_set``) is recalibrated with it. Use bags of people the model never trained on.

API::

    pairs = replay_pairs(replay_dir, embedder, evidence_tracklets=16, min_tracklets=4)  # TrackPairs
    meta = pipeline_calibration([pairs, ...], target_fmr=0.01)   # checkpoint metadata updates
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from tcfd_ros.distance import aggregate_track_embedding, cross_modal_distance
from tcfd_ros.errors import DatasetError
from tcfd_ros.inference.embedder import Embedder
from tcfd_ros.open_set import CURVE_FMRS, curve_points
from tcfd_ros.replay.config import ScoringConfig
from training.calibrate import at_fmr
from training.harvest import load_recording, recorded_tracklets, track_persons

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackPairs:
    """Camera x LiDAR track pairs of one replay: their distances and which are the same person."""

    replay: str
    distance: np.ndarray     # (n,) track-level cross-modal distance
    genuine: np.ndarray      # (n,) bool


def replay_pairs(replay_dir: Path, embedder: Embedder, evidence_tracklets: int, min_tracklets: int,
                 scoring: ScoringConfig = ScoringConfig()) -> TrackPairs:
    """Embed a recorded replay's tracklets and pair its labelled camera and LiDAR tracks."""
    rec = load_recording(replay_dir)
    persons = track_persons(rec, scoring)
    tracklets: dict[tuple[str, int], tuple[str, list[np.ndarray]]] = {}
    for t in recorded_tracklets(replay_dir / "outputs.mcap"):
        tracklets.setdefault((t.sensor, int(t.track_id)), (t.modality, []))[1].append(t.frames)
    tracks: dict[str, list[tuple[int, np.ndarray]]] = {"2d": [], "3d": []}
    for (sensor, track), (modality, frames) in sorted(tracklets.items()):
        pid = persons.get(sensor, {}).get(track)
        if pid is None or len(frames) < min_tracklets:
            continue
        emb = np.stack(embedder.embed(frames[-evidence_tracklets:], modality))
        tracks[modality].append((int(pid), aggregate_track_embedding(emb)))
    if not tracks["2d"] or not tracks["3d"]:
        return TrackPairs(replay_dir.name, np.zeros(0), np.zeros(0, bool))
    dist = cross_modal_distance(np.stack([e for _, e in tracks["2d"]]),
                                np.stack([e for _, e in tracks["3d"]]))
    same = np.array([[pc == pl for pl, _ in tracks["3d"]] for pc, _ in tracks["2d"]])
    return TrackPairs(replay_dir.name, np.asarray(dist, np.float64).ravel(), same.ravel())


def pipeline_calibration(pairs: Sequence[TrackPairs], target_fmr: float) -> dict:
    """Checkpoint metadata updates: the track threshold at ``target_fmr`` of the replays' impostor pairs,
    the false-match-rate curve, and the rates measured with them."""
    dist = np.concatenate([p.distance for p in pairs]) if pairs else np.zeros(0)
    genuine = np.concatenate([p.genuine for p in pairs]) if pairs else np.zeros(0, bool)
    impostor = dist[~genuine]
    if impostor.size * target_fmr < 1 or not genuine.any():
        raise DatasetError(f"pipeline calibration: {int(genuine.sum())} genuine and {impostor.size} "
                           f"impostor track pairs cannot resolve a false-match rate of {target_fmr:g} "
                           f"(need >= {int(np.ceil(1 / target_fmr))} impostor pairs and a genuine one): "
                           "add replays")
    rates = at_fmr(dist[genuine], impostor, target_fmr)
    return {
        "open_set_threshold_track": rates["threshold"],
        "open_set_fmr_curve_track": curve_points(impostor, CURVE_FMRS),
        "open_set_measured_fmr_track": rates["fmr"],
        "genuine_accept_rate_track": rates["gar"],
        "open_set_target_fmr_track": float(target_fmr),
        "calibration_level_track": "pipeline",
        "calibration_replays": [p.replay for p in pairs],
        "calibration_pairs_track": [int(genuine.sum()), int(impostor.size)],
    }
