"""``tcfd-ros ablate --config C --switches gmtd,resnet_bypass,sw,mf,fse,tfd [--out DIR]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from tcfd_ros.cli.examples import FORMATTER, examples

DEFAULT_OUT = Path("out/ablation")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ablate", help="train and evaluate TCFDNet with each component switched off",
        description="Train the experiment of --config as is and once per switch with that component "
                    "off (model.ablation.<switch>: false; run name <name>_no_<switch>), evaluate each on "
                    "the test split in both directions and write ablation.md / ablation.json into --out "
                    "(rows like the paper's ablation table).",
        epilog=examples("tcfd-ros ablate --config training/configs/sim_cpu.yaml --out out/ablation",
                        "tcfd-ros ablate --config training/configs/sim_cpu.yaml --switches gmtd,tfd --reuse"),
        formatter_class=FORMATTER)
    p.add_argument("--config", type=Path, required=True, help="experiment YAML (architecture: tcfdnet)")
    p.add_argument("--switches", default="gmtd,resnet_bypass,sw,mf,fse,tfd",
                   help="comma-separated switches (default: all six)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"table directory (default {DEFAULT_OUT})")
    p.add_argument("--reuse", action="store_true", help="evaluate an existing out_dir/<run>/model.pt instead "
                   "of training it again")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from training.ablate import parse_switches, run_ablation
    from training.config import load_train_config

    cfg = load_train_config(args.config)
    rows = run_ablation(cfg, parse_switches(args.switches), args.out, reuse=args.reuse)
    print((args.out / "ablation.md").read_text())
    print(f"{len(rows)} variants; table: {args.out / 'ablation.md'}")
    return 0
