"""Training-step time of a recipe's model with default (NCHW) and channels-last (NHWC) weights.

The trainer moves the model to channels-last (``training/trainer.py``); this measures what that saves.
One step = forward + losses + backward + Adam on a random paired batch of one DDP rank's share of the
recipe's P x K (``--world-size``), timed ``--steps`` times after ``--warmup`` steps, the two layouts
alternating ``--repeats`` times so that a machine's drift hits both. Prints one JSON object (seconds per
step, each repeat). Not collected by pytest.

    .venv/bin/python benchmarks/bench_training_layout.py --config training/configs/reference_cpu.yaml
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.config import TrainConfig, load_train_config  # noqa: E402
from training.losses import total_loss  # noqa: E402
from training.trainer import build_model  # noqa: E402

CLASSES = 248  # the reference recipe's training identities (the head's size barely matters)


def step_seconds(cfg: TrainConfig, channels_last: bool, n: int, steps: int, warmup: int) -> float:
    torch.manual_seed(0)
    model = build_model(cfg, CLASSES)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    x = torch.rand(2 * n, cfg.sampler.frames, 3, 64, 64)
    mod = torch.cat([torch.zeros(n, dtype=torch.int64), torch.ones(n, dtype=torch.int64)])
    labels = (torch.arange(n) // cfg.sampler.k).repeat(2)

    def step() -> None:
        loss, _ = total_loss(model(x, mod), labels, mod, cfg.loss)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t) / steps


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="training/configs/reference_cpu.yaml")
    ap.add_argument("--world-size", type=int, default=2, help="DDP processes sharing P x K (make model: 2)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = load_train_config(a.config)
    n = cfg.sampler.p * cfg.sampler.k // a.world_size
    res: dict[str, list[float]] = {"default": [], "channels_last": []}
    for _ in range(a.repeats):
        for name in res:
            res[name].append(round(step_seconds(cfg, name == "channels_last", n, a.steps, a.warmup), 4))
    print(json.dumps({"config": a.config, "sequences_per_step": n, "threads": a.threads,
                      "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
                      "seconds_per_step": res}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
