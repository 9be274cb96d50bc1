"""``tcfd-ros train --config C [--resume]``: train one experiment of ``training/configs/``.

Multi-process / multi-GPU: ``torchrun --nproc_per_node N -m tcfd_ros train --config C``
(each process reads WORLD_SIZE/RANK from torchrun; gloo on CPU, NCCL on CUDA).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tcfd_ros.cli.examples import FORMATTER, examples


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train TCFDNet or the ResNet-9 baseline from a YAML experiment",
        description="Train the experiment described by --config (training/configs/*.yaml), checkpointing "
                    "every checkpoint_every iterations into out_dir/name; --resume continues exactly "
                    "from the last checkpoint. At the end the open-set threshold is calibrated on the "
                    "held-out identities and stored in out_dir/name/model.pt.",
        epilog=examples("tcfd-ros train --config training/configs/demo_cpu.yaml   "
                        "# out/train/demo_cpu/model.pt",
                        "tcfd-ros train --config training/configs/demo_cpu.yaml --resume",
                        "torchrun --nproc_per_node 2 -m tcfd_ros train "
                        "--config training/configs/sim_cpu.yaml",
                        "tcfd-ros train --config training/configs/reference_cpu.yaml --calibrate-only"),
        formatter_class=FORMATTER)
    p.add_argument("--config", type=Path, required=True, help="experiment YAML")
    p.add_argument("--resume", action="store_true", help="continue from out_dir/name/train_state.pt")
    p.add_argument("--calibrate-only", action="store_true",
                   help="no training: recalibrate the finished run's model.pt with the config's "
                        "calibration section (the rest of the config must be the one it was trained with)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from training.config import load_train_config
    from training.trainer import Trainer

    cfg = load_train_config(args.config)
    trainer = Trainer(cfg, resume=args.resume, show_progress=False if args.no_progress else None)
    path = trainer.calibrate_only() if args.calibrate_only else trainer.run()
    if path is not None:
        print(f"model: {path}")
        from training.checkpoints import load_trained
        _, meta, _ = load_trained(path)
        keys = ("open_set_threshold", "open_set_threshold_track", "open_set_measured_fmr",
                "genuine_accept_rate_tracklet", "genuine_accept_rate_track", "calibration_track_tracklets",
                "train_seconds_this_run")
        print(json.dumps({k: meta.get(k) for k in keys}))
    return 0
