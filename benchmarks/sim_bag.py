"""Time ``write_bag``: 60 s, 5 people, HDL-64E at 10 Hz, 640x480 camera at 15 Hz (the issue's bar).

Prints JSON with wall and CPU seconds, bag size and message counts. Usage:
    .venv/bin/python benchmarks/sim_bag.py --out out/bench_bag [--storage mcap] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

from tcfd_ros.sim.bag import BagSpec, write_bag


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--people", type=int, default=5)
    ap.add_argument("--lidar", default="hdl64")
    ap.add_argument("--storage", default="sqlite3")
    ap.add_argument("--layout", default="disjoint")
    ap.add_argument("--out", type=Path, default=Path("out/bench_bag"))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    spec = BagSpec(out=args.out, storage=args.storage, people=args.people, duration_s=args.duration,
                   lidar=args.lidar, layout=args.layout, camera_hz=15.0, camera_width=640, camera_height=480,
                   seed=0, force=True)
    load0 = os.getloadavg()
    c0, t0 = time.process_time(), time.perf_counter()
    summary = write_bag(spec)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    if not args.keep:
        shutil.rmtree(args.out, ignore_errors=True)
    print(json.dumps({"benchmark": "sim_bag", "duration_s": args.duration, "people": args.people,
                      "lidar": args.lidar, "camera": "640x480@15Hz", "storage": args.storage,
                      "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "bytes": size,
                      "messages": summary["messages"],
                      "loadavg_start": [round(x, 2) for x in load0],
                      "loadavg_end": [round(x, 2) for x in os.getloadavg()]}))


if __name__ == "__main__":
    main()
