"""Replay scores and times for several LiDAR patterns and conditions, with the demo's trained model.

Each case simulates a held-out bag (world seed and identity ids disjoint from the demo's training data,
as in ``tcfd_ros.demo``), replays it with ``tcfd-ros replay --fast`` through the real node graph, and
prints one JSON line with the scores and times; the last line is the whole table. Needs the demo's
model (run ``make demo`` first). Not collected by pytest.

    .venv/bin/python benchmarks/bench_replay.py [--cases hdl64:nm,hdl32:nm,hdl64:nt,hdl64:oc] [--duration 30]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tcfd_ros.demo import DemoConfig, demo_environment  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default="hdl64:nm,hdl32:nm,hdl64:nt,hdl64:oc", help="lidar:condition,...")
    ap.add_argument("--duration", type=float, default=30.0, help="bag seconds")
    ap.add_argument("--people", type=int, default=4)
    ap.add_argument("--out", type=Path, default=REPO / "out" / "bench_replay")
    args = ap.parse_args()
    cfg = DemoConfig()
    models = sorted((REPO / cfg.out_root).glob("model-*/model.onnx"), key=lambda p: p.stat().st_mtime)
    if not models:
        print("no demo model under out/demo: run `make demo` first", file=sys.stderr)
        return 2
    model = models[-1]
    env = demo_environment(os.environ)
    rows = []
    for case in args.cases.split(","):
        lidar, condition = case.split(":")
        bag = args.out / f"bag-{lidar}-{condition}"
        t0 = time.monotonic()
        if not (bag / "metadata.yaml").is_file():
            subprocess.run([sys.executable, "-m", "tcfd_ros", "simulate", "bag", "--out", str(bag),
                            "--storage", "mcap", "--people", str(args.people),
                            "--duration", f"{args.duration:g}", "--seed", str(cfg.bag_seed),
                            "--first-id", str(cfg.bag_first_id), "--lidar", lidar,
                            "--condition", condition, "--layout", cfg.bag_layout, "--force"],
                           cwd=REPO, check=True, env=env, stdin=subprocess.DEVNULL)
        t_bag = time.monotonic() - t0
        out = args.out / f"report-{lidar}-{condition}"
        t1 = time.monotonic()
        subprocess.run([sys.executable, "-m", "tcfd_ros", "replay", str(bag), "--fast", "--model", str(model),
                        "--out", str(out), "--no-progress"], cwd=REPO, check=True, env=env,
                       stdin=subprocess.DEVNULL)
        t_replay = time.monotonic() - t1
        d = json.loads((out / "score.json").read_text())
        s, info = d["score"], d["info"]
        row = {
            "lidar": lidar, "condition": condition, "bag_s": info["bag_duration_s"], "people": args.people,
            "simulate_s": round(t_bag, 1), "replay_cmd_s": round(t_replay, 1),
            "play_wall_s": round(info["wall_s"], 1),
            "rtf": round(info["bag_duration_s"] / info["wall_s"], 2) if info["wall_s"] else None,
            **{f"{k}_{m}": s["detection"][k][m] for k in s["detection"] for m in ("precision", "recall")},
            **{f"{k}_{m}": s["tracking"][k][m] for k in s["tracking"] for m in ("mota", "idf1")},
            "people_both": s["handoff"]["people_both"], "handed_off": s["handoff"]["handed_off"],
            "false_links": s["handoff"]["false_links"],
            "false_per_hour": s["handoff"]["false_matches_per_hour"],
            "time_to_match_s": s["handoff"]["time_to_match_s"],
            "cmc_rank1": s["cmc"][0] if s["cmc"] else None, "cmc_queries": s["cmc_queries"],
            "cmc_gallery": s.get("cmc_gallery"),
            "matches_p50_ms": s["latency"].get("/matches", {}).get("p50"),
            "matches_p90_ms": s["latency"].get("/matches", {}).get("p90"),
            "model": str(model.relative_to(REPO)),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
