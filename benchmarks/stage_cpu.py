"""CPU per frame of each graph stage on one thread, offline, on a bag's real messages.

The node handlers' work without DDS: each sensor message of the bag is deserialized by rclpy (as a
subscription does), decoded, segmented, encoded and serialized again (as a publish does); the
segmenters' outputs go through the trackers' decoding and measurement building. Times are the
thread's CPU time (``time.thread_time``), so they are the cost on one core and hold on a loaded
machine, where wall time would not. Library thread pools are pinned to one thread, as in the nodes.

    .venv/bin/python benchmarks/stage_cpu.py BAG [--skip 30] [--profile camera|lidar] [--top 25]

Prints JSON lines: per stage and step, CPU ms per frame (mean, p50, p95) over the frames after
the first ``--skip`` (the camera's background model warms up; the LiDAR's static memory learns).
With ``--profile`` the named stage runs under cProfile (CPU clock) and its top functions are printed
to stderr.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OPENCV_FOR_THREADS_NUM"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import pstats  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

cv2.setNumThreads(1)

IMAGE_TOPIC = "/camera/image_raw"
CLOUD_TOPIC = "/lidar/points"


def _stats(v) -> list[float]:
    """[mean, p50, p95] in ms, rounded."""
    return [round(float(x), 2) for x in (np.mean(v), np.percentile(v, 50), np.percentile(v, 95))]


class Steps:
    """Accumulates CPU ms per (stage, step) for the frames after ``skip``."""

    def __init__(self, skip: int) -> None:
        self.skip = skip
        self.ms: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        self.frame: dict[str, int] = defaultdict(int)

    def run(self, stage: str, step: str, fn, *args):
        c0 = time.thread_time()
        out = fn(*args)
        if self.frame[stage] >= self.skip:
            self.ms[stage][step].append((time.thread_time() - c0) * 1e3)
        return out

    def next_frame(self, stage: str) -> None:
        self.frame[stage] += 1

    def summary(self) -> dict:
        out = {}
        for stage, steps in self.ms.items():
            rows = {k: _stats(v) for k, v in steps.items()}
            rows["total"] = _stats(np.sum([v for v in steps.values()], axis=0))
            out[stage] = {"frames": len(next(iter(steps.values()))), "cpu_ms_mean_p50_p95": rows}
        return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bag", type=Path)
    ap.add_argument("--skip", type=int, default=30, help="frames per stage left out of the statistics")
    ap.add_argument("--profile", choices=("camera", "lidar", "camera_tracker", "lidar_tracker"))
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--max-frames", type=int, default=0, help="stop after this many messages per topic")
    args = ap.parse_args()

    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import Image, PointCloud2

    from tcfd_ros.image_conversions import cv2_to_imgmsg, imgmsg_to_cv2
    from tcfd_ros.nodes.lidar_segmenter_node import CLUSTER_DTYPE, clusters_to_points
    from tcfd_ros.perception.config import CameraSegmenterConfig, LidarSegmenterConfig
    from tcfd_ros.perception.segment_camera import CameraSegmenter, label_image
    from tcfd_ros.perception.segment_lidar import LidarSegmenter
    from tcfd_ros.perception.sensor_tracking import camera_measurements, lidar_measurements
    from tcfd_ros.perception.track import MultiTargetTracker
    from tcfd_ros.nodes.node_configs import camera_tracker_node_config, TrackerNodeConfig
    from tcfd_ros.point_cloud2 import create_cloud, dtype_to_fields, read_points
    from tcfd_ros.replay.reader import BagSource

    try:        # the node's x/y/z as it takes them (this tree's node module, if it says how)
        from tcfd_ros.nodes.lidar_segmenter_node import structured_to_unstructured

        def xyz_of(p: np.ndarray) -> np.ndarray:
            return structured_to_unstructured(p[["x", "y", "z"]], copy=False)
    except ImportError:
        def xyz_of(p: np.ndarray) -> np.ndarray:
            return np.stack([p["x"], p["y"], p["z"]], axis=1)

    cam = CameraSegmenter(CameraSegmenterConfig())
    lidar = LidarSegmenter(LidarSegmenterConfig())
    cam_mtt = MultiTargetTracker(camera_tracker_node_config().tracker)
    lidar_mtt = MultiTargetTracker(TrackerNodeConfig().tracker)
    st = Steps(args.skip)
    profiles = {s: cProfile.Profile(time.thread_time)
                for s in ("camera", "lidar", "camera_tracker", "lidar_tracker")}
    counts: dict[str, int] = defaultdict(int)

    def camera(raw: bytes) -> bytes:
        msg = st.run("camera", "deserialize", deserialize_message, raw, Image)
        image = st.run("camera", "decode", imgmsg_to_cv2, msg, "bgr8")
        dets = st.run("camera", "segment", cam.segment, image)
        labels = st.run("camera", "label_image", label_image, dets, image.shape[:2])
        out = st.run("camera", "encode", cv2_to_imgmsg, labels, "mono16", msg.header)
        return st.run("camera", "serialize", serialize_message, out)

    def lidar_stage(raw: bytes) -> bytes:
        msg = st.run("lidar", "deserialize", deserialize_message, raw, PointCloud2)
        pts = st.run("lidar", "decode", lambda m: read_points(m).reshape(-1), msg)
        xyz = st.run("lidar", "xyz", xyz_of, pts)
        ring = pts["ring"] if "ring" in (pts.dtype.names or ()) else None
        clusters = st.run("lidar", "segment", lidar.segment, xyz, ring)
        rows = st.run("lidar", "pack", clusters_to_points, pts, clusters)
        out = st.run("lidar", "encode", create_cloud, msg.header, dtype_to_fields(CLUSTER_DTYPE), rows)
        return st.run("lidar", "serialize", serialize_message, out)

    def camera_tracker(raw: bytes, t: float) -> None:
        msg = st.run("camera_tracker", "deserialize", deserialize_message, raw, Image)
        labels = st.run("camera_tracker", "decode", imgmsg_to_cv2, msg)
        ms = st.run("camera_tracker", "measurements", camera_measurements, labels)
        st.run("camera_tracker", "track", cam_mtt.update, t, ms)

    def lidar_tracker(raw: bytes, t: float) -> None:
        msg = st.run("lidar_tracker", "deserialize", deserialize_message, raw, PointCloud2)
        pts = st.run("lidar_tracker", "decode", lambda m: read_points(m).reshape(-1), msg)
        ms = st.run("lidar_tracker", "measurements", lidar_measurements, pts)
        st.run("lidar_tracker", "track", lidar_mtt.update, t, ms)

    def profiled(stage: str, fn, *a):
        if args.profile != stage:
            return fn(*a)
        return profiles[stage].runcall(fn, *a)

    with BagSource(args.bag) as bag:
        for m in bag.messages([IMAGE_TOPIC, CLOUD_TOPIC]):
            if args.max_frames and counts[m.topic] >= args.max_frames:
                continue
            counts[m.topic] += 1
            t = m.stamp_ns * 1e-9
            if m.topic == IMAGE_TOPIC:
                out = profiled("camera", camera, m.data)
                profiled("camera_tracker", camera_tracker, out, t)
                st.next_frame("camera")
                st.next_frame("camera_tracker")
            else:
                out = profiled("lidar", lidar_stage, m.data)
                profiled("lidar_tracker", lidar_tracker, out, t)
                st.next_frame("lidar")
                st.next_frame("lidar_tracker")
    summary = st.summary()
    rates = {"camera": 15.0, "camera_tracker": 15.0, "lidar": 10.0, "lidar_tracker": 10.0}
    per_bag_s = sum(summary[s]["cpu_ms_mean_p50_p95"]["total"][0] * rates[s] for s in summary) / 1e3
    print(json.dumps({"benchmark": "stage_cpu", "bag": str(args.bag), "frames": dict(counts),
                      "skip": args.skip, "load_avg": os.getloadavg(),
                      "cpu_s_per_bag_s_at_15hz_camera_10hz_lidar": round(per_bag_s, 3)}))
    for stage, d in summary.items():
        print(json.dumps({stage: d}))
    if args.profile:
        s = io.StringIO()
        pstats.Stats(profiles[args.profile], stream=s).sort_stats("tottime").print_stats(args.top)
        print(s.getvalue(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
