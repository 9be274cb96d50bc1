"""The replay report: markdown and HTML with the same content, plots, a JSON dump and a short summary.

Both documents are rendered from one list of blocks (headings, paragraphs, tables, images), so they
cannot disagree. Plots use matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import bisect
import html
import json
import logging
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402,F401  (plot_latency formats its log axis)

from tcfd_ros.perception.annotate import id_colour_bgr  # noqa: E402
from tcfd_ros.replay.losses import foreign_inputs, internal_errors  # noqa: E402
from tcfd_ros.replay.records import GTFrame, MatchEvent, OutputFrame, RunInfo, StageLatency  # noqa: E402
from tcfd_ros.replay.scoring import PairCounts, Score, TrackPairScore, latency_percentiles  # noqa: E402
from tcfd_ros.replay.verdict import HandoffEvent, ModelIdentity, VerdictRow, verdict_line  # noqa: E402
from tcfd_ros.wording import count  # noqa: E402

log = logging.getLogger(__name__)

FIG_DPI = 100
TIMELINE_GAP_S = 0.5          # a track or person absent longer than this shows as a gap
TIMELINE_FONT = 9
LATENCY_FLOOR_MS = 0.1        # log axis: latencies below are drawn at this value
HANDOFF_OK = "#2e7d32"
HANDOFF_BAD = "#c62828"
TRUTH_GREY = "0.88"           # lighter than a track without a global id (annotate's grey)
GENERIC_BAG_NAMES = ("bag", "rosbag", "rosbag2", "recording")


@dataclass
class Block:
    kind: str                     # "h2" | "p" | "verdict" | "table" | "img"
    text: str = ""
    headers: Sequence[str] = ()
    rows: Sequence[Sequence[Any]] = field(default_factory=list)
    row_status: Sequence[bool | None] = ()   # table rows: pass / fail / not applicable (HTML colours)
    caption: str = ""


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if math.isnan(v) else f"{v:.3f}"
    return str(v)


def render_markdown(title: str, blocks: Sequence[Block]) -> str:
    out = [f"# {title}", ""]
    for b in blocks:
        if b.kind == "h2":
            out += [f"## {b.text}", ""]
        elif b.kind in ("p", "verdict"):
            out += [f"**{b.text}**" if b.kind == "verdict" else b.text, ""]
        elif b.kind == "table":
            out.append("| " + " | ".join(b.headers) + " |")
            out.append("|" + "---|" * len(b.headers))
            out += ["| " + " | ".join(_fmt(v) for v in r) + " |" for r in b.rows]
            out.append("")
        elif b.kind == "img":
            out += [f"![{b.caption or b.text}]({b.text})", ""]
            if b.caption:
                out += [f"*{b.caption}*", ""]
    return "\n".join(out)


_STATUS_CLASS = {True: "pass", False: "fail", None: "na"}
_CSS = ("body{font-family:sans-serif;max-width:1200px;margin:1em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:3px 8px;"
        "text-align:right}th{background:#eee}td:first-child{text-align:left}img{max-width:100%}"
        "tr.pass td{background:#d9f2d9}tr.fail td{background:#f8d0d0}tr.na td{background:#eee;color:#666}"
        ".verdict{font-size:1.3em;font-weight:bold;padding:.4em .6em;border-radius:4px}"
        ".verdict.pass{background:#2e7d32;color:#fff}.verdict.fail{background:#c62828;color:#fff}"
        ".verdict.na{background:#777;color:#fff}figure{margin:.5em 0}figcaption{color:#444;font-size:.9em}")


def render_html(title: str, blocks: Sequence[Block]) -> str:
    e = html.escape
    out = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>", f"<title>{e(title)}</title>",
           f"<style>{_CSS}</style></head><body>", f"<h1>{e(title)}</h1>"]
    for b in blocks:
        if b.kind == "h2":
            out.append(f"<h2>{e(b.text)}</h2>")
        elif b.kind == "p":
            out.append(f"<p>{e(b.text)}</p>")
        elif b.kind == "verdict":
            status = None if b.text.startswith("NO VERDICT") else b.text.startswith("PASS")
            out.append(f"<p class='verdict {_STATUS_CLASS[status]}'>{e(b.text)}</p>")
        elif b.kind == "table":
            out.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in b.headers) + "</tr>")
            for i, r in enumerate(b.rows):
                cls = f" class='{_STATUS_CLASS[b.row_status[i]]}'" if i < len(b.row_status) else ""
                out.append(f"<tr{cls}>" + "".join(f"<td>{e(_fmt(v))}</td>" for v in r) + "</tr>")
            out.append("</table>")
        elif b.kind == "img":
            cap = f"<figcaption>{e(b.caption)}</figcaption>" if b.caption else ""
            out.append(f"<figure><img src='{e(b.text)}' alt='{e(b.caption or b.text)}'>{cap}</figure>")
    out.append("</body></html>")
    return "\n".join(out)


def _rgb(global_id: int | None) -> tuple[float, float, float]:
    b, g, r = id_colour_bgr(global_id)
    return r / 255.0, g / 255.0, b / 255.0


def _segments(stamps: Sequence[float], gap_s: float) -> list[tuple[float, float]]:
    """Runs of stamps no further apart than ``gap_s`` -> (start, width) bars."""
    out: list[tuple[float, float]] = []
    for s in sorted(stamps):
        if out and s - (out[-1][0] + out[-1][1]) <= gap_s:
            out[-1] = (out[-1][0], s - out[-1][0])
        else:
            out.append((s, 0.0))
    return [(a, max(w, gap_s / 2)) for a, w in out]


def plot_timeline(path: Path, gt: dict[str, Sequence[GTFrame]], tracks: dict[str, Sequence[OutputFrame]],
                  matches: Sequence[MatchEvent], t0: float,
                  track_to_person: dict[str, dict[int, int]] | None = None,
                  events: Sequence[HandoffEvent] = ()) -> None:
    """One panel per sensor on one shared time axis: ground-truth people (grey bars), then each track
    labelled with the person it follows, coloured by the global id it carried at each moment (the
    colours of the annotated image, the markers and the video); hand-off moments as vertical lines
    (green: same person, red: a false link)."""
    sensors = sorted(set(gt) | set(tracks)) or ["(no sensor output)"]
    track_to_person = track_to_person or {}
    gid_at: dict[tuple[str, int], tuple[list[float], list[int]]] = {}
    for m in sorted(matches, key=lambda m: m.stamp_s):
        st, gids = gid_at.setdefault((m.sensor, m.track_id), ([], []))
        st.append(m.stamp_s - t0)
        gids.append(m.global_id)
    panels = []
    for sensor in sensors:
        people = sorted({p.person_id for f in gt.get(sensor, ()) for p in f.people if p.detectable})
        tids = sorted({o.track_id for f in tracks.get(sensor, ()) for o in f.observations})
        panels.append((sensor, people, tids))
    heights = [max(1.5, 0.32 * (len(p) + len(t)) + 0.6) for _, p, t in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(12, sum(heights) + 0.9), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, (sensor, people, tids) in zip(axes[:, 0], panels):
        labels: list[str] = []
        for pid in people:
            stamps = [f.stamp_s - t0 for f in gt.get(sensor, ()) for p in f.people
                      if p.person_id == pid and p.detectable]
            ax.broken_barh(_segments(stamps, TIMELINE_GAP_S), (len(labels) - 0.35, 0.7), color=TRUTH_GREY)
            labels.append(f"person {pid} (truth)")
        for tid in tids:
            y = len(labels)
            series = sorted(f.stamp_s - t0 for f in tracks.get(sensor, ())
                            for o in f.observations if o.track_id == tid)
            st, gids = gid_at.get((sensor, tid), ([], []))
            by_gid: dict[int | None, list[float]] = defaultdict(list)
            for s in series:
                i = bisect.bisect_right(st, s)
                by_gid[gids[i - 1] if i else None].append(s)
            for gid, ss in by_gid.items():
                ax.broken_barh(_segments(ss, TIMELINE_GAP_S), (y - 0.3, 0.6), color=_rgb(gid))
            final = gids[-1] if gids else None
            person = track_to_person.get(sensor, {}).get(tid)
            who = f"person {person}" if person is not None else "no person"
            labels.append(f"track {tid} \u2192 {who}" + (f", G{final}" if final is not None else ""))
        for m in matches:
            if m.sensor == sensor and m.track_id in tids:
                y = len(people) + tids.index(m.track_id)
                ax.plot(m.stamp_s - t0, y, "|", color="k", ms=6, mew=0.8)
        for ev in events:
            ax.axvline(ev.stamp_s - t0, color=HANDOFF_OK if ev.correct else HANDOFF_BAD, lw=1.5, ls="--")
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(labels, fontsize=TIMELINE_FONT)
        ax.set_ylim(-0.7, max(len(labels), 1) - 0.3)
        ax.invert_yaxis()
        ax.grid(axis="x", color="0.9")
        ax.set_title(f"{sensor}", fontsize=TIMELINE_FONT + 1, loc="left", fontweight="bold")
    top = axes[0, 0]
    for ev in events:
        top.annotate(f"G{ev.global_id} {'hand-off' if ev.correct else 'FALSE link'}",
                     (ev.stamp_s - t0, 1), xycoords=("data", "axes fraction"), xytext=(2, -3),
                     textcoords="offset points", fontsize=TIMELINE_FONT - 1, rotation=90, va="top",
                     color=HANDOFF_OK if ev.correct else HANDOFF_BAD)
    axes[-1, 0].set_xlabel("bag time (s)", fontsize=TIMELINE_FONT + 1)
    fig.suptitle("Timeline: grey = person present (ground truth); bars = tracks, coloured by global id; "
                 "| = a recognizer decision; dashed = hand-off (green) or false link (red)",
                 fontsize=TIMELINE_FONT + 1)
    fig.tight_layout()
    fig.savefig(path, dpi=FIG_DPI)
    plt.close(fig)


def plot_latency(path: Path, samples: Sequence[StageLatency]) -> None:
    """One box per stage (median, quartiles, 5th-95th percentile whiskers), log time axis."""
    stages = sorted({s.stage for s in samples},
                    key=lambda st: np.median([s.latency_s for s in samples if s.stage == st]))
    data = [[max(s.latency_s * 1e3, LATENCY_FLOOR_MS) for s in samples if s.stage == st] for st in stages]
    fig, ax = plt.subplots(figsize=(9, 0.45 * max(len(stages), 2) + 1.4))
    if stages:
        ax.boxplot(data, orientation="horizontal", whis=(5, 95), showfliers=False, widths=0.6)
        ax.set_yticks(range(1, len(stages) + 1))
        ax.set_yticklabels([f"{st} (n={len(d)})" for st, d in zip(stages, data)], fontsize=9)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("latency, input published \u2192 output received (ms, log scale)")
    ax.set_title("Latency per stage: median, quartiles, whiskers 5th-95th percentile", fontsize=10)
    ax.grid(axis="x", color="0.9", which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=FIG_DPI)
    plt.close(fig)


def plot_cmc(path: Path, cmc: Sequence[float], queries: int, chance: Sequence[float] = (),
             gallery: int = 0) -> None:
    """CMC up to the gallery size (beyond it every query is found by construction), with chance."""
    ranks = list(range(1, len(cmc) + 1))
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot(ranks, [100 * c for c in cmc], "o-", label="model")
    if chance:
        ax.plot(ranks, [100 * c for c in chance[: len(ranks)]], "--", color="0.5",
                label="chance (random ranking)")
    ax.set_xticks(ranks)
    ax.set_xlabel("rank")
    ax.set_ylabel("camera tracks whose person is found (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"CMC: {queries} camera tracks ranked against {gallery} LiDAR tracks", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=FIG_DPI)
    plt.close(fig)


def bag_title(bag: str) -> str:
    """A name for the report: the bag's own name, with its folder where the name alone says nothing."""
    p = Path(bag)
    name = p.stem if p.suffix in (".mcap", ".db3") else p.name
    if name.lower() in GENERIC_BAG_NAMES and p.parent.name:
        return f"{p.parent.name}/{name}"
    return name


def summary_lines(info: RunInfo, score: Score | None, seen: dict[str, Any],
                  verdict: Sequence[VerdictRow] = ()) -> list[str]:
    """The few lines printed at the end of a replay (the verdict first, when there is one)."""
    lines = [verdict_line(verdict)] if verdict else []
    lines.append(f"bag {info.bag}: {info.bag_duration_s:.1f} s replayed in {info.wall_s:.1f} s "
                 f"({info.mode}, real-time factor {info.real_time_factor:.2f})")
    if info.bag_error:
        lines.append(f"BAG DAMAGED: {info.bag_error}")
    heard = foreign_inputs(info.stages)
    if heard:
        lines.append(f"FOREIGN MESSAGES on ROS domain {info.ros_domain_id} (another graph or driver; this "
                     "run's scores are not valid): " + "; ".join(heard))
    bugs = internal_errors(info.stages)
    if bugs:
        lines.append("INTERNAL ERRORS (a bug in the graph, not the bag; the first traceback of each input is "
                     f"in {info.graph_log or 'the graph log'}): " + "; ".join(bugs))
    if info.unwaited:
        lines.append("--fast SENT WITHOUT WAITING (the sensor's first stage had stopped answering): " +
                     ", ".join(f"{s} {n} frames" for s, n in info.unwaited.items()))
    lost = [f"{f.node} {f.topic} {f.unaccounted} of {f.sent}" for f in info.stages if f.unaccounted]
    if lost:
        lines.append("LOST without being counted (sent, never received nor reported lost): "
                     + "; ".join(lost))
    if score is None:
        lines.append("no /ground_truth in the bag: not scored; saw " +
                     ", ".join(f"{k} {v}" for k, v in seen.items()))
        return lines
    for s, d in score.detection.items():
        t = score.tracking.get(s)
        lines.append(f"{s}: detection P {_fmt(d.precision)} R {_fmt(d.recall)}"
                     + (f", MOTA {_fmt(t.mota)} IDF1 {_fmt(t.idf1)}" if t else ""))
        if d.overlapping:
            lines.append(f"{s}: {100 * d.overlap_share:.0f}% of the people's frames overlap another walker "
                         f"in the image; recall {_fmt(d.recall_alone)} alone, {_fmt(d.recall_overlapping)} "
                         "overlapping")
    h = score.handoff
    chance = f", chance {100 / score.cmc_gallery:.1f}%" if score.cmc_gallery else ""
    lines.append(f"hand-off: {h.handed_off}/{h.people_both} people "
                 f"seen by both sensors share a global id ({_fmt(h.accuracy)}{chance}); "
                 f"false matches {h.false_links} ({_fmt(h.false_matches_per_hour)}/h)"
                 + (f"; links by {', '.join(f'{k} {v}' for k, v in sorted(h.links_by.items()))}"
                    if h.links_by else ""))
    if score.track_pairs is not None and score.track_pairs.tracks.genuine:
        lines.append(track_pairs_line(score.track_pairs))
    if score.cmc:
        ch = f" (chance {100 * score.cmc_chance[0]:.1f}%)" if score.cmc_chance else ""
        last = (f"; the last tracklet alone {100 * score.cmc_last_tracklet[0]:.1f}%"
                if score.cmc_last_tracklet else "")
        lines.append(f"CMC rank-1 {100 * score.cmc[0]:.1f}%{ch} over "
                     f"{count(score.cmc_queries, 'camera track')} vs "
                     f"{count(score.cmc_gallery, 'LiDAR track')} (track evidence{last})")
    return lines


def track_pairs_line(tp: TrackPairScore) -> str:
    """The recognizer's decisions per camera x LiDAR track pair, all and those gait may decide."""
    def part(c: PairCounts) -> str:
        return (f"genuine {c.genuine_linked}/{c.genuine} ({_pct(c.gar)}), "
                f"impostor {c.impostor_linked}/{c.impostor} ({_pct(c.fmr)})")
    return (f"track pairs linked: {part(tp.tracks)}; where both tracks delivered >= {tp.min_tracklets} "
            f"tracklets (gait can decide): {part(tp.gait)}")


def _pct(x: float) -> str:
    return "-" if math.isnan(x) else f"{100 * x:.1f}%"


@dataclass
class ReportExtras:
    """What the verdict-first report adds to the scores: targets met, model, hand-offs, pictures."""

    verdict: Sequence[VerdictRow] = ()
    model: ModelIdentity | None = None
    events: Sequence[HandoffEvent] = ()
    key_frames: Sequence[Path] = ()            # one PNG per event (same order), inside out_dir
    track_to_person: dict[str, dict[int, int]] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)   # "recording (mcap)" -> path, "video" -> path


def _verdict_blocks(extras: ReportExtras) -> list[Block]:
    rows = extras.verdict
    return [Block("verdict", verdict_line(rows)),
            Block("table", headers=("metric", "value", "target", "chance", "result", "note"),
                  rows=[(r.metric, r.value, r.target, r.chance,
                         {True: "pass", False: "FAIL", None: "n/a"}[r.passed], r.note) for r in rows],
                  row_status=[r.passed for r in rows])]


def _handoff_blocks(extras: ReportExtras, t0: float) -> list[Block]:
    if not extras.events:
        return [Block("h2", "Hand-offs"),
                Block("p", "No camera track and LiDAR track came to share a global id in this run.")]
    blocks = [Block("h2", "Hand-offs"), Block("table", headers=(
        "bag time (s)", "global id", "camera track", "LiDAR track", "camera person", "LiDAR person",
        "verdict"),
        rows=[(round(e.stamp_s - t0, 2), e.global_id, f"{e.camera[0]} {e.camera[1]}",
               f"{e.lidar[0]} {e.lidar[1]}",
               e.camera_person if e.camera_person is not None else "?",
               e.lidar_person if e.lidar_person is not None else "?",
               "same person" if e.correct else "FALSE link") for e in extras.events],
        row_status=[e.correct for e in extras.events])]
    for e, png in zip(extras.events, extras.key_frames):
        blocks.append(Block("img", png.name, caption=(
            f"t = {e.stamp_s - t0:.2f} s: camera track {e.camera[1]} and LiDAR track {e.lidar[1]} become "
            f"G{e.global_id} ({'same person' if e.correct else 'different people: a false link'})")))
    return blocks


def write_report(out_dir: Path, info: RunInfo, score: Score | None, gt: dict[str, Sequence[GTFrame]],
                 tracks: dict[str, Sequence[OutputFrame]], matches: Sequence[MatchEvent],
                 latencies: Sequence[StageLatency], seen: dict[str, Any], t0: float,
                 notes: Sequence[str] = (), extras: ReportExtras | None = None) -> Path:
    """Write report.md, report.html, score.json and the plots into ``out_dir``; return report.md.

    Order: verdict (targets, pass/fail, chance) and the timeline first, then the model, the run, the
    hand-offs with their key frames, detection and tracking, CMC and latency.
    """
    extras = extras or ReportExtras()
    out_dir.mkdir(parents=True, exist_ok=True)
    blocks: list[Block] = _verdict_blocks(extras) if extras.verdict else []
    plot_timeline(out_dir / "timeline.png", gt, tracks, matches, t0, extras.track_to_person, extras.events)
    blocks.append(Block("img", "timeline.png",
                        caption="Who was seen, tracked and linked when (shared time axis)"))
    blocks += [Block("p", line) for line in summary_lines(info, score, seen)]
    blocks += [Block("p", n) for n in notes]
    blocks.append(Block("h2", "Model"))
    if extras.model is not None:
        blocks.append(Block("table", headers=("item", "value"), rows=extras.model.rows()))
    else:
        blocks.append(Block("p", "Model not identified: no model file was given (--model) or found in the "
                                 "params file."))
    blocks.append(Block("h2", "Run"))
    blocks.append(Block("table", headers=("item", "value"), rows=[
        ("bag", info.bag), ("bag duration (s)", info.bag_duration_s), ("mode", info.mode),
        ("wall time (s)", info.wall_s), ("real-time factor", info.real_time_factor),
        ("bag damage", info.bag_error or "none"), ("graph log", info.graph_log or ""),
        *extras.outputs.items()]))
    blocks.append(Block("table", headers=("bag topic", "in bag", "published", "note"), rows=[
        (t, n, info.published.get(t, 0), info.skipped_topics.get(t, ""))
        for t, n in sorted(info.topics.items())]))
    blocks.append(Block("table", headers=("graph output", "messages received"),
                        rows=sorted(info.received.items())))
    if info.stages:
        blocks.append(Block("h2", "Messages per stage"))
        blocks.append(Block("p", "sent: published upstream (by the replay for sensor topics, else by the "
                                 "node that publishes the topic); lost uncounted = sent - received - lost "
                                 "in transport (DDS keep-last overwrites, which no node can see); CPU: the "
                                 "stage's handler thread."))
        blocks.append(Block("table", headers=("node", "input topic", "sent", "received", "processed",
                                              "dropped (counted)", "lost in transport", "lost uncounted",
                                              "CPU s"), rows=[
            (f.node, f.topic, "?" if f.sent is None else f.sent, f.received, f.processed, f.dropped,
             f.dds_lost, "?" if f.unaccounted is None else f.unaccounted, f.cpu_s) for f in info.stages]))
    if info.unacknowledged:
        blocks.append(Block("p", "Frames with no first-stage output (dropped or unanswered by the graph): " +
                            ", ".join(f"{s} {n}" for s, n in info.unacknowledged.items())))
    if info.unwaited:
        blocks.append(Block("p", "Frames --fast sent without waiting for an answer, the sensor's first stage "
                            "having left flow.fast_ack_patience frames in a row unanswered: " +
                            ", ".join(f"{s} {n}" for s, n in info.unwaited.items())))
    if info.recorder_errors:
        blocks.append(Block("p", "Outputs the recorder could not read: " +
                            "; ".join(f"{t}: {e}" for t, e in info.recorder_errors.items())))
    if score is not None:
        blocks += _handoff_blocks(extras, t0)
        h = score.handoff
        tt = sorted(h.time_to_match_s)
        blocks.append(Block("table", headers=("metric", "value"), rows=[
            ("people seen by both sensors", h.people_both), ("handed off (same global id)", h.handed_off),
            ("hand-off accuracy", h.accuracy),
            ("hand-off accuracy by chance (1 / LiDAR tracks)",
             1.0 / score.cmc_gallery if score.cmc_gallery else float("nan")),
            ("cross-sensor links", h.cross_links),
            ("false links (different people)", h.false_links),
            ("... of which a track matched no ground-truth person", h.unscored_links),
            ("links decided by (geometry / gait / both / other)",
             " / ".join(str(h.links_by.get(k, 0)) for k in ("geometry", "gait", "both"))
             + f" / {sum(v for k, v in h.links_by.items() if k not in ('geometry', 'gait', 'both'))}"),
            ("false links decided by", ", ".join(f"{k} {v}" for k, v in sorted(h.false_links_by.items()))
             or "-"),
            ("false matches per hour", h.false_matches_per_hour),
            ("time from seen-by-both to match, median (s)", tt[len(tt) // 2] if tt else float("nan")),
            ("time from seen-by-both to match, max (s)", tt[-1] if tt else float("nan")),
            *_track_pair_rows(score.track_pairs)]))
        blocks.append(Block("h2", "Detection and tracking (per sensor)"))
        blocks.append(Block("table", headers=("sensor", "frames", "TP", "FP", "FN", "precision", "recall",
                                              "MOTA", "IDF1", "ID switches"), rows=[
            (s, d.frames, d.true_positives, d.false_positives, d.false_negatives, d.precision, d.recall,
             score.tracking[s].mota if s in score.tracking else float("nan"),
             score.tracking[s].idf1 if s in score.tracking else float("nan"),
             score.tracking[s].id_switches if s in score.tracking else 0)
            for s, d in score.detection.items()]))
        crowd = [(s, d) for s, d in score.detection.items() if d.overlapping]
        if crowd:
            headers = ("sensor", "people's frames overlapping another walker in the image", "recall alone",
                       "recall overlapping")
            rows = [(s, f"{d.overlapping} of {d.person_frames} ({100 * d.overlap_share:.0f} %)",
                     d.recall_alone, d.recall_overlapping) for s, d in crowd]
            blocks.append(Block("table", headers=headers, rows=rows))
            blocks.append(Block("p", "Walkers who overlap in the image (their boxes share columns) are the "
                                     "camera's hard case: a background model merges them into one blob, and "
                                     "their tracks swap or misread stature; where most of a bag's people "
                                     "overlap, fewer are handed off (RESULTS.md, \"The 6000-iteration "
                                     "model shipped\")."))
        blocks.append(Block("h2", "CMC: does the model rank the right LiDAR track first?"))
        if score.cmc:
            plot_cmc(out_dir / "cmc.png", score.cmc, score.cmc_queries, score.cmc_chance, score.cmc_gallery)
            blocks.append(Block("table", headers=("rank", "model", "chance"), rows=[
                (k + 1, c, score.cmc_chance[k] if k < len(score.cmc_chance) else float("nan"))
                for k, c in enumerate(score.cmc)]))
            blocks.append(Block("p", f"{count(score.cmc_queries, 'camera track')} ranked against "
                                     f"{count(score.cmc_gallery, 'LiDAR track')}, each by its track "
                                     "evidence (the aggregate of its newest tracklets, as many as the "
                                     "recognizer decides on); ranks stop at the gallery size. Chance: a "
                                     "random ranking of the same tracks."
                                     + (f" The last tracklet of each alone: rank-1 "
                                        f"{100 * score.cmc_last_tracklet[0]:.1f}%."
                                        if score.cmc_last_tracklet else "")))
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
    title = f"Replay of {bag_title(info.bag)}"
    (out_dir / "report.md").write_text(render_markdown(title, blocks), encoding="utf-8")
    (out_dir / "report.html").write_text(render_html(title, blocks), encoding="utf-8")
    dump = {"info": asdict(info), "seen": seen, "score": _score_dict(score),
            "verdict": [asdict(r) for r in extras.verdict],
            "model": asdict(extras.model) if extras.model else None,
            "handoffs": [asdict(e) for e in extras.events]}
    (out_dir / "score.json").write_text(json.dumps(dump, indent=1, default=str), encoding="utf-8")
    return out_dir / "report.md"


def _track_pair_rows(tp: TrackPairScore | None) -> list[tuple[str, Any]]:
    """The report's rows of the recognizer's decisions per track pair (none without a scored pair)."""
    if tp is None or not tp.tracks.genuine:
        return []
    gait = f"both tracks >= {tp.min_tracklets} tracklets; {count(tp.gait.genuine, 'pair')}"
    return [("camera x LiDAR track pairs of one person linked (genuine-accept rate)", tp.tracks.gar),
            ("... of two people linked (false-match rate)", tp.tracks.fmr),
            (f"genuine-accept rate where gait can decide ({gait})", tp.gait.gar),
            (f"false-match rate where gait can decide ({count(tp.gait.impostor, 'pair')})", tp.gait.fmr)]


def _score_dict(score: Score | None) -> dict[str, Any] | None:
    if score is None:
        return None
    d = asdict(score)
    for s, det in score.detection.items():
        d["detection"][s].update(precision=det.precision, recall=det.recall, overlap_share=det.overlap_share,
                                 recall_alone=det.recall_alone, recall_overlapping=det.recall_overlapping)
    d["handoff"]["accuracy"] = score.handoff.accuracy
    if score.track_pairs is not None:
        for name in ("tracks", "gait"):
            c = getattr(score.track_pairs, name)
            d["track_pairs"][name].update(gar=c.gar, fmr=c.fmr)
    for t in d["tracking"].values():
        t["track_to_person"] = {str(k): v for k, v in t["track_to_person"].items()}
    return d
