"""SensorPlacement.wait_for_pose waits (``calibration.pose_wait_s``) for a platform pose that is still on its
way, and stops waiting for one that does not come (perception/ground.py, tcfd_ros/stream_wait.py)."""

from __future__ import annotations

import threading
import time

import pytest

from tcfd_ros.geometry.calibration import RigidTransform
from tcfd_ros.perception.calibration_config import CalibrationConfig
from tcfd_ros.perception.ground import NoTransform, SensorPlacement
from tcfd_ros.stream_wait import MISSES_BEFORE_NO_WAIT


def _placement(wait_s: float) -> SensorPlacement:
    return SensorPlacement(CalibrationConfig(source="params", parent_frame="base_link", pose_wait_s=wait_s))


def _at(x: float) -> RigidTransform:
    return RigidTransform.from_xyz_rpy((x, 0.0, 0.0), (0.0, 0.0, 0.0))


def _placed(p: SensorPlacement, stamp_s: float) -> float:
    """What a node does: wait (outside its state lock), then look the pose up."""
    p.wait_for_pose(stamp_s)
    return float(p.fixed_from_sensor("lidar", stamp_s).t[0])


def test_a_lookup_ahead_of_the_poses_waits_for_its_pose():
    p = _placement(1.0)
    p.add_pose("map", "base_link", 10.0, _at(0.0))
    later = threading.Timer(0.1, lambda: p.add_pose("map", "base_link", 10.1, _at(5.0)))
    later.start()
    t0 = time.monotonic()
    assert _placed(p, 10.1) == pytest.approx(5.0)       # its own pose, not the one held from 0.1 s before
    assert 0.05 < time.monotonic() - t0 < 0.9
    later.join()
    assert p.pose_waits_in_vain == 0


def test_a_pose_that_never_comes_is_waited_for_a_few_times_then_no_more():
    p = _placement(0.1)
    p.add_pose("map", "base_link", 10.0, _at(0.0))
    for k in range(MISSES_BEFORE_NO_WAIT):
        t0 = time.monotonic()
        assert _placed(p, 10.05) == pytest.approx(0.0)   # then held within 0.1 s
        assert time.monotonic() - t0 >= 0.09
    assert p.pose_waits_in_vain == MISSES_BEFORE_NO_WAIT
    t0 = time.monotonic()
    with pytest.raises(NoTransform, match="outside the buffered poses"):
        _placed(p, 12.0)
    assert time.monotonic() - t0 < 0.05                 # three in vain: no more waiting
    p.add_pose("map", "base_link", 10.8, _at(1.0))
    assert _placed(p, 10.4) == pytest.approx(0.5)       # in time again
    later = threading.Timer(0.05, lambda: p.add_pose("map", "base_link", 10.9, _at(2.0)))
    later.start()
    assert _placed(p, 10.9) == pytest.approx(2.0)       # so it waits again
    later.join()


def test_no_wait_when_turned_off_or_on_a_fixed_mount():
    p = _placement(0.0)
    p.add_pose("map", "base_link", 10.0, _at(0.0))
    t0 = time.monotonic()
    assert _placed(p, 10.05) == pytest.approx(0.0)
    assert time.monotonic() - t0 < 0.05
    fixed = SensorPlacement(CalibrationConfig(source="params", parent_frame="map", pose_wait_s=1.0))
    t0 = time.monotonic()
    assert fixed.wait_for_pose(10.0) is True and time.monotonic() - t0 < 0.05
