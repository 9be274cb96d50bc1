"""``benchmarks/decision_gar.py``: the likelihood-ratio combination (``--fit-on``), its exponent and scores;
the decision's accepts per set of cues a pair compares."""

from __future__ import annotations


import numpy as np

from benchmark_modules import load_benchmark


def _module():
    return load_benchmark("decision_gar")


def _pairs(mod, rng: np.random.Generator, n_gen: int = 200, n_imp: int = 2000):
    """Gait and cues, each informative on its own and independent of the other."""
    genuine = np.r_[np.ones(n_gen, bool), np.zeros(n_imp, bool)]
    gait = np.exp(np.where(genuine, rng.normal(-4.6, 0.5, genuine.size), rng.normal(-3.6, 0.6, genuine.size)))
    cues = -np.where(genuine, rng.normal(1.0, 1.0, genuine.size), rng.normal(-1.0, 1.0, genuine.size))
    eligible = np.ones(genuine.size, bool)
    shared = np.array(["speed+stature"] * genuine.size, dtype=object)
    return mod.PairScores(genuine, gait, gait, eligible, cues, gait, shared, 0.01)


def test_the_combination_weighs_both_sources_and_beats_each_alone() -> None:
    mod = _module()
    rng = np.random.default_rng(0)
    w = mod.fit_combination(_pairs(mod, rng))
    assert w.exponent > 0                        # a higher cue ratio: more alike at one gait distance
    test = _pairs(mod, rng)
    comb = mod.gar_at(mod.combination_scores(test, w), test.genuine, test.eligible, 0.01)
    gait = mod.gar_at(test.gait, test.genuine, test.eligible, 0.01)
    cues = mod.gar_at(test.cues, test.genuine, test.eligible, 0.01)
    assert comb > max(gait, cues) + 0.05
    s = mod.summary(test, w)
    assert s["lr_combination"]["gar_at_0.01"] == round(comb, 3)
    assert "lr_combination" not in mod.summary(test)


def test_accepts_per_set_of_shared_cues_use_the_threshold_over_all_impostors() -> None:
    mod = _module()
    assert mod.shared_cues({"speed": 1.2, "stature": 1.7}, {"stature": 1.8, "speed": 1.3}) == "speed+stature"
    assert mod.shared_cues({"speed": 1.2}, {"stature": 1.8, "speed": 1.3}) == "speed"
    assert mod.shared_cues({}, {"speed": 1.3}) == "none"
    # 200 impostors scoring 1..200: at 1 % the threshold is the 2nd lowest, 2.0
    imp = np.arange(1.0, 201.0)
    gen = np.array([0.5, 1.5, 3.0, 0.1, 2.5, 0.2])
    decision = np.r_[gen, imp]
    genuine = np.r_[np.ones(gen.size, bool), np.zeros(imp.size, bool)]
    eligible = np.r_[[True, True, True, False, True, True], np.ones(imp.size, bool)]
    shared = np.array(["speed+stature"] * 3 + ["speed"] * 3 + ["speed"] * 100 + ["speed+stature"] * 100,
                      dtype=object)
    p = mod.PairScores(genuine, decision, decision, eligible, decision, decision, shared, 1.0)
    out = mod.by_shared_cues(p)
    assert out["speed+stature"] == {"genuine_eligible": 3, "accepted_at_0.01": 2, "impostor_pairs": 100}
    # the ineligible genuine pair (0.1) is neither counted nor accepted; 2.5 is over the threshold
    assert out["speed"] == {"genuine_eligible": 2, "accepted_at_0.01": 1, "impostor_pairs": 100}
    assert mod.summary(p)["decision_by_shared_cues"] == out
