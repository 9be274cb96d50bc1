"""LiDAR person segmentation speed on a 64-beam, 120,000-point frame, one core.

The frame is the synthetic courtyard of ``tcfd_ros.perception.scenes`` (HDL-64E-like: 64 beams x 1875
azimuth steps, every ray hits: ground, four walls, two cars, a pole, three people), so the numbers do
not depend on files outside the project. Also timed: the real KITTI 000008 scan (17k points,
camera-FOV cropped) when ``../shared/data/real`` is present. BLAS/OpenMP threads are pinned to 1
before numpy loads; the process is pinned to one CPU where the OS allows it.

    .venv/bin/python benchmarks/perception_lidar.py [--repeats N]

Prints one JSON object; times in milliseconds per ``LidarSegmenter.segment`` call.
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

import numpy as np  # noqa: E402

from tcfd_ros.perception.scenes import cast_scene, courtyard  # noqa: E402
from tcfd_ros.perception.segment_lidar import LidarSegmenter  # noqa: E402

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
BUDGET_MS = 50.0


def _time(fn, repeats: int) -> dict:
    fn()  # warm-up
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return {"p50_ms": round(float(np.percentile(ts, 50)), 2),
            "p95_ms": round(float(np.percentile(ts, 95)), 2), "max_ms": round(float(np.max(ts)), 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=50)
    args = p.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    pts = cast_scene(courtyard())
    seg = LidarSegmenter()
    people = seg.segment(pts)
    result = {
        "benchmark": "perception_lidar", "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "cpu_count": os.cpu_count(),
        "threads": 1, "load_avg_1m": round(os.getloadavg()[0], 2),
        "synthetic_64beam": {"points": int(pts.shape[0]), "people_true": 3, "people_found": len(people),
                             **_time(lambda: seg.segment(pts), args.repeats)},
        "budget_ms": BUDGET_MS,
    }
    kitti = REAL / "lidar" / "kitti_000008" / "000008.bin"
    if kitti.is_file():
        k = np.fromfile(kitti, dtype=np.float32).reshape(-1, 4)
        result["kitti_000008"] = {"points": int(k.shape[0]), **_time(lambda: seg.segment(k), args.repeats)}
    result["within_budget"] = result["synthetic_64beam"]["p95_ms"] <= BUDGET_MS
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
