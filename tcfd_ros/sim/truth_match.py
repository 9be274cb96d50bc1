"""Counting a segmenter's output against the simulator's ground truth, for its tests and benchmarks.

A detectable person is found when some output centre lies within ``radius`` of theirs; an output centre
near no person at all (visible or not) is a false positive. Both counts use the same radius, so a
person standing next to a phantom cannot hide it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def detection_counts(centres: Sequence[np.ndarray], truth: Sequence[np.ndarray], detectable: Sequence[bool],
                     radius: float) -> tuple[int, int, int]:
    """(found, detectable, false positives) of one frame; ``truth`` and ``detectable`` are per person."""
    found = total = 0
    for g, is_detectable in zip(truth, detectable):
        if is_detectable:
            total += 1
            found += any(np.hypot(*(c - g)) < radius for c in centres)
    false = sum(not any(np.hypot(*(c - g)) < radius for g in truth) for c in centres)
    return found, total, int(false)
