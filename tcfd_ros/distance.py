"""The cross-modal distance used everywhere: 1 - mean over parts of the cosine similarity.

One implementation, shared by the evaluator, the recognizer and the replay scorer.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-12
#: tracks of fewer tracklets are aggregated untrimmed (too few to tell an outlier from the walk)
MIN_TRIM_TRACKLETS = 4


def normalize_parts(features: np.ndarray) -> np.ndarray:
    """L2-normalise each part vector of a (N, parts, d) array (float32)."""
    f = np.asarray(features, dtype=np.float32)
    if f.ndim != 3:
        raise ValueError(f"features must be (N, parts, d), got shape {f.shape}")
    return f / np.maximum(np.linalg.norm(f, axis=-1, keepdims=True), _EPS)


def cross_modal_distance(probe: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """(N, P, D) x (M, P, D) -> (N, M) distance = 1 - mean_p cos(probe_p, gallery_p)."""
    a = normalize_parts(probe)
    b = normalize_parts(gallery)
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"probe parts/dim {a.shape[1:]} != gallery parts/dim {b.shape[1:]}")
    if a.shape[0] == 0 or b.shape[0] == 0:
        return np.zeros((a.shape[0], b.shape[0]), dtype=np.float32)
    # einsum over parts and channels: sum_p <a_np, b_mp> / P
    sim = np.einsum("npd,mpd->nm", a, b, optimize=True) / a.shape[1]
    return (1.0 - sim).astype(np.float32)


def aggregate_track_embedding(tracklets: np.ndarray, trim_share: float = 0.0) -> np.ndarray:
    """(n, P, D) tracklet embeddings of one track -> (P, D) track embedding.

    Per part, the L2-normalised mean of the L2-normalised tracklet embeddings: each tracklet votes
    equally whatever its norm, and the result compares with ``cross_modal_distance`` like a tracklet.
    With ``trim_share`` > 0 (a trimmed mean, ``identity.track_evidence_trim``), per part the
    ``floor(n x trim_share)`` tracklets least like that mean are left out and the rest averaged again:
    a few tracklets of a merged blob, a crossing or a half-hidden walker no longer pull the track's
    evidence towards someone else (RESULTS.md, "A trimmed track aggregate"). Tracks of fewer than
    ``MIN_TRIM_TRACKLETS`` are never trimmed. The training calibration (``open_set_threshold_track``),
    the replay's CMC and the recognizer all use this one definition, so the threshold applies at the
    level where the decision is made.
    """
    f = np.asarray(tracklets, dtype=np.float32)
    if f.ndim != 3 or f.shape[0] == 0:
        raise ValueError(f"tracklet embeddings must be (n >= 1, parts, d), got shape {f.shape}")
    if not 0.0 <= trim_share < 1.0:
        raise ValueError(f"trim_share must be in [0, 1), got {trim_share}")
    unit = normalize_parts(f)
    mean = normalize_parts(unit.mean(axis=0, keepdims=True))
    n = unit.shape[0]
    drop = int(np.floor(n * trim_share)) if n >= MIN_TRIM_TRACKLETS else 0
    if drop == 0:
        return mean[0]
    similarity = (unit * mean).sum(axis=-1)                          # (n, P): cosine to the part's mean
    keep = np.argsort(-similarity, axis=0, kind="stable")[: n - drop]  # per part, the nearest n - drop
    kept = np.take_along_axis(unit, keep[:, :, None], axis=0)
    return normalize_parts(kept.mean(axis=0, keepdims=True))[0]
