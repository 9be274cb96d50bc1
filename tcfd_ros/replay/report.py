"""The replay report: markdown and HTML with the same content, plots, a JSON dump and a short summary.

Both documents are rendered from one list of blocks (headings, paragraphs, tables, images), so they
cannot disagree. Plots use matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import html
import json
import logging
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tcfd_ros.replay.records import GTFrame, MatchEvent, OutputFrame, RunInfo, StageLatency  # noqa: E402
from tcfd_ros.replay.scoring import Score, latency_percentiles  # noqa: E402

log = logging.getLogger(__name__)

FIG_DPI = 100
LATENCY_BINS = 40


@dataclass
class Block:
    kind: str                     # "h2" | "p" | "table" | "img"
    text: str = ""
    headers: Sequence[str] = ()
    rows: Sequence[Sequence[Any]] = field(default_factory=list)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if math.isnan(v) else f"{v:.3f}"
    return str(v)


def render_markdown(title: str, blocks: Sequence[Block]) -> str:
    out = [f"# {title}", ""]
    for b in blocks:
        if b.kind == "h2":
            out += [f"## {b.text}", ""]
        elif b.kind == "p":
            out += [b.text, ""]
        elif b.kind == "table":
            out.append("| " + " | ".join(b.headers) + " |")
            out.append("|" + "---|" * len(b.headers))
            out += ["| " + " | ".join(_fmt(v) for v in r) + " |" for r in b.rows]
            out.append("")
        elif b.kind == "img":
            out += [f"![{b.text}]({b.text})", ""]
    return "\n".join(out)


def render_html(title: str, blocks: Sequence[Block]) -> str:
    e = html.escape
    out = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>", f"<title>{e(title)}</title>",
           "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
           "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}"
           "th{background:#eee}img{max-width:100%}</style></head><body>", f"<h1>{e(title)}</h1>"]
    for b in blocks:
        if b.kind == "h2":
            out.append(f"<h2>{e(b.text)}</h2>")
        elif b.kind == "p":
            out.append(f"<p>{e(b.text)}</p>")
        elif b.kind == "table":
            out.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in b.headers) + "</tr>")
            out += ["<tr>" + "".join(f"<td>{e(_fmt(v))}</td>" for v in r) + "</tr>" for r in b.rows]
            out.append("</table>")
        elif b.kind == "img":
            out.append(f"<p><img src='{e(b.text)}' alt='{e(b.text)}'></p>")
    out.append("</body></html>")
    return "\n".join(out)


def plot_timeline(path: Path, gt: dict[str, Sequence[GTFrame]], tracks: dict[str, Sequence[OutputFrame]],
                  matches: Sequence[MatchEvent], t0: float) -> None:
    """Per sensor: ground-truth presence per person (grey), tracks over time coloured by global id."""
    sensors = sorted(set(gt) | set(tracks))
    fig, axes = plt.subplots(max(1, len(sensors)), 1, figsize=(11, 2.6 * max(1, len(sensors))), squeeze=False)
    gid_of = {}
    for m in sorted(matches, key=lambda m: m.stamp_s):
        gid_of[(m.sensor, m.track_id)] = m.global_id
    cmap = plt.get_cmap("tab20")
    for ax, sensor in zip(axes[:, 0], sensors):
        rows: dict[str, int] = {}
        # (kind, global id) -> points
        pts: dict[tuple[str, object], list[tuple[float, int]]] = defaultdict(list)
        for f in gt.get(sensor, ()):
            for p in f.people:
                if p.detectable:
                    y = rows.setdefault(f"person {p.person_id}", len(rows))
                    pts[("gt", None)].append((f.stamp_s - t0, y))
        for f in tracks.get(sensor, ()):
            for o in f.observations:
                y = rows.setdefault(f"track {o.track_id}", len(rows))
                pts[("track", gid_of.get((sensor, o.track_id)))].append((f.stamp_s - t0, y))
        for (kind, gid), xy in pts.items():
            x, y = zip(*xy)
            if kind == "gt":
                ax.plot(x, y, "s", color="0.75", ms=3, ls="none")
            else:
                ax.plot(x, y, "o", ms=2.5, ls="none", color=cmap(gid % 20) if gid is not None else "k")
        shown: dict[int, int] = {}      # track -> global id last annotated: label only changes
        for m in sorted(matches, key=lambda m: m.stamp_s):
            if m.sensor == sensor and f"track {m.track_id}" in rows:
                y = rows[f"track {m.track_id}"]
                ax.plot(m.stamp_s - t0, y, "x" if m.known else "+", ms=7, color=cmap(m.global_id % 20))
                if shown.get(m.track_id) != m.global_id:
                    shown[m.track_id] = m.global_id
                    ax.annotate(f"g{m.global_id}", (m.stamp_s - t0, y), fontsize=6)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(list(rows), fontsize=6)
        ax.set_title(f"{sensor}: ground truth (grey), tracks coloured by global id, matches x=known +=new",
                     fontsize=9)
        ax.set_xlabel("bag time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=FIG_DPI)
    plt.close(fig)


def plot_latency(path: Path, samples: Sequence[StageLatency]) -> None:
    stages = sorted({s.stage for s in samples})
    fig, ax = plt.subplots(figsize=(8, 4))
    for st in stages:
        ax.hist([s.latency_s * 1e3 for s in samples if s.stage == st], bins=LATENCY_BINS, histtype="step",
                label=st)
    ax.set_xlabel("latency, input published -> output received (ms)")
    ax.set_ylabel("messages")
    if stages:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=FIG_DPI)
    plt.close(fig)


def plot_cmc(path: Path, cmc: Sequence[float], queries: int) -> None:
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(range(1, len(cmc) + 1), [100 * c for c in cmc], "o-")
    ax.set_xlabel("rank")
    ax.set_ylabel("identification rate (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"CMC, camera tracklets vs LiDAR tracklets ({queries} queries)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=FIG_DPI)
    plt.close(fig)


def summary_lines(info: RunInfo, score: Score | None, seen: dict[str, Any]) -> list[str]:
    """The few lines printed at the end of a replay."""
    lines = [f"bag {info.bag}: {info.bag_duration_s:.1f} s replayed in {info.wall_s:.1f} s "
             f"({info.mode}, real-time factor {info.real_time_factor:.2f})"]
    if info.bag_error:
        lines.append(f"BAG DAMAGED: {info.bag_error}")
    if score is None:
        lines.append("no /ground_truth in the bag: not scored; saw " +
                     ", ".join(f"{k} {v}" for k, v in seen.items()))
        return lines
    for s, d in score.detection.items():
        t = score.tracking.get(s)
        lines.append(f"{s}: detection P {_fmt(d.precision)} R {_fmt(d.recall)}"
                     + (f", MOTA {_fmt(t.mota)} IDF1 {_fmt(t.idf1)}" if t else ""))
    h = score.handoff
    lines.append(f"hand-off: {h.handed_off}/{h.people_both} people seen by both sensors share a global id "
                 f"({_fmt(h.accuracy)}); false matches {h.false_links} ({_fmt(h.false_matches_per_hour)}/h)"
                 + (f"; links by {', '.join(f'{k} {v}' for k, v in sorted(h.links_by.items()))}"
                    if h.links_by else ""))
    if score.cmc:
        lines.append(f"CMC rank-1 {100 * score.cmc[0]:.1f}% over {score.cmc_queries} camera tracks "
                     f"vs {score.cmc_gallery} LiDAR tracks")
    return lines


def write_report(out_dir: Path, info: RunInfo, score: Score | None, gt: dict[str, Sequence[GTFrame]],
                 tracks: dict[str, Sequence[OutputFrame]], matches: Sequence[MatchEvent],
                 latencies: Sequence[StageLatency], seen: dict[str, Any], t0: float,
                 notes: Sequence[str] = ()) -> Path:
    """Write report.md, report.html, score.json and the plots into ``out_dir``; return report.md."""
    out_dir.mkdir(parents=True, exist_ok=True)
    blocks: list[Block] = [Block("p", line) for line in summary_lines(info, score, seen)]
    blocks += [Block("p", n) for n in notes]
    blocks.append(Block("h2", "Run"))
    blocks.append(Block("table", headers=("item", "value"), rows=[
        ("bag", info.bag), ("bag duration (s)", info.bag_duration_s), ("mode", info.mode),
        ("wall time (s)", info.wall_s), ("real-time factor", info.real_time_factor),
        ("bag damage", info.bag_error or "none"), ("graph log", info.graph_log or "")]))
    blocks.append(Block("table", headers=("bag topic", "in bag", "published", "note"), rows=[
        (t, n, info.published.get(t, 0), info.skipped_topics.get(t, ""))
        for t, n in sorted(info.topics.items())]))
    blocks.append(Block("table", headers=("graph output", "messages received"),
                        rows=sorted(info.received.items())))
    if info.unacknowledged:
        blocks.append(Block("p", "Frames with no first-stage output (dropped or unanswered by the graph): " +
                            ", ".join(f"{s} {n}" for s, n in info.unacknowledged.items())))
    if info.recorder_errors:
        blocks.append(Block("p", "Outputs the recorder could not read: " +
                            "; ".join(f"{t}: {e}" for t, e in info.recorder_errors.items())))
    if score is not None:
        blocks.append(Block("h2", "Detection and tracking (per sensor)"))
        blocks.append(Block("table", headers=("sensor", "frames", "TP", "FP", "FN", "precision", "recall",
                                              "MOTA", "IDF1", "ID switches"), rows=[
            (s, d.frames, d.true_positives, d.false_positives, d.false_negatives, d.precision, d.recall,
             score.tracking[s].mota if s in score.tracking else float("nan"),
             score.tracking[s].idf1 if s in score.tracking else float("nan"),
             score.tracking[s].id_switches if s in score.tracking else 0)
            for s, d in score.detection.items()]))
        h = score.handoff
        tt = sorted(h.time_to_match_s)
        blocks.append(Block("h2", "Cross-sensor identity hand-off"))
        blocks.append(Block("table", headers=("metric", "value"), rows=[
            ("people seen by both sensors", h.people_both), ("handed off (same global id)", h.handed_off),
            ("hand-off accuracy", h.accuracy), ("cross-sensor links", h.cross_links),
            ("false links (different people)", h.false_links),
            ("... of which a track matched no ground-truth person", h.unscored_links),
            ("links decided by (geometry / gait / both / other)",
             " / ".join(str(h.links_by.get(k, 0)) for k in ("geometry", "gait", "both"))
             + f" / {sum(v for k, v in h.links_by.items() if k not in ('geometry', 'gait', 'both'))}"),
            ("false links decided by", ", ".join(f"{k} {v}" for k, v in sorted(h.false_links_by.items()))
             or "-"),
            ("false matches per hour", h.false_matches_per_hour),
            ("time from seen-by-both to match, median (s)", tt[len(tt) // 2] if tt else float("nan")),
            ("time from seen-by-both to match, max (s)", tt[-1] if tt else float("nan"))]))
        if score.cmc:
            plot_cmc(out_dir / "cmc.png", score.cmc, score.cmc_queries)
            blocks.append(Block("p", f"CMC ({score.cmc_queries} camera tracks ranked against "
                                     f"{score.cmc_gallery} LiDAR tracks, last tracklet of each): " +
                                ", ".join(f"rank-{k + 1} {100 * c:.1f}%" for k, c in enumerate(score.cmc)
                                          if k in (0, 4, 9))))
            blocks.append(Block("img", "cmc.png"))
        else:
            blocks.append(Block("p", "CMC: not computed (needs camera and LiDAR tracklets of scored people "
                                     "and the model: --model)."))
    else:
        blocks.append(Block("h2", "What the graph saw"))
        blocks.append(Block("table", headers=("item", "value"), rows=list(seen.items())))
    latency = score.latency if score is not None else latency_percentiles(latencies)
    blocks.append(Block("h2", "Latency (input published -> output received, wall clock)"))
    blocks.append(Block("table", headers=("stage", "n", "p50 ms", "p90 ms", "p99 ms"), rows=[
        (st, int(v["n"]), v["p50"], v["p90"], v["p99"]) for st, v in latency.items()]))
    plot_latency(out_dir / "latency.png", latencies)
    blocks.append(Block("img", "latency.png"))
    plot_timeline(out_dir / "timeline.png", gt, tracks, matches, t0)
    blocks.append(Block("h2", "Timeline"))
    blocks.append(Block("img", "timeline.png"))
    title = f"tcfd_ros replay report: {Path(info.bag).name}"
    (out_dir / "report.md").write_text(render_markdown(title, blocks), encoding="utf-8")
    (out_dir / "report.html").write_text(render_html(title, blocks), encoding="utf-8")
    dump = {"info": asdict(info), "seen": seen, "score": _score_dict(score)}
    (out_dir / "score.json").write_text(json.dumps(dump, indent=1, default=str), encoding="utf-8")
    return out_dir / "report.md"


def _score_dict(score: Score | None) -> dict[str, Any] | None:
    if score is None:
        return None
    d = asdict(score)
    for s, det in score.detection.items():
        d["detection"][s].update(precision=det.precision, recall=det.recall)
    d["handoff"]["accuracy"] = score.handoff.accuracy
    for t in d["tracking"].values():
        t["track_to_person"] = {str(k): v for k, v in t["track_to_person"].items()}
    return d
