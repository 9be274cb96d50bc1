"""Real ROS 2 transport: PointCloud2, Image and CompressedImage built by tcfd_ros cross DDS unchanged.

One node publishes, another node in its own executor (spun in another thread) subscribes; then the
same with the publisher in a separate process (stopped with SIGINT, exit code 0). The arrays decoded
on the receiving side must equal the originals exactly. The DDS domain and localhost-only
discovery come from ``test/conftest.py``; the rclpy context is private to the test and shut down at
the end, so the test can run twice in a row and beside other ROS tests.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from tcfd_ros import image_conversions as ic
from tcfd_ros import point_cloud2 as pc2

rclpy = pytest.importorskip("rclpy")

pytestmark = pytest.mark.ros

RECEIVE_TIMEOUT_S = 30.0
PUBLISH_PERIOD_S = 0.1


def _test_messages():
    from std_msgs.msg import Header

    rng = np.random.default_rng(7)
    point = np.dtype({"names": ["x", "y", "z", "intensity", "ring", "time"],
                      "formats": ["<f4", "<f4", "<f4", "<f4", "<u2", "<f8"],
                      "offsets": [0, 4, 8, 16, 20, 24], "itemsize": 32})  # padding at 12..15, 22..23
    cloud = np.zeros((16, 256), dtype=point)  # organized (height, width)
    for name in ("x", "y", "z", "intensity"):
        cloud[name] = rng.normal(size=cloud.shape).astype(np.float32)
    cloud["x"][3, 5] = np.nan
    cloud["ring"] = np.arange(16, dtype=np.uint16)[:, None]
    cloud["time"] = rng.uniform(0, 0.1, size=cloud.shape)
    bgr = rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    labels = rng.integers(0, 65536, size=(48, 64), dtype=np.uint16)
    depth = rng.normal(size=(24, 32)).astype(np.float32)
    header = Header(frame_id="tcfd_test")
    messages = {
        "points": pc2.create_cloud(header, pc2.dtype_to_fields(point), cloud, point_step=32),
        "image_bgr8": ic.cv2_to_imgmsg(bgr, "bgr8", header=header),
        "image_mono16": ic.cv2_to_imgmsg(labels, "mono16", header=header),
        "image_32fc1": ic.cv2_to_imgmsg(depth, header=header),
        "compressed_png": ic.cv2_to_compressed_imgmsg(bgr, "png"),
    }
    expected = {"points": cloud, "image_bgr8": bgr, "image_mono16": labels, "image_32fc1": depth,
                "compressed_png": bgr}
    return messages, expected


def _same_bytes(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _decode(topic: str, msg) -> np.ndarray:
    if topic == "points":
        return pc2.read_points(msg, reshape_organized_cloud=True)
    if topic.startswith("compressed"):
        return ic.compressed_imgmsg_to_cv2(msg)
    return ic.imgmsg_to_cv2(msg)


def test_messages_round_trip_exactly_between_two_nodes() -> None:
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CompressedImage, Image, PointCloud2

    messages, expected = _test_messages()
    types = {"points": PointCloud2, "compressed_png": CompressedImage}
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    context = rclpy.context.Context()
    rclpy.init(context=context)
    received: dict[str, object] = {}
    pub_node = sub_node = None
    pub_exec = sub_exec = None
    spinner = None
    try:
        pub_node = rclpy.create_node("tcfd_roundtrip_talker", context=context)
        sub_node = rclpy.create_node("tcfd_roundtrip_listener", context=context)
        publishers = {t: pub_node.create_publisher(types.get(t, Image), f"tcfd_test/{t}", qos)
                      for t in messages}
        for t in messages:
            sub_node.create_subscription(types.get(t, Image), f"tcfd_test/{t}",
                                         lambda m, t=t: received.setdefault(t, m), qos)

        def publish_all() -> None:
            for t, msg in messages.items():
                if t not in received:
                    publishers[t].publish(msg)

        pub_node.create_timer(PUBLISH_PERIOD_S, publish_all)
        pub_exec = SingleThreadedExecutor(context=context)
        pub_exec.add_node(pub_node)
        sub_exec = SingleThreadedExecutor(context=context)
        sub_exec.add_node(sub_node)
        spinner = threading.Thread(target=pub_exec.spin, daemon=True)
        spinner.start()
        deadline = time.monotonic() + RECEIVE_TIMEOUT_S
        while len(received) < len(messages) and time.monotonic() < deadline:
            sub_exec.spin_once(timeout_sec=0.1)
        assert set(received) == set(messages), f"received only {sorted(received)} in {RECEIVE_TIMEOUT_S} s"
    finally:
        if pub_exec is not None:
            pub_exec.shutdown()
        if sub_exec is not None:
            sub_exec.shutdown()
        if spinner is not None:
            spinner.join(timeout=5.0)
        for node in (pub_node, sub_node):
            if node is not None:
                node.destroy_node()
        rclpy.shutdown(context=context)
    assert spinner is not None and not spinner.is_alive()

    for topic, msg in received.items():
        sent = messages[topic]
        assert msg is not sent
        out = _decode(topic, msg)
        assert out.shape == expected[topic].shape and out.dtype == expected[topic].dtype, topic
        assert out.tobytes() == expected[topic].tobytes(), topic  # bit-exact, the NaN included
    cloud = received["points"]
    assert (cloud.height, cloud.width, cloud.point_step, cloud.row_step) == (16, 256, 32, 8192)
    assert received["image_bgr8"].header.frame_id == "tcfd_test"
    assert received["image_32fc1"].encoding == "32FC1"


PUBLISHER_SCRIPT = r"""
import signal, sys
import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image, PointCloud2
from std_msgs.msg import Header
from tcfd_ros import image_conversions as ic, point_cloud2 as pc2

rng = np.random.default_rng(11)
xyz = rng.normal(size=(1000, 3)).astype(np.float32)
bgr = rng.integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
header = Header(frame_id="other_process")
msgs = {"points": pc2.create_cloud_xyz32(header, xyz),
        "image": ic.cv2_to_imgmsg(bgr, "bgr8", header=header),
        "compressed": ic.cv2_to_compressed_imgmsg(bgr, "png")}
types = {"points": PointCloud2, "image": Image, "compressed": CompressedImage}
rclpy.init()
signal.signal(signal.SIGTERM, lambda *_: rclpy.try_shutdown())
node = rclpy.create_node("tcfd_roundtrip_other_process")
qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
pubs = {t: node.create_publisher(types[t], f"tcfd_proc/{t}", qos) for t in msgs}
node.create_timer(0.1, lambda: [pubs[t].publish(m) for t, m in msgs.items()])
print("ready", flush=True)
try:
    rclpy.spin(node)
except (KeyboardInterrupt, ExternalShutdownException):
    pass
finally:
    node.destroy_node()
    rclpy.try_shutdown()
sys.exit(0)
"""


def test_messages_round_trip_exactly_between_two_processes() -> None:
    """A publisher in another process (its own rclpy, DDS participant and executor), stopped by SIGINT."""
    import signal
    import subprocess
    import sys

    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CompressedImage, Image, PointCloud2

    rng = np.random.default_rng(11)  # the same draws as the publisher script
    expected = {"points": rng.normal(size=(1000, 3)).astype(np.float32)}
    expected["image"] = expected["compressed"] = rng.integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    types = {"points": PointCloud2, "image": Image, "compressed": CompressedImage}
    proc = subprocess.Popen([sys.executable, "-c", PUBLISHER_SCRIPT], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    context = rclpy.context.Context()
    rclpy.init(context=context)
    received: dict[str, object] = {}
    node = executor = None
    try:
        node = rclpy.create_node("tcfd_roundtrip_listener_process", context=context)
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        for t, msg_type in types.items():
            node.create_subscription(msg_type, f"tcfd_proc/{t}",
                                     lambda m, t=t: received.setdefault(t, m), qos)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + RECEIVE_TIMEOUT_S
        while len(received) < len(types) and time.monotonic() < deadline and proc.poll() is None:
            executor.spin_once(timeout_sec=0.1)
    finally:
        if executor is not None:
            executor.shutdown()
        if node is not None:
            node.destroy_node()
        rclpy.shutdown(context=context)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert set(received) == set(types), f"got {sorted(received)}; publisher said:\n{out}\n{err[-2000:]}"
    assert proc.returncode == 0, f"publisher exit code {proc.returncode}:\n{err[-2000:]}"
    assert _same_bytes(pc2.read_points_numpy(received["points"]), expected["points"])
    assert _same_bytes(ic.imgmsg_to_cv2(received["image"]), expected["image"])
    assert _same_bytes(ic.compressed_imgmsg_to_cv2(received["compressed"]), expected["compressed"])
    assert received["image"].header.frame_id == "other_process"
