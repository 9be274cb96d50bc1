"""Evaluator: hand-computed cases, same-view exclusion, empty view pairs, ties."""

import numpy as np
import pytest

from tcfd_ros.errors import DatasetError
from training.retrieval_metrics import SUSTECH1K_CONDITIONS, evaluate_cross_modal, evaluate_open


def _unit(deg):
    r = np.deg2rad(np.asarray(deg, dtype=float))
    return np.stack([np.cos(r), np.sin(r)], -1)[:, None, :].astype(np.float32)  # [n, 1 part, 2]


def _side(deg, labels, views, conds=None):
    return {"features": _unit(deg), "labels": labels, "views": views,
            "conditions": conds or ["01-nm"] * len(labels)}


# Gallery angles: C 10, A 20, D 30, E 40, A 45, F 50, B 60.
# Probe A at 0 deg ranks: C, A, D, E, A, F, B -> first hit at 2, hits at 2 and 5: AP = (1/2 + 2/5)/2.
# Probe B at 180 deg: distances grow with |180 - angle| -> B (120) first: AP = 1.
G_DEG = [10, 20, 30, 40, 45, 50, 60]
G_LAB = ["C", "A", "D", "E", "A", "F", "B"]


def test_hand_computed_rank1_rank5_map():
    probe = _side([0, 180], ["A", "B"], ["000", "000"])
    gallery = _side(G_DEG, G_LAB, ["090"] * 7, ["00-nm"] * 7)
    r = evaluate_cross_modal(probe, gallery)
    assert r["overall"]["rank1"] == pytest.approx(50.0)
    assert r["overall"]["rank5"] == pytest.approx(100.0)
    assert r["overall"]["mAP"] == pytest.approx(100 * (0.45 + 1.0) / 2)
    assert r["overall"]["num_pairs"] == 1
    assert set(r["view_pairs"]["overall"]) == {"000->090"}
    assert r["cmc"][0] == pytest.approx(50.0) and r["cmc"][1] == pytest.approx(100.0)


def test_open_protocol_minp_and_unmatched_probe():
    probe = _side([0, 180, 0], ["A", "B", "Z"], ["000"] * 3)
    gallery = _side(G_DEG, G_LAB, ["000"] * 7)
    r = evaluate_open(probe, gallery)
    assert r["num_probes"] == 2 and r["num_probes_without_match"] == 1
    assert r["rank1"] == pytest.approx(50.0)
    assert r["mAP"] == pytest.approx(100 * (0.45 + 1.0) / 2)
    assert r["mINP"] == pytest.approx(100 * (2 / 5 + 1.0) / 2)


def test_same_view_pairs_are_excluded():
    # The same-view gallery entry of the right identity is a perfect match; the other view's is not.
    probe = _side([0], ["A"], ["000"])
    gallery = _side([0, 10, 20], ["A", "B", "A"], ["000", "090", "090"])
    excl = evaluate_cross_modal(probe, gallery, exclude_same_view=True)
    assert set(excl["view_pairs"]["overall"]) == {"000->090"}
    assert excl["overall"]["rank1"] == 0.0 and excl["overall"]["rank5"] == 100.0
    incl = evaluate_cross_modal(probe, gallery, exclude_same_view=False)
    assert incl["overall"]["num_pairs"] == 2
    assert incl["view_pairs"]["overall"]["000->000"]["rank1"] == 100.0
    assert incl["overall"]["rank1"] == pytest.approx(50.0)


def test_empty_view_pairs_are_skipped_not_counted_as_zero():
    # 'bg' probes exist only in view 000; pairs 090->* are empty for 'bg' and must not dilute its mean.
    probe = _side([0, 0, 0], ["A", "A", "A"], ["000", "090", "000"], ["01-nm", "01-nm", "01-bg"])
    gallery = _side([0, 0, 180], ["A", "A", "B"], ["000", "090", "180"], ["00-nm"] * 3)
    r = evaluate_cross_modal(probe, gallery, condition_groups=SUSTECH1K_CONDITIONS)
    bg = r["conditions"]["bag"]
    assert bg["num_pairs"] == 2 and set(r["view_pairs"]["bag"]) == {"000->090", "000->180"}
    # 000->090 contains A (hit), 000->180 holds only B: a miss -> 50 % averaged over the 2 pairs.
    assert bg["rank1"] == pytest.approx(50.0)
    assert r["conditions"]["clothing"]["num_pairs"] == 0
    assert np.isnan(r["conditions"]["clothing"]["rank1"])
    assert r["overall"]["num_pairs"] == 4  # 000->090, 000->180, 090->000, 090->180


def test_ties_are_pessimistic_and_order_independent():
    probe = _side([0], ["A"], ["000"])
    for labels in (["A", "B"], ["B", "A"]):
        gallery = _side([30, 30], labels, ["090", "090"])
        r = evaluate_cross_modal(probe, gallery)
        assert r["overall"]["rank1"] == 0.0
        assert r["overall"]["mAP"] == pytest.approx(50.0)


def test_bad_input_names_the_field():
    probe = _side([0], ["A"], ["000"])
    with pytest.raises(DatasetError, match="gallery.labels"):
        evaluate_cross_modal(probe, {**_side([0, 1], ["A", "B"], ["1", "2"]), "labels": ["A"]})
    with pytest.raises(DatasetError, match="missing key"):
        evaluate_cross_modal({"features": probe["features"]}, probe)
