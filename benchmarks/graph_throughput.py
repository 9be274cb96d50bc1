"""Does the whole node graph keep up with 10 Hz LiDAR + 15 Hz 640x480 camera, and at what speed-up?

A simulated bag (HDL-64 LiDAR at 10 Hz, 640x480 camera at 15 Hz, people walking through the zone both
see) is published over DDS with ``/clock`` at R x real time into ``tcfd-ros bringup --use-sim-time``
(a fresh graph process per R, reliable sensor inputs as in a replay). The graph keeps up at R when
it processes every image and cloud (no ``queue_full`` drop in its diagnostics) and answers every
tracklet with a match. Prints one JSON object; the publisher shares the 2 cores with the graph, as a
bag player on the robot would.

    .venv/bin/python benchmarks/graph_throughput.py [--rates 1 2 3] [--duration 12] [--backend torch]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "crossmodal.yaml"
OUT = ROOT / "out" / "bench_graph"
SENSOR_TOPICS = ("/camera/image_raw", "/camera/camera_info", "/lidar/points")
DRAIN_QUIET_S = 3.0        # the graph is done when no output arrived for this long
STARTUP_TIMEOUT_S = 120.0
KEEP_UP_FRACTION = 0.99    # processed share of frames that counts as keeping up


def make_inputs(duration_s: float, people: int, backend: str) -> tuple[Path, Path]:
    """The bag and a random-init tiny model (cached under out/); weights do not change the compute."""
    import torch

    from tcfd_ros.model import TCFDNet, save_checkpoint, tiny_model_config
    from tcfd_ros.sim.bag import BagSpec, write_bag

    OUT.mkdir(parents=True, exist_ok=True)
    bag = OUT / f"bag_{people}p_{duration_s:g}s"
    if not bag.exists():
        write_bag(BagSpec(out=bag, people=people, duration_s=duration_s, layout="overlap", seed=3))
    ckpt = OUT / "tiny_random.pt"
    if not ckpt.exists():
        torch.manual_seed(0)
        save_checkpoint(ckpt, TCFDNet(tiny_model_config()).eval(), metadata={"open_set_threshold": 0.5})
    if backend == "onnx":
        from tcfd_ros.inference.export import export_onnx

        onnx = OUT / "tiny_random.onnx"
        if not onnx.exists():
            export_onnx(ckpt, onnx)
        return bag, onnx
    return bag, ckpt


def load_messages(bag: Path) -> list[tuple[int, str, str, bytes]]:
    from rosbags.rosbag2 import Reader

    with Reader(bag) as reader:
        conns = [c for c in reader.connections if c.topic in SENSOR_TOPICS]
        return [(t, c.topic, c.msgtype, bytes(raw)) for c, t, raw in reader.messages(connections=conns)]


class _StartupOnly(Exception):
    """Raised to stop a run right after start-up (to measure start-up CPU)."""


def run_rate(rate: float, msgs: list, model: Path, backend: str, domain: int, processes: bool,
             threads: int = 0) -> dict:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import QoSProfile
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2
    from std_msgs.msg import String

    from tcfd_ros.replay.sim_clock import ClockThinner

    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    log = Path(tempfile.mkdtemp(prefix="tcfd_bench_")) / "graph.log"
    cmd = [sys.executable, "-m", "tcfd_ros", "bringup", "--config", str(CONFIG), "--use-sim-time",
           "--param", f"recognizer.model_path={model}", "--param", f"recognizer.backend={backend}",
           "--param", "recognizer.threads=1", "--param", "camera_segmenter.input_reliability=reliable",
           "--param", "lidar_segmenter.input_reliability=reliable"] + (
               ["--processes"] if processes else ["--threads", str(threads)])
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env=env)
    os.environ.update(ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    context = rclpy.Context()
    rclpy.init(context=context)
    node = Node("graph_throughput", context=context)
    ex = SingleThreadedExecutor(context=context)
    ex.add_node(node)
    spinner = threading.Thread(target=ex.spin, daemon=True)
    spinner.start()
    got: dict[str, int] = {}
    last_output = [time.monotonic()]
    diag: dict[str, dict[str, str]] = {}
    p50s: dict[tuple[str, str], list[float]] = {}   # every p50 seen while running (the window is 5 s)

    def count(topic: str):
        def cb(_msg) -> None:
            got[topic] = got.get(topic, 0) + 1
            last_output[0] = time.monotonic()
        return cb

    def on_diag(m: DiagnosticArray) -> None:
        for s in m.status:
            diag[s.name] = {kv.key: kv.value for kv in s.values}
            for k, v in diag[s.name].items():
                if k.endswith("latency_ms_p50"):
                    p50s.setdefault((s.name, k), []).append(float(v))

    for topic, ty in (("/camera/detections", Image), ("/lidar/clusters", PointCloud2),
                      ("/camera/tracklets", String), ("/lidar/tracklets", String), ("/matches", String)):
        node.create_subscription(ty, topic, count(topic), QoSProfile(depth=200))
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, QoSProfile(depth=50))
    types = {"sensor_msgs/msg/Image": Image, "sensor_msgs/msg/CameraInfo": CameraInfo,
             "sensor_msgs/msg/PointCloud2": PointCloud2}
    pubs = {t: node.create_publisher(types[mt], t, QoSProfile(depth=10))
            for t, mt in {(m[1], m[2]) for m in msgs}}
    clock = node.create_publisher(Clock, "/clock", QoSProfile(depth=10))
    try:
        end = time.monotonic() + STARTUP_TIMEOUT_S
        while len(diag) < 5 and proc.poll() is None and time.monotonic() < end:
            time.sleep(0.1)
        if len(diag) < 5:
            raise RuntimeError(f"graph did not start: {log.read_text()[-2000:]}")
        time.sleep(1.0)
        # each node's process CPU so far (start-up: imports, model load, DDS discovery), to tell it apart
        # from what the run itself costs
        startup_cpu = {n: float(d["process_cpu_s"]) for n, d in list(diag.items()) if "process_cpu_s" in d}
        sent = {"/camera/image_raw": 0, "/lidar/points": 0}
        if not msgs:  # start-up cost only
            raise _StartupOnly
        t0_wall, t0_bag = time.monotonic(), msgs[0][0]
        thin = ClockThinner()            # /clock as the replay publishes it
        for stamp_ns, topic, _, raw in msgs:
            delay = (stamp_ns - t0_bag) * 1e-9 / rate - (time.monotonic() - t0_wall)
            if delay > 0:
                time.sleep(delay)
            if thin.due(stamp_ns):
                c = Clock()
                c.clock.sec, c.clock.nanosec = divmod(stamp_ns, 1_000_000_000)
                clock.publish(c)
            pubs[topic].publish(raw)
            if topic in sent:
                sent[topic] += 1
        publish_wall = time.monotonic() - t0_wall
        while time.monotonic() - last_output[0] < DRAIN_QUIET_S:
            time.sleep(0.1)
        time.sleep(1.5)  # one more diagnostics period
    except _StartupOnly:
        pass
    finally:
        ex.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU time of the graph process tree (bringup waits for its node processes), start-up included
    graph_cpu_s = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)

    if not msgs:
        return {"graph_cpu_s_incl_startup": graph_cpu_s}

    def key(node_name: str, k: str) -> int:
        return int(diag.get(node_name, {}).get(k, "0"))
    images, clouds = sent["/camera/image_raw"], sent["/lidar/points"]
    tracklets = got.get("/camera/tracklets", 0) + got.get("/lidar/tracklets", 0)
    result = {
        "rate": rate,
        "bag_s": (msgs[-1][0] - msgs[0][0]) * 1e-9,
        "publish_wall_s": round(publish_wall, 2),
        "images_sent": images, "detections": got.get("/camera/detections", 0),
        "clouds_sent": clouds, "clusters": got.get("/lidar/clusters", 0),
        "tracklets": tracklets, "matches": got.get("/matches", 0),
        "graph_cpu_s_incl_startup": round(graph_cpu_s, 2),
        "camera_dropped": key("/camera/camera_segmenter", "image_raw: dropped"),
        "lidar_dropped": key("/lidar/lidar_segmenter", "points: dropped"),
        # CPU seconds per stage: each input handler's thread (``<input>: cpu_s``) and each node's
        # process (``process_cpu_s``; the same process for all nodes without --processes)
        "stage_cpu_s": {f"{n} {k[:-len(': cpu_s')]}": float(v) for n, d in sorted(diag.items())
                        for k, v in d.items() if k.endswith(": cpu_s")},
        "process_cpu_s": {n: float(d["process_cpu_s"]) for n, d in sorted(diag.items())
                          if "process_cpu_s" in d},
        # the same without start-up: process CPU from just before the first message to the end
        "process_cpu_s_run": {n: round(float(d["process_cpu_s"]) - startup_cpu.get(n, 0.0), 3)
                              for n, d in sorted(diag.items()) if "process_cpu_s" in d},
        # median over the run of each node's 5-s-window p50 (queue wait + processing)
        "latency_ms_p50": {f"{n} {k.split(':')[0]}": round(sorted(v)[len(v) // 2], 1)
                           for (n, k), v in p50s.items()},
    }
    result["keeps_up"] = bool(
        result["detections"] >= KEEP_UP_FRACTION * images and result["clusters"] >= KEEP_UP_FRACTION * clouds
        and result["matches"] >= tracklets)
    return result


def measure_startup_cpu(model: Path, backend: str, domain: int, processes: bool) -> float:
    """CPU seconds of starting and stopping the graph with no input (subtracted from each run)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run_rate(1.0, [], model, backend, domain, processes)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", type=float, nargs="+", default=[1.0, 2.0, 3.0])
    ap.add_argument("--duration", type=float, default=12.0, help="simulated seconds")
    ap.add_argument("--people", type=int, default=3)
    ap.add_argument("--backend", choices=("torch", "onnx"), default="torch")
    ap.add_argument("--processes", action="store_true", help="bringup --processes (one process per node)")
    ap.add_argument("--threads", type=int, default=1,
                    help="one-process graph: executor threads "
                         "(bringup --threads; 1 = single-threaded, the default)")
    ap.add_argument("--domain", type=int, default=91, help="ROS_DOMAIN_ID used (isolated, localhost only)")
    args = ap.parse_args()
    load_before = os.getloadavg()
    bag, model = make_inputs(args.duration, args.people, args.backend)
    msgs = load_messages(bag)
    runs = [run_rate(r, msgs, model, args.backend, args.domain, args.processes, args.threads)
            for r in args.rates]
    kept = [r["rate"] for r in runs if r["keeps_up"]]
    idle = measure_startup_cpu(model, args.backend, args.domain, args.processes)
    for r in runs:
        # CPU-seconds the graph spends per second of recording, scaled up for frames it dropped, and
        # the speed-up two otherwise idle cores could sustain at perfect parallelism (an upper bound)
        frac = min(r["detections"] / max(r["images_sent"], 1), r["clusters"] / max(r["clouds_sent"], 1))
        per_bag_s = max(r["graph_cpu_s_incl_startup"] - idle, 0.0) / r["bag_s"] / max(frac, 1e-6)
        r["graph_cpu_s_per_bag_s"] = round(per_bag_s, 3)
        r["rtf_bound_on_2_idle_cores"] = round(2.0 / per_bag_s, 2) if per_bag_s > 0 else None
    print(json.dumps({
        "benchmark": "graph_throughput", "machine": platform.machine(), "cpus": os.cpu_count(),
        "load_avg_before": load_before, "load_avg_after": os.getloadavg(), "backend": args.backend,
        "graph": "process per node" if args.processes else "one process",
        "model": "tiny TCFDNet (random init)",
        "inputs": "sim bag: HDL-64 10 Hz + 640x480 bgr8 15 Hz", "people": args.people,
        "max_realtime_factor_kept_up": max(kept) if kept else 0.0, "runs": runs,
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
