"""Fitting the pipeline projection (``tcfd_ros.inference.projection``) on labelled replays' tracklets.

Why: on the pipeline's tracks the network's embeddings of strangers lie close together (gait alone
accepted 3-16 % of genuine camera x LiDAR track pairs at 1 % false matches on fresh replays). A linear
discriminant analysis on the tracklets of labelled replays (the recognizer's identity logic re-run on a
``tcfd-ros replay --record`` recording, each track labelled with the person the replay scorer matched
it to, as ``pipeline_calibration`` does) keeps the directions along which one person's tracklets, camera
and LiDAR together, stay close while different people's differ:

1. each tracklet embedding is part-normalised and flattened; each modality is centred on its own mean
   (the modality gap is the first thing two sensors' embeddings of one person disagree on);
2. the within-person scatter is whitened, shrunk towards its mean eigenvalue by ``SHRINKAGE`` (a few
   thousand tracklets of ~60 people do not estimate 720 x 720 values);
3. the ``OUT_DIM`` leading directions of the whitened between-person scatter are kept.

Chosen on halves of ten disjoint replays (60 people): 16 directions at shrinkage 0.1 scored best of
16 / 32 / 64 x 0.1 / 1; RESULTS.md, "A discriminant projection fitted on the pipeline's tracks". Fit on
replays of people the model never trained on and that calibration does not use: distances of the people a
projection was fitted on are too good, and a threshold set on them too loose.

API::

    tracks = labelled_tracklets(replay_dir, embedder, IdentityConfig())   # list[TrackTracklets]
    proj = fit_projection(tracks_of_all_replays, provenance={"replays": [...]})   # PipelineProjection
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from tcfd_ros.errors import DatasetError
from tcfd_ros.inference.embedder import Embedder
from tcfd_ros.inference.projection import PipelineProjection, flat_parts
from tcfd_ros.modalities import MODALITIES
from tcfd_ros.perception.config import IdentityConfig
from tcfd_ros.replay.config import ScoringConfig
from tcfd_ros.replay.rerun import recorded_inputs, rerun
from training.harvest import life_persons, load_recording
from training.pipeline_calibration import evidence_only, quiet_identity_logs, world_of

#: discriminant directions kept (one part of this many values per embedding)
OUT_DIM = 16
#: within-person scatter + SHRINKAGE x its mean eigenvalue x identity, before whitening
SHRINKAGE = 0.1
#: people the fit needs beyond OUT_DIM (the between-person scatter has rank people - 1)
MIN_EXTRA_PEOPLE = 4


@dataclass(frozen=True)
class TrackTracklets:
    """One labelled track's tracklet embeddings as the network gave them."""

    person: tuple[str, int]       # (world, person id), as pipeline_calibration labels people
    modality: str
    embeddings: np.ndarray        # (n, parts, dim)


def labelled_tracklets(replay_dir: Path, embedder: Embedder, cfg: IdentityConfig = IdentityConfig(),
                       scoring: ScoringConfig = ScoringConfig()) -> list[TrackTracklets]:
    """Every labelled track of a recorded replay with all its tracklets' embeddings (``embedder``: the
    network's own, ``make_embedder(..., projection=False)``)."""
    rec = load_recording(replay_dir)
    world = world_of(rec, replay_dir.name)
    lives, persons = life_persons(rec, scoring, cfg.track_timeout_s)
    gathered: dict[tuple[str, int], tuple[str, list[np.ndarray]]] = {}

    def keep(_mgr: Any, o: Any, _match: Any) -> None:
        key = (o.key[0], lives.scored_id(o.key, o.stamp_s))   # a life is its own track
        gathered.setdefault(key, (o.modality, []))[1].append(np.asarray(o.embedding, np.float32))

    with quiet_identity_logs():
        rerun(recorded_inputs(replay_dir / "outputs.mcap"), embedder, evidence_only(cfg), on_update=keep)
    out = []
    for (sensor, track), (modality, embs) in sorted(gathered.items()):
        pid = persons.get(sensor, {}).get(track)
        if pid is not None:
            out.append(TrackTracklets((world, int(pid)), modality, np.stack(embs)))
    return out


def fit_projection(tracks: Sequence[TrackTracklets], out_dim: int = OUT_DIM, shrinkage: float = SHRINKAGE,
                   provenance: Mapping[str, Any] | None = None) -> PipelineProjection:
    """The projection of the module docstring. Refuses in one line (DatasetError) a modality without
    tracks, fewer than ``out_dim + MIN_EXTRA_PEOPLE`` people, or a person seen by one modality only
    everywhere (nothing would tie the two modalities)."""
    if not tracks:
        raise DatasetError("pipeline projection: no labelled tracks (replays of simulated bags recorded "
                           "with --record?)")
    parts, dim = tracks[0].embeddings.shape[1:]
    flat = [_flat(t.embeddings, parts, dim) for t in tracks]
    means = {}
    for m in MODALITIES:
        rows = [flat[i] for i, t in enumerate(tracks) if t.modality == m]
        if not rows:
            raise DatasetError(f"pipeline projection: no {m} track among the labelled ones")
        means[m] = np.concatenate(rows).astype(np.float64).mean(0)
    people = sorted({t.person for t in tracks})
    both = {p for p in people if {t.modality for t in tracks if t.person == p} == set(MODALITIES)}
    if len(people) < out_dim + MIN_EXTRA_PEOPLE or not both:
        raise DatasetError(f"pipeline projection: {len(people)} labelled people ({len(both)} seen by both "
                           f"modalities); {out_dim} directions need >= {out_dim + MIN_EXTRA_PEOPLE} people, "
                           "some seen by both sensors: add replays")
    index = {p: i for i, p in enumerate(people)}
    x = np.concatenate([flat[i] - means[t.modality] for i, t in enumerate(tracks)]).astype(np.float64)
    y = np.concatenate([np.full(len(t.embeddings), index[t.person]) for t in tracks])
    matrix = discriminant_directions(x, y, out_dim, shrinkage)
    prov = {"people": len(people), "people_both_modalities": len(both), "tracks": len(tracks),
            "tracklets": int(len(x)), "out_dim": out_dim, "shrinkage": shrinkage, **(provenance or {})}
    return PipelineProjection(parts, dim, {m: v.astype(np.float32) for m, v in means.items()},
                              matrix.astype(np.float32), prov)


def discriminant_directions(x: np.ndarray, y: np.ndarray, out_dim: int, shrinkage: float) -> np.ndarray:
    """(features, out_dim): whiten the shrunk within-class scatter of rows ``x`` with labels ``y``, keep the
    ``out_dim`` leading eigenvectors of the whitened between-class scatter."""
    n, d = x.shape
    within = np.zeros((d, d))
    between = np.zeros((d, d))
    centre = x.mean(0)
    for c in np.unique(y):
        xc = x[y == c]
        z = xc - xc.mean(0)
        within += z.T @ z
        b = (xc.mean(0) - centre)[:, None]
        between += len(xc) * (b @ b.T)
    within /= n
    between /= n
    within += shrinkage * np.trace(within) / d * np.eye(d)
    w, v = np.linalg.eigh(within)
    whiten = v @ np.diag(w ** -0.5) @ v.T
    _, v2 = np.linalg.eigh(whiten @ between @ whiten)
    return whiten @ v2[:, ::-1][:, :out_dim]


def _flat(embeddings: np.ndarray, parts: int, dim: int) -> np.ndarray:
    try:
        return flat_parts(embeddings, parts, dim)
    except ValueError as exc:
        raise DatasetError(f"pipeline projection: a track's {exc}") from None
