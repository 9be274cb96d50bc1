"""Ablation runner: train and evaluate the full model and one variant per switch turned off, and write a
table shaped like the paper's (rows: full, w/o <component>; columns: Rank-1/Rank-5 per direction)."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any, Sequence

from tcfd_ros.errors import ConfigError
from training.checkpoints import load_trained
from training.config import TrainConfig
from training.split_evaluation import evaluate_model
from training.trainer import MODEL_FILE, Trainer, build_dataset

log = logging.getLogger(__name__)

SWITCH_LABELS = {"gmtd": "w/o GMTD", "resnet_bypass": "w/o ResNet bypass", "sw": "w/o SW", "mf": "w/o MF",
                 "fse": "w/o FSE", "tfd": "w/o TFD"}


def parse_switches(text: str) -> tuple[str, ...]:
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    bad = [s for s in names if s not in SWITCH_LABELS]
    if bad or not names:
        raise ConfigError(f"--switches {text!r}: unknown {bad}; choose from {list(SWITCH_LABELS)}")
    return names


def variants(cfg: TrainConfig, switches: Sequence[str]) -> list[tuple[str, TrainConfig]]:
    """(row label, config) for the full model and each switch off; run names get a ``_no_<switch>`` suffix."""
    if cfg.architecture != "tcfdnet":
        raise ConfigError("ablate needs architecture: tcfdnet (the switches are TCFDNet's)")
    out = [("TCFDNet (full)", cfg)]
    for s in switches:
        model = cfg.model.replace_ablation(**{s: False})
        out.append((SWITCH_LABELS[s], dataclasses.replace(cfg, name=f"{cfg.name}_no_{s}", model=model)))
    return out


def run_ablation(cfg: TrainConfig, switches: Sequence[str], out_dir: Path, reuse: bool = False,
                 max_frames: int | None = None) -> list[dict[str, Any]]:
    """Train (or, with ``reuse``, load an existing ``model.pt``) and evaluate every variant."""
    test = build_dataset(cfg, "test", sync=cfg.eval.sync)
    rows = []
    for label, vcfg in variants(cfg, switches):
        path = vcfg.run_dir / MODEL_FILE
        t0 = time.perf_counter()
        if not (reuse and path.is_file()):
            path = Trainer(vcfg).run()  # type: ignore[assignment]
        train_s = time.perf_counter() - t0
        model, meta, _ = load_trained(path)
        res = evaluate_model(model, test, ("3d2d", "2d3d"),
                             max_frames=cfg.eval.max_frames if max_frames is None else max_frames,
                             batch_sequences=cfg.eval.batch_sequences)
        row = {"variant": label, "run": vcfg.name, "checkpoint": str(path),
               "train_seconds": round(train_s, 1) if not reuse else meta.get("train_seconds_this_run")}
        for d, r in res["directions"].items():
            o = r["overall"] if "overall" in r else r
            row.update({f"{d}_rank1": o["rank1"], f"{d}_rank5": o["rank5"], f"{d}_mAP": o["mAP"]})
        rows.append(row)
        log.info("%s: %s", label, row)
        write_table(rows, out_dir)
    return rows


def write_table(rows: list[dict[str, Any]], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "ablation.json").write_text(json.dumps(rows, indent=1))
    lines = ["| variant | 3D->2D R1 | 3D->2D R5 | 2D->3D R1 | 2D->3D R5 | 3D->2D mAP "
             "| wall s (train + calibration) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['3d2d_rank1']:.1f} | {r['3d2d_rank5']:.1f} | "
                     f"{r['2d3d_rank1']:.1f} | "
                     f"{r['2d3d_rank5']:.1f} | {r['3d2d_mAP']:.1f} | {r['train_seconds']} |")
    path = out_dir / "ablation.md"
    path.write_text("\n".join(lines) + "\n")
    return path
