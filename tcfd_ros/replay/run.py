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
from tcfd_ros.errors import BagError, CheckpointError, ConfigError, ForeignTrafficError
from tcfd_ros.inference.model_files import resolve_model_path
from tcfd_ros.perception.config import IdentityConfig
from tcfd_ros.replay import adapters
from tcfd_ros.replay.config import ReplayConfig, load_replay_config
from tcfd_ros.replay.dds import replay_domain, replay_profile
from tcfd_ros.replay.graph_process import GraphProcess
from tcfd_ros.replay.losses import foreign_inputs
from tcfd_ros.replay.output_bag import OutputBag, exclude_pattern
from tcfd_ros.replay.reader import BagSource
from tcfd_ros.replay.recording import NS_PER_S, Recording
from tcfd_ros.replay.records import RunInfo, StageLatency
from tcfd_ros.replay.report import ReportExtras, summary_lines, write_report
from tcfd_ros.replay.scoring import Score, score_decisions_per_track_pair, score_run
from tcfd_ros.replay.track_lives import TrackLives, track_lives
from tcfd_ros.wording import count
from tcfd_ros.replay.verdict import ModelIdentity, handoff_events, load_model_identity, verdict_rows

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
    record: Path | None = None            # --record OUT.mcap: the graph's outputs for Foxglove / RViz
    record_exclude: str | None = None     # --record-exclude REGEX: topics (whole name) left out of --record
    video: Path | None = None             # --video OUT.mp4: annotated camera beside the LiDAR top-down
    domain_id: int | None = None          # --domain-id; None: ROS_DOMAIN_ID, else a free one (replay/dds.py)


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
        params += g.replay_override_params()
    params += list(calibration)
    params += list(opts.params)
    if opts.model is not None:
        params += [f"{g.RECOGNIZER}.model_path={opts.model.resolve()}",
                   f"{g.RECOGNIZER}.backend={opts.backend}"]
    return params


def guided_cameras(config: Path, spec: g.GraphSpec, params: Sequence[str]) -> set[str]:
    """The cameras whose segmenter the graph runs LiDAR-guided (``guide.mode`` ``lidar``): the params
    file's value, then the ``--param`` overrides in the order the graph applies them (a moving platform's,
    then the user's). The player's ``--fast`` flow control must know which cameras wait for a scan."""
    from tcfd_ros.nodes.bringup import parse_param
    from tcfd_ros.perception.guided_config import GuidedSegmenterConfig

    key = "guide.mode"
    base = g.node_parameters_from_config(config, g.CAMERA_SEGMENTER).get(key, GuidedSegmenterConfig.mode)
    overrides = [o for o in map(parse_param, params) if o.node == g.CAMERA_SEGMENTER and o.key == key]
    guided = set()
    for node in spec.nodes:
        if node.name != g.CAMERA_SEGMENTER:
            continue
        mode = base
        for o in overrides:
            if o.applies_to(node):
                mode = o.value
        if mode == "lidar":
            guided.add(node.sensor)
    return guided


def _recognizer_params(opts: ReplayOptions) -> dict[str, Any]:
    """The recognizer's parameters as the graph runs them: the params file's, with the user's ``--param``
    overrides applied in order (``check_options`` has checked both; ``--model`` is applied by the callers
    that need it)."""
    from tcfd_ros.nodes.bringup import parse_param

    params = dict(g.node_parameters_from_config(opts.graph_config, g.RECOGNIZER))
    for o in map(parse_param, opts.params):
        if o.node == g.RECOGNIZER:
            params[o.key] = o.value
    return params


def _identity_value(opts: ReplayOptions, name: str) -> object:
    """``identity.<name>`` of the graph's recognizer (its params file, ``--param``), else the default."""
    return _recognizer_params(opts).get(f"identity.{name}", getattr(IdentityConfig, name))


def _identity_int(opts: ReplayOptions, name: str) -> int:
    return int(_identity_value(opts, name))


def _track_evidence_tracklets(opts: ReplayOptions) -> int:
    """How many of a track's newest tracklets the graph's recognizer decides on (the CMC's evidence)."""
    return _identity_int(opts, "track_evidence_tracklets")


def _model_of(opts: ReplayOptions) -> tuple[Path | None, str]:
    """The model the graph runs: --model, else the recognizer's model_path (params file or --param)."""
    if opts.model is not None:
        return opts.model, opts.backend
    p = _recognizer_params(opts)
    path = str(p.get("model_path") or "")
    backend = str(p.get("backend", opts.backend))
    if not path:
        return None, backend
    try:  # relative to the working directory, the source tree or the share dir, as the recognizer does
        return resolve_model_path(path), backend
    except CheckpointError:
        return Path(path), backend


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


VIDEO_OUTPUTS_NAME = ".video_outputs.mcap"   # --video without --record: outputs recorded here, then removed


def check_options(opts: ReplayOptions, cfg: ReplayConfig) -> None:
    """Everything that can be checked before anything is written: output names, model file, params."""
    from tcfd_ros.nodes.bringup import parse_param, plan

    if opts.record is not None and opts.record.suffix != ".mcap":
        raise ConfigError(f"--record {opts.record}: expected a file name ending in .mcap")
    if opts.record_exclude is not None and opts.record is None:
        raise ConfigError("--record-exclude: it filters --record, which was not given")
    exclude_pattern(opts.record_exclude)
    if opts.video is not None and opts.video.suffix != ".mp4":
        raise ConfigError(f"--video {opts.video}: expected a file name ending in .mp4")
    if opts.model is not None and not opts.model.is_file():
        raise ConfigError(f"--model {opts.model}: no such file")
    plan(opts.graph_config, [parse_param(p) for p in _graph_params(opts, cfg)])


def replay(opts: ReplayOptions, raise_on_damage: bool = True) -> ReplayResult:
    """Replay, score and report; a damaged bag raises BagError after the report (unless told not to).

    A replay that fails before it has anything to report leaves no output folder behind.
    """
    cfg: ReplayConfig = load_replay_config(opts.replay_config)
    check_options(opts, cfg)
    created = not opts.out_dir.exists()
    try:
        return _replay(opts, cfg, raise_on_damage)
    except BaseException:
        if created and opts.out_dir.is_dir() and not any(opts.out_dir.iterdir()):
            opts.out_dir.rmdir()
        raise


def _replay(opts: ReplayOptions, cfg: ReplayConfig, raise_on_damage: bool) -> ReplayResult:
    from tcfd_ros.replay.player import play, sensor_topics

    spec = g.graph_from_config(opts.graph_config)
    sensors = sensor_topics(spec)
    with BagSource(opts.bag) as source:
        source.require_topics([s.frame_topic for s in sensors])
        opts.out_dir.mkdir(parents=True, exist_ok=True)
        info = RunInfo(str(opts.bag), source.duration_s, {t: i.count for t, i in source.topics.items()},
                       mode="fast" if opts.rate is None else f"rate {opts.rate:g}")
        gt_msgs, gt_error = read_ground_truth(source, cfg.bag.ground_truth)
        info.bag_error = source.damage or gt_error
        rec = Recording(info, ground_truth=gt_msgs, tracklets_kept=_track_evidence_tracklets(opts))
        calibration, platform = _bag_calibration(source, spec, opts, cfg, info)
        params = _graph_params(opts, cfg, calibration)
        guided = guided_cameras(opts.graph_config, spec, params)
        for cam in sorted(guided_cameras(opts.graph_config, spec, calibration) - guided):
            log.warning("%s moves with the platform, but a --param runs its segmenter with guide.mode other "
                        "than lidar: background subtraction sees the whole image move, so expect few right "
                        "detections", cam)
        graph = GraphProcess(opts.graph_config, params, opts.out_dir / "graph.log",
                             processes=opts.graph_processes)
        info.graph_log = str(graph.log_path)
        outputs_path = opts.record or (opts.out_dir / VIDEO_OUTPUTS_NAME if opts.video else None)
        # check_options refused --record-exclude without --record: the video's own file keeps every output
        sink = OutputBag(outputs_path, opts.record_exclude) if outputs_path is not None else None
        with ExitStack() as stack:
            info.ros_domain_id = stack.enter_context(replay_domain(opts.domain_id))
            if cfg.flow.dds_heartbeat_ms > 0:
                stack.enter_context(replay_profile(opts.out_dir, cfg.flow.dds_heartbeat_ms))
            graph.start()
            try:
                latencies = play(source, spec, cfg, opts.rate, rec, graph, opts.progress, platform, sink,
                                 guided)
            except BaseException:
                if sink is not None:
                    sink.abort()
                raise
            finally:
                code = graph.stop(cfg.flow.shutdown_timeout_s)
                log.info("graph exited with %s", code)
        if sink is not None and sink.close() is None:
            outputs_path = None
        if gt_error and not info.bag_error:
            info.bag_error = gt_error
        t0 = source.start_ns / NS_PER_S
    rec.save(opts.out_dir / "recording.jsonl")
    result = _evaluate(opts, cfg, spec, rec, latencies, t0, outputs_path)
    if opts.video is not None and opts.record is None and outputs_path is not None:
        outputs_path.unlink(missing_ok=True)
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


def raise_if_foreign(result: ReplayResult) -> None:
    """One line when another publisher's messages reached the graph: the run's scores are not valid."""
    heard = foreign_inputs(result.info.stages)
    if heard:
        raise ForeignTrafficError(
            f"another publisher on ROS domain {result.info.ros_domain_id} reached this replay's graph "
            f"({'; '.join(heard[:2])}{'; ...' if len(heard) > 2 else ''}): its scores are not valid. Replay "
            f"again with a domain of its own (--domain-id, or no ROS_DOMAIN_ID set). Report: {result.report}")


def _evaluate(opts: ReplayOptions, cfg: ReplayConfig, spec: g.GraphSpec, rec: Recording,
              latencies: Sequence[StageLatency], t0: float, outputs_path: Path | None = None) -> ReplayResult:
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
    model, backend = _model_of(opts)
    identity: ModelIdentity | None = None
    if model is not None and model.exists():
        try:
            identity = load_model_identity(model, backend)
        except Exception as e:  # the report still says which file it was and why it is not described
            notes.append(f"Model {model} could not be described: {type(e).__name__}: {e}")
    lives = TrackLives()
    if gt:
        topics = {s.tracklets for s in sensors}
        lives = track_lives(adapters.tracklet_times(rec, topics),
                            float(_identity_value(opts, "track_timeout_s")))
        score = score_run(gt, rec.sensors, det, trk, matches, latencies, rec.info.bag_duration_s, cfg.scoring,
                          lives)
        score.track_pairs = score_decisions_per_track_pair(matches, score.tracking, rec.sensors,
                                                           adapters.tracklet_counts(rec, topics),
                                                           _identity_int(opts, "gait_min_tracklets"), lives)
        if model is not None and model.exists():
            from tcfd_ros.replay.cmc import track_cmc
            start = time.monotonic()
            c = track_cmc(rec.tracklets, rec.sensors, score.tracking, model, backend,
                          cfg.scoring.cmc_max_rank, float(_identity_value(opts, "track_evidence_trim")))
            score.cmc, score.cmc_queries, score.cmc_gallery = c.cmc, c.queries, c.gallery
            score.cmc_chance, score.cmc_last_tracklet = c.chance, c.last_tracklet
            log.info("CMC over %d queries in %.1f s", score.cmc_queries, time.monotonic() - start)
        else:
            notes.append(f"CMC not computed: no model file ({model}).")
    verdict = verdict_rows(score, rec.info, cfg.targets)
    tracking = score.tracking if score is not None else {}
    events = handoff_events(matches, tracking, rec.sensors, lives)
    extras = ReportExtras(verdict=verdict, model=identity, events=events,
                          track_to_person={s: dict(t.track_to_person) for s, t in tracking.items()})
    pictures = _pictures(opts, spec, trk, matches, outputs_path, int(round(t0 * NS_PER_S)))
    if pictures is not None:
        from tcfd_ros.replay.video import write_key_frames
        extras.key_frames = write_key_frames(pictures, [
            (e.stamp_s, f"G{e.global_id}: {'hand-off' if e.correct else 'FALSE link'}") for e in events],
            opts.out_dir)
        if opts.video is not None:
            from tcfd_ros.replay.video import camera_fps, write_video
            with BagSource(opts.bag) as src:
                fps = camera_fps(src, pictures.image_topic)
            frames = write_video(pictures, opts.video, fps)
            extras.outputs["video"] = f"{opts.video} ({count(frames, 'frame')}, {fps:.1f} fps)"
    if opts.record is not None:
        extras.outputs["recording (mcap)"] = str(opts.record) + (
            f" (topics matching {opts.record_exclude!r} left out)" if opts.record_exclude else "")
    report = write_report(opts.out_dir, rec.info, score, gt, trk, matches, latencies, seen, t0, notes, extras)
    return ReplayResult(report, summary_lines(rec.info, score, seen, verdict), score, rec.info)


def _pictures(opts: ReplayOptions, spec: g.GraphSpec, trk: dict, matches: Sequence[Any],
              outputs_path: Path | None, t0_ns: int) -> Any:
    """What the video and the key frames are drawn from: the first camera and the first LiDAR."""
    from tcfd_ros.replay.player import annotated_topics, sensor_topics
    from tcfd_ros.replay.video import ReplayPictures, TrackHistory, annotated_jpegs

    sensors = sensor_topics(spec)
    cam = next((s for s in sensors if s.modality == "2d"), None)
    lid = next((s for s in sensors if s.modality == "3d"), None)
    if cam is None:
        return None
    annotated: dict[int, bytes] = {}
    if outputs_path is not None and outputs_path.is_file():
        topic = next(t for t, c in annotated_topics(spec).items() if c == cam.sensor)
        annotated = annotated_jpegs(outputs_path, topic)
    return ReplayPictures(opts.bag, cam.frame_topic, lid.frame_topic if lid else None,
                          TrackHistory(trk.get(cam.sensor, ()), matches, cam.sensor),
                          TrackHistory(trk.get(lid.sensor, ()), matches, lid.sensor) if lid else None,
                          annotated, t0_ns)
