"""CMC of cross-sensor track matching, from the tracklets the graph actually produced.

The recognizer publishes one decision per tracklet, not a ranked list, so the ranking is rebuilt here at
the level where the recognizer decides: each track's evidence is the aggregate
(``tcfd_ros.distance.aggregate_track_embedding``, trimmed as ``identity.track_evidence_trim`` says) of its
newest tracklets (as many as the recognizer's ``identity.track_evidence_tracklets``, as published on
``<sensor>/tracklets``), embedded with the same exported model the graph ran; camera tracks are the
queries, LiDAR tracks the gallery, ranked by the project's one cross-modal distance; each track's person
is its majority ground-truth id from tracking. The same ranking from each track's last tracklet alone is
returned beside it (what one tracklet of gait says, before any track evidence).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from tcfd_ros.distance import aggregate_track_embedding, cross_modal_distance
from tcfd_ros.replay.scoring import TrackingScore, cmc_curve
from tcfd_ros.replay.verdict import chance_cmc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackCmc:
    """CMC[k-1] = share of camera tracks whose person is among the k nearest LiDAR tracks."""

    cmc: list[float] = field(default_factory=list)            # from each track's evidence
    queries: int = 0
    gallery: int = 0
    chance: list[float] = field(default_factory=list)         # a random ranking of the same tracks
    last_tracklet: list[float] = field(default_factory=list)  # from each track's last tracklet alone


def track_cmc(tracklets: Mapping[tuple[str, int], Sequence[str]], modality_of: dict[str, str],
              tracking: dict[str, TrackingScore], model: Path, backend: str, max_rank: int,
              trim_share: float = 0.0) -> TrackCmc:
    """The CMC over the tracklet JSONs of each track (oldest first; the recording keeps the newest),
    each track's evidence aggregated as the recognizer does (``trim_share``: its
    ``identity.track_evidence_trim``).

    Ranks stop at the gallery size: beyond it every query is found by construction.
    """
    from tcfd_ros.inference import make_embedder
    from tcfd_ros.track_messages import TrackletMsg

    frames: dict[str, list[np.ndarray]] = {"2d": [], "3d": []}   # every track's tracklets, track by track
    counts: dict[str, list[int]] = {"2d": [], "3d": []}          # per track: its number of tracklets
    people: dict[str, list[int]] = {"2d": [], "3d": []}          # per track: its person
    for (sensor, tid), texts in sorted(tracklets.items()):
        mod = modality_of.get(sensor)
        person = tracking.get(sensor, TrackingScore()).track_to_person.get(tid)
        if mod is None or person is None or not texts:
            continue
        frames[mod].extend(TrackletMsg.from_json(text).frames for text in texts)
        counts[mod].append(len(texts))
        people[mod].append(person)
    if not people["2d"] or not people["3d"]:
        return TrackCmc(gallery=len(people["3d"]))
    max_rank = min(max_rank, len(people["3d"]))
    embedder = make_embedder(backend, model)
    evidence, last = {}, {}
    for mod in ("2d", "3d"):
        emb = np.asarray(embedder.embed(frames[mod], mod))
        per_track = np.split(emb, np.cumsum(counts[mod])[:-1])
        evidence[mod] = np.stack([aggregate_track_embedding(e, trim_share) for e in per_track])
        last[mod] = np.stack([e[-1] for e in per_track])
    cmc, n = cmc_curve(people["2d"], people["3d"], cross_modal_distance(evidence["2d"], evidence["3d"]),
                       max_rank)
    cmc_last, _ = cmc_curve(people["2d"], people["3d"], cross_modal_distance(last["2d"], last["3d"]),
                            max_rank)
    return TrackCmc(cmc, n, len(people["3d"]), chance_cmc(people["2d"], people["3d"], max_rank), cmc_last)
