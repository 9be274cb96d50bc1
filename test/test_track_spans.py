"""When and where each track was seen (perception.track_spans): overlap of two tracks, the speed between
one's end and the other's start (or, seen at once, between their places), memory bound."""

from __future__ import annotations

import pytest

from tcfd_ros.perception import track_spans
from tcfd_ros.perception.track_spans import TrackSpans


def test_overlap_is_the_time_both_tracks_were_seen():
    s = TrackSpans()
    s.add(("lidar", 1), 0.0, 2.0)
    s.add(("lidar", 1), 1.0, 6.0)            # tracklets overlap each other: the span is their union
    s.add(("lidar", 2), 4.5, 9.0)
    s.add(("lidar", 3), 7.0, 8.0)
    assert s.overlap_s(("lidar", 1), ("lidar", 2)) == pytest.approx(1.5)
    assert s.overlap_s(("lidar", 2), ("lidar", 1)) == pytest.approx(1.5)
    assert s.overlap_s(("lidar", 1), ("lidar", 3)) == 0.0          # one after the other
    assert s.overlap_s(("lidar", 1), ("lidar", 99)) == 0.0         # unknown


def test_spans_are_kept_for_a_bounded_number_of_tracks(monkeypatch):
    monkeypatch.setattr(track_spans, "MAX_TRACKS", 3)
    s = TrackSpans()
    for k in range(5):
        s.add(("camera", k), float(k), float(k) + 1.0)
    s.add(("camera", 2), 2.0, 9.0)           # extended last: kept longest
    assert ("camera", 0) not in s and ("camera", 1) not in s and ("camera", 2) in s


def test_required_speed_is_the_gap_between_one_tracks_end_and_the_others_start_over_the_time_between():
    s = TrackSpans()
    for t, x in ((0.0, 0.0), (2.0, 2.0), (4.0, 4.0)):
        s.place(("lidar", 1), t, "map", (x, 0.0, 0.0), 0.0)       # ends at x = 4 m, 4 s
    s.place(("camera", 5), 9.0, "map", (24.0, 0.0, 0.0), 0.0)     # starts 20 m on, 5 s later
    s.place(("camera", 5), 12.0, "map", (30.0, 0.0, 0.0), 0.0)
    assert s.required_speed_mps(("lidar", 1), ("camera", 5)) == pytest.approx(4.0)
    assert s.required_speed_mps(("camera", 5), ("lidar", 1)) == pytest.approx(4.0)   # either order
    s.place(("camera", 6), 9.0, "map", (24.0, 0.0, 0.0), 2.5)      # 2 x 2.5 m of sigma off 20 m
    assert s.required_speed_mps(("lidar", 1), ("camera", 6)) == pytest.approx(3.0)


def test_no_required_speed_for_tracks_unplaced_in_other_frames_or_seen_at_once_too_briefly():
    s = TrackSpans()
    s.place(("lidar", 1), 0.0, "map", (0.0, 0.0), 0.1)
    s.place(("lidar", 1), 1.5, "map", (1.5, 0.0), 0.1)
    s.place(("camera", 2), 1.0, "map", (30.0, 0.0), 0.1)            # seen while track 1 was, 1.5 s at most
    s.place(("camera", 3), 6.0, "odom", (30.0, 0.0), 0.1)
    s.place(("camera", 4), 1.5, "map", (30.0, 0.0), 0.1)            # the same stamp as 1's end
    s.place(("camera", 5), 2.5, "map", (1.8, 0.0), 0.2)             # within the sigmas: no distance
    s.place(("camera", 9), 7.0, "map", (float("nan"), 0.0), 0.1)    # ignored
    assert s.required_speed_mps(("lidar", 1), ("camera", 2)) is None
    assert s.required_speed_mps(("lidar", 1), ("camera", 3)) is None
    assert s.required_speed_mps(("lidar", 1), ("camera", 4)) is None
    assert s.required_speed_mps(("lidar", 1), ("camera", 9)) is None
    assert s.required_speed_mps(("lidar", 1), ("camera", 5)) == 0.0


def test_tracks_seen_at_once_far_apart_need_the_speed_of_their_places_two_seconds_or_more_apart():
    # the LiDAR saw one walker for 4.5 s, 30 m from where the camera saw another at the same time
    s = TrackSpans()
    s.place(("lidar", 1), 5.4, "map", (7.5, -9.8), 0.1)
    s.place(("lidar", 1), 9.9, "map", (9.6, -4.9), 0.1)
    s.place(("camera", 1), 7.3, "map", (37.5, -5.8), 0.25)
    s.place(("camera", 1), 20.4, "map", (38.2, 6.0), 0.25)
    places = {"l0": (5.4, 7.5, -9.8), "l1": (9.9, 9.6, -4.9),
              "c0": (7.3, 37.5, -5.8), "c1": (20.4, 38.2, 6.0)}
    sig = 2.0 * (0.1 ** 2 + 0.25 ** 2) ** 0.5

    def need(p, q):
        (tp, xp, yp), (tq, xq, yq) = places[p], places[q]
        return (((xq - xp) ** 2 + (yq - yp) ** 2) ** 0.5 - sig) / abs(tq - tp)

    # LiDAR first -> camera first is 1.9 s: too brief to count; LiDAR end -> camera first asks the most
    expected = max(need("l1", "c0"), need("l0", "c1"), need("l1", "c1"))
    assert expected == pytest.approx(need("l1", "c0")) and expected > 10.0
    assert s.required_speed_mps(("lidar", 1), ("camera", 1)) == pytest.approx(expected)
    assert s.required_speed_mps(("camera", 1), ("lidar", 1)) == pytest.approx(expected)
    # the same person seen by both at once, walking 1.4 m/s with the sensors 0.5 m apart: a walking speed
    s.place(("camera", 7), 5.5, "map", (8.0, -9.8), 0.25)
    s.place(("camera", 7), 9.8, "map", (13.5, -9.8), 0.25)
    s.place(("lidar", 8), 5.4, "map", (7.5, -9.8), 0.1)
    s.place(("lidar", 8), 9.9, "map", (13.6, -9.8), 0.1)
    assert s.required_speed_mps(("camera", 7), ("lidar", 8)) < 2.0


def test_places_are_kept_for_a_bounded_number_of_tracks(monkeypatch):
    monkeypatch.setattr(track_spans, "MAX_TRACKS", 2)
    s = TrackSpans()
    for k in range(3):
        s.place(("camera", k), float(k), "map", (0.0, 0.0), 0.1)
    s.place(("lidar", 7), 10.0, "map", (100.0, 0.0), 0.1)
    assert s.required_speed_mps(("camera", 0), ("lidar", 7)) is None      # forgotten
    assert s.required_speed_mps(("camera", 2), ("lidar", 7)) == pytest.approx((100 - 0.2 * 2 ** 0.5) / 8)


def test_a_continuation_misses_by_how_far_the_later_track_began_from_where_either_walk_led():
    s = TrackSpans()
    s.place(("lidar", 1), 0.0, "map", (0.0, 0.0), 0.0)
    s.place(("lidar", 1), 4.0, "map", (4.0, 0.0), 0.0)            # 1 m/s along x, ends at x 4 at 4 s
    s.place(("lidar", 2), 6.0, "map", (6.0, 1.0), 0.0)            # 2 s later: x 6 was where it led, 1 m off
    s.place(("lidar", 2), 9.0, "map", (9.0, 1.0), 0.0)
    assert s.continuation_miss_m(("lidar", 1), ("lidar", 2)) == pytest.approx(1.0)
    assert s.continuation_miss_m(("lidar", 2), ("lidar", 1)) == pytest.approx(1.0)   # either order
    s.place(("lidar", 3), 6.0, "map", (2.0, 0.0), 0.0)            # back the way 1 came: 4 m off its walk
    s.place(("lidar", 3), 8.0, "map", (0.0, 0.0), 0.0)            # and 3's own walk, run back 2 s: x 4
    assert s.continuation_miss_m(("lidar", 1), ("lidar", 3)) == pytest.approx(0.0)    # the nearer: 3's
    s.place(("lidar", 4), 6.0, "map", (2.0, 0.0), 0.5)            # one place only: 1's walk, 4 m off,
    assert s.continuation_miss_m(("lidar", 1), ("lidar", 4)) == pytest.approx(4.0 - 2.0 * 0.5)  # less sigmas


def test_no_continuation_for_tracks_seen_at_once_unplaced_in_other_frames_or_without_a_velocity():
    s = TrackSpans()
    s.place(("lidar", 1), 0.0, "map", (0.0, 0.0), 0.0)
    s.place(("lidar", 1), 4.0, "map", (4.0, 0.0), 0.0)
    s.place(("lidar", 2), 3.0, "map", (9.0, 0.0), 0.0)            # began before 1 ended
    s.place(("lidar", 3), 6.0, "odom", (9.0, 0.0), 0.0)
    s.place(("lidar", 4), 0.0, "map", (0.0, 5.0), 0.0)            # 0.5 s of places: no velocity
    s.place(("lidar", 4), 0.5, "map", (0.5, 5.0), 0.0)
    s.place(("lidar", 5), 3.0, "map", (9.0, 5.0), 0.0)
    assert s.continuation_miss_m(("lidar", 1), ("lidar", 2)) is None
    assert s.continuation_miss_m(("lidar", 1), ("lidar", 3)) is None
    assert s.continuation_miss_m(("lidar", 1), ("lidar", 9)) is None
    assert s.continuation_miss_m(("lidar", 4), ("lidar", 5)) is None
