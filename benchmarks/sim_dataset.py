"""Time ``write_dataset`` for N identities x 5 sequences x 8 views x T frames, both modalities.

Prints JSON: wall seconds, CPU seconds of all worker processes (robust to other load on the machine),
the extrapolation to 100 identities, load average. Usage:
    .venv/bin/python benchmarks/sim_dataset.py --identities 100 --out out/bench_ds [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import time
from pathlib import Path

from tcfd_ros.sim.dataset import DatasetSpec, write_dataset

FULL_IDENTITIES = 100


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--identities", type=int, default=FULL_IDENTITIES)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("out/bench_ds"))
    ap.add_argument("--keep", action="store_true", help="keep the data set (default: delete it)")
    args = ap.parse_args()
    spec = DatasetSpec(out=args.out, identities=args.identities, conditions=("nm", "bg", "cl", "nt"),
                       frames=args.frames, seed=0, workers=args.workers, force=True)
    load0 = os.getloadavg()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    s0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    summary = write_dataset(spec)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    s1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
           + s1.ru_utime - s0.ru_utime + s1.ru_stime - s0.ru_stime)
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    if not args.keep:
        shutil.rmtree(args.out, ignore_errors=True)
    scale = FULL_IDENTITIES / args.identities
    print(json.dumps({
        "benchmark": "sim_dataset", "identities": args.identities, "sequences": summary["sequences"],
        "frames_per_sequence": args.frames, "workers": args.workers, "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1), "bytes": size,
        "extrapolated_100_ids_wall_s": round(wall * scale, 1),
        "extrapolated_100_ids_cpu_s": round(cpu * scale, 1),
        "extrapolated_100_ids_wall_on_2_idle_cores_s": round(cpu * scale / 2, 1),
        "loadavg_start": [round(x, 2) for x in load0], "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "summary": summary}))


if __name__ == "__main__":
    main()
