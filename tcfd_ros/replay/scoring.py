"""Score a replay against the bag's ground truth: detection, tracking, cross-sensor hand-off, latency.

Pure functions over ``tcfd_ros.replay.records``. Tracking uses motmetrics (MOTA, IDF1); assignment
uses scipy's Hungarian solver. A ground-truth person that is not ``detectable`` (docs/ground_truth.md)
is "don't care": a detection on it is neither a hit nor a false alarm.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

import motmetrics as mm
import numpy as np
from scipy.optimize import linear_sum_assignment

from tcfd_ros.replay.config import ScoringConfig
from tcfd_ros.replay.records import GTFrame, GTPerson, MatchEvent, Observation, OutputFrame, StageLatency
from tcfd_ros.replay.track_lives import TrackLives, life_id, split_matches

log = logging.getLogger(__name__)

SECONDS_PER_HOUR = 3600.0
PERCENTILES = (50, 90, 99)


def _rate(part: int, whole: int) -> float:
    """part / whole, NaN for an empty whole."""
    return part / whole if whole else float("nan")


@dataclass
class DetectionScore:
    frames: int = 0
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    # camera only: visible person-frames that share image columns with another visible person (a
    # background model merges such walkers into one blob), and how many of them were detected
    overlapping: int = 0
    overlapping_hits: int = 0

    @property
    def precision(self) -> float:
        return _rate(self.true_positives, self.true_positives + self.false_positives)

    @property
    def person_frames(self) -> int:
        """Visible person-frames: every one is a hit or a miss."""
        return self.true_positives + self.false_negatives

    @property
    def recall(self) -> float:
        return _rate(self.true_positives, self.person_frames)

    @property
    def overlap_share(self) -> float:
        """Share of the visible person-frames that overlap another walker in the image."""
        return _rate(self.overlapping, self.person_frames)

    @property
    def recall_overlapping(self) -> float:
        return _rate(self.overlapping_hits, self.overlapping)

    @property
    def recall_alone(self) -> float:
        return _rate(self.true_positives - self.overlapping_hits, self.person_frames - self.overlapping)


@dataclass
class TrackingScore:
    frames: int = 0
    mota: float = float("nan")
    idf1: float = float("nan")
    id_switches: int = 0
    track_to_person: dict[int, int] = field(default_factory=dict)   # majority ground-truth person per track
    # per life of a track the recognizer started anew (``track_lives``; key ``life_id(track, life)``): the
    # person it followed most within that life's tracklets
    life_to_person: dict[int, int] = field(default_factory=dict)


def per_life(tracking: dict[str, TrackingScore]) -> dict[str, TrackingScore]:
    """Per sensor, the score with each life of a split track labelled by its own person (hand-off, track
    pairs, hand-off moments)."""
    return {s: replace(t, track_to_person={**t.track_to_person, **t.life_to_person})
            for s, t in tracking.items()}


@dataclass
class HandoffScore:
    people_both: int = 0                  # people visible to both sensor kinds
    handed_off: int = 0                   # ... whose camera and LiDAR tracks carry the same global id
    cross_links: int = 0                  # (camera track, LiDAR track) pairs sharing a global id
    false_links: int = 0                  # ... of which belong to different people
    unscored_links: int = 0               # ... of those, where a track matched no person (still false)
    false_matches_per_hour: float = float("nan")
    time_to_match_s: list[float] = field(default_factory=list)    # per handed-off person
    links_by: dict[str, int] = field(default_factory=dict)        # cross links by what decided them
    false_links_by: dict[str, int] = field(default_factory=dict)  # false links by what decided them

    @property
    def accuracy(self) -> float:
        return self.handed_off / self.people_both if self.people_both else float("nan")


@dataclass(frozen=True)
class PairCounts:
    """Camera x LiDAR track pairs labelled with one person (genuine) or two (impostor), and how many of each
    the recognizer's final bindings put in one global identity (linked)."""

    genuine: int = 0
    genuine_linked: int = 0
    impostor: int = 0
    impostor_linked: int = 0

    def __add__(self, o: PairCounts) -> PairCounts:
        return PairCounts(self.genuine + o.genuine, self.genuine_linked + o.genuine_linked,
                          self.impostor + o.impostor, self.impostor_linked + o.impostor_linked)

    @property
    def gar(self) -> float:
        """Genuine-accept rate of the recognizer's decisions (NaN without genuine pairs)."""
        return _rate(self.genuine_linked, self.genuine)

    @property
    def fmr(self) -> float:
        """False-match rate of the recognizer's decisions (NaN without impostor pairs)."""
        return _rate(self.impostor_linked, self.impostor)


@dataclass(frozen=True)
class TrackPairScore:
    """The recognizer's decisions scored where it makes them: per pair of tracks, not per person.

    ``tracks``: every camera x LiDAR pair of tracks it decided on (each delivered a tracklet) that the
    tracking score labelled with a person; a fragment the tracker lost after a tracklet or two counts,
    unlinked unless something else linked it. ``gait``: the pairs whose two tracks both delivered
    ``min_tracklets`` (``identity.gait_min_tracklets``), the ones gait may decide."""

    min_tracklets: int = 0
    tracks: PairCounts = PairCounts()
    gait: PairCounts = PairCounts()

    def __add__(self, o: TrackPairScore) -> TrackPairScore:
        if self.min_tracklets and o.min_tracklets and self.min_tracklets != o.min_tracklets:
            raise ValueError(f"track pairs scored with min_tracklets {self.min_tracklets} and "
                             f"{o.min_tracklets} do not add up")
        return TrackPairScore(self.min_tracklets or o.min_tracklets, self.tracks + o.tracks,
                              self.gait + o.gait)


def score_track_pairs(bindings: dict[tuple[str, int], int], person: dict[str, dict[int, int]],
                      modality_of: dict[str, str], tracklets: dict[tuple[str, int], int],
                      min_tracklets: int) -> TrackPairScore:
    """Count the labelled camera x LiDAR track pairs ``bindings`` link. ``bindings``: (sensor, track) ->
    the global id of its last decision (tracks without one were never decided on and form no pair);
    ``person``: per sensor, track -> the ground-truth person it followed (``TrackingScore.track_to_person``);
    ``tracklets``: (sensor, track) -> tracklets it delivered."""
    sides: dict[str, list[tuple[int, int, bool]]] = {"2d": [], "3d": []}
    for sensor, per_track in person.items():
        mod = modality_of.get(sensor)
        if mod in sides:
            sides[mod] += [(bindings[(sensor, t)], p, tracklets.get((sensor, t), 0) >= min_tracklets)
                           for t, p in per_track.items() if (sensor, t) in bindings]
    tracks = gait = PairCounts()
    for gid_c, p_c, enough_c in sides["2d"]:
        for gid_l, p_l, enough_l in sides["3d"]:
            link = int(gid_c == gid_l)
            pair = PairCounts(1, link, 0, 0) if p_c == p_l else PairCounts(0, 0, 1, link)
            tracks += pair
            if enough_c and enough_l:
                gait += pair
    return TrackPairScore(min_tracklets, tracks, gait)


def score_decisions_per_track_pair(matches: Sequence[MatchEvent], tracking: dict[str, TrackingScore],
                                   modality_of: dict[str, str], tracklets: dict[tuple[str, int], int],
                                   min_tracklets: int, lives: TrackLives = TrackLives()) -> TrackPairScore:
    """``score_track_pairs`` of a replay's match events (each track's last global id) and tracking scores,
    per track life (``lives``; ``tracking`` scored with the same lives' spans)."""
    bindings = {k: gid for k, (gid, _) in final_global_ids(split_matches(matches, lives)).items()}
    persons = {s: t.track_to_person for s, t in per_life(tracking).items()}
    return score_track_pairs(bindings, persons, modality_of, lives.tracklet_counts(tracklets), min_tracklets)


@dataclass
class Score:
    detection: dict[str, DetectionScore]
    tracking: dict[str, TrackingScore]
    handoff: HandoffScore
    cmc: list[float]                      # CMC[k-1]: camera tracks whose person is in the top k (by track)
    cmc_queries: int                      # LiDAR tracks are the gallery; see tcfd_ros.replay.cmc
    latency: dict[str, dict[str, float]]  # stage -> {"n", "p50", "p90", "p99"} in ms
    cmc_gallery: int = 0                  # LiDAR tracks ranked for each query (chance rank-1 = 1 / this)
    cmc_chance: list[float] = field(default_factory=list)   # CMC of a random ranking of the same tracks
    cmc_last_tracklet: list[float] = field(default_factory=list)  # the CMC from each track's last tracklet
    track_pairs: TrackPairScore | None = None   # the recognizer's decisions per track pair (needs tracklets)


def _visible(p: GTPerson, modality: str, cfg: ScoringConfig) -> bool:
    return p.detectable


def overlapping_in_image(people: Sequence[GTPerson]) -> list[bool]:
    """For each person, whether their image box shares columns with another person's (people without an
    image box overlap no one)."""
    boxes = [p.image_box for p in people]
    return [a is not None and any(b is not None and k != i and min(a[2], b[2]) > max(a[0], b[0])
                                  for k, b in enumerate(boxes))
            for i, a in enumerate(boxes)]


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two [x0, y0, x1, y1] pixel boxes (the replay's camera detection criterion)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _cost(people: Sequence[GTPerson], obs: Sequence[Observation], modality: str,
          cfg: ScoringConfig) -> np.ndarray:
    """(len(people), len(obs)) matching cost; NaN where the pair cannot match."""
    cost = np.full((len(people), len(obs)), np.nan)
    for i, p in enumerate(people):
        for j, o in enumerate(obs):
            if modality == "2d" and p.image_box is not None and o.image_box is not None:
                iou = box_iou(p.image_box, o.image_box)
                if iou >= cfg.camera_iou_min:
                    cost[i, j] = 1.0 - iou
            elif modality == "3d" and p.position is not None and o.position is not None:
                d = float(np.hypot(p.position[0] - o.position[0], p.position[1] - o.position[1]))
                if d <= cfg.lidar_distance_max_m:
                    cost[i, j] = d
    return cost


def _assign(cost: np.ndarray) -> list[tuple[int, int]]:
    """Hungarian assignment over the finite entries of ``cost``."""
    if cost.size == 0 or not np.isfinite(cost).any():
        return []
    big = np.nanmax(cost) * 10 + 1e3
    rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, big))
    return [(int(r), int(c)) for r, c in zip(rows, cols) if np.isfinite(cost[r, c])]


def _pair_frames(gt: Sequence[GTFrame], out: Sequence[OutputFrame],
                 tol_s: float) -> list[tuple[GTFrame, OutputFrame | None]]:
    """Each ground-truth frame with the output frame of the same stamp (within ``tol_s``), if any."""
    stamps = np.array(sorted(o.stamp_s for o in out)) if out else np.zeros(0)
    by_stamp = {o.stamp_s: o for o in out}
    pairs = []
    for g in gt:
        match = None
        if stamps.size:
            k = int(np.searchsorted(stamps, g.stamp_s))
            best = min((c for c in (k - 1, k) if 0 <= c < stamps.size),
                       key=lambda c: abs(stamps[c] - g.stamp_s))
            if abs(stamps[best] - g.stamp_s) <= tol_s:
                match = by_stamp[float(stamps[best])]
        pairs.append((g, match))
    return pairs


def _split_dont_care(g: GTFrame, o: OutputFrame | None, modality: str, cfg: ScoringConfig
                     ) -> tuple[list[GTPerson], list[Observation]]:
    """Visible people, and the observations left after removing those that sit on invisible people."""
    vis = [p for p in g.people if _visible(p, modality, cfg)]
    hidden = [p for p in g.people if not _visible(p, modality, cfg)]
    obs = list(o.observations) if o is not None else []
    if hidden and obs:
        # observations that match a visible person keep priority over the don't-care ones
        taken = {j for _, j in _assign(_cost(vis, obs, modality, cfg))}
        rest = [j for j in range(len(obs)) if j not in taken]
        drop = {rest[j] for _, j in _assign(_cost(hidden, [obs[j] for j in rest], modality, cfg))}
        obs = [ob for j, ob in enumerate(obs) if j not in drop]
    return vis, obs


def score_detection(gt: Sequence[GTFrame], out: Sequence[OutputFrame], modality: str,
                    cfg: ScoringConfig) -> DetectionScore:
    s = DetectionScore()
    for g, o in _pair_frames(gt, out, cfg.stamp_tolerance_s):
        if o is None:
            continue            # frame never processed: counted by the run's unacknowledged frames
        s.frames += 1
        vis, obs = _split_dont_care(g, o, modality, cfg)
        hit = {i for i, _ in _assign(_cost(vis, obs, modality, cfg))}
        s.true_positives += len(hit)
        s.false_negatives += len(vis) - len(hit)
        s.false_positives += len(obs) - len(hit)
        if modality == "2d":
            crowded = overlapping_in_image(vis)
            s.overlapping += sum(crowded)
            s.overlapping_hits += sum(1 for i in hit if crowded[i])
    return s


def score_tracking(gt: Sequence[GTFrame], out: Sequence[OutputFrame], modality: str,
                   cfg: ScoringConfig,
                   spans: Mapping[int, Sequence[tuple[float, float]]] | None = None) -> TrackingScore:
    """MOTA and IDF1 with motmetrics; frames without any tracker output count as all-missed.

    ``spans``: per track the recognizer started anew, its lives' tracklet spans (``track_lives``): each
    life's person (``life_to_person``) is counted over the frames within its span only."""
    acc = mm.MOTAccumulator(auto_id=True)
    votes: dict[int, Counter] = defaultdict(Counter)
    life_votes: dict[int, Counter] = defaultdict(Counter)
    spans = spans or {}
    tol = cfg.stamp_tolerance_s
    n = 0
    for g, o in _pair_frames(gt, out, tol):
        vis, obs = _split_dont_care(g, o, modality, cfg)
        cost = _cost(vis, obs, modality, cfg)
        acc.update([p.person_id for p in vis], [ob.track_id for ob in obs], cost)
        for i, j in _assign(cost):
            tid, person = obs[j].track_id, vis[i].person_id
            votes[tid][person] += 1
            for life, (first, last) in enumerate(spans.get(tid, ())):
                if first - tol <= g.stamp_s <= last + tol:
                    life_votes[life_id(tid, life)][person] += 1
        n += 1
    s = TrackingScore(frames=n)
    if n:
        summary = mm.metrics.create().compute(acc, metrics=["mota", "idf1", "num_switches"], name="t")
        s.mota = float(summary["mota"].iloc[0])
        s.idf1 = float(summary["idf1"].iloc[0])
        s.id_switches = int(summary["num_switches"].iloc[0])
    s.track_to_person = {t: c.most_common(1)[0][0] for t, c in votes.items()}
    s.life_to_person = {t: c.most_common(1)[0][0] for t, c in life_votes.items()}
    return s


def final_decided_by(matches: Sequence[MatchEvent]) -> dict[tuple[str, int], str]:
    """(sensor, track) -> what decided its last match ("geometry", "gait", "both"; "none" also for v1)."""
    out: dict[tuple[str, int], str] = {}
    for m in sorted(matches, key=lambda m: m.stamp_s):
        out[(m.sensor, m.track_id)] = m.decided_by or "none"
    return out


def final_global_ids(matches: Sequence[MatchEvent]) -> dict[tuple[str, int], tuple[int, float]]:
    """(sensor, track) -> (global id it carried last, stamp it first got that id)."""
    out: dict[tuple[str, int], tuple[int, float]] = {}
    for m in sorted(matches, key=lambda m: m.stamp_s):
        key = (m.sensor, m.track_id)
        if key not in out or out[key][0] != m.global_id:
            out[key] = (m.global_id, m.stamp_s)
    return out


def score_handoff(gt: dict[str, Sequence[GTFrame]], modality_of: dict[str, str],
                  tracking: dict[str, TrackingScore], matches: Sequence[MatchEvent],
                  duration_s: float, cfg: ScoringConfig, lives: TrackLives = TrackLives()) -> HandoffScore:
    """Cross-sensor identity hand-off between camera ("2d") and LiDAR ("3d") sensors, per track life
    (``lives``: where the recognizer started a track anew; ``tracking`` scored with the same lives' spans)."""
    tracking, matches = per_life(tracking), split_matches(matches, lives)
    first_seen: dict[str, dict[int, float]] = {"2d": {}, "3d": {}}
    for sensor, frames in gt.items():
        mod = modality_of[sensor]
        for f in frames:
            for p in f.people:
                if _visible(p, mod, cfg):
                    first_seen[mod][p.person_id] = min(first_seen[mod].get(p.person_id, f.stamp_s), f.stamp_s)
    both = sorted(set(first_seen["2d"]) & set(first_seen["3d"]))
    gids = final_global_ids(matches)
    # tracks per modality with (person, global id, since)
    decided = final_decided_by(matches)
    tracks: dict[str, list[tuple[int | None, int, float, str]]] = {"2d": [], "3d": []}
    for (sensor, tid), (gid, since) in gids.items():
        if sensor not in modality_of or sensor not in tracking:
            continue
        person = tracking[sensor].track_to_person.get(tid)
        tracks[modality_of[sensor]].append((person, gid, since, decided.get((sensor, tid), "none")))
    s = HandoffScore(people_both=len(both))
    for pc, gc, tc, dc in tracks["2d"]:
        for pl, gl, tl, dl in tracks["3d"]:
            if gc != gl:
                continue
            s.cross_links += 1
            # what decided the link: the later of the two tracks' joining (it made the link)
            why = dc if tc >= tl else dl
            s.links_by[why] = s.links_by.get(why, 0) + 1
            if pc is None or pl is None or pc != pl:
                s.false_links += 1
                s.unscored_links += pc is None or pl is None
                s.false_links_by[why] = s.false_links_by.get(why, 0) + 1
    for person in both:
        cam = {(g, t) for p, g, t, _ in tracks["2d"] if p == person}
        lid = {(g, t) for p, g, t, _ in tracks["3d"] if p == person}
        shared = [max(tc, tl) for gc, tc in cam for gl, tl in lid if gc == gl]
        if shared:
            s.handed_off += 1
            since_both = max(first_seen["2d"][person], first_seen["3d"][person])
            s.time_to_match_s.append(max(0.0, min(shared) - since_both))
    if duration_s > 0:
        s.false_matches_per_hour = s.false_links * SECONDS_PER_HOUR / duration_s
    return s


def cmc_curve(query_people: Sequence[int], gallery_people: Sequence[int], dist: np.ndarray,
              max_rank: int) -> tuple[list[float], int]:
    """CMC of cross-sensor tracklet matching: share of queries whose person is among the k nearest.

    ``dist`` is (queries, gallery) cross-modal distance; queries whose person has no gallery entry are
    left out (they cannot be matched), and their count is not in the returned number of queries.
    """
    gal = np.asarray(gallery_people)
    hits = np.zeros(max_rank)
    n = 0
    for i, person in enumerate(query_people):
        if not (gal == person).any():
            continue
        n += 1
        order = np.argsort(dist[i], kind="stable")
        first = int(np.nonzero(gal[order] == person)[0][0])
        if first < max_rank:
            hits[first:] += 1
    return ([float(h / n) for h in hits] if n else []), n


def latency_percentiles(samples: Sequence[StageLatency]) -> dict[str, dict[str, float]]:
    by: dict[str, list[float]] = defaultdict(list)
    for s in samples:
        by[s.stage].append(s.latency_s * 1e3)
    out = {}
    for stage, v in sorted(by.items()):
        arr = np.asarray(v)
        out[stage] = {"n": float(arr.size), **{f"p{q}": float(np.percentile(arr, q)) for q in PERCENTILES}}
    return out


def score_run(gt: dict[str, Sequence[GTFrame]], modality_of: dict[str, str],
              detections: dict[str, Sequence[OutputFrame]], tracks: dict[str, Sequence[OutputFrame]],
              matches: Sequence[MatchEvent], latencies: Sequence[StageLatency], duration_s: float,
              cfg: ScoringConfig, lives: TrackLives = TrackLives()) -> Score:
    """Everything but the CMC (which needs embeddings: ``tcfd_ros.replay.cmc``); hand-off per track life
    (``lives``: where the recognizer started a track anew, ``track_lives``)."""
    det = {s: score_detection(gt.get(s, ()), detections[s], modality_of[s], cfg)
           for s in detections if s in gt}
    trk = {s: score_tracking(gt.get(s, ()), tracks[s], modality_of[s], cfg, lives.of_sensor(s))
           for s in tracks if s in gt}
    hand = score_handoff(gt, modality_of, trk, matches, duration_s, cfg, lives)
    return Score(det, trk, hand, [], 0, latency_percentiles(latencies))
