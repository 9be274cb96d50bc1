"""/clock is thinned to one message per period of bag time: every node of the graph receives each one."""

from __future__ import annotations

import pytest

from tcfd_ros.replay.sim_clock import CLOCK_PERIOD_NS, ClockThinner


def test_first_stamp_then_one_per_period_never_backwards():
    c = ClockThinner(50)
    stamps = [0, 0, 10, 49, 50, 51, 99, 100, 100, 250, 240]
    assert [s for s in stamps if c.due(s)] == [0, 50, 100, 250]


def test_a_bag_of_cameras_and_lidar_gets_5_hz_of_clock():
    """15 Hz images + their camera_info + 10 Hz clouds: 40 messages per bag-second, 5 /clock."""
    ns = 1_000_000_000
    stamps = sorted([k * ns // 15 for k in range(150)] * 2 + [k * ns // 10 for k in range(100)])
    c = ClockThinner()
    published = [s for s in stamps if c.due(s)]
    assert len(stamps) == 400 and 40 <= len(published) <= 50
    assert all(b - a >= CLOCK_PERIOD_NS for a, b in zip(published, published[1:]))
    assert max(b - a for a, b in zip(published, published[1:])) < 2 * CLOCK_PERIOD_NS


def test_zero_period_publishes_every_new_stamp_and_negative_is_refused():
    c = ClockThinner(0)
    assert [s for s in (5, 5, 6, 6, 7) if c.due(s)] == [5, 6, 7]
    with pytest.raises(ValueError):
        ClockThinner(-1)
