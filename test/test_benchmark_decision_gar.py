"""``benchmarks/decision_gar.py``'s likelihood-ratio combination (``--fit-on``): the exponent and scores."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("decision_gar", REPO / "benchmarks" / "decision_gar.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["decision_gar"] = mod            # its dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def _pairs(mod, rng: np.random.Generator, n_gen: int = 200, n_imp: int = 2000):
    """Gait and cues, each informative on its own and independent of the other."""
    genuine = np.r_[np.ones(n_gen, bool), np.zeros(n_imp, bool)]
    gait = np.exp(np.where(genuine, rng.normal(-4.6, 0.5, genuine.size), rng.normal(-3.6, 0.6, genuine.size)))
    cues = -np.where(genuine, rng.normal(1.0, 1.0, genuine.size), rng.normal(-1.0, 1.0, genuine.size))
    eligible = np.ones(genuine.size, bool)
    return mod.PairScores(genuine, gait, gait, eligible, cues, gait, 0.01)


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
