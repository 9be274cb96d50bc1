"""Walkers: identities from human ranges, a gait cycle with alternating legs, condition accessories."""

from __future__ import annotations

import numpy as np
import pytest

from tcfd_ros.errors import ConfigError
from tcfd_ros.sim import body as B
from tcfd_ros.sim.person import sample_identity, sample_variation


def test_identities_are_deterministic_distinct_and_human():
    a, a2, b = sample_identity(4, 0), sample_identity(4, 0), sample_identity(5, 0)
    assert a.height_m == a2.height_m and np.array_equal(a.harmonics, a2.harmonics)
    assert a.height_m != b.height_m
    ids = [sample_identity(i, 1) for i in range(200)]
    heights = np.array([i.height_m for i in ids])
    assert 1.6 < heights.mean() < 1.78 and 0.05 < heights.std() < 0.12
    speeds = np.array([i.speed_mps for i in ids])
    assert 1.0 < speeds.mean() < 1.6            # normal adult walking speed
    assert len({round(i.cadence_hz, 6) for i in ids}) == 200


def test_body_has_fifteen_plus_segments_feet_on_ground_and_identity_height():
    ident = sample_identity(2, 0)
    var = sample_variation(ident, "nm", 0, 1)
    seq = B.pose_sequence(ident, var, np.arange(40) / 20.0)
    for i in range(seq.n_frames):
        f = seq.frame(i)
        n_prims = len(f.cap_r) + len(f.ell_s) + len(f.box_h)
        assert n_prims >= 15
        lo, hi = f.aabb()
        assert abs(lo[2]) < 0.02                        # a foot touches the ground every frame
        assert 0.9 * ident.height_m < hi[2] < 1.06 * ident.height_m   # stature plus gait bounce


def test_gait_cycle_alternates_legs_and_progresses_at_walking_speed():
    ident = sample_identity(7, 0)
    var = sample_variation(ident, "nm", 0, 2)
    t = np.arange(0, 2.0 / ident.cadence_hz, 0.01)
    seq = B.pose_sequence(ident, var, t)
    feet = np.array([[seq.frame(i).box_c[k][0] for k in range(2)] for i in range(seq.n_frames)])
    diff = feet[:, 0] - feet[:, 1]
    assert diff.max() > 0.3 and diff.min() < -0.3        # left foot ahead, then right foot ahead
    crossings = np.count_nonzero(np.diff(np.sign(diff)) != 0)
    assert 3 <= crossings <= 5                            # two steps per cycle, two cycles
    speed = seq.distance_m[-1] / t[-1]
    assert speed == pytest.approx(ident.speed_mps * var.speed_factor, rel=0.1)


@pytest.mark.parametrize("cond,part", [("bg", B.BAG), ("cl", B.COAT), ("cr", B.CARRIED),
                                       ("ub", B.UMBRELLA_CANOPY)])
def test_conditions_add_their_accessory(cond, part):
    ident = sample_identity(1, 0)
    f = B.pose_sequence(ident, sample_variation(ident, cond, 0, 3), np.zeros(1)).frame(0)
    parts = set(f.cap_part) | set(f.ell_part) | set(f.box_part)
    assert part in parts
    plain = B.pose_sequence(ident, sample_variation(ident, "nm", 0, 3), np.zeros(1)).frame(0)
    assert part not in set(plain.cap_part) | set(plain.ell_part) | set(plain.box_part)


def test_colours_vary_per_sequence_not_per_identity():
    ident = sample_identity(3, 0)
    c1 = B.part_colours(sample_variation(ident, "nm", 0, 1))
    c2 = B.part_colours(sample_variation(ident, "nm", 0, 2))
    assert not np.allclose(c1[B.CHEST], c2[B.CHEST])


def test_unknown_condition_raises():
    with pytest.raises(ConfigError, match="condition 'xx'"):
        sample_variation(sample_identity(0, 0), "xx", 0, 0)
