"""Open-set calibration per tracklet and per track (training/calibrate.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tcfd_ros.distance import aggregate_track_embedding, cross_modal_distance
from tcfd_ros.errors import DatasetError
from training.calibrate import calibrate_levels, tracklet_windows


def test_tracklet_windows_cover_the_sequence_like_the_tracklet_buffer():
    w = tracklet_windows(20, 10, 5)
    assert [x.tolist()[0] for x in w] == [0, 5, 10] and all(len(x) == 10 for x in w)
    assert tracklet_windows(22, 10, 5)[-1].tolist() == list(range(12, 22))  # the last frames are used
    assert tracklet_windows(7, 10, 5)[0].tolist() == list(range(7))  # short: one tracklet of all
    with pytest.raises(DatasetError):
        tracklet_windows(0, 10, 5)


def _synthetic(rng, people=6, seqs=3, per_track=3, noise=0.9, d=8, parts=2):
    """Per person a direction; each tracklet = direction + noise, per sequence an extra offset."""
    base = rng.normal(size=(people, parts, d))
    f2, f3, labels, seq_of = [], [], [], []
    for p in range(people):
        for s in range(seqs):
            off = 0.3 * rng.normal(size=(parts, d))
            for _ in range(per_track):
                f2.append(base[p] + off + noise * rng.normal(size=(parts, d)))
                f3.append(base[p] + off + noise * rng.normal(size=(parts, d)))
                labels.append(f"{p:04d}")
                seq_of.append(p * seqs + s)
    return np.array(f2, np.float32), np.array(f3, np.float32), labels, seq_of


def test_track_level_is_calibrated_on_aggregated_tracklets_and_accepts_more():
    rng = np.random.default_rng(4)
    f2, f3, labels, seq_of = _synthetic(rng)
    r = calibrate_levels(f2, f3, labels, seq_of, target_fmr=0.05)
    assert r["calibration_tracks"] == 18 and r["calibration_tracklets_per_track"] == 3.0
    # tracklet pairs: 54 x 54 minus same-sequence pairs for genuine; impostors = other people
    assert r["calibration_pairs"] == {"genuine": 6 * 9 * 9 - 18 * 9, "impostor": 54 * 54 - 6 * 81}
    assert r["calibration_pairs_track"] == {"genuine": 6 * 3 * 2, "impostor": 18 * 18 - 6 * 9}
    n_imp = r["calibration_pairs"]["impostor"], r["calibration_pairs_track"]["impostor"]
    assert r["open_set_measured_fmr"] <= 0.05 + 1 / n_imp[0]
    assert r["open_set_measured_fmr_track"] <= 0.05 + 1 / n_imp[1]
    # averaging tracklets removes their noise: the track level separates people better
    assert r["genuine_accept_rate_track"] > r["genuine_accept_rate_tracklet"]
    # the track threshold is a quantile of distances between aggregate_track_embedding outputs
    seqs = sorted(set(seq_of))
    idx = np.array(seq_of)
    t2 = np.stack([aggregate_track_embedding(f2[idx == s]) for s in seqs])
    t3 = np.stack([aggregate_track_embedding(f3[idx == s]) for s in seqs])
    d = cross_modal_distance(t2, t3)
    person = np.array([labels[seq_of.index(s)] for s in seqs])
    impostor = d[person[:, None] != person[None, :]]
    assert r["open_set_threshold_track"] == pytest.approx(float(np.quantile(impostor, 0.05, method="lower")))
    # the curve of thresholds over rates: only the rates its 270 impostor pairs resolve, rising
    curve = r["open_set_fmr_curve_track"]
    assert [f for f, _ in curve] == [0.01, 0.03, 0.1]
    assert curve[1][1] == pytest.approx(float(np.quantile(impostor, 0.03, method="lower")))
    assert curve[0][1] < curve[1][1] < curve[2][1]


def test_calibration_needs_two_people():
    rng = np.random.default_rng(0)
    f2, f3, labels, seq_of = _synthetic(rng, people=1)
    with pytest.raises(DatasetError, match="2 held-out"):
        calibrate_levels(f2, f3, labels, seq_of, 0.01)


def test_a_track_can_be_the_newest_tracklets_as_the_recognizer_keeps_them():
    rng = np.random.default_rng(5)
    f2, f3, labels, seq_of = _synthetic(rng, per_track=4)
    r = calibrate_levels(f2, f3, labels, seq_of, target_fmr=0.05, track_tracklets=2)
    assert r["calibration_tracklets_per_track"] == 2.0
    idx = np.array(seq_of)
    seqs = sorted(set(seq_of))
    t2 = np.stack([aggregate_track_embedding(f2[np.flatnonzero(idx == s)[-2:]]) for s in seqs])
    t3 = np.stack([aggregate_track_embedding(f3[np.flatnonzero(idx == s)[-2:]]) for s in seqs])
    person = np.array([labels[seq_of.index(s)] for s in seqs])
    impostor = cross_modal_distance(t2, t3)[person[:, None] != person[None, :]]
    assert r["open_set_threshold_track"] == pytest.approx(float(np.quantile(impostor, 0.05, method="lower")))
    # the curve of thresholds over rates: only the rates its 270 impostor pairs resolve, rising
    curve = r["open_set_fmr_curve_track"]
    assert [f for f, _ in curve] == [0.01, 0.03, 0.1]
    assert curve[1][1] == pytest.approx(float(np.quantile(impostor, 0.03, method="lower")))
    assert curve[0][1] < curve[1][1] < curve[2][1]
    whole = calibrate_levels(f2, f3, labels, seq_of, 0.05)
    assert r["open_set_threshold_track"] != whole["open_set_threshold_track"]
