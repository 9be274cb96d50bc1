"""The recognizer node over real DDS: tracklets in, matches and markers out, services, bad tracklets."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import String
from std_srvs.srv import Trigger
from visualization_msgs.msg import Marker, MarkerArray

from tcfd_ros.errors import MessageFormatError
from tcfd_ros.graph import build_graph
from tcfd_ros.nodes.bringup import node_arguments
from tcfd_ros.messages import MatchMsg
from tcfd_ros.messages import stamp_dict
from tcfd_ros.nodes.qos import OUTPUT_QOS
from tcfd_ros.nodes.recognizer_node import RecognizerNode
from tcfd_ros.perception.identity_types import IdentityMatch
from tcfd_ros.stamp_merge import TRACKLET
from tcfd_ros.track_messages import TrackletMsg, TrackState, tracks_to_json

from test_nodes_harness import RosHarness, wait_for

pytestmark = pytest.mark.ros
CONFIG = Path(__file__).resolve().parents[1] / "config" / "crossmodal.yaml"
SHORT = {"camera": "cam", "lidar": "lidar"}


def _recognizer(h: RosHarness, model: Path, **params: object) -> RecognizerNode:
    """The graph's recognizer with the test model (torch, one thread) and ``params`` overridden."""
    spec = next(s for s in build_graph().nodes if s.name == "recognizer")
    params = {"model_path": str(model), "backend": "torch", "threads": 1, **params}
    return h.add(RecognizerNode(
        context=h.context, namespace=spec.namespace, cli_args=node_arguments(spec, CONFIG),
        use_global_arguments=False, parameter_overrides=[Parameter(k, value=v) for k, v in params.items()]))


@pytest.fixture(scope="module")
def rec(model, tmp_path_factory):
    gallery = tmp_path_factory.mktemp("gallery") / "g.sqlite"
    h = RosHarness()
    node = _recognizer(h, model, gallery_path=str(gallery), **{"identity.open_set_threshold": 1.5,
                                                               "identity.gait_min_tracklets": 1})
    probe = h.add(Node("rec_probe", context=h.context))
    got: dict[str, list] = {"matches": [], "markers": []}
    probe.create_subscription(String, "/matches", lambda m: got["matches"].append(MatchMsg.from_json(m.data)),
                              OUTPUT_QOS)
    probe.create_subscription(MarkerArray, "/markers", lambda m: got["markers"].append(m), OUTPUT_QOS)
    pubs = {t: probe.create_publisher(String, t, OUTPUT_QOS)
            for t in ("/camera/tracklets", "/lidar/tracklets", "/lidar/tracks", "/camera/tracks")}
    wait_for(lambda: all(p.get_subscription_count() for p in pubs.values()))
    yield h, node, probe, pubs, got, gallery
    h.close()


def _tracklet(sensor: str, track: int, t: float, seed: int) -> str:
    rng = np.random.default_rng(seed)
    modality = "2d" if sensor == "camera" else "3d"
    shape = (10, 64, 64) if modality == "2d" else (10, 3, 64, 64)
    frames = (rng.random(shape) > 0.5).astype(np.uint8) * 255
    sec, ns = int(t), int(round((t % 1) * 1e9))
    stamps = tuple(t - 0.1 * i for i in range(9, -1, -1))
    position = (1.0, 2.0) if modality == "2d" else (5.0, 0.0, -0.5)
    msg = TrackletMsg(stamp_dict(sec, ns), sensor, sensor, modality, track, stamps, position, frames)
    return msg.to_json()


def test_tracklets_of_both_sensors_become_matches_with_one_identity(rec):
    h, node, probe, pubs, got, _ = rec
    pubs["/camera/tracklets"].publish(String(data=_tracklet("camera", 3, 100.5, 0)))
    wait_for(lambda: len(got["matches"]) >= 1)
    pubs["/lidar/tracklets"].publish(String(data=_tracklet("lidar", 7, 100.6, 1)))
    wait_for(lambda: len(got["matches"]) >= 2)
    cam, lid = got["matches"][0], got["matches"][1]
    assert (cam.sensor, cam.track_id, cam.modality, cam.known) == ("camera", 3, "2d", False)
    assert cam.stamp == {"sec": 100, "nanosec": 500000000} and cam.distance is None and cam.confidence == 0.0
    # random weights: with the permissive threshold the LiDAR track joins the camera track's identity
    assert (lid.sensor, lid.track_id, lid.global_id, lid.known) == ("lidar", 7, cam.global_id, True)
    assert lid.distance is not None and lid.threshold == 1.5 and 0.0 < lid.confidence <= 1.0

    # markers for the LiDAR tracks, in the LiDAR frame, coloured/labelled by global id
    tracks = [TrackState(7, (5.0, 0.0, -0.5), (4.7, -0.3, -1.4, 5.3, 0.3, 0.4), 1),
              TrackState(9, (8.0, 1.0, -0.5), (7.7, 0.7, -1.4, 8.3, 1.3, 0.4), 2)]
    text = tracks_to_json(stamp_dict(100, 700000000), "lidar", "lidar", "3d", tracks)
    pubs["/lidar/tracks"].publish(String(data=text))
    arr = wait_for(lambda: got["markers"] and got["markers"][-1])
    assert len(arr.markers) == 4 and all(m.header.frame_id == "lidar" for m in arr.markers)
    assert arr.markers[0].header.stamp.sec == 100 and arr.markers[0].header.stamp.nanosec == 700000000
    box, text = arr.markers[0], arr.markers[1]
    assert box.type == Marker.CUBE and abs(box.scale.x - 0.6) < 1e-6 and abs(box.pose.position.z + 0.5) < 1e-6
    assert text.type == Marker.TEXT_VIEW_FACING and text.text == f"G{cam.global_id} T7"
    assert arr.markers[3].text == "? T9"


def _call(probe: Node, name: str) -> Trigger.Response:
    client = probe.create_client(Trigger, name)
    assert client.wait_for_service(timeout_sec=10.0)
    future = client.call_async(Trigger.Request())
    return wait_for(lambda: future.done() and future.result())


def test_services_enrol_list_erase_and_gallery(rec):
    h, node, probe, pubs, got, gallery = rec
    wait_for(lambda: len(got["matches"]) >= 2)
    gid = got["matches"][1].global_id
    assert node.set_parameters([Parameter("enrol_target", value="lidar:7"),
                                Parameter("enrol_label", value="alice")])[0].successful
    r = _call(probe, "/recognizer/enrol")
    assert r.success and f"identity {gid}" in r.message
    listed = json.loads(_call(probe, "/recognizer/list").message)
    entry = next(e for e in listed if e["global_id"] == gid)
    assert entry["enrolled"] and entry["label"] == "alice" and "lidar:7" in entry["bound_tracks"]
    from tcfd_ros.gallery import Gallery
    with Gallery(gallery) as g:
        assert any(i.identity_id == gid and i.enrolled for i in g.list_identities())
    bad = node.set_parameters([Parameter("enrol_target", value="lidar:99")])[0]
    assert bad.successful
    r = _call(probe, "/recognizer/enrol")
    assert not r.success and "99" in r.message
    assert node.set_parameters([Parameter("erase_global_id", value=gid)])[0].successful
    r = _call(probe, "/recognizer/erase")
    assert r.success
    assert all(e["global_id"] != gid for e in json.loads(_call(probe, "/recognizer/list").message))
    assert not _call(probe, "/recognizer/erase").success  # already gone: says so


def test_threshold_changes_at_run_time_and_bad_tracklets_are_dropped(rec):
    h, node, probe, pubs, got, _ = rec
    ok = node.set_parameters([Parameter("identity.open_set_threshold", value=0.05)])[0]
    assert ok.successful and node.identity.threshold == 0.05
    bad = node.set_parameters([Parameter("identity.open_set_threshold", value=3.0)])[0]
    assert not bad.successful and "open_set_threshold" in bad.reason
    assert not node.set_parameters([Parameter("backend", value="onnx")])[0].successful  # read-only
    n = len(got["matches"])
    pubs["/camera/tracklets"].publish(String(data="not json"))
    pubs["/camera/tracklets"].publish(String(data=json.dumps({"schema": "tcfd_ros/tracklet", "version": 9})))
    pubs["/camera/tracklets"].publish(String(data=_tracklet("camera", 11, 200.0, 5)))
    wait_for(lambda: len(got["matches"]) > n)
    m = got["matches"][-1]
    assert m.track_id == 11 and m.threshold == 0.05
    kv = dict(node.health.key_values())
    assert kv["camera/tracklets: dropped.malformed"] == "2"
    assert kv["fragments_gathered"] == "0"      # one camera track: nothing to gather
    assert kv["fragments_released"] == "0"
    assert kv["tracks_split"] == "0"            # no position: nothing moved
    time.sleep(0.1)
    assert len(got["matches"]) == n + 1


def test_co_located_tracks_are_linked_by_geometry_with_a_fused_position(rec):
    h, node, probe, pubs, got, _ = rec
    no_gait = Parameter("identity.gait_min_tracklets", value=1000)
    assert node.set_parameters([no_gait])[0].successful
    for k in range(30):   # 3 s of one person seen by both sensors at the same place (tracks v2)
        stamp = stamp_dict(300 + k // 10, (k % 10) * 100_000_000)
        x = 4.0 + 0.1 * k
        cam = TrackState(21, (320.0, 240.0), (300.0, 100.0, 340.0, 380.0), 1, (x + 0.15, 1.0, 0.0), 0.3)
        lid = TrackState(27, (x, 1.0, -1.0), (x - 0.3, 0.7, -2.0, x + 0.3, 1.3, -0.2), 1, (x, 1.0, 0.0), 0.1)
        pubs["/camera/tracks"].publish(String(data=tracks_to_json(stamp, "camera", "camera", "2d", [cam],
                                                                  fixed_frame="map")))
        pubs["/lidar/tracks"].publish(String(data=tracks_to_json(stamp, "lidar", "lidar", "3d", [lid],
                                                                 fixed_frame="map")))
        time.sleep(0.03)         # a sensor's pace: keep-last output queues must not overflow
    wait_for(lambda: node.identity.ground.evidence(("camera", 21), ("lidar", 27)).simultaneous >= 25)
    n = len(got["matches"])
    pubs["/camera/tracklets"].publish(String(data=_tracklet("camera", 21, 302.9, 21)))
    wait_for(lambda: len(got["matches"]) > n)
    pubs["/lidar/tracklets"].publish(String(data=_tracklet("lidar", 27, 302.9, 27)))
    m = wait_for(lambda: next((m for m in got["matches"][n:] if m.track_id == 27), None))
    c = next(m for m in got["matches"][n:] if m.track_id == 21)
    assert m.version == 2 and m.decided_by == "geometry" and m.known and m.global_id == c.global_id
    assert m.fixed_frame == "map" and m.ground is not None and 6.8 < m.ground[0] < 7.2
    assert m.ground_sigma_m < 0.1
    # markers of calibrated tracks stand in the fixed frame, one colour per person
    arr = wait_for(lambda: next((a for a in reversed(got["markers"]) if a.markers
                                 and a.markers[0].ns == "camera"), None))
    assert arr.markers[0].header.frame_id == "map" and arr.markers[0].type == Marker.CYLINDER
    assert node.set_parameters([Parameter("identity.gait_min_tracklets", value=1)])[0].successful


def test_a_revision_follows_the_matches_of_the_tracklet_that_caused_it(rec, monkeypatch):
    """A track the manager moved without a tracklet of its own (``take_revisions``) is published after the
    batch's matches, stamped like the batch's newest tracklet, in its sensor's frame."""
    h, node, probe, pubs, got, _ = rec
    pubs["/lidar/tracklets"].publish(String(data=_tracklet("lidar", 41, 400.0, 41)))   # the sensor's frame
    wait_for(lambda: any(m.track_id == 41 for m in got["matches"]))
    moved = IdentityMatch(400.0, "lidar", "3d", 41, 9999, None, 0.0, False, switched=True)
    real = node.identity.take_revisions
    calls = iter([[moved]])
    monkeypatch.setattr(node.identity, "take_revisions", lambda: next(calls, None) or real())
    n = len(got["matches"])
    pubs["/camera/tracklets"].publish(String(data=_tracklet("camera", 43, 401.5, 43)))
    wait_for(lambda: len(got["matches"]) >= n + 2)
    cause, rev = got["matches"][n], got["matches"][n + 1]
    assert cause.track_id == 43 and (rev.sensor, rev.track_id, rev.global_id) == ("lidar", 41, 9999)
    assert rev.switched and not rev.known and rev.distance is None
    assert rev.stamp == cause.stamp and rev.frame_id == "lidar"


def test_corrupt_gallery_is_moved_aside_and_reported(model, tmp_path):
    gallery = tmp_path / "g.sqlite"
    gallery.write_bytes(b"SQLite format 3\x00" + b"this is a damaged page" * 100)
    h = RosHarness()
    try:
        node = _recognizer(h, model, gallery_path=str(gallery))
        moved = node.health.values["gallery_moved_aside"]
        assert Path(moved).is_file() and ".corrupt-" in moved
        assert b"damaged page" in Path(moved).read_bytes()
        assert node.gallery.list_identities() == []  # a fresh, empty gallery in its place
        assert node.identity.threshold == 0.5            # from the model's metadata
    finally:
        h.close()


def test_tracklets_are_decided_in_stamp_order_once_every_sensor_reached_their_stamp(model):
    """A LiDAR tracklet that arrives before the camera's positions of its time waits for them, so a camera
    tracklet stamped earlier but arriving later is decided first; a stream that stops is waited for at
    most ``reorder_max_wait_s``."""
    h = RosHarness()
    try:
        # namespaces of its own: the module's recognizer (fixture rec) listens on /camera and /lidar
        node = _recognizer(h, model, reorder_max_wait_s=1.0, camera_namespaces=["order_cam"],
                           lidar_namespaces=["order_lidar"], **{"identity.gait_min_tracklets": 1})
        probe = h.add(Node("order_probe", context=h.context))
        got: list[MatchMsg] = []
        probe.create_subscription(String, "/matches", lambda m: got.append(MatchMsg.from_json(m.data)),
                                  OUTPUT_QOS)
        pubs = {t: probe.create_publisher(String, f"/order_{t}", OUTPUT_QOS)
                for t in ("cam/tracklets", "lidar/tracklets", "lidar/tracks", "cam/tracks")}
        wait_for(lambda: all(p.get_subscription_count() for p in pubs.values()))

        def tracks(sensor: str, t: float) -> None:
            text = tracks_to_json(stamp_dict(int(t), int(round(t % 1 * 1e9))), sensor, sensor,
                                  "2d" if sensor == "camera" else "3d", [])
            pubs[f"{SHORT[sensor]}/tracks"].publish(String(data=text))

        tracks("camera", 600.0)
        tracks("lidar", 600.0)
        wait_for(lambda: node.merge.watermark() == 600.0)
        tracks("lidar", 600.1)
        pubs["lidar/tracklets"].publish(String(data=_tracklet("lidar", 61, 600.1, 61)))
        wait_for(lambda: node.merge.held(TRACKLET) == 1)        # the camera is still at 600.0
        pubs["cam/tracklets"].publish(String(data=_tracklet("camera", 63, 600.05, 63)))
        tracks("camera", 600.05)
        tracks("camera", 600.1)
        wait_for(lambda: len(got) >= 2)
        assert [(m.sensor, m.track_id) for m in got] == [("camera", 63), ("lidar", 61)]
        kv = dict(node.health.key_values())
        assert kv["inputs_released_by_wait"] == "0" and kv["inputs_late"] == "0"

        tracks("lidar", 600.2)          # the camera stops: the LiDAR's tracklet waits for it, then goes
        pubs["lidar/tracklets"].publish(String(data=_tracklet("lidar", 61, 600.2, 62)))
        t0 = time.monotonic()
        wait_for(lambda: len(got) >= 3)
        assert 0.5 < time.monotonic() - t0 < 5.0 and (got[2].sensor, got[2].track_id) == ("lidar", 61)
        assert dict(node.health.key_values())["inputs_released_by_wait"] == "2"   # its positions and it
    finally:
        h.close()


def test_a_batch_the_embedder_rejects_is_dropped_once_and_the_next_is_decided(rec, monkeypatch):
    h, node, probe, pubs, got, _ = rec
    real = node._embed
    calls = iter([True])

    def once_bad(group, modality):
        if next(calls, False):
            raise MessageFormatError("embedder returned shape (0,) for 1 tracklets")
        return real(group, modality)

    monkeypatch.setattr(node, "_embed", once_bad)
    before = dict(node.health.key_values()).get("lidar/tracklets: dropped.malformed", "0")
    n = len(got["matches"])
    pubs["/lidar/tracklets"].publish(String(data=_tracklet("lidar", 51, 500.0, 51)))
    wait_for(lambda: dict(node.health.key_values()).get("lidar/tracklets: dropped.malformed") == str(
        int(before) + 1))
    pubs["/lidar/tracklets"].publish(String(data=_tracklet("lidar", 51, 500.5, 52)))
    m = wait_for(lambda: next((m for m in got["matches"][n:] if m.track_id == 51), None))
    assert m.stamp == {"sec": 500, "nanosec": 500000000} and len(got["matches"]) == n + 1
    assert dict(node.health.key_values())["lidar/tracklets: dropped.malformed"] == str(int(before) + 1)
