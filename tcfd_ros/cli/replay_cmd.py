"""``tcfd-ros replay BAG``: play a rosbag2 bag into the node graph over DDS and write a scored report."""

from __future__ import annotations

import argparse
from pathlib import Path

from tcfd_ros.cli.examples import FORMATTER, examples
from tcfd_ros.errors import ConfigError

DEFAULT_OUT = Path("out/replay")
RECORD_NOTE = """\
--record writes the graph's outputs (annotated image, markers, tracks, tracklets, matches, clusters,
/diagnostics) and the bag's /tf_static to one mcap file for Foxglove (layout config/foxglove_layout.json)
or RViz (config/tcfd_ros.rviz). --video writes the annotated camera stream beside a top-down LiDAR view,
one video frame per camera frame of the bag (MPEG-4 Part 2, 'mp4v'; OpenCV's wheel has no H.264 encoder).
The annotated images are 90-96 % of a recording (0.6-1.3 GB per 90 s of a 6-person disjoint bag); to evaluate
many bags, --record-exclude '.*/annotated' keeps the rest, and the key frames and the video then
draw the recorded tracks on the bag's own images.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay",
        help="replay a bag through the node graph and score it",
        description="Publish a rosbag2 bag (sqlite3 or mcap) with /clock into the node graph "
                    "(tcfd-ros bringup, started here with sim time), record matches, markers, tracks and "
                    "/diagnostics, score them against /ground_truth when the bag has it, and write "
                    "report.md / report.html with plots into --out.",
        epilog=examples(
            "tcfd-ros replay out/sim.bag --fast --model models/my_model.onnx --out out/replay",
            "tcfd-ros replay out/sim.bag --fast --model models/my_model.onnx --out out/replay \\",
            "    --record out/replay/outputs.mcap --video out/replay/replay.mp4",
            "tcfd-ros replay out/sim.bag --fast --record out/replay/outputs.mcap \\",
            "    --record-exclude '.*/annotated'",
            "tcfd-ros replay out/sim.bag --rate 0.5 --config my.yaml "
            "--param recognizer.identity.open_set_threshold=0.3",
            note=RECORD_NOTE),
        formatter_class=FORMATTER,
    )
    p.add_argument("bag", type=Path, help="rosbag2 directory (or .mcap / .db3 file)")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=float, default=1.0, help="playback speed factor (default 1.0)")
    pace.add_argument("--fast", action="store_true",
                      help="as fast as the graph keeps up: each frame waits for the graph's answer")
    p.add_argument("--config", type=Path, default=None,
                   help="graph params file (default: config/crossmodal.yaml)")
    p.add_argument("--replay-config", type=Path, default=None,
                   help="YAML with a top-level 'replay:' section (topics, flow control, scoring thresholds)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"report directory (default {DEFAULT_OUT})")
    p.add_argument("--model", type=Path, default=None, help="exported model for the recognizer (and the CMC)")
    p.add_argument("--backend", choices=("onnx", "torch", "tensorrt"), default="onnx",
                   help="embedding runtime for --model (default onnx)")
    p.add_argument("--param", action="append", default=[], metavar="NODE.NAME=VALUE",
                   help="extra graph parameter override passed to bringup (repeatable)")
    p.add_argument("--record", type=Path, default=None, metavar="OUT.mcap",
                   help="also write the graph's outputs to this mcap bag (Foxglove, RViz, ros2 bag play)")
    p.add_argument("--record-exclude", default=None, metavar="REGEX",
                   help="leave topics whose whole name matches REGEX out of --record (as ros2 bag record "
                        "--exclude-regex); '.*/annotated' keeps what a re-run of the recognizer needs "
                        "in 4-10 %% of the file")
    p.add_argument("--video", type=Path, default=None, metavar="OUT.mp4",
                   help="also write an MP4: annotated camera image beside a top-down LiDAR view")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--domain-id", type=int, default=None, metavar="N",
                   help="ROS domain of the replay's graph (default: ROS_DOMAIN_ID when set, else a free one "
                        "on this host, so that two replays never hear each other)")
    p.add_argument("--one-process", action="store_true",
                   help="run the graph in one process (default: one process per node, as launch does)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tcfd_ros.graph import default_config_path
    from tcfd_ros.replay.run import ReplayOptions, raise_if_damaged, raise_if_foreign, replay

    if not args.fast and not args.rate > 0:
        raise ConfigError(f"--rate must be > 0, got {args.rate}")
    opts = ReplayOptions(
        bag=args.bag, out_dir=args.out, graph_config=args.config or default_config_path(),
        rate=None if args.fast else args.rate, replay_config=args.replay_config, model=args.model,
        backend=args.backend, params=tuple(args.param), progress=not args.no_progress,
        graph_processes=not args.one_process, record=args.record, record_exclude=args.record_exclude,
        video=args.video, domain_id=args.domain_id,
    )
    result = replay(opts, raise_on_damage=False)
    print("\n".join(result.summary))
    print(f"report: {result.report} (and {result.report.with_suffix('.html')})")
    if args.record is not None:
        print(f"recording: {args.record} (Foxglove layout: config/foxglove_layout.json)")
    if args.video is not None:
        print(f"video: {args.video}")
    raise_if_damaged(result)
    raise_if_foreign(result)
    return 0
