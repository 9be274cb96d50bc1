"""A replay starts sending once every publisher has matched its subscribers (replay/matching.py)."""

from __future__ import annotations

from tcfd_ros.replay.matching import Endpoint, node_endpoints, unmatched


def _status(values: dict[str, object]) -> dict:
    return {"values": {k: str(v) for k, v in values.items()}}


def test_a_node_publisher_that_has_not_matched_every_discovered_subscription_is_named():
    last = {
        "/camera/camera_segmenter": _status({"/camera/detections: published": 0,
                                             "/camera/detections: matched": 1, "image_raw: received": 0}),
        "/lidar/lidar_segmenter": _status({"/lidar/clusters: matched": 2,
                                           "/lidar/points: matched publishers": 0}),
        "/recognizer": _status({"/matches: matched": "n/a"}),        # unreadable: not counted
    }
    discovered = {"/camera/detections": 2, "/lidar/clusters": 2}
    eps = node_endpoints(last, lambda t: discovered.get(t, 0), lambda t: 1 if t == "/lidar/points" else 0)
    assert sorted(eps, key=lambda e: e.topic) == [Endpoint("/camera/detections", "publisher", 1, 2),
                                                  Endpoint("/lidar/clusters", "publisher", 2, 2),
                                                  Endpoint("/lidar/points", "subscription", 0, 1)]
    assert unmatched(eps) == ["/camera/detections (publisher: 1 of 2 subscriptions)",
                              "/lidar/points (subscription: 0 of 1 publishers)"]


def test_the_replays_own_endpoints_count_both_ways():
    eps = [Endpoint("/camera/image_raw", "publisher", 2, 2), Endpoint("/camera/tracks", "subscription", 0, 1)]
    assert unmatched(eps) == ["/camera/tracks (subscription: 0 of 1 publishers)"]
    assert unmatched([Endpoint("/clock", "publisher", 5, 5)]) == []
