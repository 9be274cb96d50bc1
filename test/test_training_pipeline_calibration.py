"""``training/pipeline_calibration.py``: the track threshold at a false-match rate of replayed bags' pairs.
(The whole path, ``tcfd-ros calibrate`` on a replay, is in ``test_replay_outputs.py``.)"""

from __future__ import annotations

import numpy as np
import pytest

from tcfd_ros.errors import DatasetError
from tcfd_ros.open_set import FmrCurve
from training.pipeline_calibration import TrackPairs, pipeline_calibration


def _pairs(name: str, genuine: list[float], impostor: list[float]) -> TrackPairs:
    same = np.array([True] * len(genuine) + [False] * len(impostor))
    return TrackPairs(name, np.array(genuine + impostor), same)


def test_threshold_is_the_impostor_quantile_over_all_replays_with_its_rates() -> None:
    rng = np.random.default_rng(0)
    a = _pairs("a", [0.01, 0.02], list(rng.uniform(0.03, 0.1, 150)))
    b = _pairs("b", [0.05], list(rng.uniform(0.02, 0.1, 150)))
    meta = pipeline_calibration([a, b], target_fmr=0.01)
    imp = np.concatenate([a.distance[~a.genuine], b.distance[~b.genuine]])
    assert meta["open_set_threshold_track"] == np.sort(imp)[2]        # the 3rd of 300: 1 %
    assert meta["open_set_measured_fmr_track"] == pytest.approx(3 / 300)
    assert meta["genuine_accept_rate_track"] == pytest.approx(2 / 3)
    assert meta["calibration_pairs_track"] == [3, 300] and meta["calibration_replays"] == ["a", "b"]
    curve = FmrCurve.from_metadata(meta["open_set_fmr_curve_track"])
    assert curve is not None and curve.fmr[0] == 0.01                  # 0.1 % is not resolved by 300
    assert curve.threshold_at(0.01) == meta["open_set_threshold_track"]


def test_too_few_pairs_for_the_rate_are_refused_in_one_line() -> None:
    with pytest.raises(DatasetError, match="cannot resolve a false-match rate of 0.01"):
        pipeline_calibration([_pairs("a", [0.01], [0.05] * 50)], target_fmr=0.01)
    with pytest.raises(DatasetError, match="add replays"):
        pipeline_calibration([], target_fmr=0.1)
