"""Retrieval metrics for cross-modal gait recognition: pure functions over features and metadata.

Two protocols (``shared/docs/DATASETS.md``):

* SUSTech1K cross-view (``evaluate_cross_modal``): Rank-k and mAP are computed separately for every
  (probe view, gallery view) pair, same-view pairs excluded, then averaged over the non-empty pairs
  (flat mean over pairs), overall and per condition.
* FreeGait (``evaluate_open``): one probe set against one gallery, Rank-1/5/10, mAP and mINP, no view
  exclusion.

Distance is ``tcfd_ros.distance.cross_modal_distance`` (1 - mean per-part cosine).

Tie rule (ours, documented because it changes numbers): gallery entries at exactly the same distance
are ordered with the *non-matching* ones first. The result is therefore pessimistic and independent of
the gallery order; a constant embedding never scores better than chance.

A probe whose identity has no entry in the (pair's) gallery counts as a miss for Rank-k (as OpenGait's
cross-view evaluator does) and is left out of mAP/mINP, whose average is then over the probes that have
at least one true match.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from tcfd_ros.distance import cross_modal_distance
from tcfd_ros.errors import DatasetError

log = logging.getLogger(__name__)

RANKS: tuple[int, ...] = (1, 5, 10)
# SUSTech1K probe conditions: group name -> substrings of the seq-type folder name (OpenGait's list).
SUSTECH1K_CONDITIONS: dict[str, tuple[str, ...]] = {
    "normal": ("01-nm",),
    "bag": ("bg",),
    "clothing": ("cl",),
    "carrying": ("cr",),
    "umbrella": ("ub",),
    "uniform": ("uf",),
    "occlusion": ("oc",),
    "night": ("nt",),
    "overall": ("01", "02", "03", "04"),
}
SUSTECH1K_GALLERY_TYPE = "00-nm"
# Direction -> (probe modality, gallery modality): 2d3d = camera queries against a LiDAR gallery.
DIRECTIONS: dict[str, tuple[str, str]] = {"2d3d": ("2d", "3d"), "3d2d": ("3d", "2d")}
_REQUIRED = ("features", "labels", "conditions", "views")


@dataclass(frozen=True)
class _Side:
    features: np.ndarray  # [n, p, d]
    labels: np.ndarray  # [n] str
    conditions: np.ndarray  # [n] str
    views: np.ndarray  # [n] str


def needed_modalities(directions: Sequence[str]) -> list[str]:
    """The modalities the ``directions`` embed, e.g. ``['2d', '3d']`` for either direction."""
    return sorted({m for d in directions for m in DIRECTIONS[d]})


def _side(name: str, data: Mapping[str, Any]) -> _Side:
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise DatasetError(f"{name}: missing key(s) {missing}; expected a mapping with {list(_REQUIRED)}")
    feats = np.asarray(data["features"], dtype=np.float32)
    if feats.ndim != 3:
        raise DatasetError(f"{name}.features: expected shape (N, parts, d), got {feats.shape}")
    n = feats.shape[0]
    cols = {}
    for k in _REQUIRED[1:]:
        arr = np.asarray([str(v) for v in data[k]], dtype=object)
        if arr.shape != (n,):
            raise DatasetError(f"{name}.{k}: expected {n} entries (one per feature row), got {arr.shape[0]}")
        cols[k] = arr
    return _Side(feats, cols["labels"], cols["conditions"], cols["views"])


def per_probe_ranking(dist: np.ndarray, probe_labels: np.ndarray, gallery_labels: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each probe row: 0-based rank of the first true match (-1 if none), AP and INP (NaN if none).

    Uses the pessimistic tie rule of this module (non-matches first among equal distances).
    """
    n = dist.shape[0]
    first = np.full(n, -1, dtype=np.int64)
    ap = np.full(n, np.nan)
    inp = np.full(n, np.nan)
    for i in range(n):
        match = gallery_labels == probe_labels[i]
        if not match.any():
            continue
        order = np.lexsort((match, dist[i]))  # primary: distance, secondary: non-match (False) first
        hits = np.flatnonzero(match[order]) + 1  # 1-based positions of the true matches
        first[i] = hits[0] - 1
        ap[i] = float(np.mean(np.arange(1, hits.size + 1) / hits))
        inp[i] = hits.size / hits[-1]
    return first, ap, inp


def _rank_acc(first: np.ndarray, ranks: Sequence[int]) -> dict[str, float]:
    """Percentage of probes whose first true match is within the top k (probes without a match miss)."""
    hit = first >= 0
    return {f"rank{k}": float(100.0 * np.mean(hit & (first < k))) for k in ranks}


def cmc_curve(first: np.ndarray, max_rank: int) -> np.ndarray:
    """Cumulative match characteristic in percent for ranks 1..max_rank."""
    ks = np.arange(1, max_rank + 1)
    hit = first >= 0
    return np.array([100.0 * np.mean(hit & (first < k)) for k in ks]) if first.size else np.zeros(max_rank)


def _nanmean_pct(x: np.ndarray) -> float:
    return float(100.0 * np.nanmean(x)) if np.isfinite(x).any() else float("nan")


def _condition_masks(conditions: np.ndarray, groups: Mapping[str, Sequence[str]] | None
                     ) -> dict[str, np.ndarray]:
    if groups is None:
        masks = {c: conditions == c for c in sorted(set(conditions.tolist()))}
        masks["overall"] = np.ones(conditions.shape, dtype=bool)
        return masks
    return {name: np.array([any(s in c for s in subs) for c in conditions], dtype=bool)
            for name, subs in groups.items()}


def evaluate_cross_modal(probe: Mapping[str, Any], gallery: Mapping[str, Any], exclude_same_view: bool = True,
                         condition_groups: Mapping[str, Sequence[str]] | None = None,
                         ranks: Sequence[int] = RANKS, cmc_max_rank: int = 20) -> dict[str, Any]:
    """SUSTech1K-style cross-view evaluation of probe features against gallery features.

    ``probe``/``gallery``: mappings with ``features`` (N, parts, d), ``labels``, ``conditions``, ``views``.
    ``condition_groups``: group name -> substrings of a probe's condition string (e.g.
    ``SUSTECH1K_CONDITIONS``); ``None`` makes each distinct condition a group plus ``overall`` = all probes.

    Returns a JSON-able dict: ``overall`` and ``conditions[name]`` hold ``rank{k}`` and ``mAP`` in percent
    averaged over the non-empty view pairs (``num_pairs`` of them); ``view_pairs["overall"|name]`` maps
    ``"<probe view>-><gallery view>"`` to that pair's metrics and probe count; ``cmc`` is the pair-averaged
    CMC curve of ``overall``.
    """
    p = _side("probe", probe)
    g = _side("gallery", gallery)
    dist = cross_modal_distance(p.features, g.features) if p.features.size and g.features.size else \
        np.zeros((p.features.shape[0], g.features.shape[0]), np.float32)
    masks = _condition_masks(p.conditions, condition_groups)
    if "overall" not in masks:
        masks["overall"] = np.ones(p.conditions.shape, dtype=bool)
    pviews = sorted(set(p.views.tolist()))
    gviews = sorted(set(g.views.tolist()))
    result: dict[str, Any] = {"protocol": "cross_view", "exclude_same_view": exclude_same_view,
                              "ranks": list(ranks), "conditions": {}, "view_pairs": {}}
    for name, cmask in masks.items():
        pair_metrics: dict[str, dict[str, float]] = {}
        cmcs = []
        for pv in pviews:
            pm = cmask & (p.views == pv)
            if not pm.any():
                continue
            for gv in gviews:
                if exclude_same_view and pv == gv:
                    continue
                gm = g.views == gv
                if not gm.any():
                    continue
                first, ap, _ = per_probe_ranking(dist[np.ix_(pm, gm)], p.labels[pm], g.labels[gm])
                m = _rank_acc(first, ranks)
                m["mAP"] = _nanmean_pct(ap)
                m["num_probes"] = int(pm.sum())
                pair_metrics[f"{pv}->{gv}"] = m
                cmcs.append(cmc_curve(first, cmc_max_rank))
        summary: dict[str, Any] = {"num_pairs": len(pair_metrics), "num_probes": int(cmask.sum())}
        for key in [f"rank{k}" for k in ranks] + ["mAP"]:
            vals = np.array([m[key] for m in pair_metrics.values()], dtype=float)
            summary[key] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
        result["conditions"][name] = summary
        result["view_pairs"][name] = pair_metrics
        if name == "overall":
            result["cmc"] = (np.mean(cmcs, axis=0) if cmcs else np.zeros(cmc_max_rank)).tolist()
    result["overall"] = result["conditions"].pop("overall")
    if result["overall"]["num_pairs"] == 0:
        log.warning("no non-empty (probe view, gallery view) pair: probe views %s, gallery views %s",
                    pviews, gviews)
    return result


def evaluate_open(probe: Mapping[str, Any], gallery: Mapping[str, Any], ranks: Sequence[int] = RANKS,
                  cmc_max_rank: int = 20) -> dict[str, Any]:
    """FreeGait protocol: every probe against the whole gallery; Rank-k, mAP, mINP, no view exclusion.

    Probes whose identity is absent from the gallery are left out of every metric (their number is
    reported as ``num_probes_without_match``), as in the usual person re-identification protocol.
    """
    p = _side("probe", probe)
    g = _side("gallery", gallery)
    dist = cross_modal_distance(p.features, g.features)
    first, ap, inp = per_probe_ranking(dist, p.labels, g.labels)
    valid = first >= 0
    out: dict[str, Any] = {"protocol": "open", "ranks": list(ranks), "num_probes": int(valid.sum()),
                           "num_probes_without_match": int((~valid).sum())}
    out.update(_rank_acc(first[valid], ranks) if valid.any() else {f"rank{k}": float("nan") for k in ranks})
    out["mAP"] = _nanmean_pct(ap)
    out["mINP"] = _nanmean_pct(inp)
    out["cmc"] = cmc_curve(first[valid], cmc_max_rank).tolist()
    return out
