"""``tcfd-ros simulate bag|dataset|tracklets|preview``: the labelled synthetic multi-sensor world.

Thin argument parsing over ``tcfd_ros.sim``; bad arguments raise ConfigError (exit code 2, one line on
stderr) and leave no partial output behind.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tcfd_ros.cli.examples import FORMATTER, examples
from tcfd_ros.errors import ConfigError


EXAMPLES = """examples:
  tcfd-ros simulate bag --out out/sim.bag --storage mcap --people 5 --duration 60 \\
      --lidar hdl64 --layout disjoint
  tcfd-ros simulate dataset --out out/sim_ds --identities 100 --conditions nm,bg,cl,nt --frames 30
  tcfd-ros simulate tracklets out/replays/h1 out/replays/h2 --out out/sim_ds
  tcfd-ros simulate preview --out out/preview.png --identities 2 --conditions nm,bg,cl,ub
"""


def _csv(kind: str):
    def parse(text: str) -> tuple[str, ...]:
        items = tuple(x.strip() for x in text.split(",") if x.strip())
        if not items:
            raise argparse.ArgumentTypeError(f"{kind}: expected a comma-separated list, got {text!r}")
        return items
    return parse


def _views(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"views: expected comma-separated degrees like 0,45,90, got {text!r}") from None


def _range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX in metres like 6,9.5, got {text!r}") from None
    return lo, hi


def register(sub: argparse._SubParsersAction) -> None:
    from tcfd_ros.sim.person import CONDITIONS
    from tcfd_ros.sim.sensors import LIDAR_MODELS

    p = sub.add_parser("simulate", help="synthetic walkers seen by a camera and a LiDAR (bags, data sets)",
                       description="Generate labelled synthetic data: rosbag2 bags with ground truth, "
                                   "SUSTech1K-layout data sets, and a preview contact sheet.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ss = p.add_subparsers(dest="simulate_command", metavar="WHAT")
    ss.required = True
    lidars = sorted(LIDAR_MODELS)

    b = ss.add_parser("bag", help="write a rosbag2 bag (camera, LiDAR, tf_static, ground truth)",
                      description="Write a rosbag2 bag of people walking past a camera and a LiDAR, with "
                                  "/tf_static and per-frame /ground_truth.",
                      epilog=examples("tcfd-ros simulate bag --out out/sim.bag --people 2 --duration 3 "
                                      "--seed 7",
                                      "tcfd-ros simulate bag --out out/robot.bag --storage mcap "
                                      "--mount robot --layout overlap --lidar vlp16"),
                      formatter_class=FORMATTER)
    b.add_argument("--out", type=Path, required=True, help="bag folder to create")
    b.add_argument("--storage", default="sqlite3", help="sqlite3 or mcap (default sqlite3)")
    b.add_argument("--people", type=int, default=5, help="number of walkers (default 5)")
    b.add_argument("--duration", type=float, default=60.0, help="seconds of simulated time (default 60)")
    b.add_argument("--seed", type=int, default=0,
                   help="world seed: people, clothing, paths (same seed = same bytes; default 0)")
    b.add_argument("--lidar", default="hdl64", help=f"beam pattern: {', '.join(lidars)} (default hdl64)")
    b.add_argument("--condition", type=_csv("condition"), default=("nm",),
                   help=f"condition(s), comma-separated, assigned to people in turn: {' '.join(CONDITIONS)}")
    b.add_argument("--layout", default="disjoint",
                   help="disjoint (sensors see different zones; default) or overlap")
    b.add_argument("--camera-hz", type=float, default=15.0, help="camera frame rate (default 15)")
    b.add_argument("--width", type=int, default=640, help="image width (default 640)")
    b.add_argument("--height", type=int, default=480, help="image height (default 480)")
    b.add_argument("--first-id", type=int, default=0,
                   help="identity id of the first walker (pick test-set ids of a simulated data set)")
    b.add_argument("--mount", default="pole",
                   help="pole (fixed sensors; default) or robot (both sensors on a robot patrolling "
                        "the zone; "
                        "needs --layout overlap; publishes /tf map->base_link)")
    b.add_argument("--workers", type=int, default=2,
                   help="processes casting camera frames ahead of the writer (default 2), beside one each "
                        "for the camera's noise and the LiDAR; 1: all in one process. The bag is the same "
                        "byte for byte for any number")
    b.add_argument("--force", action="store_true", help="replace an existing output")
    b.set_defaults(func=run_bag)

    d = ss.add_parser("dataset", help="write a data set in SUSTech1K's layout plus partition.json",
                      description="Write a SUSTech1K-layout data set of simulated identities "
                                  "(silhouettes, depth maps, points) and partition.json.",
                      epilog=examples("tcfd-ros simulate dataset --out out/sim_dataset --identities 32 "
                                      "--views 0,90,180,270 --conditions nm,bg --frames 20"),
                      formatter_class=FORMATTER)
    d.add_argument("--out", type=Path, required=True, help="data set root to create")
    d.add_argument("--identities", type=int, required=True, help="number of people")
    d.add_argument("--views", type=_views, default=(0, 45, 90, 135, 180, 225, 270, 315),
                   help="walking directions in degrees (default 0,45,...,315)")
    d.add_argument("--conditions", type=_csv("conditions"), default=("nm", "bg", "cl"),
                   help=f"probe conditions besides the 00-nm gallery: {' '.join(CONDITIONS)} "
                        "(default nm,bg,cl)")
    d.add_argument("--frames", type=int, default=30, help="LiDAR frames (10 Hz) per sequence (default 30)")
    d.add_argument("--seed", type=int, default=0, help="world seed: which people (default 0)")
    d.add_argument("--lidar", default="os128", help=f"beam pattern: {', '.join(lidars)} (default os128)")
    d.add_argument("--camera-hz", type=float, default=None,
                   help="free-running camera rate; default: one camera frame per LiDAR revolution "
                        "(triggered)")
    d.add_argument("--train-fraction", type=float, default=0.5, help="share of identities in TRAIN_SET")
    d.add_argument("--lidar-height", type=float, default=1.0,
                   help="LiDAR height above the ground, m (default 1.0, SUSTech1K's rig; poles: 2-3)")
    d.add_argument("--camera-height", type=float, default=1.15, help="camera height, m (default 1.15)")
    d.add_argument("--camera-tilt", type=float, default=4.0,
                   help="camera tilt downwards, degrees (default 4; a camera 4.5 m up: ~20)")
    d.add_argument("--distance", type=_range, default=(6.0, 9.5),
                   help="MIN,MAX distance of the walk from the sensors, m (default 6,9.5)")
    d.add_argument("--mixed-mounting", type=float, default=0.0, metavar="SHARE",
                   help="share of sequences (0..1) seen from a random pole / robot mounting instead: "
                        "LiDAR 0.8-2.8 m, camera 1-5 m aimed at the walk, 6-13 m away (default 0)")
    d.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    d.add_argument("--force", action="store_true", help="replace an existing output")
    d.set_defaults(func=run_dataset)

    t = ss.add_parser("tracklets", help="a training set of the pipeline's tracklets from replayed sim bags",
                      description="Label the tracklets a replay of a simulated bag recorded (tcfd-ros "
                                  "replay BAG --out DIR --record DIR/outputs.mcap) with the bag's ground "
                                  "truth, and write each person's camera and LiDAR tracks as paired "
                                  "sequences in the SUSTech1K layout (training/harvest.py), first in the "
                                  "TRAIN_SET of the data set's partition.json (its held-out identities "
                                  "stay last).",
                      epilog=examples("tcfd-ros simulate tracklets out/replays/h1 out/replays/h2 "
                                      "--out out/sim_ds"),
                      formatter_class=FORMATTER)
    t.add_argument("replays", type=Path, nargs="+", metavar="REPLAY_DIR",
                   help="a replay's --out directory, with recording.jsonl and outputs.mcap")
    t.add_argument("--out", type=Path, required=True,
                   help="data set root to add to (created if absent; an existing partition.json is extended)")
    t.add_argument("--min-frames", type=int, default=10,
                   help="frames a track needs to be written (default 10: one tracklet)")
    t.set_defaults(func=run_tracklets)

    v = ss.add_parser("preview", help="PNG contact sheet of silhouettes and depth maps",
                      description="Draw silhouettes and depth maps of a few simulated identities on one PNG.",
                      epilog=examples("tcfd-ros simulate preview --out out/preview.png --identities 2 "
                                      "--conditions nm,bg,cl,ub"),
                      formatter_class=FORMATTER)
    v.add_argument("--out", type=Path, required=True, help="PNG file to write")
    v.add_argument("--identities", type=int, default=2, help="how many identities (default 2)")
    v.add_argument("--views", type=_views, default=(0, 90), help="views (default 0,90)")
    v.add_argument("--conditions", type=_csv("conditions"), default=("nm", "bg", "cl", "ub"),
                   help=f"conditions, one column group each: {' '.join(CONDITIONS)} (default nm,bg,cl,ub)")
    v.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
    v.add_argument("--lidar", default="os128", help=f"beam pattern: {', '.join(lidars)} (default os128)")
    v.add_argument("--force", action="store_true", help="replace an existing PNG")
    v.set_defaults(func=run_preview)


def run_bag(args: argparse.Namespace) -> int:
    from tcfd_ros.sim.bag import BagSpec, write_bag

    spec = BagSpec(out=args.out, storage=args.storage, people=args.people, duration_s=args.duration,
                   seed=args.seed, lidar=args.lidar, conditions=tuple(args.condition), layout=args.layout,
                   camera_hz=args.camera_hz, camera_width=args.width, camera_height=args.height,
                   first_id=args.first_id, mount=args.mount, force=args.force, workers=args.workers)
    print(json.dumps(write_bag(spec)))
    return 0


def run_dataset(args: argparse.Namespace) -> int:
    from tcfd_ros.sim.dataset import DatasetSpec, write_dataset

    spec = DatasetSpec(out=args.out, identities=args.identities, views=args.views,
                       conditions=tuple(args.conditions), frames=args.frames, seed=args.seed,
                       lidar=args.lidar,
                       camera_hz=args.camera_hz, train_fraction=args.train_fraction, workers=args.workers,
                       lidar_height_m=args.lidar_height, camera_height_m=args.camera_height,
                       camera_tilt_deg=args.camera_tilt, min_distance_m=args.distance[0],
                       max_distance_m=args.distance[1], mixed_mounting=args.mixed_mounting,
                       force=args.force)
    print(json.dumps(write_dataset(spec)))
    return 0


def run_tracklets(args: argparse.Namespace) -> int:
    from training.harvest import add_to_partition, harvest_replay, write_people

    if args.min_frames < 1:
        raise ConfigError(f"--min-frames must be >= 1, got {args.min_frames}")
    args.out.mkdir(parents=True, exist_ok=True)
    ids: list[str] = []
    for replay in args.replays:
        written = write_people(harvest_replay(replay), args.out, replay.name, args.min_frames)
        print(json.dumps({"replay": str(replay), "identities": len(written)}), flush=True)
        ids += written
    add_to_partition(args.out / "partition.json", ids)
    print(json.dumps({"out": str(args.out), "identities": len(ids)}))
    return 0


def run_preview(args: argparse.Namespace) -> int:
    from tcfd_ros.sim.preview import write_preview

    if args.identities < 1:
        raise ConfigError(f"identities must be >= 1, got {args.identities}")
    if args.out.exists() and not args.force:
        raise ConfigError(f"output {args.out} already exists; pass --force to replace it")
    path = write_preview(args.out, identities=tuple(range(args.identities)), views=args.views,
                         conditions=tuple(args.conditions), seed=args.seed, lidar=args.lidar)
    print(json.dumps({"out": str(path)}))
    return 0
