"""The nodes over real DDS: parameters, diagnostics, bad input that must not take the graph down."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import ParameterType
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image, PointCloud2, PointField
from std_msgs.msg import Header, String

from tcfd_ros.image_conversions import cv2_to_imgmsg
from tcfd_ros.nodes.base import StampOrder
from tcfd_ros.nodes.bringup import node_arguments
from tcfd_ros.nodes.camera_segmenter_node import CameraSegmenterNode
from tcfd_ros.nodes.diagnostics import NodeHealth
from tcfd_ros.nodes.lidar_segmenter_node import LidarSegmenterNode
from tcfd_ros.nodes.qos import OUTPUT_QOS, SENSOR_QOS
from tcfd_ros.nodes.tracker_node import TrackerNode
from tcfd_ros.graph import build_graph
from tcfd_ros.point_cloud2 import create_cloud_xyz32
from tcfd_ros.track_messages import TrackletMsg, tracks_from_json

from test_nodes_harness import RosHarness, wait_for

pytestmark = pytest.mark.ros
CONFIG = Path(__file__).resolve().parents[1] / "config" / "crossmodal.yaml"


def _args(name: str) -> dict:
    spec = next(s for s in build_graph().nodes if s.name == name)
    return dict(namespace=spec.namespace, cli_args=node_arguments(spec, CONFIG), use_global_arguments=False)


def _header(t: float, frame: str) -> Header:
    h = Header()
    h.stamp.sec, h.stamp.nanosec = int(t), int(round((t % 1) * 1e9))
    h.frame_id = frame
    return h


def _scene(i: int, rng: np.random.Generator) -> np.ndarray:
    """Flat ground 1.5 m below the sensor and one walking person-sized column."""
    ground = np.c_[rng.uniform(-10, 10, (4000, 2)), rng.normal(-1.5, 0.01, 4000)]
    person = np.c_[rng.normal(5 + 0.1 * i, 0.12, 400), rng.normal(0.0, 0.12, 400),
                   rng.uniform(-1.45, 0.2, 400)]
    return np.vstack([ground, person]).astype(np.float32)


def _image(i: int) -> np.ndarray:
    img = np.empty((240, 320, 3), np.uint8)
    img[:] = (90, 96, 102)      # a colour scene (channels differ), so the segmenter is not in IR mode
    if i >= 25:  # after the background warm-up, a bright blue person-shaped block walks right
        x = 40 + 4 * i
        img[70:200, x:x + 36] = (250, 230, 120)
    return img


class Probe:
    """An independent node: publishes sensor data, records every output and /diagnostics."""

    def __init__(self, h: RosHarness) -> None:
        self.node = h.add(Node("probe", context=h.context))
        self.got: dict[str, list] = {}
        for topic, ty in (("/camera/detections", Image), ("/camera/annotated", Image),
                          ("/camera/tracks", String), ("/camera/tracklets", String),
                          ("/lidar/clusters", PointCloud2),
                          ("/lidar/tracks", String), ("/diagnostics", DiagnosticArray)):
            self.node.create_subscription(ty, topic, lambda m, t=topic: self.got.setdefault(t, []).append(m),
                                          OUTPUT_QOS)
        self.image = self.node.create_publisher(Image, "/camera/image_raw", SENSOR_QOS)
        self.points = self.node.create_publisher(PointCloud2, "/lidar/points", SENSOR_QOS)

    def n(self, topic: str) -> int:
        return len(self.got.get(topic, []))

    def diag(self, name: str) -> tuple[int, str, dict[str, str]]:
        for arr in reversed(self.got.get("/diagnostics", [])):
            for s in arr.status:
                if s.name == name:
                    return s.level[0], s.message, {kv.key: kv.value for kv in s.values}
        raise AssertionError(f"no diagnostics from {name}")


@pytest.fixture(scope="module")
def graph():
    h = RosHarness()
    nodes = {
        "camera": h.add(CameraSegmenterNode(context=h.context, **_args("camera_segmenter"))),
        "camera_tracker": h.add(TrackerNode(name="camera_tracker", context=h.context,
                                            **_args("camera_tracker"))),
        "lidar": h.add(LidarSegmenterNode(context=h.context, **_args("lidar_segmenter"))),
        "lidar_tracker": h.add(TrackerNode(name="lidar_tracker", context=h.context,
                                           **_args("lidar_tracker"))),
    }
    probe = Probe(h)
    wait_for(lambda: probe.image.get_subscription_count() and probe.points.get_subscription_count())
    yield h, nodes, probe
    h.close()


def test_pipeline_publishes_detections_tracks_tracklets_and_annotated(graph):
    h, nodes, probe = graph
    rng = np.random.default_rng(0)
    for i in range(45):
        t = 1000.0 + i / 10
        probe.image.publish(cv2_to_imgmsg(_image(i), "bgr8", header=_header(t, "camera_optical")))
        probe.points.publish(create_cloud_xyz32(_header(t, "lidar"), _scene(i, rng)))
        time.sleep(0.06)
    wait_for(lambda: probe.n("/camera/tracklets") >= 1 and probe.n("/lidar/tracks") >= 40, timeout_s=15)
    det = probe.got["/camera/detections"][-1]
    assert det.encoding == "mono16" and det.header.frame_id == "camera_optical"
    sent = {(h.stamp.sec, h.stamp.nanosec) for h in (_header(1000.0 + i / 10, "") for i in range(45))}
    stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for m in probe.got["/camera/detections"]}
    assert len(stamps) >= 30 and stamps <= sent  # output stamps are the input stamps
    tl = TrackletMsg.from_json(probe.got["/camera/tracklets"][-1].data)
    assert tl.modality == "2d" and tl.sensor == "camera" and tl.frames.shape == (10, 64, 64)
    assert tl.frames.max() == 255
    head, tracks = tracks_from_json(probe.got["/lidar/tracks"][-1].data)
    assert head["frame_id"] == "lidar" and len(tracks) == 1
    assert abs(tracks[0].position[0] - (5 + 0.1 * 44)) < 0.5
    # the camera tracker read each detection's clothing colour from the image with the same stamp
    tracked = [t for t in nodes["camera_tracker"].tracking.tracker.tracks if t.confirmed]
    assert tracked and all(t.appearance is not None and t.appearance_weight > 0.5 for t in tracked)
    wait_for(lambda: probe.diag("/camera/camera_tracker")[2].get("appearance_image") == "found")
    wait_for(lambda: probe.n("/camera/annotated") >= 1)
    ann = probe.got["/camera/annotated"][-1]
    assert ann.encoding == "bgr8" and (ann.width, ann.height) == (320, 240)
    # diagnostics name each input's resolved topic, its handler CPU time, and count every output
    lid = wait_for(lambda: (d := probe.diag("/lidar/lidar_segmenter")[2]).get("points: topic") and
                   int(d.get("/lidar/clusters: published", 0)) >= probe.n("/lidar/clusters") and d)
    assert lid["points: topic"] == "/lidar/points" and float(lid["points: cpu_s"]) > 0
    assert int(lid["/lidar/clusters: published"]) <= int(lid["points: processed"])
    assert int(lid["/lidar/clusters: matched"]) >= 2         # the LiDAR tracker and this probe
    assert int(lid["/lidar/points: matched publishers"]) == 1  # this probe (a replay waits for both)
    assert float(lid["process_cpu_s"]) >= float(lid["points: cpu_s"])
    # one walker never lost: the LiDAR tracker re-acquired nobody, and says so
    trk = wait_for(lambda: (d := probe.diag("/lidar/lidar_tracker")[2]).get("tracks_reacquired") and d)
    assert trk["tracks_reacquired"] == "0" == str(nodes["lidar_tracker"].tracking.tracker.reacquired)


def test_camera_segmenter_takes_mono8_as_an_ir_camera_publishes_it(graph):
    """A mono8 stream (an IR camera at night) is segmented as grey: the colour -> mono switch restarts
    the background model, and after its warm-up the walking block is found again."""
    h, nodes, probe = graph
    before = probe.n("/camera/detections")
    for i in range(50):
        t = 1100.0 + i / 10          # after the pipeline test's stamps, before the bad-input test's
        grey = np.ascontiguousarray(_image(i)[:, :, 0])
        probe.image.publish(cv2_to_imgmsg(grey, "mono8", header=_header(t, "camera_optical")))
        time.sleep(0.06)
    wait_for(lambda: probe.n("/camera/detections") >= before + 40, timeout_s=15)
    late = [m for m in probe.got["/camera/detections"][before:] if m.header.stamp.sec >= 1104]
    assert late and all(m.encoding == "mono16" and (m.width, m.height) == (320, 240) for m in late)
    assert any(np.frombuffer(bytes(m.data), np.uint16).max() >= 1 for m in late)


def _cloud_missing_z(t: float) -> PointCloud2:
    msg = create_cloud_xyz32(_header(t, "lidar"), np.zeros((10, 3), np.float32))
    msg.fields = [f for f in msg.fields if f.name != "z"]
    return msg


def test_bad_input_is_dropped_counted_and_the_graph_stays_alive(graph):
    h, nodes, probe = graph
    lidar_before = probe.n("/lidar/clusters")
    t0 = 2000.0
    good = create_cloud_xyz32(_header(t0, "lidar"), _scene(0, np.random.default_rng(1)))
    probe.points.publish(good)
    wait_for(lambda: probe.n("/lidar/clusters") > lidar_before)
    truncated = create_cloud_xyz32(_header(t0 + 0.1, "lidar"), np.ones((50, 3), np.float32))
    truncated.data = truncated.data[:-7]
    bad_field = create_cloud_xyz32(_header(t0 + 0.2, "lidar"), np.ones((5, 3), np.float32))
    bad_field.fields[0] = PointField(name="x", offset=0, datatype=99, count=1)
    empty = create_cloud_xyz32(_header(t0 + 0.3, "lidar"), np.zeros((0, 3), np.float32))
    backwards = create_cloud_xyz32(_header(t0 - 1.0, "lidar"), _scene(1, np.random.default_rng(2)))
    for m in (truncated, bad_field, _cloud_missing_z(t0 + 0.25), empty, backwards):
        probe.points.publish(m)
        time.sleep(0.05)
    # images: wrong size data, an encoding that cannot become bgr8, a stamp that goes backwards
    img = cv2_to_imgmsg(_image(0), "bgr8", header=_header(t0, "cam"))
    probe.image.publish(img)
    short = cv2_to_imgmsg(_image(0), "bgr8", header=_header(t0 + 0.1, "cam"))
    short.data = short.data[:-1]
    depth = cv2_to_imgmsg(np.ones((240, 320), np.float32), "32FC1", header=_header(t0 + 0.2, "cam"))
    unknown = cv2_to_imgmsg(_image(0), "bgr8", header=_header(t0 + 0.3, "cam"))
    unknown.encoding = "hsv8"
    back = cv2_to_imgmsg(_image(0), "bgr8", header=_header(t0 - 5.0 + 1.0, "cam"))
    for m in (short, depth, unknown, back):
        probe.image.publish(m)
        time.sleep(0.05)
    # the graph is still alive: a good cloud after the garbage is segmented and published
    after = probe.n("/lidar/clusters")
    probe.points.publish(create_cloud_xyz32(_header(t0 + 1.0, "lidar"), _scene(3, np.random.default_rng(3))))
    wait_for(lambda: probe.n("/lidar/clusters") > after)

    def counts(name: str, key: str, at_least: int) -> dict | None:
        try:
            d = probe.diag(name)[2]
        except AssertionError:             # its first diagnostics are not out yet (this test alone)
            return None
        return d if int(d.get(key, 0)) >= at_least else None
    lid = wait_for(lambda: counts("/lidar/lidar_segmenter", "points: dropped", 5), timeout_s=5)
    assert int(lid["points: dropped.malformed"]) == 3
    assert int(lid["points: dropped.empty_cloud"]) == 1
    assert int(lid["points: dropped.stamp_backwards"]) == 1
    cam = wait_for(lambda: counts("/camera/camera_segmenter", "image_raw: dropped", 4), timeout_s=5)
    assert int(cam["image_raw: dropped.malformed"]) == 3
    assert int(cam["image_raw: dropped.stamp_backwards"]) == 1
    level, message, _ = probe.diag("/lidar/lidar_segmenter")
    assert level >= 1 and "drops on points" in message
    # still alive and processing after everything
    assert int(lid["points: processed"]) >= 2


def test_a_malformed_future_stamped_message_costs_no_valid_one(graph):
    """Issue 15: a dropped message never moves the stamp watermark (clouds and images)."""
    h, nodes, probe = graph
    t0 = 3000.0
    probe.points.publish(create_cloud_xyz32(_header(t0, "lidar"), _scene(0, np.random.default_rng(4))))
    probe.image.publish(cv2_to_imgmsg(_image(0), "bgr8", header=_header(t0, "cam")))
    time.sleep(0.1)
    probe.points.publish(_cloud_missing_z(t0 + 4.0))               # malformed, 4 s ahead
    bad_image = cv2_to_imgmsg(_image(0), "bgr8", header=_header(t0 + 4.0, "cam"))
    bad_image.data = bad_image.data[:-3]
    probe.image.publish(bad_image)
    time.sleep(0.1)
    rng = np.random.default_rng(5)
    valid = [_header(t0 + 0.2 * i, "") for i in range(1, 11)]    # valid, between the two stamps
    for i, hd in enumerate(valid, start=1):
        t = t0 + 0.2 * i
        probe.points.publish(create_cloud_xyz32(_header(t, "lidar"), _scene(i, rng)))
        probe.image.publish(cv2_to_imgmsg(_image(i), "bgr8", header=_header(t, "cam")))
        time.sleep(0.08)
    want = {(hd.stamp.sec, hd.stamp.nanosec) for hd in valid}

    def seen(topic: str) -> set[tuple[int, int]]:
        return {(m.header.stamp.sec, m.header.stamp.nanosec) for m in probe.got.get(topic, [])} & want
    wait_for(lambda: seen("/lidar/clusters") == want and seen("/camera/detections") == want, timeout_s=20)


def test_stamp_order_moves_only_on_accept():
    order = StampOrder(reset_backward_s=5.0)
    assert order.check(10.0) == "ok" and order.last is None      # judging never moves the watermark
    order.accept(10.0)
    assert order.check(14.0) == "ok" and order.check(9.0) == "backwards" and order.check(4.0) == "reset"
    assert order.last == 10.0


def test_a_sensor_that_stops_turns_diagnostics_to_warn(graph):
    h, nodes, probe = graph
    probe.points.publish(create_cloud_xyz32(_header(3000.0, "lidar"), _scene(0, np.random.default_rng(4))))
    node = nodes["lidar"]
    wait_for(lambda: "no message on points" in node.health.level_and_message()[1], timeout_s=8)
    wait_for(lambda: "no message on points" in probe.diag("/lidar/lidar_segmenter")[1], timeout_s=4)
    assert probe.diag("/lidar/lidar_segmenter")[0] == 1


def test_parameters_have_descriptors_and_thresholds_change_at_run_time(graph):
    h, nodes, probe = graph
    lidar = nodes["lidar"]
    d = lidar.describe_parameter("segmenter.ground_distance_m")
    assert d.type == ParameterType.PARAMETER_DOUBLE and "ground" in d.description
    q = lidar.describe_parameter("queue_size")
    assert q.read_only and q.integer_range[0].from_value == 1
    tr = nodes["camera_tracker"]
    r = tr.describe_parameter("tracker.size_smoothing")
    assert r.floating_point_range[0].to_value == 1.0
    assert tr.config.modality == "2d" and tr.config.tracker.max_gate_distance == 80.0  # pixels (config file)

    ok = lidar.set_parameters([Parameter("segmenter.ground_distance_m", value=0.2)])[0]
    assert ok.successful and lidar.config.segmenter.ground_distance_m == 0.2
    assert lidar.segmenter.cfg.ground_distance_m == 0.2  # the segmenter in use was rebuilt with it
    bad = lidar.set_parameters([Parameter("segmenter.roi_x_min_m", value=50.0)])[0]
    assert not bad.successful and "roi_x_min_m" in bad.reason
    assert lidar.config.segmenter.roi_x_min_m == -40.0
    ro = lidar.set_parameters([Parameter("queue_size", value=9)])[0]
    assert not ro.successful
    out_of_range = tr.set_parameters([Parameter("tracker.size_smoothing", value=1.5)])[0]
    assert not out_of_range.successful
    wrong_type = lidar.set_parameters([Parameter("segmenter.min_points", value="many")])[0]
    assert not wrong_type.successful


def test_set_parameters_over_dds_from_another_node(graph):
    from rclpy.parameter_client import AsyncParameterClient

    h, nodes, probe = graph
    client = AsyncParameterClient(probe.node, "/camera/camera_segmenter")
    assert client.wait_for_services(timeout_sec=10.0)
    future = client.set_parameters([Parameter("segmenter.min_area_px", value=200)])
    result = wait_for(lambda: future.done() and future.result())
    assert result.results[0].successful
    assert nodes["camera"].config.segmenter.min_area_px == 200
    future = client.set_parameters([Parameter("segmenter.min_height_px", value=5000)])
    result = wait_for(lambda: future.done() and future.result())
    assert not result.results[0].successful and "min_height_px" in result.results[0].reason


def test_health_logs_each_reason_at_most_once_per_second():
    now = [0.0]
    lines: list[str] = []
    health = NodeHealth("n", lines.append, clock=lambda: now[0])
    for i in range(100):
        now[0] = i * 0.005            # 100 drops in half a second
        health.drop("points", "malformed", "bad")
    health.drop("points", "empty_cloud", "x")
    assert len(lines) == 2 and health.suppressed_logs == 99
    now[0] = 1.2
    health.drop("points", "malformed", "bad")
    assert len(lines) == 3
    kv = dict(health.key_values())
    assert kv["points: dropped.malformed"] == "101" and kv["points: dropped"] == "102"
    now[0] = 100.0
    assert health.level_and_message()[0] == 0  # drops are old news after the window


def test_tracklet_json_round_trip_and_refusals():
    from tcfd_ros.errors import MessageFormatError

    frames = np.random.default_rng(0).integers(0, 255, (4, 3, 64, 64), dtype=np.uint8)
    msg = TrackletMsg({"sec": 1, "nanosec": 2}, "lidar", "lidar", "3d", 7, (0.1, 0.2, 0.3, 0.4),
                      (1.0, 2.0, 0.5), frames)
    back = TrackletMsg.from_json(msg.to_json())
    assert np.array_equal(back.frames, frames) and back.track_id == 7 and back.frame_stamps[-1] == 0.4
    data = json.loads(msg.to_json())
    for key, value, match in (("version", 3, "version"), ("shape", [4, 64, 64], "shape"),
                              ("frames", "!!", "base64"), ("schema", "x", "schema")):
        bad = dict(data, **{key: value})
        with pytest.raises(MessageFormatError, match=match):
            TrackletMsg.from_json(json.dumps(bad))


def test_transport_losses_are_counted_as_drops(graph):
    """DDS reports best-effort samples lost on the wire (large clouds over UDP): counted as dds_lost."""
    from types import SimpleNamespace

    h, nodes, probe = graph
    node = nodes["lidar"]
    before = int(dict(node.health.key_values()).get("points: dropped", "0"))
    node.transport_losses("points").message_lost(SimpleNamespace(total_count=7, total_count_change=3))
    kv = dict(node.health.key_values())
    assert kv["points: dropped.dds_lost"] == "3" and int(kv["points: dropped"]) == before + 3


def test_only_periodic_inputs_warn_when_silent():
    now = [0.0]
    health = NodeHealth("n", lambda _: None, clock=lambda: now[0])
    health.watch("points")
    health.watch("tracklets", stale=False)
    health.received("points")
    health.received("tracklets")
    now[0] = 10.0
    assert health.stale_inputs() == ["points"]
    level, message = health.level_and_message()
    assert level == 1 and "points" in message and "tracklets" not in message
