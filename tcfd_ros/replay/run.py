"""``tcfd-ros replay``: open the bag, start the graph, play, record, score, report.

The one entry point used by the CLI and the demo. A damaged bag still gets a report of what was read,
then ``BagError`` is raised so the caller (and the exit code) says the bag is damaged.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from tcfd_ros import graph as g
from tcfd_ros.errors import BagError
from tcfd_ros.replay import adapters
from tcfd_ros.replay.config import ReplayConfig, load_replay_config
from tcfd_ros.replay.dds import replay_profile
from tcfd_ros.replay.graph_process import GraphProcess
from tcfd_ros.replay.reader import BagSource
from tcfd_ros.replay.recording import NS_PER_S, Recording
from tcfd_ros.replay.records import RunInfo, StageLatency
from tcfd_ros.replay.report import summary_lines, write_report
from tcfd_ros.replay.scoring import Score, score_run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplayOptions:
    bag: Path
    out_dir: Path
    graph_config: Path                    # the params file the graph runs with (config/crossmodal.yaml)
    rate: float | None = 1.0              # None = --fast
    replay_config: Path | None = None     # YAML with a top-level `replay:` section; None = defaults
    model: Path | None = None             # exported model for the recognizer (and the CMC)
    backend: str = "onnx"
    params: tuple[str, ...] = ()          # extra `--param` overrides for bringup
    progress: bool = True
    # One process per node, as ``ros2 launch`` runs them (False: the one-process bringup graph).
    graph_processes: bool = True


@dataclass
class ReplayResult:
    report: Path
    summary: list[str]
    score: Score | None
    info: RunInfo


def _graph_params(opts: ReplayOptions, cfg: ReplayConfig, calibration: Sequence[str] = ()) -> list[str]:
    """Overrides of the graph: reliable inputs, the bag's calibration, the user's, the model."""
    params = []
    if cfg.flow.reliable_inputs:
        params += [f"{g.CAMERA_SEGMENTER}.input_reliability=reliable",
                   f"{g.LIDAR_SEGMENTER}.input_reliability=reliable"]
    params += list(calibration)
    params += list(opts.params)
    if opts.model is not None:
        params += [f"{g.RECOGNIZER}.model_path={opts.model.resolve()}",
                   f"{g.RECOGNIZER}.backend={opts.backend}"]
    return params


def _model_of(opts: ReplayOptions) -> tuple[Path | None, str]:
    """The model the graph runs: --model, else the recognizer's model_path in the params file."""
    if opts.model is not None:
        return opts.model, opts.backend
    p = g.node_parameters_from_config(opts.graph_config, g.RECOGNIZER)
    path = p.get("model_path") or ""
    return (Path(path) if path else None), str(p.get("backend", opts.backend))


def read_ground_truth(source: BagSource, topic: str) -> tuple[list[dict[str, Any]], str | None]:
    """All /ground_truth JSON objects (and the damage message if the bag broke while reading them)."""
    import json
    if topic not in source.topics:
        return [], None
    out = []
    try:
        for m in source.messages([topic]):
            text = source.deserialize(m).data
            try:
                out.append(json.loads(text))
            except json.JSONDecodeError as e:
                raise BagError(f"{topic} message at {m.stamp_ns} ns is not JSON: {e}") from e
    except BagError as e:
        return out, str(e)
    return out, None


def replay(opts: ReplayOptions, raise_on_damage: bool = True) -> ReplayResult:
    """Replay, score and report; a damaged bag raises BagError after the report (unless told not to)."""
    from tcfd_ros.replay.player import play, sensor_topics

    cfg: ReplayConfig = load_replay_config(opts.replay_config)
    spec = g.graph_from_config(opts.graph_config)
    sensors = sensor_topics(spec)
    opts.out_dir.mkdir(parents=True, exist_ok=True)
    with BagSource(opts.bag) as source:
        source.require_topics([s.frame_topic for s in sensors])
        info = RunInfo(str(opts.bag), source.duration_s, {t: i.count for t, i in source.topics.items()},
                       mode="fast" if opts.rate is None else f"rate {opts.rate:g}")
        gt_msgs, gt_error = read_ground_truth(source, cfg.bag.ground_truth)
        info.bag_error = source.damage or gt_error
        rec = Recording(info, ground_truth=gt_msgs)
        calibration, platform = _bag_calibration(source, spec, opts, cfg, info)
        graph = GraphProcess(opts.graph_config, _graph_params(opts, cfg, calibration),
                             opts.out_dir / "graph.log", processes=opts.graph_processes)
        info.graph_log = str(graph.log_path)
        with ExitStack() as stack:
            if cfg.flow.dds_heartbeat_ms > 0:
                stack.enter_context(replay_profile(opts.out_dir, cfg.flow.dds_heartbeat_ms))
            graph.start()
            try:
                latencies = play(source, spec, cfg, opts.rate, rec, graph, opts.progress, platform)
            finally:
                code = graph.stop(cfg.flow.shutdown_timeout_s)
                log.info("graph exited with %s", code)
        if gt_error and not info.bag_error:
            info.bag_error = gt_error
        t0 = source.start_ns / NS_PER_S
    rec.save(opts.out_dir / "recording.jsonl")
    result = _evaluate(opts, cfg, spec, rec, latencies, t0)
    if raise_on_damage:
        raise_if_damaged(result)
    return result


def _bag_calibration(source: BagSource, spec: g.GraphSpec, opts: ReplayOptions, cfg: ReplayConfig,
                     info: RunInfo) -> tuple[list[str], Any]:
    """``--param`` overrides from the bag's /tf_static and the platform pose to republish from /tf.

    What was taken is noted against those topics in the report's topic table.
    """
    from tcfd_ros.replay.calibration import bag_calibration
    from tcfd_ros.replay.player import sensor_topics

    if not cfg.bag.calibration_from_tf or cfg.bag.tf_static not in source.topics:
        return [], None
    frames = [(s.sensor, g.CAMERA_TRACKER if s.modality == "2d" else g.LIDAR_TRACKER, s.frame_topic)
              for s in sensor_topics(spec)]
    try:
        sensors, platform, notes = bag_calibration(source, opts.graph_config, cfg.bag.tf_static, cfg.bag.tf,
                                                   frames)
    except BagError as e:
        log.warning("calibration not read from the bag: %s", e)
        info.skipped_topics[cfg.bag.tf_static] = f"not usable as calibration: {e}"
        return [], None
    for n in notes:
        log.warning("%s", n)
    fixed = platform.fixed_frame if platform else ""
    params = [p for c in sensors for p in c.params(fixed or c.parent)]
    from tcfd_ros.replay.platform_mode import moving_platform_overrides
    moving, moving_notes = moving_platform_overrides(sensors, spec, fixed)
    params += moving
    for n in moving_notes:
        log.info("%s", n)
    notes = notes + moving_notes
    taken = "; ".join([f"{c.sensor} ({c.frame}) in {c.parent}" for c in sensors] + notes)
    info.skipped_topics[cfg.bag.tf_static] = f"read into the trackers' calibration parameters: {taken}"
    if platform is not None:
        info.skipped_topics[cfg.bag.tf] = (f"{platform.fixed_frame} -> {platform.base_frame} republished as "
                                           f"geometry_msgs/PoseStamped on {platform.pose_topic}")
    return params, platform


def raise_if_damaged(result: ReplayResult) -> None:
    if result.info.bag_error:
        raise BagError(f"{result.info.bag_error}. The report at {result.report} covers what was read.")


def _evaluate(opts: ReplayOptions, cfg: ReplayConfig, spec: g.GraphSpec, rec: Recording,
              latencies: Sequence[StageLatency], t0: float) -> ReplayResult:
    from tcfd_ros.replay.player import output_topics, sensor_topics

    sensors = sensor_topics(spec)
    outputs = output_topics(spec)
    matches_topic = next(t for t in outputs if t.endswith("/" + g.MATCHES))
    det = {s.sensor: adapters.stage_frames(rec, s.sensor, s.stage) for s in sensors}
    trk = {s.sensor: adapters.track_frames(rec, s.sensor, s.tracks) for s in sensors}
    matches = adapters.match_events(rec, matches_topic)
    gt = adapters.ground_truth_frames(rec.ground_truth) if rec.ground_truth else {}
    seen = {
        **{f"{s} detections": sum(len(f.observations) for f in fr) for s, fr in det.items()},
        **{f"{s} tracks": len({o.track_id for f in fr for o in f.observations}) for s, fr in trk.items()},
        "match messages": len(matches),
        "global identities": len({m.global_id for m in matches}),
        "cross-sensor identities": len({m.global_id for m in matches if m.sensor in spec.cameras}
                                       & {m.global_id for m in matches if m.sensor in spec.lidars}),
    }
    score = None
    notes: list[str] = []
    if gt:
        score = score_run(gt, rec.sensors, det, trk, matches, latencies, rec.info.bag_duration_s, cfg.scoring)
        model, backend = _model_of(opts)
        if model is not None and model.exists():
            from tcfd_ros.replay.cmc import tracklet_cmc
            start = time.monotonic()
            score.cmc, score.cmc_queries, score.cmc_gallery = tracklet_cmc(
                rec.tracklets, rec.sensors, score.tracking, model, backend, cfg.scoring.cmc_max_rank)
            log.info("CMC over %d queries in %.1f s", score.cmc_queries, time.monotonic() - start)
        else:
            notes.append(f"CMC not computed: no model file ({model}).")
    report = write_report(opts.out_dir, rec.info, score, gt, trk, matches, latencies, seen, t0, notes)
    return ReplayResult(report, summary_lines(rec.info, score, seen), score, rec.info)
