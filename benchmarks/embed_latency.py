"""Embedding latency: full TCFDNet vs the frozen CLIP visual encoder alone, torch and ONNX Runtime.

For one 30-frame tracklet and batches of 8 and 32 such tracklets, on ``--threads`` CPU threads, times
the network forward (preprocessed float input, the same tensor for both models) of
  * the full TCFDNet embedding path (``EmbeddingGraph``: what ``tcfd-ros export`` ships), and
  * the frozen open_clip visual tower alone (stock ``visual(x)`` on the same n*t frames),
under torch and under ONNX Runtime, in the same run. One subprocess per runtime loads both models and
alternates full / CLIP-alone runs, so load from other processes on shared cores hits both alike. Peak
memory (VmHWM) comes from one more subprocess per (runtime, model) running the largest batch once.
Also reports parameters (total / trainable) and FLOPs (torch FlopCounterMode: matmul/conv/attention
only, elementwise ops not counted). Prints one JSON document.

    .venv/bin/python benchmarks/embed_latency.py [--threads 2] [--frames 30] [--batches 1 8 32]

CLIP weights do not change latency, so the model uses ``clip.weights: random`` (recorded in the output).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tcfd_ros.model import ModelConfig, TCFDNet, save_checkpoint  # noqa: E402
from tcfd_ros.model.config import ClipConfig  # noqa: E402

WORKERS = ("torch", "onnx", "mem:torch:full", "mem:torch:clip", "mem:onnx:full", "mem:onnx:clip")


class ClipAlone(torch.nn.Module):
    """The stock frozen CLIP visual forward on every frame: [n, t, 3, H, W] -> [n*t, c]."""

    def __init__(self, visual: torch.nn.Module) -> None:
        super().__init__()
        self.visual = visual

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.visual(frames.flatten(0, 1))


def _peak_rss_mib() -> float:
    """This process's resident-set high-water mark (VmHWM; unlike ru_maxrss it is not inherited on fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _stats(times: list[float]) -> dict:
    times = sorted(times)
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    return {"p50_ms": statistics.median(times), "p95_ms": p95,
            "mean_ms": statistics.fmean(times), "repeats": len(times)}


def _clip_visual_only() -> torch.nn.Module:
    """ViT-B-16 visual tower at 64x64 built alone (no text tower, no TCFDNet): CLIP-alone peak memory."""
    import open_clip

    cfg = open_clip.get_model_config("ViT-B-16")
    vision = dict(cfg["vision_cfg"], image_size=64)
    return open_clip.model._build_vision_tower(cfg["embed_dim"], vision).eval()


def _runners(runtime: str, art: Path, threads: int, only: str | None = None) -> dict:
    """name -> callable(frames [n,t,3,64,64] float32 numpy) running that network once.

    ``only`` builds just one of them (the peak-memory workers), so the other's weights do not count.
    """
    if runtime == "torch":
        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
        from tcfd_ros.inference.export import EmbeddingGraph
        from tcfd_ros.model import load_checkpoint

        if only == "clip":
            clip = ClipAlone(_clip_visual_only()).eval()
            full = None
        else:
            net = load_checkpoint(art / "full.pt").model.eval()
            full, clip = EmbeddingGraph(net).eval(), ClipAlone(net.clip.visual).eval()

        def run_full(x):
            with torch.inference_mode():
                return full(torch.from_numpy(x), torch.arange(x.shape[0], dtype=torch.int64) % 2)

        def run_clip(x):
            with torch.inference_mode():
                return clip(torch.from_numpy(x))
        return {"full": run_full, "clip": run_clip}
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sessions = {m: ort.InferenceSession(str(art / f"{m}.onnx"), sess_options=opts,
                                        providers=["CPUExecutionProvider"])
                for m in ("full", "clip") if only in (None, m)}
    return {
        "full": lambda x: sessions["full"].run(
            None, {"frames": x, "modality": np.arange(x.shape[0], dtype=np.int64) % 2}),
        "clip": lambda x: sessions["clip"].run(None, {"frames": x}),
    }


def worker(kind: str, art: Path, threads: int, frames: int, batch_sizes: list[int], repeats: int) -> dict:
    rng = np.random.default_rng(0)
    if kind.startswith("mem:"):
        _, runtime, model = kind.split(":")
        run = _runners(runtime, art, threads, only=model)[model]
        n = max(batch_sizes)
        run(rng.standard_normal((n, frames, 3, 64, 64), dtype=np.float32))
        return {"batch": n, "peak_rss_mib": _peak_rss_mib()}
    runners = _runners(kind, art, threads)
    results: dict = {"full": {}, "clip": {}}
    for n in batch_sizes:
        x = rng.standard_normal((n, frames, 3, 64, 64), dtype=np.float32)
        for r in runners.values():
            r(x)  # warm-up (allocations, ORT arena, oneDNN primitive caches)
        times: dict = {"full": [], "clip": []}
        for _ in range(repeats if n > 1 else 3 * repeats):
            for name in ("clip", "full"):  # alternate, so background load affects both alike
                t0 = time.perf_counter()
                runners[name](x)
                times[name].append((time.perf_counter() - t0) * 1000.0)
        for name in times:
            results[name][str(n)] = _stats(times[name])
    return results


def prepare(art: Path) -> dict:
    """Checkpoint of the default (paper-size) model and both ONNX graphs; params and FLOPs."""
    from tcfd_ros.inference.export import _exportable_attention, export_onnx

    art.mkdir(parents=True, exist_ok=True)
    base = ModelConfig()
    cfg = dataclasses.replace(base, clip=ClipConfig(weights="random"),
                              gmtd=dataclasses.replace(base.gmtd, cache_dir=str(art / "cache")))
    torch.manual_seed(0)
    model = TCFDNet(cfg).eval()
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.trainable_parameters())
    clip_params = sum(p.numel() for p in model.clip.parameters())
    by_part = {name: sum(p.numel() for p in child.parameters())
               for name, child in model.named_children() if child is not None}
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(1, 30, 3, 64, 64)
    flops = {}
    passes = (("full", lambda: model(x, torch.tensor([0]))), ("clip", lambda: model.clip.visual(x[0])))
    for name, fn in passes:
        with torch.inference_mode(), FlopCounterMode(display=False) as fc:
            fn()
        flops[name] = fc.get_total_flops()
    if not (art / "full.onnx").is_file():
        save_checkpoint(art / "full.pt", model)
        export_onnx(art / "full.pt", art / "full.onnx")
        with _exportable_attention(), torch.no_grad():
            torch.onnx.export(ClipAlone(model.clip.visual).eval(), (x,), str(art / "clip.onnx"),
                              input_names=["frames"], output_names=["embedding"],
                              dynamic_axes={"frames": {0: "batch", 1: "frames"}}, opset_version=17,
                              dynamo=False)
    return {"params": {"total": total, "trainable": trainable, "frozen_clip_visual": clip_params,
                       "by_component": by_part},
            "gflops_per_30_frame_tracklet": {k: v / 1e9 for k, v in flops.items()},
            "flops_ratio_full_over_clip": flops["full"] / flops["clip"],
            "clip": model.clip_identity,
            "config": {"variant": cfg.clip.variant, "dim": cfg.dim, "parts": cfg.parts,
                       "resnet_channels": list(cfg.resnet.channels),
                       "resnet_stem_stride": cfg.resnet.stem_stride}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per batch size (x3 for batch 1)")
    ap.add_argument("--artefacts", type=Path, default=REPO / "out" / "bench_embed")
    ap.add_argument("--memory-only", action="store_true", help="only the peak-memory workers")
    ap.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, a.artefacts, a.threads, a.frames, a.batches, a.repeats)))
        return
    info = prepare(a.artefacts)
    timings, memory = {}, {}
    for kind in WORKERS:
        if a.memory_only and not kind.startswith("mem:"):
            continue
        cmd = [sys.executable, __file__, "--worker", kind, "--threads", str(a.threads),
               "--frames", str(a.frames), "--repeats", str(a.repeats), "--artefacts", str(a.artefacts),
               "--batches", *map(str, a.batches)]
        env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
        proc = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        if kind.startswith("mem:"):
            memory[kind[4:]] = out
        else:
            timings[kind] = out
    ratios = {rt: {n: timings[rt]["full"][n]["p50_ms"] / timings[rt]["clip"][n]["p50_ms"]
                   for n in timings[rt]["full"]} for rt in timings}
    print(json.dumps({
        "benchmark": "embed_latency", "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_avg": os.getloadavg()},
        "threads": a.threads, "frames_per_tracklet": a.frames, "torch": torch.__version__,
        **info, "timings": timings, "ratio_full_over_clip_p50": ratios, "peak_memory": memory,
        "targets": {"onnx": 1.25, "torch": 1.5},
    }, indent=1))


if __name__ == "__main__":
    main()
