"""Evaluation reports: a JSON file with everything, a markdown table, and PNG plots (CMC curves and a
per-view-pair Rank-1 heat map per direction). matplotlib with the non-interactive Agg backend."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

_LABELS = {"2d3d": "2D->3D (camera probe, LiDAR gallery)", "3d2d": "3D->2D (LiDAR probe, camera gallery)"}


def _fmt(v: Any) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1f}"


def markdown_table(results: dict[str, Any], title: str = "") -> str:
    """Overall and per-condition Rank-1/5/10 and mAP (mINP for the open protocol) per direction."""
    lines = [f"### {title}", ""] if title else []
    for d, r in results["directions"].items():
        lines.append(f"**{_LABELS.get(d, d)}**")
        lines.append("")
        if r.get("protocol") == "open":
            lines += ["| probes | R1 | R5 | R10 | mAP | mINP |", "|---|---|---|---|---|---|",
                      f"| {r['num_probes']} | {_fmt(r['rank1'])} | {_fmt(r['rank5'])} | "
                      f"{_fmt(r['rank10'])} | {_fmt(r['mAP'])} | {_fmt(r['mINP'])} |", ""]
            continue
        lines += ["| condition | view pairs | probes | R1 | R5 | R10 | mAP |",
                  "|---|---|---|---|---|---|---|"]
        rows = [("overall", r["overall"])]
        rows += [(k, v) for k, v in r["conditions"].items() if v["num_pairs"] > 0]
        for name, m in rows:
            lines.append(f"| {name} | {m['num_pairs']} | {m['num_probes']} | {_fmt(m['rank1'])} | "
                         f"{_fmt(m['rank5'])} | {_fmt(m['rank10'])} | {_fmt(m['mAP'])} |")
        lines.append("")
    return "\n".join(lines)


def plot_cmc(results: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for d, r in results["directions"].items():
        cmc = r["cmc"]
        ax.plot(np.arange(1, len(cmc) + 1), cmc, marker="o", ms=3, label=_LABELS.get(d, d))
    ax.set_xlabel("rank")
    ax.set_ylabel("identification rate (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("CMC (averaged over view pairs)" if any(
        r.get("protocol") == "cross_view" for r in results["directions"].values()) else "CMC")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_view_heatmap(result: dict[str, Any], direction: str, path: Path) -> bool:
    """Rank-1 per (probe view, gallery view) pair; same-view cells (excluded) are blank. False if no pairs."""
    pairs = result.get("view_pairs", {}).get("overall", {})
    if not pairs:
        return False
    pv = sorted({k.split("->")[0] for k in pairs})
    gv = sorted({k.split("->")[1] for k in pairs} | set(pv))
    grid = np.full((len(pv), len(gv)), np.nan)
    for k, m in pairs.items():
        a, b = k.split("->")
        grid[pv.index(a), gv.index(b)] = m["rank1"]
    fig, ax = plt.subplots(figsize=(1.0 + 0.5 * len(gv), 1.0 + 0.45 * len(pv)))
    im = ax.imshow(grid, vmin=0, vmax=100, cmap="viridis")
    ax.set_xticks(range(len(gv)), gv, rotation=90, fontsize=7)
    ax.set_yticks(range(len(pv)), pv, fontsize=7)
    ax.set_xlabel("gallery view")
    ax.set_ylabel("probe view")
    ax.set_title(f"Rank-1 per view pair, {direction}", fontsize=9)
    for i in range(len(pv)):
        for j in range(len(gv)):
            if not np.isnan(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", fontsize=6, color="w")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def write_report(results: dict[str, Any], out_dir: str | Path, title: str = "") -> dict[str, Path]:
    """Write results.json, results.md, cmc.png and rank1_views_<dir>.png; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "markdown": out / "results.md", "cmc": out / "cmc.png"}
    paths["json"].write_text(json.dumps(results, indent=1, allow_nan=True))
    paths["markdown"].write_text(markdown_table(results, title) + "\n")
    plot_cmc(results, paths["cmc"])
    for d, r in results["directions"].items():
        p = out / f"rank1_views_{d}.png"
        if plot_view_heatmap(r, d, p):
            paths[f"heatmap_{d}"] = p
    return paths
