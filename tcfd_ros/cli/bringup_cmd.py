"""``tcfd-ros bringup``: run the node graph of ``config/crossmodal.yaml`` in one process (no launch stack)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tcfd_ros.graph import TopicNames, as_dict, default_config_path

EPILOG = """\
examples:
  tcfd-ros bringup                    # shipped reference model models/tcfd_sim.onnx (models/MODEL_CARD.md)
  tcfd-ros bringup --param recognizer.model_path=models/my_model.onnx
  tcfd-ros bringup --config config/crossmodal.yaml --use-sim-time \\
      --param recognizer.model_path=out/train/demo_cpu/model.pt --param recognizer.backend=torch \\
      --param recognizer.gallery_path=out/gallery.sqlite \\
      --param camera.camera_segmenter.segmenter.min_area_px=80
  tcfd-ros bringup --check            # validate the config, print the node graph, start nothing

--processes runs each node in its own process (exactly the command lines launch would run) and
supervises them; without it the nodes share one process and its GIL.

driving it from a replay: start `tcfd-ros bringup --config C --use-sim-time [--param ...]` as a child
process (own process group), publish /clock (rosgraph_msgs/Clock) and the bag's sensor topics
(/camera/image_raw, /camera/camera_info, /lidar/points by default), read /matches, and stop it with
SIGINT (clean rclpy shutdown; exit code 0). With --use-sim-time the segmenters subscribe to their
sensor topics with reliable QoS: best-effort samples of 1-2.5 MB (640x480 images, 64-beam clouds) are
split into UDP fragments and lost whole when one fragment is, which on a loaded host is most of them;
a bag player can afford retransmission (--param camera_segmenter.input_reliability=best_effort
undoes it). A bad config or model exits with code 2 before any node starts, with the reason on
stderr. --param names a node ([namespace.]node.key=value, value in YAML); without a namespace it
applies to that node in every sensor namespace.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bringup", help="run the ROS 2 node graph (same graph and config as the launch file)",
        description="Run camera_segmenter, lidar_segmenter, trackers and the recognizer in one process "
                    "(single-threaded executor; each node works on its own thread), or one process per "
                    "node with "
                    "--processes, from the same graph description (tcfd_ros/graph.py) "
                    "and params file as launch/crossmodal.launch.py.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=None,
                   help="ROS 2 params file (default: config/crossmodal.yaml)")
    p.add_argument("--param", action="append", default=[], metavar="[NS.]NODE.KEY=VALUE",
                   help="override one parameter (repeatable), e.g. recognizer.backend=torch")
    p.add_argument("--use-sim-time", action="store_true",
                   help="every node follows /clock (bag replay); also makes the sensor inputs reliable "
                        "(see below)")
    p.add_argument("--namespace", default="", help="top-level namespace pushed onto the whole graph")
    p.add_argument("--image-topic", default=TopicNames.image,
                   help="camera image topic, relative to each camera namespace")
    p.add_argument("--camera-info-topic", default=TopicNames.camera_info, help="CameraInfo topic (relative)")
    p.add_argument("--points-topic", default=TopicNames.points,
                   help="LiDAR cloud topic, relative to each LiDAR namespace")
    p.add_argument("--matches-topic", default=TopicNames.matches, help="matches output topic")
    p.add_argument("--markers-topic", default=TopicNames.markers, help="markers output topic")
    p.add_argument("--backend", choices=("tensorrt", "onnx", "torch"), default=None,
                   help="shortcut for --param recognizer.backend=...")
    p.add_argument("--threads", type=int, default=None,
                   help="executor threads of the one-process graph (default 1: a single-threaded executor, "
                        "nodes work on their own threads; N > 1 = multi-threaded; 0 = one per node)")
    p.add_argument("--processes", action="store_true",
                   help="one process per node, as launch does (uses every core; no shared GIL)")
    p.add_argument("--check", action="store_true",
                   help="validate config and overrides, print the graph as JSON, exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tcfd_ros.nodes import bringup

    config = args.config if args.config is not None else default_config_path()
    overrides = [bringup.parse_param(p) for p in bringup.replay_defaults(args.use_sim_time) + args.param]
    if args.backend:
        overrides.append(bringup.parse_param(f"recognizer.backend={args.backend}"))
    topics = TopicNames(args.image_topic, args.camera_info_topic, args.points_topic, args.matches_topic,
                        args.markers_topic)
    if args.check:
        graph, _ = bringup.plan(config, overrides, args.namespace, topics)
        print(json.dumps(as_dict(graph), indent=2))
        return 0

    def ready(graph) -> None:
        names = ", ".join(graph.node_names())
        print(f"tcfd-ros bringup: running {len(graph.nodes)} nodes: {names}", flush=True)

    if args.processes:
        return bringup.run_processes(config, overrides, args.use_sim_time, args.namespace, topics, ready)
    threads = bringup.DEFAULT_THREADS if args.threads is None else args.threads
    return bringup.run(config, overrides, args.use_sim_time, args.namespace, topics, threads, ready)
