"""The camera tracker over real DDS gives a frame's detections their image's colours also when the image
comes after them (nodes.image_cache): the tracks then do not depend on which message came first."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from tcfd_ros.graph import build_graph
from tcfd_ros.image_conversions import cv2_to_imgmsg
from tcfd_ros.nodes.bringup import node_arguments
from tcfd_ros.nodes.qos import OUTPUT_QOS, SENSOR_QOS
from tcfd_ros.nodes.tracker_node import TrackerNode

from test_nodes_harness import RosHarness, wait_for

pytestmark = pytest.mark.ros
CONFIG = Path(__file__).resolve().parents[1] / "config" / "crossmodal.yaml"
FRAMES = 12


def _header(t: float) -> Header:
    h = Header()
    h.stamp.sec, h.stamp.nanosec = int(t), int(round((t % 1) * 1e9))
    h.frame_id = "camera_optical"
    return h


def _frame(i: int) -> tuple[np.ndarray, np.ndarray]:
    """A person-sized box walking right: its mono16 label image and the bgr8 image it was found in."""
    labels = np.zeros((240, 320), np.uint16)
    image = np.full((240, 320, 3), (90, 96, 102), np.uint8)
    x = 40 + 6 * i
    labels[70:200, x:x + 36] = 1
    image[70:130, x:x + 36] = (40, 40, 220)      # a red shirt
    image[130:200, x:x + 36] = (120, 60, 20)     # dark blue trousers
    return labels, image


def test_detections_that_arrive_before_their_image_still_get_its_colours():
    h = RosHarness()
    try:
        spec = next(s for s in build_graph().nodes if s.name == "camera_tracker")
        tracker = h.add(TrackerNode(name="camera_tracker", context=h.context, namespace=spec.namespace,
                                    cli_args=node_arguments(spec, CONFIG), use_global_arguments=False))
        probe = h.add(Node("probe", context=h.context))
        diags: list = []
        probe.create_subscription(DiagnosticArray, "/diagnostics", diags.append, OUTPUT_QOS)
        det = probe.create_publisher(Image, "/camera/detections", OUTPUT_QOS)
        img = probe.create_publisher(Image, "/camera/image_raw", SENSOR_QOS)
        wait_for(lambda: det.get_subscription_count() and img.get_subscription_count())
        for i in range(FRAMES):
            labels, image = _frame(i)
            t = 500.0 + i / 10
            det.publish(cv2_to_imgmsg(labels, "mono16", header=_header(t)))   # the detections first ...
            time.sleep(0.03)
            img.publish(cv2_to_imgmsg(image, "bgr8", header=_header(t)))      # ... then their image
            time.sleep(0.07)

        def counts():
            for arr in reversed(diags):
                for s in arr.status:
                    v = {kv.key: kv.value for kv in s.values}
                    done = int(v.get("detections: processed", 0)) == FRAMES
                    if s.name == "/camera/camera_tracker" and done:
                        return int(v["appearance_images_waited_for"]), int(v["appearance_images_missing"])
            return None

        waited, missing = wait_for(counts, timeout_s=15.0)
        assert missing <= 1 and waited >= FRAMES - 2        # the first frame has no stream to wait on yet
        tracked = [t for t in tracker.tracking.tracker.tracks if t.confirmed]
        assert tracked and all(t.appearance is not None for t in tracked)
    finally:
        h.close()
