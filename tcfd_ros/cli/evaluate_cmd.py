"""``tcfd-ros evaluate --checkpoint C --dataset D --direction 2d3d|3d2d|both [--out DIR]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tcfd_ros.cli.examples import FORMATTER, examples

#: why ``at_checkpoint_thresholds`` has no track row for a model calibrated where the recognizer decides
PIPELINE_TRACK_THRESHOLD = ("the checkpoint's track threshold was set on replays' track pairs (tcfd-ros "
                            "calibrate: the gait distance corrected by walking speed and stature); it does "
                            "not apply to clean sequences' gait distances, so no track rates at it")

DEFAULT_OUT = Path("out/eval")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate", help="cross-modal retrieval metrics of a trained model on a data set's test split",
        description="Embed the test split of --dataset (SUSTech1K layout incl. the synthetic set, or "
                    "FreeGait) with --checkpoint and write results.json, results.md, cmc.png and "
                    "rank1_views_<direction>.png into --out. SUSTech1K: gallery 00-nm, Rank-k per "
                    "(probe view, gallery view) pair without same-view pairs, averaged over non-empty "
                    "pairs, per condition; FreeGait: PROBE_SET vs the rest, Rank-k, mAP, mINP.",
        epilog=examples("tcfd-ros evaluate --checkpoint out/train/demo_cpu/model.pt "
                        "--dataset out/sim_dataset --out out/eval/demo",
                        "tcfd-ros evaluate --checkpoint model.pt --dataset /data/FreeGait --format freegait"),
        formatter_class=FORMATTER)
    p.add_argument("--checkpoint", type=Path, required=True, help="model.pt written by tcfd-ros train")
    p.add_argument("--dataset", type=Path, required=True, help="data set root")
    p.add_argument("--partition", type=Path, default=None,
                   help="partition JSON (default DATASET/partition.json)")
    p.add_argument("--format", choices=("sustech1k", "freegait"), default="sustech1k", help="on-disk layout")
    p.add_argument("--direction", choices=("2d3d", "3d2d", "both"), default="both",
                   help="2d3d: camera queries vs LiDAR gallery; 3d2d: the reverse; both (default)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"report directory (default {DEFAULT_OUT})")
    p.add_argument("--max-frames", type=int, default=0, help="evenly spaced frames per sequence (0 = all)")
    p.add_argument("--native", action="store_true", help="SUSTech1K: native-rate files instead of sync")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    p.add_argument("--open-set", action="store_true",
                   help="also measure open-set rates per tracklet (10 frames, hop 5) and per track "
                        "(aggregated tracklets of a sequence): genuine accept rate at 1%% FMR on this split "
                        "and the FMR / genuine accept rate of the checkpoint's calibrated thresholds "
                        "(not the track threshold of a model calibrated on replays, tcfd-ros calibrate: "
                        "another score)")
    p.add_argument("--track-tracklets", type=int, default=None,
                   help="with --open-set: a track is the newest N tracklets of a sequence, as the "
                        "recognizer keeps identity.track_evidence_tracklets (0 = all; default: the level "
                        "the checkpoint was calibrated at, else 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Everything up to the model is torch-free: a missing checkpoint or a broken or hostile data file
    # anywhere in the split ends the command before torch is imported (well under a second, <100 MB).
    from tcfd_ros.errors import CheckpointError, ConfigError
    from training.datasets import FreeGait, SUSTech1K
    from training.retrieval_metrics import needed_modalities

    if args.track_tracklets is not None and args.track_tracklets < 0:
        raise ConfigError(f"--track-tracklets {args.track_tracklets}: expected >= 0")
    if not args.checkpoint.is_file():
        raise CheckpointError(f"checkpoint {args.checkpoint}: file not found (tcfd-ros train writes one)")
    partition = args.partition or args.dataset / "partition.json"
    if args.format == "sustech1k":
        ds = SUSTech1K(args.dataset, partition, split="test", sync=not args.native)
    else:
        ds = FreeGait(args.dataset, partition, split="test")
    directions = ("2d3d", "3d2d") if args.direction == "both" else (args.direction,)
    counts = ds.frame_counts(("2d", "3d") if args.open_set else needed_modalities(directions))

    import torch

    from training.checkpoints import load_trained
    from training.split_evaluation import evaluate_model, evaluate_open_set
    from training.report import markdown_table, write_report

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    model, meta, kind = load_trained(args.checkpoint)
    results = evaluate_model(model, ds, directions, max_frames=args.max_frames, counts=counts)
    results.update({"checkpoint": str(args.checkpoint), "architecture": kind, "dataset": str(args.dataset),
                    "open_set_threshold": meta.get("open_set_threshold")})
    if args.open_set:
        thresholds = {"tracklet": meta.get("open_set_threshold"),
                      "track": meta.get("open_set_threshold_track")}
        # a track threshold set where the recognizer decides (tcfd-ros calibrate) is on the score it decides
        # by (gait x the cues' ratio^-k, in a pipeline projection's space where the model has one), not on
        # clean sequences' gait distance: rates at it here would mean nothing
        skipped = PIPELINE_TRACK_THRESHOLD if meta.get("calibration_level_track") == "pipeline" else None
        if skipped:
            thresholds["track"] = None
            print(f"open set: {skipped}", file=sys.stderr)
        per_track = args.track_tracklets
        if per_track is None:
            per_track = int(meta.get("calibration_track_tracklets") or 0)
        results["open_set"] = evaluate_open_set(model, ds, thresholds, counts=counts,
                                                track_tracklets=per_track)
        if skipped:
            results["open_set"]["track_threshold_not_applied"] = skipped
    paths = write_report(results, args.out, title=f"{kind} {args.checkpoint}")
    print(markdown_table(results))
    if args.open_set:
        import json

        print("open set: " + json.dumps(results["open_set"], sort_keys=True))
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0
