"""The verdict at the top of a replay report: headline metrics against targets, with chance levels,
the identity of the model that produced them, and the moments a person was handed off across sensors.

Plain data and arithmetic (no plotting, no ROS), so it is tested on hand-made scores.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from math import comb
from pathlib import Path
from typing import Any, Sequence

from tcfd_ros.replay.config import TargetConfig
from tcfd_ros.replay.records import MatchEvent, RunInfo
from tcfd_ros.replay.scoring import Score, TrackingScore, final_global_ids, per_life
from tcfd_ros.replay.track_lives import TrackLives, split_matches, track_of

HASH_CHUNK_BYTES = 1 << 20
SHORT_HASH_CHARS = 12


@dataclass(frozen=True)
class VerdictRow:
    metric: str
    value: float | int
    target: str                  # e.g. ">= 0.67"
    passed: bool | None          # None: not applicable (nothing to measure), neither pass nor fail
    chance: float = float("nan")  # what a random assignment would score, where that is defined
    note: str = ""


@dataclass(frozen=True)
class ModelIdentity:
    path: str
    sha256: str
    backend: str
    architecture: str
    clip: str                    # "random (untrained)" or "pretrained: <file> (sha256 ...)"
    open_set_threshold: float    # the track threshold the recognizer decides by (else the tracklet one)
    projection: str = "none"     # the pipeline projection the embeddings pass through, if any

    def rows(self) -> list[tuple[str, str]]:
        return [("file", self.path), ("sha256", self.sha256), ("runtime", self.backend),
                ("architecture", self.architecture), ("CLIP weights", self.clip),
                ("pipeline projection", self.projection),
                ("open-set threshold (distance)", _num(self.open_set_threshold))]


@dataclass(frozen=True)
class HandoffEvent:
    """A camera track and a LiDAR track came to carry the same global id (a cross-sensor link)."""

    stamp_s: float               # bag time the link formed (the later of the two tracks' id stamps)
    global_id: int
    camera: tuple[str, int]      # (sensor, track id)
    lidar: tuple[str, int]
    camera_person: int | None    # majority ground-truth person of each track (None: no ground truth)
    lidar_person: int | None

    @property
    def correct(self) -> bool:
        return self.camera_person is not None and self.camera_person == self.lidar_person


def _num(v: float | None) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(HASH_CHUNK_BYTES), b""):
            h.update(chunk)
    return h.hexdigest()


def describe_clip(clip: dict[str, Any]) -> str:
    """Whether the model's CLIP carries pretrained knowledge, in words."""
    weights = str(clip.get("weights", "?"))
    variant = clip.get("variant", "?")
    if weights == "random":
        return f"random (untrained {variant}: no pretrained knowledge in the CLIP branch)"
    sha = str(clip.get("sha256", ""))[:SHORT_HASH_CHARS]
    return f"pretrained {variant}: {Path(weights).name}" + (f" (sha256 {sha})" if sha else "")


def describe_architecture(metadata: dict[str, Any]) -> str:
    cfg = metadata.get("model_config") or {}
    name = str(metadata.get("architecture", "tcfdnet"))
    clip = cfg.get("clip", {}) if isinstance(cfg, dict) else {}
    off = [k for k, v in (cfg.get("ablation", {}) if isinstance(cfg, dict) else {}).items() if v is False]
    parts = [f"CLIP {clip.get('variant', '?')}"] if clip else []
    if isinstance(cfg, dict) and "dim" in cfg:
        parts.append(f"{cfg.get('parts', '?')} parts x {cfg['dim']}")
    if off:
        parts.append("without " + ", ".join(off))
    return name + (f" ({'; '.join(parts)})" if parts else "")


def describe_projection(metadata: dict[str, Any]) -> str:
    """What ``tcfd_ros.inference.projection`` does to the model's embeddings, from its metadata."""
    proj = metadata.get("pipeline_projection")
    if not isinstance(proj, dict):
        return "none"
    prov = proj.get("provenance") if isinstance(proj.get("provenance"), dict) else {}
    replays = prov.get("replays") if isinstance(prov.get("replays"), list) else []
    fitted = f", fitted on {len(replays)} replays ({prov.get('people', '?')} people)" if replays else ""
    return f"{proj.get('parts', '?')} x {proj.get('dim', '?')} -> {prov.get('out_dim', '?')}{fitted}"


def model_identity(path: Path, backend: str, metadata: dict[str, Any]) -> ModelIdentity:
    """Identity of the model file the graph ran, from its embedder metadata; the threshold is the one the
    recognizer takes from it (``threshold_from``: the track threshold where the model has one), NaN where
    the model gives none it could run with."""
    from tcfd_ros.errors import ConfigError
    from tcfd_ros.perception.config import IdentityConfig
    from tcfd_ros.perception.identity import threshold_from

    try:
        thr = threshold_from(IdentityConfig(), metadata)[0]
    except (ConfigError, TypeError, ValueError):
        thr = float("nan")
    return ModelIdentity(str(path), file_sha256(path)[:SHORT_HASH_CHARS * 2], backend,
                         describe_architecture(metadata), describe_clip(dict(metadata.get("clip") or {})),
                         thr, describe_projection(metadata))


def load_model_identity(path: Path, backend: str) -> ModelIdentity:
    from tcfd_ros.inference import make_embedder
    return model_identity(path, backend, dict(make_embedder(backend, path).metadata))


def chance_cmc(query_people: Sequence[int], gallery_people: Sequence[int], max_rank: int) -> list[float]:
    """Expected CMC of a random ranking: per query with m true entries among G, 1 - C(G-m, k) / C(G, k).

    Queries whose person is not in the gallery are left out, as ``scoring.cmc_curve`` does.
    """
    g = len(gallery_people)
    out = [0.0] * max_rank
    n = 0
    for q in query_people:
        m = sum(1 for p in gallery_people if p == q)
        if m == 0:
            continue
        n += 1
        for k in range(1, max_rank + 1):
            out[k - 1] += 1.0 - comb(g - m, k) / comb(g, k) if k <= g else 1.0
    return [v / n for v in out] if n else []


def handoff_events(matches: Sequence[MatchEvent], tracking: dict[str, TrackingScore],
                   modality_of: dict[str, str], lives: TrackLives = TrackLives()) -> list[HandoffEvent]:
    """Every (camera track, LiDAR track) pair that ended with the same global id, when it formed; per track
    life as the hand-off is scored (``track_lives``: a track the recognizer started anew pairs once per
    life, each with its own person), the tracks named by their published ids."""
    gids = final_global_ids(split_matches(matches, lives))
    tracking = per_life(tracking)
    cams = [(k, v) for k, v in gids.items() if modality_of.get(k[0]) == "2d"]
    lids = [(k, v) for k, v in gids.items() if modality_of.get(k[0]) == "3d"]
    out = []
    for (ck, (cg, ct)) in cams:
        for (lk, (lg, lt)) in lids:
            if cg != lg:
                continue
            out.append(HandoffEvent(max(ct, lt), cg, (ck[0], track_of(ck[1])), (lk[0], track_of(lk[1])),
                                    tracking.get(ck[0], TrackingScore()).track_to_person.get(ck[1]),
                                    tracking.get(lk[0], TrackingScore()).track_to_person.get(lk[1])))
    return sorted(out, key=lambda e: e.stamp_s)


def _row(metric: str, value: float, op: str, target: float, chance: float = float("nan"),
         note: str = "") -> VerdictRow:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return VerdictRow(metric, float("nan"), f"{op} {target:g}", None, chance,
                          note or "nothing to measure")
    passed = value >= target if op == ">=" else value <= target
    return VerdictRow(metric, value, f"{op} {target:g}", passed, chance, note)


def verdict_rows(score: Score | None, info: RunInfo, targets: TargetConfig) -> list[VerdictRow]:
    """The headline metrics of a run against ``targets`` (without ground truth: only the speed)."""
    rows = []
    if score is not None:
        h = score.handoff
        gallery = score.cmc_gallery
        chance1 = 1.0 / gallery if gallery else float("nan")
        rows.append(_row("hand-off accuracy", h.accuracy, ">=", targets.handoff_accuracy_min, chance1,
                         f"{h.handed_off} of {h.people_both} people seen by both sensors"))
        rows.append(_row("false cross-sensor links", int(h.false_links), "<=", targets.false_links_max,
                         note=f"{_num(h.false_matches_per_hour)} per hour of bag"))
        rank1 = score.cmc[0] if score.cmc else float("nan")
        chance = score.cmc_chance[0] if score.cmc_chance else chance1
        rows.append(_row("CMC rank-1", rank1, ">=", targets.cmc_rank1_min, chance,
                         f"{score.cmc_queries} camera tracks vs {gallery} LiDAR tracks by track evidence"
                         + (f" (last tracklet alone: {_num(score.cmc_last_tracklet[0])})"
                            if score.cmc_last_tracklet else "") if score.cmc else
                         "not computed (no model file, or no scored tracks of both sensors)"))
        for s, d in score.detection.items():
            rows.append(_row(f"{s} detection precision", d.precision, ">=", targets.detection_precision_min))
            rows.append(_row(f"{s} detection recall", d.recall, ">=", targets.detection_recall_min))
            t = score.tracking.get(s)
            if t is not None:
                rows.append(_row(f"{s} IDF1", t.idf1, ">=", targets.idf1_min))
    rows.append(_row("real-time factor", info.real_time_factor, ">=", targets.real_time_factor_min,
                     note=f"{info.mode}; bag seconds per wall second"))
    if any(f.sent is not None for f in info.stages):
        foreign = sum(f.foreign for f in info.stages)
        rows.append(_row("messages from outside the replay", foreign, "<=", 0,
                         note=f"ROS domain {info.ros_domain_id}" + ("; the scores above are not valid"
                                                                    if foreign else "")))
    return rows


def verdict_line(rows: Sequence[VerdictRow]) -> str:
    """One sentence: PASS / FAIL with what was missed."""
    judged = [r for r in rows if r.passed is not None]
    missed = [r.metric for r in judged if not r.passed]
    if not judged:
        return "NO VERDICT: nothing could be measured"
    if missed:
        return f"FAIL: {len(missed)} of {len(judged)} targets missed ({', '.join(missed)})"
    return f"PASS: all {len(judged)} targets met"
