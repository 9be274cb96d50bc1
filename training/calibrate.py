"""Open-set threshold calibration on held-out identities, per tracklet and per track.

The recogniser accepts a cross-modal match when the distance (``tcfd_ros.distance``) is *below* the
threshold. On identities never seen in training every held-out sequence (one walk, one view, one
condition) is cut into the tracklets the perception pipeline emits (``frames`` contiguous frames every
``hop`` frames, ``tcfd_ros.perception.config.TrackletConfig``'s defaults) and each tracklet is embedded
in both modalities. Two levels are calibrated on the same embeddings:

* tracklet: every 2D tracklet against every 3D tracklet;
* track: a sequence's tracklets in one modality aggregated with
  ``tcfd_ros.distance.aggregate_track_embedding`` (per part, the L2-normalised mean of the L2-normalised
  tracklet embeddings), i.e. the evidence a whole track through one sensor's zone delivers. With
  ``track_tracklets`` = N > 0 only the newest N tracklets of a sequence form its track, as the
  recogniser keeps the newest ``identity.track_evidence_tracklets``: calibrate on sequences at least
  ``frames + (N - 1) * hop`` frames long to get the recogniser's decision level exactly.

Pairs of different people are impostors; pairs of the same person from *different* sequences are
genuine (the same sequence's 2D and 3D come from one synchronised walk, which a hand-off between
disjoint zones never sees, so they are left out). Each (2D, 3D) pair counts once: the distance is the
same whichever side is the probe. A threshold is the ``target_fmr`` quantile of its impostor distances;
the genuine accept rate at that threshold is reported beside it. The track level also records its curve
of thresholds over false-match rates (``tcfd_ros.open_set``), along which the recogniser moves its
decision when walking speed agrees or disagrees (``perception.walking_speed``).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from tcfd_ros.distance import aggregate_track_embedding, cross_modal_distance
from tcfd_ros.errors import DatasetError
from tcfd_ros.open_set import CURVE_FMRS, curve_points


def tracklet_windows(length: int, frames: int, hop: int) -> list[np.ndarray]:
    """Frame indices of the tracklets of a ``length``-frame sequence: ``frames`` contiguous frames every
    ``hop`` frames, the last window ending on the last frame; one window of all frames if shorter."""
    if length < 1:
        raise DatasetError(f"cannot cut tracklets from a sequence of length {length}")
    if length <= frames:
        return [np.arange(length)]
    starts = list(range(0, length - frames + 1, max(1, hop)))
    if starts[-1] != length - frames:
        starts.append(length - frames)
    return [np.arange(s, s + frames) for s in starts]


def at_fmr(genuine: np.ndarray, impostor: np.ndarray, target_fmr: float) -> dict[str, Any]:
    """Threshold at ``target_fmr`` of the impostor distances and its measured rates."""
    if genuine.size == 0 or impostor.size == 0:
        raise DatasetError(f"open-set calibration has {genuine.size} genuine and {impostor.size} impostor "
                           "pairs; it needs >= 2 held-out identities with >= 2 sequences each")
    thr = float(np.quantile(impostor, target_fmr, method="lower"))
    return {"threshold": thr, "fmr": float(np.mean(impostor <= thr)), "gar": float(np.mean(genuine <= thr)),
            "pairs": {"genuine": int(genuine.size), "impostor": int(impostor.size)}}


def _track_rows(seq: np.ndarray, s: int, track_tracklets: int) -> np.ndarray:
    """Rows of sequence ``s``'s tracklets that form its track: the newest ``track_tracklets`` (0: all)."""
    rows = np.flatnonzero(seq == s)
    return rows[-track_tracklets:] if track_tracklets > 0 else rows


def _pair_distances(tracklets_2d: np.ndarray, tracklets_3d: np.ndarray, labels: Sequence[str],
                    sequence_of: Sequence[int], track_tracklets: int = 0
                    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Genuine and impostor distances per level ('tracklet', 'track'), pairs as in the module doc."""
    labels_a, seq = np.asarray(labels), np.asarray(sequence_of)
    seqs = sorted(set(seq.tolist()))
    rows = [_track_rows(seq, s, track_tracklets) for s in seqs]
    t2 = np.stack([aggregate_track_embedding(tracklets_2d[r]) for r in rows])
    t3 = np.stack([aggregate_track_embedding(tracklets_3d[r]) for r in rows])
    seq_labels, seq_ids = np.array([labels_a[seq == s][0] for s in seqs]), np.array(seqs)
    out = {}
    for level, d, lab, sid in (("tracklet", cross_modal_distance(tracklets_2d, tracklets_3d), labels_a, seq),
                               ("track", cross_modal_distance(t2, t3), seq_labels, seq_ids)):
        same_person = lab[:, None] == lab[None, :]
        same_seq = sid[:, None] == sid[None, :]
        out[level] = (d[same_person & ~same_seq], d[~same_person])
    return out


def rates_at_thresholds(tracklets_2d: np.ndarray, tracklets_3d: np.ndarray, labels: Sequence[str],
                        sequence_of: Sequence[int], thresholds: dict[str, float | None],
                        track_tracklets: int = 0) -> dict[str, Any]:
    """Measured FMR and genuine accept rate of given thresholds ({'tracklet': t, 'track': t}) on other
    identities (e.g. a test split): how a checkpoint's calibration transfers."""
    out: dict[str, Any] = {}
    for level, (genuine, impostor) in _pair_distances(tracklets_2d, tracklets_3d, labels, sequence_of,
                                                      track_tracklets).items():
        thr = thresholds.get(level)
        if thr is None:
            continue
        out[level] = {"threshold": float(thr), "fmr": float(np.mean(impostor <= thr)),
                      "genuine_accept_rate": float(np.mean(genuine <= thr)),
                      "pairs": {"genuine": int(genuine.size), "impostor": int(impostor.size)}}
    return out


def calibrate_levels(tracklets_2d: np.ndarray, tracklets_3d: np.ndarray, labels: Sequence[str],
                     sequence_of: Sequence[int], target_fmr: float, track_tracklets: int = 0
                     ) -> dict[str, Any]:
    """Tracklet embeddings (M, p, d) of the same M tracklets in both modalities, each tracklet's person
    and sequence -> per-tracklet and per-track thresholds with their measured rates (checkpoint metadata);
    a track is the newest ``track_tracklets`` tracklets of a sequence (0: all of them)."""
    labels_a = np.asarray(labels)
    seq = np.asarray(sequence_of)
    if len(set(labels_a.tolist())) < 2:
        raise DatasetError(f"open-set calibration needs at least 2 held-out identities, got "
                           f"{len(set(labels_a.tolist()))}: raise data.val_identities")
    levels = _pair_distances(tracklets_2d, tracklets_3d, labels_a, seq, track_tracklets)
    tl = at_fmr(*levels["tracklet"], target_fmr)
    tr = at_fmr(*levels["track"], target_fmr)
    seqs = sorted(set(seq.tolist()))
    per_track = float(np.mean([len(_track_rows(seq, s, track_tracklets)) for s in seqs]))
    return {
        "open_set_threshold": tl["threshold"],
        "open_set_threshold_track": tr["threshold"],
        "open_set_fmr_curve_track": curve_points(levels["track"][1], CURVE_FMRS),
        "open_set_target_fmr": float(target_fmr),
        "open_set_measured_fmr": tl["fmr"],
        "open_set_measured_fmr_track": tr["fmr"],
        "genuine_accept_rate_tracklet": tl["gar"],
        "genuine_accept_rate_track": tr["gar"],
        "open_set_genuine_accept_rate": tl["gar"],  # the name older tools print
        "calibration_identities": int(len(set(labels_a.tolist()))),
        "calibration_pairs": tl["pairs"],
        "calibration_pairs_track": tr["pairs"],
        "calibration_tracks": len(seqs),
        "calibration_tracklets_per_track": round(per_track, 2),
    }


def calibrate_threshold(feat_2d: np.ndarray, feat_3d: np.ndarray, labels: np.ndarray, target_fmr: float
                        ) -> dict[str, Any]:
    """Whole-sequence features (N, p, d) of the same N sequences in both modalities -> one threshold
    (every cross-modal pair, same-sequence pairs included; kept for sequence-level tools)."""
    labels = np.asarray(labels)
    if len(set(labels.tolist())) < 2:
        raise DatasetError(f"open-set calibration needs at least 2 held-out identities, got "
                           f"{len(set(labels.tolist()))}: raise data.val_identities")
    d = cross_modal_distance(feat_2d, feat_3d)  # [N, N] 2D row vs 3D column; symmetric in role
    same = labels[:, None] == labels[None, :]
    genuine = np.concatenate([d[same], d.T[same]])
    impostor = np.concatenate([d[~same], d.T[~same]])
    thr = float(np.quantile(impostor, target_fmr, method="lower"))
    return {
        "open_set_threshold": thr,
        "open_set_target_fmr": float(target_fmr),
        "open_set_measured_fmr": float(np.mean(impostor <= thr)),
        "open_set_genuine_accept_rate": float(np.mean(genuine <= thr)),
        "calibration_identities": int(len(set(labels.tolist()))),
        "calibration_pairs": {"genuine": int(genuine.size), "impostor": int(impostor.size)},
    }
