"""Open-set calibration where the recognizer decides: track pairs of replayed simulated bags.

Why: training calibrates a model's track threshold on held-out people of its clean data set, but the
recognizer compares tracks the node graph cut out of bags, whose distances sit elsewhere (a model
fine-tuned on pipeline tracklets pulls them all closer: its clean threshold then accepts ~7 % of a bag's
impostor pairs; RESULTS.md, "Fine-tuning on the pipeline's tracklets"). The replays of simulated bags
(``tcfd-ros replay BAG --out DIR --record DIR/outputs.mcap``) give exactly the recognizer's situation:
each recorded track's tracklets, embedded by the model and aggregated over the newest
``track_evidence_tracklets`` as the recognizer does, labelled with the person the replay scorer matched
the track to. Every camera track x LiDAR track pair whose tracks both delivered at least
``gait_min_tracklets`` tracklets is a genuine or an impostor pair. The tracks come out of the recognizer's
own identity logic re-run on the recording (``tcfd_ros.replay.rerun``): each track's evidence and its
walking speed and stature as they stood at its last tracklet. By default the pairs also fit how the cues
weigh against gait (``tcfd_ros.perception.cue_combination``: the exponent k of ``gait x LR ** -k``), and
the threshold is the ``target_fmr`` quantile of the impostor pairs' combined score, the score the
recognizer then decides by; ``combine_cues=False`` sets it on the gait distance alone (the recognizer
then moves it along the false-match-rate curve, ``tcfd_ros.open_set``, recalibrated with it). Use bags of
people the model never trained on.

A person is the simulated world's seed and their id (the ground truth's ``scene.seed``: the simulator
draws a person from both), so a camera track of one replay and a LiDAR track of another are a pair too,
an impostor one unless both replays are of the same world. One bag gives a few dozen impostor pairs,
which resolve a 1 % rate at best; pairing across N bags gives ~N times more and resolves the curve's
low rates. Measured with the shipped model on ten replays (RESULTS.md, "Pipeline calibration across
replays"): the two kinds of impostor distances agree (two-sample KS p = 0.12; 1 % quantiles 0.0060 within
a bag, 0.0062 across).

API::

    tracks = replay_tracks(replay_dir, embedder, IdentityConfig(), min_tracklets=4)   # ReplayTracks
    pairs = pair_tracks([tracks, ...], IdentityConfig())             # TrackPairs, across replays too
    meta = pipeline_calibration(pairs, target_fmr=0.01)              # checkpoint metadata updates
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from tcfd_ros.distance import cross_modal_distance
from tcfd_ros.errors import DatasetError
from tcfd_ros.inference.embedder import Embedder
from tcfd_ros.open_set import CURVE_FMRS, curve_points
from tcfd_ros.perception.config import IdentityConfig
from tcfd_ros.perception.cue_combination import (CUE_CONFIG_KEY, GAIT_ALONE_KEY, METADATA_KEY, CueCombination,
                                                 choose_cue_exponent, cue_config, cue_log_likelihood_ratio)
from tcfd_ros.perception.identity import log as identity_log
from tcfd_ros.replay.config import ScoringConfig
from tcfd_ros.replay.recording import Recording
from tcfd_ros.replay.rerun import RecordedInput, final_track_states, recorded_inputs
from training.calibrate import at_fmr
from training.harvest import final_life_persons, load_recording

#: the decisions' threshold while re-running the identity logic for tracks' evidence (which it does not touch)
EVIDENCE_ONLY_THRESHOLD = 0.5
#: a person across replays: (the simulated world's seed, or the replay's name without one; the person's id)
Person = tuple[str, int]


@dataclass(frozen=True)
class LabelledTrack:
    """A track's person, its aggregated gait evidence and its cues (``IdentityManager.cues``)."""

    person: Person
    embedding: np.ndarray
    cues: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ReplayTracks:
    """One replay's labelled tracks, as the recognizer held them at each track's last tracklet."""

    replay: str
    camera: list[LabelledTrack]
    lidar: list[LabelledTrack]


@dataclass(frozen=True)
class TrackPairs:
    """Every camera x LiDAR track pair of some replays: their distances, which are the same person, and
    which pair tracks of two different replays."""

    replays: tuple[str, ...]
    distance: np.ndarray     # (n,) track-level cross-modal distance
    genuine: np.ndarray      # (n,) bool
    across: np.ndarray       # (n,) bool
    cue_log_lr: np.ndarray   # (n,) log likelihood ratio of the cues both tracks measured (0: none)


def world_of(rec: Recording, replay: str) -> str:
    """The simulated world a recording's people belong to: the ground truth's scene seed (one per bag);
    without one, the replay itself (its tracks then pair with no other replay's as strangers)."""
    seeds = {str(g["scene"]["seed"]) for g in rec.ground_truth
             if isinstance(g.get("scene"), dict) and g["scene"].get("seed") is not None}
    if len(seeds) > 1:
        raise DatasetError(f"{replay}: the ground truth names {len(seeds)} world seeds ({sorted(seeds)}); "
                           "expected the one of its simulated bag")
    return f"seed {seeds.pop()}" if seeds else f"replay {replay}"


def evidence_only(cfg: IdentityConfig) -> IdentityConfig:
    """``cfg`` for re-runs that read tracks' evidence and cues, which do not depend on the decisions: any
    threshold serves (a model calibrated before has none)."""
    return replace(cfg, open_set_threshold=EVIDENCE_ONLY_THRESHOLD)


@contextmanager
def quiet_identity_logs() -> Iterator[None]:
    """The identity logic's per-decision log lines off during a re-run (they would bury calibration's)."""
    level = identity_log.level
    identity_log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        identity_log.setLevel(level)


def replay_tracks(replay_dir: Path, embedder: Embedder, cfg: IdentityConfig, min_tracklets: int,
                  scoring: ScoringConfig = ScoringConfig(),
                  inputs: Sequence[RecordedInput] | None = None) -> ReplayTracks:
    """A recorded replay's labelled tracks with at least ``min_tracklets`` tracklets: the recognizer's
    identity logic re-run on its recording (or on ``inputs``, that recording's tracks and tracklets as a
    benchmark rewrote them), each track as it stood at its last tracklet."""
    rec = load_recording(replay_dir)
    world = world_of(rec, replay_dir.name)
    persons = final_life_persons(rec, scoring, cfg.track_timeout_s)   # the final state is the last life's
    if inputs is None:
        inputs = recorded_inputs(replay_dir / "outputs.mcap")
    with quiet_identity_logs():
        _, final = final_track_states(inputs, embedder, evidence_only(cfg))
    tracks: dict[str, list[LabelledTrack]] = {"2d": [], "3d": []}
    for (sensor, track), st in sorted(final.items()):
        pid = persons.get(sensor, {}).get(track)
        if pid is not None and st.tracklets >= min_tracklets:
            tracks[st.modality].append(LabelledTrack((world, int(pid)), st.evidence, st.cues))
    return ReplayTracks(replay_dir.name, tracks["2d"], tracks["3d"])


def pair_tracks(replays: Sequence[ReplayTracks], cfg: IdentityConfig = IdentityConfig(),
                across_replays: bool = True) -> TrackPairs:
    """Every camera track x LiDAR track pair within each replay and, with ``across_replays``, between
    replays; genuine where both tracks followed the same person of the same world. The cues' likelihood
    ratios use ``cfg``'s speed and stature models."""
    cams = [(i, t) for i, r in enumerate(replays) for t in r.camera]
    lids = [(i, t) for i, r in enumerate(replays) for t in r.lidar]
    names = tuple(r.replay for r in replays)
    if not cams or not lids:
        return TrackPairs(names, np.zeros(0), np.zeros(0, bool), np.zeros(0, bool), np.zeros(0))
    dist = np.asarray(cross_modal_distance(np.stack([t.embedding for _, t in cams]),
                                           np.stack([t.embedding for _, t in lids])), np.float64)
    same = np.array([[c.person == lt.person for _, lt in lids] for _, c in cams])
    across = np.array([[ic != il for il, _ in lids] for ic, _ in cams])
    cue = np.array([[cue_log_likelihood_ratio(cfg, c.cues, lt.cues) for _, lt in lids] for _, c in cams])
    keep = np.ones_like(across) if across_replays else ~across
    return TrackPairs(names, dist[keep], same[keep], across[keep], cue[keep])


def pipeline_calibration(pairs: TrackPairs, target_fmr: float, combine_cues: bool = True,
                         cfg: IdentityConfig = IdentityConfig()) -> dict:
    """Checkpoint metadata updates: with ``combine_cues``, the fitted cue exponent; the track threshold at
    ``target_fmr`` of the replays' impostor pairs' score (cue-combined, or the gait distance alone), the
    false-match-rate curve of that score, the rates measured with them, and the cue settings of ``cfg`` the
    pairs were made with (the recognizer warns when its own differ)."""
    impostor = ~pairs.genuine
    if impostor.sum() * target_fmr < 1 or not pairs.genuine.any():
        raise DatasetError(f"pipeline calibration: {int(pairs.genuine.sum())} genuine and "
                           f"{int(impostor.sum())} impostor track pairs cannot resolve a false-match rate of "
                           f"{target_fmr:g} (need >= {int(np.ceil(1 / target_fmr))} impostor pairs and a "
                           "genuine one): add replays")
    exponent = (choose_cue_exponent(pairs.distance, pairs.cue_log_lr, pairs.genuine, target_fmr)
                if combine_cues else None)
    score = (pairs.distance if exponent is None else
             np.asarray(CueCombination(exponent).score_log(pairs.distance, pairs.cue_log_lr), np.float64))
    rates = at_fmr(score[pairs.genuine], score[impostor], target_fmr)
    gait_alone = at_fmr(pairs.distance[pairs.genuine], pairs.distance[impostor], target_fmr)
    return {
        "open_set_threshold_track": rates["threshold"],
        "open_set_fmr_curve_track": curve_points(score[impostor], CURVE_FMRS),
        METADATA_KEY: exponent,
        CUE_CONFIG_KEY: cue_config(cfg),
        "open_set_measured_fmr_track": rates["fmr"],
        "genuine_accept_rate_track": rates["gar"],
        "genuine_accept_rate_track_gait_alone": gait_alone["gar"],
        GAIT_ALONE_KEY: gait_alone["threshold"],
        "open_set_target_fmr_track": float(target_fmr),
        "calibration_level_track": "pipeline",
        "calibration_replays": list(pairs.replays),
        "calibration_pairs_track": [int(pairs.genuine.sum()), int(impostor.sum())],
        "calibration_pairs_across_replays": int(pairs.across.sum()),
        "calibration_pairs_with_cues": int((pairs.cue_log_lr != 0).sum()),
    }
