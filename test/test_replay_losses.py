"""Sent vs received per stage from the nodes' last diagnostics (replay/losses.py)."""

from __future__ import annotations

from tcfd_ros.replay.losses import stage_flows


def _status(values: dict[str, object]) -> dict:
    return {"values": {k: str(v) for k, v in values.items()}}


def test_unaccounted_losses_are_what_was_sent_but_neither_received_nor_reported():
    last = {
        "/lidar/lidar_segmenter": _status({
            "points: received": 68, "points: processed": 60, "points: dropped": 8,
            "points: dropped.malformed": 8, "points: topic": "/lidar/points", "points: cpu_s": 1.5,
            "/lidar/clusters: published": 60}),
        "/lidar/lidar_tracker": _status({
            "clusters: received": 50, "clusters: processed": 50, "clusters: dropped": 4,
            "clusters: dropped.dds_lost": 4, "clusters: topic": "/lidar/clusters"}),
        "/recognizer": _status({"/camera/tracklets: received": 3, "/camera/tracklets: processed": 3}),
    }
    flows = {(f.node, f.topic): f for f in stage_flows(last, {"/lidar/points": 100})}
    seg = flows[("/lidar/lidar_segmenter", "/lidar/points")]
    assert (seg.sent, seg.received, seg.unaccounted, seg.cpu_s) == (100, 68, 32, 1.5)
    trk = flows[("/lidar/lidar_tracker", "/lidar/clusters")]
    assert (trk.sent, trk.received, trk.dds_lost, trk.unaccounted) == (60, 50, 4, 6)
    rec = flows[("/recognizer", "/camera/tracklets")]       # nobody reports publishing it: unknown
    assert rec.sent is None and rec.unaccounted is None


def test_an_input_the_node_stopped_taking_on_purpose_is_not_a_loss():
    """The camera segmenter drops ``tracks`` while no one reads ``annotated``: not lost in DDS."""
    last = {
        "/camera/camera_tracker": _status({"/camera/tracks: published": 600}),
        "/camera/camera_segmenter": _status({
            "tracks: received": 5, "tracks: processed": 5, "tracks: topic": "/camera/tracks",
            "tracks: unsubscribed": 1}),
        "/recognizer": _status({"camera/tracks: received": 600, "camera/tracks: topic": "/camera/tracks"}),
    }
    flows = {(f.node, f.topic): f for f in stage_flows(last, {})}
    seg = flows[("/camera/camera_segmenter", "/camera/tracks")]
    assert seg.sent is None and seg.unaccounted is None
    assert flows[("/recognizer", "/camera/tracks")].unaccounted == 0


def test_a_stage_that_hears_another_publisher_is_foreign_and_counting_skew_is_not():
    """Two graphs on one domain: the tracker receives both segmenters' clusters (the contaminated
    calibration replays of 2026-12-01 received 2325 of 1150)."""
    from tcfd_ros.replay.losses import foreign_inputs

    last = {
        "/lidar/lidar_segmenter": _status({"points: received": 1157, "points: topic": "/lidar/points",
                                           "/lidar/clusters: published": 1150}),
        "/lidar/lidar_tracker": _status({"clusters: received": 2325, "clusters: topic": "/lidar/clusters",
                                         "/lidar/tracks: published": 1200}),
        "/recognizer": _status({"lidar/tracks: received": 1203, "lidar/tracks: topic": "/lidar/tracks"}),
    }
    flows = {(f.node, f.topic): f for f in stage_flows(last, {"/lidar/points": 1200})}
    assert flows[("/lidar/lidar_tracker", "/lidar/clusters")].foreign == 1175
    assert flows[("/lidar/lidar_segmenter", "/lidar/points")].foreign == 0
    assert flows[("/recognizer", "/lidar/tracks")].foreign == 0      # 3 over 1200: within the slack
    assert foreign_inputs(list(flows.values())) == [
        "/lidar/lidar_tracker received 2325 on /lidar/clusters, 1150 published"]


def test_messages_a_bug_dropped_are_named_apart_from_bad_input():
    """154 of 600 robot images were once dropped by a RecursionError in the camera segmenter; the replay's
    summary said nothing of it (RESULTS.md, "A camera segmenter that recursed a thousand levels deep")."""
    from tcfd_ros.replay.losses import internal_errors
    from tcfd_ros.replay.records import RunInfo
    from tcfd_ros.replay.report import summary_lines

    last = {
        "/camera/camera_segmenter": _status({
            "image_raw: received": 600, "image_raw: processed": 440, "image_raw: dropped": 160,
            "image_raw: dropped.internal_error": 154, "image_raw: dropped.malformed": 6,
            "image_raw: topic": "/camera/image_raw"}),
        "/lidar/lidar_segmenter": _status({"points: received": 400, "points: dropped": 3,
                                           "points: dropped.malformed": 3, "points: topic": "/lidar/points"}),
    }
    flows = stage_flows(last, {"/camera/image_raw": 600, "/lidar/points": 400})
    assert internal_errors(flows) == ["/camera/camera_segmenter /camera/image_raw 154 of 600"]
    info = RunInfo("bag", 40.0, stages=flows, graph_log="out/graph.log")
    lines = summary_lines(info, None, {})
    bug = [line for line in lines if line.startswith("INTERNAL ERRORS")]
    assert len(bug) == 1 and "out/graph.log" in bug[0] and "154 of 600" in bug[0]
    lidar_only = {"/lidar/lidar_segmenter": last["/lidar/lidar_segmenter"]}
    clean = RunInfo("bag", 40.0, stages=stage_flows(lidar_only, {"/lidar/points": 400}))
    assert not [line for line in summary_lines(clean, None, {}) if line.startswith("INTERNAL")]
