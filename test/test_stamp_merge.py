"""StampMerge: inputs of several sensors leave in stamp order, whatever order they arrived in."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcfd_ros.errors import ConfigError
from tcfd_ros.stamp_merge import POSITIONS, TRACKLET, StampedInput, StampMerge


def _stream(frames: int = 20) -> list[StampedInput]:
    """Two sensors at 10 Hz, offset by 0.03 s; every third frame of each also gives a tracklet."""
    out = []
    for k in range(frames):
        for sensor, offset in (("camera", 0.0), ("lidar", 0.03)):
            t = round(k * 0.1 + offset, 6)
            out.append(StampedInput(t, POSITIONS, sensor, f"{sensor}@{t}"))
            if k % 3 == 2:
                out.append(StampedInput(t, TRACKLET, sensor, f"tracklet {sensor}@{t}"))
    return out


def _run(arrivals: list[StampedInput], merge: StampMerge, end_s: float = 100.0) -> list[str]:
    out = []
    for i, item in enumerate(arrivals):
        merge.add(item, now=i * 1e-3)              # all within the wait: only the watermark releases
        out += [r.payload for r in merge.release(now=i * 1e-3)]
    out += [r.payload for r in merge.release(now=end_s)]  # the streams ended: the wait runs out
    return out


def _sorted_payloads(items: list[StampedInput]) -> list[str]:
    return [i.payload for i in sorted(items, key=lambda i: (i.stamp_s, i.kind, i.sensor))]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_arrival_order_within_the_window_leaves_in_stamp_order(data):
    """Once each sensor has published (a sensor is waited for from its first frame on), each sensor's
    own inputs arriving in order (one publisher), interleaved with the other's however DDS and the
    pipelines deliver them, the camera up to 0.5 s late: the output is the same stamp order."""
    items = _stream()
    queues = {s: [i for i in items if i.sensor == s] for s in ("camera", "lidar")}
    arrivals: list[StampedInput] = [queues["camera"].pop(0), queues["lidar"].pop(0)]
    while any(queues.values()):
        lag = min((q[0].stamp_s for q in queues.values() if q), default=0.0)
        choices = [s for s, q in queues.items() if q and q[0].stamp_s - lag < 0.5]
        sensor = data.draw(st.sampled_from(sorted(choices)))
        arrivals.append(queues[sensor].pop(0))
    merge = StampMerge(window_s=1.0, max_wait_s=0.5)
    assert _run(arrivals, merge) == _sorted_payloads(items)
    # only the leading sensor's last frame (positions and a tracklet) waited for the end of the streams
    assert merge.late == 0 and merge.forced <= 2 and len(merge) == 0


def test_a_frame_positions_leave_before_its_tracklets_and_nothing_passes_a_lagging_sensor():
    merge = StampMerge(window_s=1.0, max_wait_s=0.5)
    merge.add(StampedInput(1.0, POSITIONS, "camera", "c1"), now=0.0)
    merge.add(StampedInput(1.05, TRACKLET, "lidar", "tl"), now=0.0)
    merge.add(StampedInput(1.05, POSITIONS, "lidar", "l1"), now=0.0)
    assert [i.payload for i in merge.release(now=0.0)] == ["c1"]          # the camera is still at 1.0
    assert merge.held(TRACKLET) == 1 and merge.held(POSITIONS) == 1
    assert merge.next_due(now=0.2) == pytest.approx(0.3)
    merge.add(StampedInput(1.1, POSITIONS, "camera", "c2"), now=0.1)
    assert [i.payload for i in merge.release(now=0.1)] == ["l1", "tl"]    # positions first at one stamp
    assert merge.next_due(now=0.1) == pytest.approx(0.5)                  # c2 waits for the LiDAR


def test_a_stalled_sensor_is_not_waited_for_beyond_the_window_and_its_late_input_leaves_at_once():
    merge = StampMerge(window_s=1.0, max_wait_s=10.0)
    merge.add(StampedInput(5.0, POSITIONS, "camera", "c"), now=0.0)
    held = []
    for k in range(15):        # the LiDAR runs on; the camera stopped at 5.0
        t = round(5.1 + 0.1 * k, 1)
        merge.add(StampedInput(t, POSITIONS, "lidar", t), now=0.0)
        out = [i.payload for i in merge.release(now=0.0)]
        held.append((t, len(merge), out))
    # the camera's frame left at once; the LiDAR's were held while the camera was at most 1 s behind
    assert held[0][2] == ["c"] and [n for t, n, _ in held if t <= 6.0] == list(range(1, 11))
    assert held[10][2] == [round(5.1 + 0.1 * k, 1) for k in range(11)] and held[11][2] == [6.2]
    merge.add(StampedInput(5.5, TRACKLET, "camera", "late"), now=0.0)
    assert [i.payload for i in merge.release(now=0.0)] == ["late"] and merge.late == 1


def test_the_wait_runs_out_in_wall_time_and_a_clock_reset_starts_a_new_time_line():
    merge = StampMerge(window_s=1.0, max_wait_s=0.5, reset_backward_s=5.0)
    merge.add(StampedInput(100.0, POSITIONS, "camera", "c"), now=0.0)
    merge.add(StampedInput(100.2, TRACKLET, "lidar", "t"), now=0.0)
    merge.add(StampedInput(100.2, POSITIONS, "lidar", "l"), now=0.0)
    assert [i.payload for i in merge.release(now=0.4)] == ["c"]
    assert [i.payload for i in merge.release(now=0.5)] == ["l", "t"] and merge.forced == 2
    merge.add(StampedInput(100.3, POSITIONS, "camera", "c2"), now=1.0)      # waits for the LiDAR
    assert merge.release(now=1.0) == [] and len(merge) == 1
    merge.add(StampedInput(1.0, POSITIONS, "lidar", "restart"), now=1.1)   # the bag started again
    assert [i.payload for i in merge.release(now=1.1)] == ["c2", "restart"]
    assert merge.late == 0 and merge.watermark() == 1.0


def test_no_wait_means_decide_as_inputs_arrive_and_bad_settings_fail_in_one_line():
    merge = StampMerge(window_s=1.0, max_wait_s=0.0)
    merge.add(StampedInput(2.0, POSITIONS, "camera", "c"), now=0.0)
    merge.add(StampedInput(3.0, TRACKLET, "lidar", "t"), now=0.0)
    assert [i.payload for i in merge.release(now=0.0)] == ["c", "t"]
    with pytest.raises(ConfigError, match="expected finite values >= 0"):
        StampMerge(window_s=-1.0, max_wait_s=0.5)
    with pytest.raises(ValueError, match="expected finite seconds"):
        merge.add(StampedInput(math.nan, TRACKLET, "lidar", "t"), now=0.0)
