"""Print what ``sitecustomize.py`` wrote for each node process: its CPU by thread root and function.

    .venv/bin/python benchmarks/thread_cpu/summary.py DIR [--top 20]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--top", type=int, default=20)
    a = ap.parse_args()
    for p in sorted(a.dir.glob("*.json")):
        d = json.loads(p.read_text())
        node = next((x.split(":=")[1] for x in d["argv"] if x.startswith("__node:=")), p.stem)
        print(f"== {node} (pid {p.stem}): process CPU {d['process_cpu_s']:.2f} s")
        for title, key in (("thread roots", "thread_roots"), ("self", "self"), ("inclusive", "inclusive")):
            print(f"  {title}:")
            for name, s in d[key][:a.top]:
                print(f"    {s:7.3f}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
