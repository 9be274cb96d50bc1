"""CMC of cross-sensor tracklet matching, from the tracklets the graph actually produced.

The recognizer publishes one decision per tracklet, not a ranked list, so the ranking is rebuilt here:
the last tracklet of every track (as published on ``<sensor>/tracklets``) is embedded with the same
exported model the graph ran, camera tracks are the queries, LiDAR tracks the gallery, ranked by the
project's one cross-modal distance; each track's person is its majority ground-truth id from tracking.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from tcfd_ros.distance import cross_modal_distance
from tcfd_ros.replay.scoring import TrackingScore, cmc_curve
from tcfd_ros.replay.verdict import chance_cmc

log = logging.getLogger(__name__)


def tracklet_cmc(tracklets: dict[tuple[str, int], str], modality_of: dict[str, str],
                 tracking: dict[str, TrackingScore], model: Path, backend: str, max_rank: int
                 ) -> tuple[list[float], int, int, list[float]]:
    """(CMC, number of queries, gallery size, chance CMC) over the last tracklet JSON of each track.

    Ranks stop at the gallery size: beyond it every query is found by construction.
    """
    from tcfd_ros.inference import make_embedder
    from tcfd_ros.nodes.json_messages import TrackletMsg

    frames: dict[str, list[np.ndarray]] = {"2d": [], "3d": []}
    people: dict[str, list[int]] = {"2d": [], "3d": []}
    for (sensor, tid), text in sorted(tracklets.items()):
        mod = modality_of.get(sensor)
        person = tracking.get(sensor, TrackingScore()).track_to_person.get(tid)
        if mod is None or person is None:
            continue
        frames[mod].append(TrackletMsg.from_json(text).frames)
        people[mod].append(person)
    if not frames["2d"] or not frames["3d"]:
        return [], 0, len(frames["3d"]), []
    max_rank = min(max_rank, len(people["3d"]))
    embedder = make_embedder(backend, model)
    q = embedder.embed(frames["2d"], "2d")
    gal = embedder.embed(frames["3d"], "3d")
    cmc, n = cmc_curve(people["2d"], people["3d"], cross_modal_distance(q, gal), max_rank)
    return cmc, n, len(people["3d"]), chance_cmc(people["2d"], people["3d"], max_rank)
