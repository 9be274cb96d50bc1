"""Genuine-accept rate at a false-match rate where the recognizer decides: tracks, gait plus cues.

Issue 13 asks for the genuine-accept rate at 1 % FMR "at the level where the recognizer decides". The
recognizer decides on a track's aggregated tracklets (``track_evidence_tracklets``) against another
sensor's track, by the gait distance corrected by walking speed, stature and step frequency
(``IdentityManager.decision_score``: the model's fitted cue combination, or for an older model the
threshold's shift along its false-match-rate curve): that is the decision statistic. This script
re-runs the recognizer on recorded replays (``tcfd_ros.replay.rerun``), keeps each track's evidence as it
stood at its last tracklet (aggregate, tracklet count, cues), labels tracks with the replay scorer's
track-to-person map, and scores every camera-track x LiDAR-track pair of each bag. Pairs where either
track has fewer than ``gait_min_tracklets`` tracklets are pairs the recognizer never decides by gait: they
are never accepted (a genuine one counts as rejected); the false-match rate is over all impostor pairs.

It prints one JSON line: per bag and over all bags, the number of genuine / impostor pairs, the genuine-
accept rate at 1 % (and 0.1 %, 10 %) FMR set on the bags' own impostor pairs, for gait alone, for the
cues alone (``cues``: walking speed, stature and step frequency; minus the log of their likelihood ratio,
0 where the two tracks share no cue; what gait adds is the gap between it and the decision), for gait over
each side's nearest other track (``gait_cohort``, below) and for the decision statistic, and what the
shipped operating point (statistic <= the threshold) accepts; and, per set of cues a pair compares
(``decision_by_shared_cues``: "speed+stature", "speed", ...), its eligible genuine pairs, how many of them
the decision statistic accepts at 1 % of all impostor pairs, and its impostor pairs (a camera track whose
stature was withheld compares speed alone). Not collected by pytest.

``gait_cohort`` asks whether gait distances, which rank a bag's tracks well but are not comparable from
one track to the next, separate better once each is divided by how close the two tracks come to everyone
else: the mean of d / (camera track's nearest *other* LiDAR track) and d / (LiDAR track's nearest other
camera track), over the bag's tracks with >= ``gait_min_tracklets`` tracklets, labelled or not. It uses
tracks the recognizer has not seen yet when it decides (an offline bound, not a decision rule).

``--fit-on DIR...`` also scores the likelihood-ratio combination chosen on *those* replays
(``lr_combination``: ``tcfd_ros.perception.cue_combination.choose_cue_exponent`` at 1 % FMR over their
eligible pairs, as ``tcfd-ros calibrate`` chooses it; use replays the scored bags are not among), then
applied to the scored bags: what a model calibrated on them would decide by. With a model that already
carries the exponent, ``decision`` is that combination with the model's own. The chosen exponent is
printed.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/decision_gar.py out/replays/a out/replays/b \
        [--mcap-dir DIR] [--identity NAME=VALUE] [--fit-on out/replays/c ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from recognizer_rerun import DEFAULT_MODEL  # noqa: E402
from tcfd_ros.distance import cross_modal_distance  # noqa: E402
from tcfd_ros.errors import DatasetError  # noqa: E402
from tcfd_ros.inference.embedder import make_embedder  # noqa: E402
from tcfd_ros.perception.config import IdentityConfig  # noqa: E402
from tcfd_ros.perception.cue_combination import (CUE_NAMES, CueCombination, choose_cue_exponent,  # noqa: E402
                                                 cue_log_likelihood_ratio)
from tcfd_ros.perception.identity import IdentityManager  # noqa: E402
from tcfd_ros.perception.identity_types import TrackKey  # noqa: E402
from tcfd_ros.replay.config import ReplayConfig  # noqa: E402
from tcfd_ros.replay.recording import Recording  # noqa: E402
from tcfd_ros.replay.rerun import TrackState, final_track_states, recorded_inputs  # noqa: E402
from training.harvest import final_life_persons  # noqa: E402

#: false-match rates the genuine-accept rate is read at (set on the bags' impostor pairs).
FMRS = (0.001, 0.01, 0.1)
#: the false-match rate --fit-on chooses the cue exponent at
FIT_FMR = 0.01


@dataclass
class PairScores:
    """Every scored camera x LiDAR track pair of the bags."""

    genuine: np.ndarray           # bool per pair
    gait: np.ndarray              # gait distance of the tracks' aggregates
    decision: np.ndarray          # what the recognizer compares with the threshold (decision_score)
    eligible: np.ndarray          # bool: both tracks delivered >= gait_min_tracklets tracklets
    cues: np.ndarray              # -log of walking speed's and stature's likelihood ratio (gait left out)
    gait_cohort: np.ndarray       # gait over each side's nearest other track (offline, see the docstring)
    shared: np.ndarray            # str: the cues both tracks measured, "+"-joined ("none": gait alone)
    threshold: float


@dataclass
class BagTracks:
    """A recorded replay's camera and LiDAR tracks as the recognizer held them at their last tracklets."""

    manager: IdentityManager      # as the re-run ends: its threshold, decision_score and cues read the states
    cams: list[tuple[TrackKey, TrackState]]
    lids: list[tuple[TrackKey, TrackState]]
    dist: np.ndarray              # (cameras, LiDARs) gait distance of the tracks' aggregates
    label_c: list[int | None]     # the replay scorer's person of each camera track (None: unlabelled)
    label_l: list[int | None]

    def decision(self, i: int, j: int) -> float:
        """What the recognizer compares with its threshold for camera track i and LiDAR track j."""
        return self.manager.decision_score(float(self.dist[i, j]), self.cams[i][1].cues, self.lids[j][1].cues)


def bag_tracks(replay: Path, mcap: Path, model: Path, cfg: IdentityConfig) -> BagTracks:
    """Re-run the recognizer on one recorded replay; every camera x LiDAR gait distance, once."""
    rec = Recording.load(replay / "recording.jsonl")
    person = final_life_persons(rec, ReplayConfig().scoring, cfg.track_timeout_s)
    mgr, final = final_track_states(recorded_inputs(mcap), make_embedder("onnx", str(model), threads=1), cfg)
    cams = [(k, v) for k, v in final.items() if v.modality == "2d"]
    lids = [(k, v) for k, v in final.items() if v.modality == "3d"]
    dist = (cross_modal_distance(np.stack([v.evidence for _, v in cams]),
                                 np.stack([v.evidence for _, v in lids]))
            if cams and lids else np.zeros((len(cams), len(lids)))).astype(np.float64)
    return BagTracks(mgr, cams, lids, dist, [person.get(k[0], {}).get(k[1]) for k, _ in cams],
                     [person.get(k[0], {}).get(k[1]) for k, _ in lids])


def bag_pairs(replay: Path, mcap: Path, model: Path, cfg: IdentityConfig) -> PairScores:
    """Score one recorded replay's camera x LiDAR track pairs by the recognizer's final evidence."""
    b = bag_tracks(replay, mcap, model, cfg)
    dist, label_c, label_l = b.dist, b.label_c, b.label_l
    in_cohort_c = np.array([v.tracklets >= cfg.gait_min_tracklets for _, v in b.cams], dtype=bool)
    in_cohort_l = np.array([v.tracklets >= cfg.gait_min_tracklets for _, v in b.lids], dtype=bool)
    rows, shared = [], []
    for i, (_, c) in enumerate(b.cams):
        for j, (_, lt) in enumerate(b.lids):
            if label_c[i] is None or label_l[j] is None:
                continue
            d = float(dist[i, j])
            near_c = nearest_other(dist[i], in_cohort_l, j, d)     # the camera track's other LiDAR tracks
            near_l = nearest_other(dist[:, j], in_cohort_c, i, d)  # the LiDAR track's other camera tracks
            rows.append((label_c[i] == label_l[j], d, b.decision(i, j),
                         min(c.tracklets, lt.tracklets) >= cfg.gait_min_tracklets,
                         -cue_log_likelihood_ratio(cfg, c.cues, lt.cues), 0.5 * (d / near_c + d / near_l)))
            shared.append(shared_cues(c.cues, lt.cues))
    arr = np.array(rows, dtype=np.float64).reshape(-1, 6)
    return PairScores(arr[:, 0] > 0, arr[:, 1], arr[:, 2], arr[:, 3] > 0, arr[:, 4], arr[:, 5],
                      np.array(shared, dtype=object), b.manager.threshold)


def shared_cues(mine: dict[str, float], theirs: dict[str, float]) -> str:
    """The cues two tracks both measured, in ``CUE_NAMES`` order and "+"-joined; "none" if no cue."""
    return "+".join(n for n in CUE_NAMES if n in mine and n in theirs) or "none"


def nearest_other(distances: np.ndarray, in_cohort: np.ndarray, partner: int, alone: float) -> float:
    """The smallest of ``distances`` over the cohort other than index ``partner``; ``alone`` (the pair's
    own distance: a ratio of 1, no information) when the cohort has no one else."""
    others = in_cohort.copy()
    others[partner] = False
    return float(distances[others].min()) if others.any() else alone


def threshold_at(scores: np.ndarray, genuine: np.ndarray, accepted: np.ndarray, fmr: float) -> float | None:
    """The score that lets ``fmr`` of all impostor pairs through (the ``floor(fmr x impostors)``-th lowest
    impostor score; ``accepted``: the pairs that can be accepted at all). None when the impostors cannot
    resolve ``fmr`` or there is no genuine pair."""
    n_imp = int((~genuine).sum())
    if n_imp * fmr < 1 or not genuine.any():
        return None
    k = int(np.floor(fmr * n_imp))
    imp = np.sort(scores[~genuine & accepted])
    return float(imp[k - 1]) if k <= imp.size else np.inf


def gar_at(scores: np.ndarray, genuine: np.ndarray, accepted: np.ndarray, fmr: float) -> float | None:
    """Genuine-accept rate at ``threshold_at``; None where that is None."""
    thr = threshold_at(scores, genuine, accepted, fmr)
    return None if thr is None else float((accepted & (scores <= thr))[genuine].mean())


def by_shared_cues(p: PairScores, fmr: float = 0.01) -> dict[str, dict[str, int]]:
    """Per set of cues a pair compares: its eligible genuine pairs, how many of them the decision statistic
    accepts at ``fmr`` of *all* impostor pairs, and its impostor pairs. Where a track measured no stature
    (its frames spread, a cut-off box) its pairs must pass on gait and speed alone: this says how often."""
    thr = threshold_at(p.decision, p.genuine, p.eligible, fmr)
    out = {}
    for name in sorted(set(p.shared)):
        m = p.shared == name
        gen = m & p.genuine & p.eligible
        out[name] = {"genuine_eligible": int(gen.sum()),
                     f"accepted_at_{fmr:g}": None if thr is None else int((gen & (p.decision <= thr)).sum()),
                     "impostor_pairs": int((m & ~p.genuine).sum())}
    return out


def fit_combination(p: PairScores) -> CueCombination:
    """The cue combination fitted on the eligible pairs of ``p`` (as ``tcfd-ros calibrate`` fits it)."""
    e = p.eligible
    try:
        return CueCombination(choose_cue_exponent(p.gait[e], -p.cues[e], p.genuine[e], FIT_FMR))
    except DatasetError as exc:
        raise SystemExit(f"--fit-on: {exc}") from None


def combination_scores(p: PairScores, comb: CueCombination) -> np.ndarray:
    """Lower is more alike, as the other statistics: the cue-corrected gait distance."""
    return np.asarray(comb.score_log(p.gait, -p.cues), dtype=np.float64)


def summary(p: PairScores, combination: CueCombination | None = None) -> dict:
    out = {"genuine_pairs": int(p.genuine.sum()), "impostor_pairs": int((~p.genuine).sum()),
           "genuine_eligible": int((p.genuine & p.eligible).sum())}
    stats = [("gait", p.gait), ("cues", p.cues), ("gait_cohort", p.gait_cohort), ("decision", p.decision)]
    if combination is not None:
        stats.append(("lr_combination", combination_scores(p, combination)))
    for name, s in stats:
        out[name] = {f"gar_at_{f:g}": (None if (g := gar_at(s, p.genuine, p.eligible, f)) is None
                                       else round(g, 3)) for f in FMRS}
    out["decision_by_shared_cues"] = by_shared_cues(p)
    acc = (p.decision <= p.threshold) & p.eligible
    out["operating_point"] = {"gar": round(float(acc[p.genuine].mean()), 3) if p.genuine.any() else None,
                              "fmr": round(float(acc[~p.genuine].mean()), 4) if (~p.genuine).any() else None}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("replay_dirs", type=Path, nargs="+", help="replays' --out directories (recording.jsonl)")
    ap.add_argument("--mcap-dir", type=Path, default=None,
                    help="where each replay's --record file is, as NAME.mcap (default DIR/outputs.mcap)")
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--identity", action="append", default=[], metavar="NAME=VALUE",
                    help="override an IdentityConfig field (YAML value)")
    ap.add_argument("--fit-on", type=Path, nargs="+", default=None, metavar="REPLAY_DIR",
                    help="also score a likelihood-ratio combination of gait and cues fitted on these replays")
    args = ap.parse_args()
    cfg = replace(IdentityConfig(), **{n: yaml.safe_load(v) for n, _, v in
                                       (item.partition("=") for item in args.identity)})
    cfg.validate()

    def scored(dirs: list[Path]) -> list[PairScores]:
        return [bag_pairs(d, args.mcap_dir / f"{d.name}.mcap" if args.mcap_dir else d / "outputs.mcap",
                          args.model, cfg) for d in dirs]

    weights = fit_combination(concat(scored(args.fit_on))) if args.fit_on else None
    parts = scored(args.replay_dirs)
    per_bag = {d.name: summary(p, weights) for d, p in zip(args.replay_dirs, parts)}
    out = {"model": str(args.model), "bags": per_bag, "all": summary(concat(parts), weights)}
    if weights is not None:
        out["lr_combination"] = {"fit_on": [str(d) for d in args.fit_on],
                                 "cue_exponent": round(weights.exponent, 4)}
    print(json.dumps(out))
    return 0


def concat(parts: list[PairScores]) -> PairScores:
    """Several bags' pairs as one set."""
    return PairScores(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                        ("genuine", "gait", "decision", "eligible", "cues", "gait_cohort", "shared")),
                      parts[0].threshold)


if __name__ == "__main__":
    sys.exit(main())
