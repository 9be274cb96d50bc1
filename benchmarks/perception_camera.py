"""Camera background-subtraction segmentation speed at 640x480, one core.

Frames: the real courtyard video ``video/vtest_480x360.avi`` from ``../shared/data/real``, resized to
640x480 (real people, real compression noise); without it, a synthetic 640x480 sequence of textured
walkers on a noisy static background. OpenCV is limited to one thread (one core at a time; not
pinned, so on shared cores the scheduler picks the idler one). The background model warms up on
the first frames (not timed), then every ``CameraSegmenter.segment`` call (MOG2, morphology,
connected components, size gate, masks) is timed in wall-clock and CPU time, and separately the
alignment of every detection to a 64x64 silhouette; once with the default full-resolution
background model and once with ``bg_scale`` 0.5.

    .venv/bin/python benchmarks/perception_camera.py [--frames N]

Prints one JSON object; times in milliseconds per frame.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from tcfd_ros.perception.config import CameraSegmenterConfig  # noqa: E402
from tcfd_ros.perception.segment_camera import CameraSegmenter  # noqa: E402

REAL_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "video" / "vtest_480x360.avi"
W, H = 640, 480
BUDGET_MS = 10.0
BG_SCALES = (1.0, 0.5)   # the default full-resolution model, and the half-resolution option


def _frames(n: int) -> tuple[str, list[np.ndarray]]:
    if REAL_VIDEO.is_file():
        cap = cv2.VideoCapture(str(REAL_VIDEO))
        out = []
        while len(out) < n:
            ok, f = cap.read()
            if not ok:
                break
            out.append(cv2.resize(f, (W, H), interpolation=cv2.INTER_LINEAR))
        cap.release()
        return "vtest_480x360.avi resized to 640x480", out
    rng = np.random.default_rng(0)
    bg = np.clip(90 + rng.normal(0, 5, (H, W, 3)), 0, 255).astype(np.uint8)
    body = rng.integers(120, 255, (120, 40, 3), dtype=np.uint8)
    out = []
    for i in range(n):
        f = bg.copy()
        for k in range(4):
            x = (20 + 5 * i + 150 * k) % (W - 40)
            f[200 + 20 * k:320 + 20 * k, x:x + 40] = body
        out.append(f)
    return "synthetic 640x480 walkers", out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=300)
    args = p.parse_args()
    cv2.setNumThreads(1)
    source, frames = _frames(args.frames)
    result = {
        "benchmark": "perception_camera", "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "cpu_count": os.cpu_count(),
        "threads": 1, "load_avg_1m": round(os.getloadavg()[0], 2), "source": source,
        "resolution": f"{W}x{H}", "budget_ms": BUDGET_MS, "runs": [],
    }
    for scale in BG_SCALES:
        cfg = CameraSegmenterConfig(bg_scale=scale)
        seg = CameraSegmenter(cfg)
        seg_ms, cpu_ms, align_ms, counts = [], [], [], []
        for i, f in enumerate(frames):
            t0, c0 = time.perf_counter(), time.process_time()
            dets = seg.segment(f)
            t1, c1 = time.perf_counter(), time.process_time()
            for d in dets:
                d.silhouette()
            t2 = time.perf_counter()
            if i >= cfg.warmup_frames:
                seg_ms.append((t1 - t0) * 1e3)
                cpu_ms.append((c1 - c0) * 1e3)
                align_ms.append((t2 - t1) * 1e3)
                counts.append(len(dets))
        p95 = float(np.percentile(seg_ms, 95))
        result["runs"].append({
            "backend": f"background/{cfg.bg_method}", "bg_scale": scale, "frames_timed": len(seg_ms),
            "people_per_frame_mean": round(float(np.mean(counts)), 2),
            "segment_p50_ms": round(float(np.percentile(seg_ms, 50)), 2), "segment_p95_ms": round(p95, 2),
            "segment_cpu_p50_ms": round(float(np.percentile(cpu_ms, 50)), 2),
            "segment_cpu_p95_ms": round(float(np.percentile(cpu_ms, 95)), 2),
            "align_all_silhouettes_p50_ms": round(float(np.percentile(align_ms, 50)), 2),
            "within_budget": p95 <= BUDGET_MS})
    result["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
