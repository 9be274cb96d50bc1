"""Training-step time with and without the frozen-CLIP token cache, for a CLIP variant (random weights).

Prints one JSON object: seconds per training step (forward + backward + Adam) of a TCFDNet with the
demo's widths on a random paired batch, once computing CLIP inside the step and once feeding cached
tokens, plus the one-off cost of computing those tokens. Usage:
    .venv/bin/python benchmarks/bench_training_clip_cache.py --variant tcfd-tiny --p 4 --k 4 --steps 3
    .venv/bin/python benchmarks/bench_training_clip_cache.py --variant ViT-B-16 --p 2 --k 2 --steps 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time

import torch

from tcfd_ros.model import TCFDNet
from tcfd_ros.model.config import ClipConfig
from training.config import load_train_config
from training.losses import total_loss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--variant", default="tcfd-tiny")
    ap.add_argument("--config", default="training/configs/demo_cpu.yaml")
    ap.add_argument("--p", type=int, default=4)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = load_train_config(a.config)
    mcfg = dataclasses.replace(cfg.model, clip=ClipConfig(variant=a.variant, weights="random"),
                               head=dataclasses.replace(cfg.model.head, num_classes=a.p))
    model = TCFDNet(mcfg).train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    n = a.p * a.k
    x = torch.randn(2 * n, a.frames, 3, 64, 64)
    mod = torch.cat([torch.zeros(n), torch.ones(n)]).long()
    labels = torch.arange(a.p).repeat_interleave(a.k).repeat(2)
    t0 = time.perf_counter()
    feats = model.clip_features(x)
    token_s = time.perf_counter() - t0

    def step(clip_feats):
        t = time.perf_counter()
        out = model(x, mod, clip_feats=clip_feats)
        loss, _ = total_loss(out, labels, mod, cfg.loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return time.perf_counter() - t

    step(None)  # warm-up
    plain = min(step(None) for _ in range(a.steps))
    cached = min(step(feats) for _ in range(a.steps))
    print(json.dumps({"variant": a.variant, "clip_weights": "random", "batch_clips": 2 * n,
                      "frames": a.frames, "threads": a.threads, "step_s_clip_in_step": round(plain, 3),
                      "step_s_cached_tokens": round(cached, 3), "token_precompute_s": round(token_s, 3),
                      "speedup": round(plain / cached, 2), "machine": platform.machine(),
                      "loadavg_1min": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
