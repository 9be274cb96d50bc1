"""When each track was seen (perception.track_spans): overlap of two tracks, memory bound."""

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
