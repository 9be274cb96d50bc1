"""Open-set calibration where the recognizer decides: track pairs of replayed simulated bags.

Why: training calibrates a model's track threshold on held-out people of its clean data set, but the
recognizer compares tracks the node graph cut out of bags, whose distances sit elsewhere (a model
fine-tuned on pipeline tracklets pulls them all closer: its clean threshold then accepts ~7 % of a bag's
impostor pairs; RESULTS.md, "Fine-tuning on the pipeline's tracklets"). The replays of simulated bags
(``tcfd-ros replay BAG --out DIR --record DIR/outputs.mcap``) give exactly the recognizer's situation:
each recorded track's tracklets, embedded by the model and aggregated over the newest
``track_evidence_tracklets`` as the recognizer does, labelled with the person the replay scorer matched
the track to. Every camera track x LiDAR track pair whose tracks both delivered at least
``gait_min_tracklets`` tracklets is a genuine or an impostor pair; the threshold is the ``target_fmr``
quantile of the impostor distances, and the false-match-rate curve that walking speed and stature move
along (``tcfd_ros.open_set``) is recalibrated with it. Use bags of people the model never trained on.

A person is the simulated world's seed and their id (the ground truth's ``scene.seed``: the simulator
draws a person from both), so a camera track of one replay and a LiDAR track of another are a pair too,
an impostor one unless both replays are of the same world. One bag gives a few dozen impostor pairs,
which resolve a 1 % rate at best; pairing across N bags gives ~N times more and resolves the curve's
low rates. Measured with the shipped model on ten replays (RESULTS.md, "Pipeline calibration across
replays"): the two kinds of impostor distances agree (two-sample KS p = 0.12; 1 % quantiles 0.0060 within
a bag, 0.0062 across).

API::

    tracks = replay_tracks(replay_dir, embedder, evidence_tracklets=16, min_tracklets=4)  # ReplayTracks
    pairs = pair_tracks([tracks, ...])                                # TrackPairs, across replays too
    meta = pipeline_calibration(pairs, target_fmr=0.01)               # checkpoint metadata updates
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from tcfd_ros.distance import aggregate_track_embedding, cross_modal_distance
from tcfd_ros.errors import DatasetError
from tcfd_ros.inference.embedder import Embedder
from tcfd_ros.open_set import CURVE_FMRS, curve_points
from tcfd_ros.replay.config import ScoringConfig
from tcfd_ros.replay.recording import Recording
from training.calibrate import at_fmr
from training.harvest import load_recording, recorded_tracklets, track_persons

#: a person across replays: (the simulated world's seed, or the replay's name without one; the person's id)
Person = tuple[str, int]


@dataclass(frozen=True)
class ReplayTracks:
    """One replay's labelled tracks, each embedded and aggregated as the recognizer does."""

    replay: str
    camera: list[tuple[Person, np.ndarray]]
    lidar: list[tuple[Person, np.ndarray]]


@dataclass(frozen=True)
class TrackPairs:
    """Every camera x LiDAR track pair of some replays: their distances, which are the same person, and
    which pair tracks of two different replays."""

    replays: tuple[str, ...]
    distance: np.ndarray     # (n,) track-level cross-modal distance
    genuine: np.ndarray      # (n,) bool
    across: np.ndarray       # (n,) bool


def world_of(rec: Recording, replay: str) -> str:
    """The simulated world a recording's people belong to: the ground truth's scene seed (one per bag);
    without one, the replay itself (its tracks then pair with no other replay's as strangers)."""
    seeds = {str(g["scene"]["seed"]) for g in rec.ground_truth
             if isinstance(g.get("scene"), dict) and g["scene"].get("seed") is not None}
    if len(seeds) > 1:
        raise DatasetError(f"{replay}: the ground truth names {len(seeds)} world seeds ({sorted(seeds)}); "
                           "expected the one of its simulated bag")
    return f"seed {seeds.pop()}" if seeds else f"replay {replay}"


def replay_tracks(replay_dir: Path, embedder: Embedder, evidence_tracklets: int, min_tracklets: int,
                  scoring: ScoringConfig = ScoringConfig()) -> ReplayTracks:
    """Embed a recorded replay's tracklets into one aggregate per labelled track."""
    rec = load_recording(replay_dir)
    world = world_of(rec, replay_dir.name)
    persons = track_persons(rec, scoring)
    tracklets: dict[tuple[str, int], tuple[str, list[np.ndarray]]] = {}
    for t in recorded_tracklets(replay_dir / "outputs.mcap"):
        tracklets.setdefault((t.sensor, int(t.track_id)), (t.modality, []))[1].append(t.frames)
    tracks: dict[str, list[tuple[Person, np.ndarray]]] = {"2d": [], "3d": []}
    for (sensor, track), (modality, frames) in sorted(tracklets.items()):
        pid = persons.get(sensor, {}).get(track)
        if pid is None or len(frames) < min_tracklets:
            continue
        emb = np.stack(embedder.embed(frames[-evidence_tracklets:], modality))
        tracks[modality].append(((world, int(pid)), aggregate_track_embedding(emb)))
    return ReplayTracks(replay_dir.name, tracks["2d"], tracks["3d"])


def pair_tracks(replays: Sequence[ReplayTracks], across_replays: bool = True) -> TrackPairs:
    """Every camera track x LiDAR track pair within each replay and, with ``across_replays``, between
    replays; genuine where both tracks followed the same person of the same world."""
    cams = [(i, p, e) for i, r in enumerate(replays) for p, e in r.camera]
    lids = [(i, p, e) for i, r in enumerate(replays) for p, e in r.lidar]
    names = tuple(r.replay for r in replays)
    if not cams or not lids:
        return TrackPairs(names, np.zeros(0), np.zeros(0, bool), np.zeros(0, bool))
    dist = np.asarray(cross_modal_distance(np.stack([e for *_, e in cams]), np.stack([e for *_, e in lids])),
                      np.float64)
    same = np.array([[pc == pl for _, pl, _ in lids] for _, pc, _ in cams])
    across = np.array([[ic != il for il, _, _ in lids] for ic, _, _ in cams])
    keep = np.ones_like(across) if across_replays else ~across
    return TrackPairs(names, dist[keep], same[keep], across[keep])


def pipeline_calibration(pairs: TrackPairs, target_fmr: float) -> dict:
    """Checkpoint metadata updates: the track threshold at ``target_fmr`` of the replays' impostor pairs,
    the false-match-rate curve, and the rates measured with them."""
    impostor = pairs.distance[~pairs.genuine]
    if impostor.size * target_fmr < 1 or not pairs.genuine.any():
        raise DatasetError(f"pipeline calibration: {int(pairs.genuine.sum())} genuine and {impostor.size} "
                           f"impostor track pairs cannot resolve a false-match rate of {target_fmr:g} "
                           f"(need >= {int(np.ceil(1 / target_fmr))} impostor pairs and a genuine one): "
                           "add replays")
    rates = at_fmr(pairs.distance[pairs.genuine], impostor, target_fmr)
    return {
        "open_set_threshold_track": rates["threshold"],
        "open_set_fmr_curve_track": curve_points(impostor, CURVE_FMRS),
        "open_set_measured_fmr_track": rates["fmr"],
        "genuine_accept_rate_track": rates["gar"],
        "open_set_target_fmr_track": float(target_fmr),
        "calibration_level_track": "pipeline",
        "calibration_replays": list(pairs.replays),
        "calibration_pairs_track": [int(pairs.genuine.sum()), int(impostor.size)],
        "calibration_pairs_across_replays": int(pairs.across.sum()),
    }
