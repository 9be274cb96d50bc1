"""The camera segmenter takes ``tracks`` and ``matches`` (only drawn on ``annotated``) only while
someone subscribes to ``annotated``: each received message costs rclpy CPU (RESULTS.md "Graph CPU for
slower machines")."""

from __future__ import annotations

import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import String

from tcfd_ros.image_conversions import cv2_to_imgmsg
from tcfd_ros.nodes.camera_segmenter_node import CameraSegmenterNode
from tcfd_ros.nodes.qos import OUTPUT_QOS, SENSOR_QOS
from tcfd_ros.track_messages import tracks_to_json

from test_nodes import _args, _header
from test_nodes_harness import RosHarness, wait_for

pytestmark = pytest.mark.ros


def _topics(node: Node) -> set[str]:
    return {s.topic_name for s in node.subscriptions}


def _diag(got: list, name: str) -> dict[str, str]:
    for arr in reversed(got):
        for s in arr.status:
            if s.name == name:
                return {kv.key: kv.value for kv in s.values}
    return {}


def test_tracks_and_matches_are_taken_only_while_annotated_is_read():
    h = RosHarness()
    try:
        seg = h.add(CameraSegmenterNode(context=h.context, **_args("camera_segmenter")))
        probe = h.add(Node("annotation_probe", context=h.context))
        diags: list = []
        probe.create_subscription(DiagnosticArray, "/diagnostics", diags.append, OUTPUT_QOS)
        images = probe.create_publisher(Image, "/camera/image_raw", SENSOR_QOS)
        tracks = probe.create_publisher(String, "/camera/tracks", OUTPUT_QOS)
        wait_for(lambda: images.get_subscription_count() > 0)
        inputs = {"/camera/tracks", "/matches"}
        # before the first image nothing is dropped: a listener may not be discovered yet
        time.sleep(2.5)
        assert inputs <= _topics(seg)
        img = np.full((240, 320, 3), 90, np.uint8)
        for i in range(3):
            images.publish(cv2_to_imgmsg(img, "bgr8", header=_header(1000.0 + i / 10, "camera_optical")))
            time.sleep(0.1)
        wait_for(lambda: seg.health.inputs["image_raw"].processed >= 3)
        # nor for a few seconds after the first image: a listener that started before the graph (a
        # replay's recorder) may still be in discovery on a loaded host (ANNOTATION_DISCOVERY_GRACE_S)
        time.sleep(2.0)
        assert inputs <= _topics(seg)
        # images flow and no one reads annotated: the inputs go, and diagnostics say why
        wait_for(lambda: not inputs & _topics(seg), timeout_s=10)
        d = wait_for(lambda: (v := _diag(diags, "/camera/camera_segmenter")).get("annotation_inputs", "")
                     .startswith("not subscribed") and v)
        assert "annotated" in d["annotation_inputs"] and int(d["tracks: unsubscribed"]) == 1
        assert "no message on tracks" not in " ".join(s.message for a in diags[-1:] for s in a.status)
        # a viewer subscribes: the inputs come back and its images are annotated
        annotated: list = []
        probe.create_subscription(Image, "/camera/annotated", annotated.append, OUTPUT_QOS)
        wait_for(lambda: inputs <= _topics(seg), timeout_s=10)
        wait_for(lambda: tracks.get_subscription_count() > 0)
        t = 1001.0
        images.publish(cv2_to_imgmsg(img, "bgr8", header=_header(t, "camera_optical")))
        wait_for(lambda: seg.health.inputs["image_raw"].processed >= 4)
        stamp = {"sec": 1001, "nanosec": 0}
        tracks.publish(String(data=tracks_to_json(stamp, "camera_optical", "camera", "2d", [])))
        ann = wait_for(lambda: annotated and annotated[-1])
        assert (ann.header.stamp.sec, ann.header.stamp.nanosec) == (1001, 0)
    finally:
        h.close()
