"""End to end over real DDS: a simulated bag in, ``matches`` out, graph in its own process.

A short ``simulate bag`` recording (one person walking through the zone both sensors see) is
published on the graph's input topics with ``/clock`` by this test's node; ``tcfd-ros bringup
--use-sim-time`` runs in a subprocess exactly as the replay runs it; an independent subscriber
collects ``/matches``.

The recognizer's model is a random-init tiny TCFDNet (no trained weights exist in a test), which
cannot tell people apart, so the test asserts what is honest for it: the pipeline delivers valid
``tcfd_ros/match`` v1 messages from both sensors, stamps are the sensor stamps, and the one person
seen by both sensors carries one global id on the camera track and on the LiDAR track. The open-set
threshold is set permissively for that reason (``--param recognizer.identity.open_set_threshold``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_nodes_harness import RosHarness, wait_for

pytestmark = [pytest.mark.ros, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "crossmodal.yaml"
BAG_SECONDS = 6.0
# Random weights: every cross-modal distance is "close"; permissive so one person gets one identity.
PERMISSIVE_THRESHOLD = 1.5


@pytest.fixture(scope="module")
def bag(tmp_path_factory) -> Path:
    from tcfd_ros.sim.bag import BagSpec, write_bag

    out = tmp_path_factory.mktemp("e2e") / "bag"
    write_bag(BagSpec(out=out, people=1, duration_s=BAG_SECONDS, layout="overlap", seed=1))
    return out


@pytest.fixture(scope="module")
def onnx_model(model) -> Path:
    from tcfd_ros.inference.export import export_onnx

    return export_onnx(model, model.with_suffix(".onnx"))


def _messages(bag: Path):
    """(stamp_ns, topic, msgtype, cdr bytes) of the sensor topics, in time order."""
    from rosbags.rosbag2 import Reader

    topics = {"/camera/image_raw", "/camera/camera_info", "/lidar/points"}
    with Reader(bag) as reader:
        conns = [c for c in reader.connections if c.topic in topics]
        return [(t, c.topic, c.msgtype, bytes(raw)) for c, t, raw in reader.messages(connections=conns)]


def _graph(model: Path, backend: str, log: Path, mode: list[str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "tcfd_ros", "bringup", "--config", str(CONFIG), "--use-sim-time", *mode,
           "--param", f"recognizer.model_path={model}", "--param", f"recognizer.backend={backend}",
           "--param", "recognizer.threads=1",
           "--param", f"recognizer.identity.open_set_threshold={PERMISSIVE_THRESHOLD}"]
    return subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env=dict(os.environ))


@pytest.mark.parametrize("mode,backend", [([], "torch"), (["--processes"], "onnx")],
                         ids=["one-process-torch", "process-per-node-onnx"])
def test_bag_through_the_graph_gives_one_global_id_per_person(bag, model, onnx_model, tmp_path, mode,
                                                              backend):
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2
    from std_msgs.msg import String

    from tcfd_ros.messages import MatchMsg

    msgs = _messages(bag)
    log = tmp_path / "graph.log"
    proc = _graph(onnx_model if backend == "onnx" else model, backend, log, mode)
    h = RosHarness()
    try:
        node = h.add(Node("e2e_player", context=h.context))
        matches: list[MatchMsg] = []
        node.create_subscription(String, "/matches", lambda m: matches.append(MatchMsg.from_json(m.data)),
                                 QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
        types = {"sensor_msgs/msg/Image": Image, "sensor_msgs/msg/CameraInfo": CameraInfo,
                 "sensor_msgs/msg/PointCloud2": PointCloud2}
        pubs = {topic: node.create_publisher(types[mt], topic, QoSProfile(depth=10))
                for topic, mt in {(m[1], m[2]) for m in msgs}}
        clock = node.create_publisher(Clock, "/clock", QoSProfile(depth=10))
        diagnostics: set[str] = set()
        node.create_subscription(DiagnosticArray, "/diagnostics",
                                 lambda m: diagnostics.update(s.name for s in m.status), QoSProfile(depth=50))
        # the graph spins once every node reports diagnostics (its timers run only while spinning)
        wait_for(lambda: proc.poll() is not None or len(diagnostics) == 5, timeout_s=90)
        assert proc.poll() is None, log.read_text()
        wait_for(lambda: all(p.get_subscription_count() for p in pubs.values()))
        t0_wall, t0_bag = time.monotonic(), msgs[0][0]
        for stamp_ns, topic, _, raw in msgs:   # real time, /clock before each message
            delay = (stamp_ns - t0_bag) * 1e-9 - (time.monotonic() - t0_wall)
            if delay > 0:
                time.sleep(delay)
            c = Clock()
            c.clock.sec, c.clock.nanosec = divmod(stamp_ns, 1_000_000_000)
            clock.publish(c)
            pubs[topic].publish(raw)
        sensors = lambda: {m.sensor for m in matches}  # noqa: E731
        wait_for(lambda: sensors() == {"camera", "lidar"}, timeout_s=30)
        assert proc.poll() is None, log.read_text()
    finally:
        h.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=30)
    assert code == 0, log.read_text()

    sent = {s for s, topic, _, _ in msgs if topic != "/camera/camera_info"}
    for m in matches:
        assert m.modality == {"camera": "2d", "lidar": "3d"}[m.sensor]
        assert m.stamp["sec"] * 1_000_000_000 + m.stamp["nanosec"] in sent  # the sensor's own stamp
        assert 0.0 <= m.confidence <= 1.0 and m.threshold == PERMISSIVE_THRESHOLD
        assert m.frame_id in ("lidar", "camera_optical_frame")
    last = {}
    for m in matches:
        last[(m.sensor, m.track_id)] = m.global_id
    cam_ids = {g for (s, _), g in last.items() if s == "camera"}
    lidar_ids = {g for (s, _), g in last.items() if s == "lidar"}
    # the one person seen by both sensors ends with the same global id on both sensors' tracks
    assert cam_ids & lidar_ids, (last, log.read_text()[-3000:])
    assert any(m.known for m in matches)
