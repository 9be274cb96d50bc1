"""Publish a bag into the running node graph over real DDS, with /clock, and record what comes out.

Serialized CDR from the bag is published as it is (``Publisher.publish`` takes bytes), so the graph
receives byte-for-byte what was recorded. ``/clock`` carries the bag time (the graph runs with
``use_sim_time``). rclpy is imported inside this module's functions only: the rest of
``tcfd_ros.replay`` (reading, scoring, reporting) runs without ROS.

Pacing: ``rate`` R publishes at R x the recorded speed; ``fast`` publishes a sensor's next frame as
soon as the graph has answered its previous one on the first stage (``detections`` / ``clusters``,
which copy the input header) and the recognizer has answered all but a few tracklets (one ``matches``
entry per tracklet), so no queue in the graph overflows for want of time.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Collection

from tcfd_ros import graph as g
from tcfd_ros.errors import BagError, TcfdError
from tcfd_ros.replay.config import ReplayConfig
from tcfd_ros.replay.graph_process import GraphProcess
from tcfd_ros.progress import progress as progress_bar
from tcfd_ros.replay.sim_clock import ClockThinner
from tcfd_ros.replay.losses import stage_flows
from tcfd_ros.replay.matching import Endpoint, node_endpoints, unmatched
from tcfd_ros.replay.output_bag import OutputBag
from tcfd_ros.replay.pose_lead import poses_ahead
from tcfd_ros.replay.reader import BagSource
from tcfd_ros.replay.records import StageLatency
from tcfd_ros.replay.recording import (NS_PER_S, Received, Recording, convert_clusters, convert_detections,
                                       convert_diagnostics, convert_markers, convert_string, header_stamp_ns,
                                       stamp_ns)

log = logging.getLogger(__name__)

CLOCK_TOPIC = "/clock"
OUTPUT_QUEUE_DEPTH = 200
INPUT_QUEUE_DEPTH = 10
DRAIN_TICK_S = 0.1                 # /clock tick while draining
PROGRESS_EVERY_S = 0.5
ALIVE_CHECK_EVERY = 50             # messages between checks that the graph process still runs
FINAL_DIAGNOSTICS_WAIT_S = 2.5     # every node's diagnostics period (1 s) with margin
#: topics every rclpy node has, which no stage of the graph reads: not waited for
_INFRASTRUCTURE_TOPICS = ("/rosout", "/parameter_events")
POSE_QUEUE_DEPTH = 100             # platform poses (small, several per sensor frame)


@dataclass(frozen=True)
class SensorTopics:
    sensor: str            # namespace, e.g. "camera"
    modality: str          # "2d" | "3d"
    inputs: tuple[str, ...]  # bag topics the graph reads for this sensor (image + info, or points)
    frame_topic: str       # the input that carries one frame (image or cloud), acknowledged in --fast
    stage: str             # first-stage output, header copied from the input
    tracks: str
    tracklets: str


def sensor_topics(spec: g.GraphSpec, names: g.TopicNames = g.TopicNames()) -> list[SensorTopics]:
    """The topics of each sensor of the graph, with the graph's top-level namespace applied."""
    def t(*parts: str) -> str:
        return "/" + "/".join(p.strip("/") for p in (spec.namespace, *parts) if p.strip("/"))
    out = [SensorTopics(c, "2d", (t(c, names.image), t(c, names.camera_info)), t(c, names.image),
                        t(c, g.DETECTIONS), t(c, g.TRACKS), t(c, g.TRACKLETS)) for c in spec.cameras]
    out += [SensorTopics(lid, "3d", (t(lid, names.points),), t(lid, names.points), t(lid, g.CLUSTERS),
                         t(lid, g.TRACKS), t(lid, g.TRACKLETS)) for lid in spec.lidars]
    return out


def output_topics(spec: g.GraphSpec, names: g.TopicNames = g.TopicNames()) -> dict[str, str]:
    """Every graph output the recorder subscribes to -> the sensor it belongs to ("" for the recognizer)."""
    def t(*parts: str) -> str:
        return "/" + "/".join(p.strip("/") for p in (spec.namespace, *parts) if p.strip("/"))
    out = {}
    for s in sensor_topics(spec, names):
        out.update({s.stage: s.sensor, s.tracks: s.sensor, s.tracklets: s.sensor})
    out.update({t(names.matches) if not names.matches.startswith("/") else names.matches: "",
                t(names.markers) if not names.markers.startswith("/") else names.markers: "",
                g.DIAGNOSTICS: ""})
    return out


def annotated_topics(spec: g.GraphSpec) -> dict[str, str]:
    """Each camera's annotated image topic -> its sensor (subscribed only to record it)."""
    def t(*parts: str) -> str:
        return "/" + "/".join(p.strip("/") for p in (spec.namespace, *parts) if p.strip("/"))
    return {t(c, g.ANNOTATED): c for c in spec.cameras}


IMAGE_TYPE = "sensor_msgs/msg/Image"
# Outputs written to --record besides every recorded one; the label image is left out (the annotated
# image shows the same masks, and at 600 KB a frame it would double the file).
NOT_RECORDED_KINDS = ("detections",)


def _msg_class(msgtype: str) -> Any:
    """'sensor_msgs/msg/Image' -> the rclpy message class; ImportError/AttributeError when not installed."""
    pkg, _, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{pkg}.msg"), name)


_CONVERTERS: dict[str, tuple[str, Callable[[Any], dict[str, Any]]]] = {
    "sensor_msgs/msg/Image": ("detections", convert_detections),
    "sensor_msgs/msg/PointCloud2": ("clusters", convert_clusters),
    "std_msgs/msg/String": ("string", convert_string),
    "visualization_msgs/msg/MarkerArray": ("markers", convert_markers),
    "diagnostic_msgs/msg/DiagnosticArray": ("diagnostics", convert_diagnostics),
}


def recognizer_dropped(status: list[dict[str, Any]]) -> int | None:
    """Tracklets the recognizer reports dropped (queue full, malformed, ...) in its diagnostics."""
    total = None
    for st in status:
        if g.RECOGNIZER not in st["name"]:
            continue
        for k, val in st["values"].items():
            if k.endswith(": dropped") and g.TRACKLETS in k:
                try:
                    total = (total or 0) + int(val)
                except ValueError:
                    continue
    return total


class _Recorder:
    """Subscription callbacks: convert, stamp with arrival time, signal acknowledgements."""

    def __init__(self, rec: Recording, stage_sensor: dict[str, str], sink: OutputBag | None = None) -> None:
        self.rec = rec
        self.sink = sink
        self.clock_ns = 0                 # latest /clock published: log time of unstamped outputs
        self.stage_sensor = stage_sensor
        self.cond = threading.Condition()
        self.acked: dict[str, set[int]] = {s: set() for s in stage_sensor.values()}
        self.last_output_wall = time.monotonic()
        self.tracklets_seen = 0
        self.matches = 0
        self.recognizer_dropped = 0
        self.diagnostic_names: set[str] = set()
        self.last_status: dict[str, dict[str, Any]] = {}   # node name -> its latest diagnostics status
        self.errors: dict[str, str] = {}
        self.failure: str | None = None   # why the subscription thread died: nothing more is received

    def spin(self, spin: Callable[[], None]) -> None:
        """Run the executor's ``spin``; if it dies, keep why and wake every waiter, so that the replay
        stops with that error instead of waiting out a timeout for each frame of the bag on outputs it
        can no longer receive (a recording that raised on a full disk hung a replay)."""
        from rclpy.executors import ExternalShutdownException

        try:
            spin()
        except ExternalShutdownException:
            pass
        except Exception as e:  # noqa: BLE001 - reported by the publishing thread (``check``)
            log.error("replay: receiving the graph's outputs failed: %s: %s", type(e).__name__, e)
            with self.cond:
                self.failure = f"{type(e).__name__}: {e}"
                self.cond.notify_all()

    def check(self) -> None:
        """Raise if the subscription thread died (``spin``)."""
        if self.failure is not None:
            raise TcfdError(f"replay stopped: receiving the graph's outputs failed ({self.failure})")

    def backlog(self) -> int:
        """Tracklets the recognizer has not answered yet (call with ``cond`` held)."""
        return self.tracklets_seen - self.matches - self.recognizer_dropped

    def callback(self, topic: str, kind: str, convert: Callable[[Any], dict[str, Any]],
                 msgtype: str = "") -> Callable[[Any], None]:
        """Subscription callback; with ``msgtype`` it takes the raw CDR (``raw=True`` subscriptions),
        deserializes it for ``convert`` and writes the bytes unchanged to the ``--record`` bag."""
        cls = _msg_class(msgtype) if msgtype else None
        from rclpy.serialization import deserialize_message

        def on_msg(msg: Any) -> None:
            wall = time.monotonic()
            raw = None
            if cls is not None:
                raw, msg = msg, deserialize_message(msg, cls)
            header = getattr(msg, "header", None)
            st = stamp_ns(header.stamp) if header is not None else None
            try:
                payload = convert(msg)
            except Exception as e:  # a malformed graph output must not kill the recorder; it is reported
                self.errors.setdefault(topic, f"{type(e).__name__}: {e}")
                payload = {"unconverted": str(e)}
            d = payload.get("json")
            if st is None and isinstance(d, dict) and isinstance(d.get("stamp"), dict):
                s = d["stamp"]
                st = int(s.get("sec", 0)) * NS_PER_S + int(s.get("nanosec", 0))
            if topic.endswith("/" + g.TRACKLETS) and isinstance(d, dict) and "track_id" in d:
                self.rec.keep_tracklet((str(d.get("sensor")), int(d["track_id"])), msg.data)
            if self.sink is not None and raw is not None and kind not in NOT_RECORDED_KINDS:
                self.sink.write(topic, msgtype, st if st is not None else self.clock_ns, raw)
            with self.cond:
                self.rec.received.append(Received(topic, kind, wall, st, payload))
                self.rec.info.received[topic] = self.rec.info.received.get(topic, 0) + 1
                if kind != "diagnostics":       # diagnostics tick on a steady timer: not a sign of work
                    self.last_output_wall = wall
                if topic in self.stage_sensor and st is not None:
                    self.acked[self.stage_sensor[topic]].add(st)
                if kind == "diagnostics":
                    self.diagnostic_names.update(st["name"] for st in payload.get("status", []))
                    self.last_status.update((st["name"], st) for st in payload.get("status", []))
                    dropped = recognizer_dropped(payload.get("status", []))
                    if dropped is not None:
                        self.recognizer_dropped = dropped
                if topic.endswith("/" + g.MATCHES):
                    self.matches += 1
                elif topic.endswith("/" + g.TRACKLETS):
                    self.tracklets_seen += 1
                self.cond.notify_all()
        return on_msg

    def annotated_callback(self, topic: str) -> Callable[[bytes], None]:
        """Raw annotated images: written to the ``--record`` bag as they are, counted, not decoded."""
        def on_msg(raw: bytes) -> None:
            try:
                st = header_stamp_ns(raw, topic)
            except BagError as e:
                self.errors.setdefault(topic, str(e))
                return
            if self.sink is not None:
                self.sink.write(topic, IMAGE_TYPE, st, raw)
            with self.cond:
                self.rec.info.received[topic] = self.rec.info.received.get(topic, 0) + 1
        return on_msg


def play(source: BagSource, spec: g.GraphSpec, cfg: ReplayConfig, rate: float | None, rec: Recording,
         graph: GraphProcess, progress: bool = True, platform: Any = None,
         sink: OutputBag | None = None, guided: Collection[str] = ()) -> list[StageLatency]:
    """Publish the bag into the running graph; fill ``rec``; return per-stage latencies.

    ``platform`` (a ``replay.calibration.PlatformPose``): /tf's platform transforms are published as
    ``geometry_msgs/PoseStamped`` on its pose topic, in bag order with the sensor messages.

    ``guided``: the cameras whose segmenter is LiDAR-guided (``run.guided_cameras``); in ``--fast`` their
    next image does not wait for an answer that needs a scan not sent yet (``_answerable``).

    ``rate`` None means ``--fast``. With ``sink`` every output (and each camera's annotated image) is
    also written there, with the bag's ``/tf_static`` so that viewers can place the sensor frames.
    A damaged bag stops publishing at the damage; the error is kept in
    ``rec.info.bag_error`` and the graph is drained so the report covers what was read.
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rosgraph_msgs.msg import Clock

    sensors = sensor_topics(spec)
    rec.sensors = {s.sensor: s.modality for s in sensors}
    frame_sensor = {s.frame_topic: s.sensor for s in sensors}
    stage_sensor = {s.stage: s.sensor for s in sensors}
    recorder = _Recorder(rec, stage_sensor, sink)
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("tcfd_replay", context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    spin = threading.Thread(target=recorder.spin, args=(executor.spin,), name="replay-spin", daemon=True)
    spin.start()
    try:
        pubs: dict[str, Any] = {}
        wanted = [t for s in sensors for t in s.inputs] + [cfg.bag.tf_static]
        for topic in wanted:
            info = source.topics.get(topic)
            if info is None:
                continue
            try:
                cls = _msg_class(info.msgtype)
            except (ImportError, AttributeError) as e:
                rec.info.skipped_topics.setdefault(
                    topic, f"message type {info.msgtype} is not available to rclpy ({e})")
                continue
            pubs[topic] = node.create_publisher(cls, topic, QoSProfile(depth=INPUT_QUEUE_DEPTH))
        for topic in source.topics:
            if topic not in pubs and topic not in rec.info.skipped_topics and topic != cfg.bag.ground_truth:
                rec.info.skipped_topics[topic] = "not an input of the configured graph"
        clock_pub = node.create_publisher(Clock, CLOCK_TOPIC, QoSProfile(depth=INPUT_QUEUE_DEPTH))
        pose_pub = None
        if platform is not None and platform.tf_topic in source.topics:
            from geometry_msgs.msg import PoseStamped
            pose_pub = node.create_publisher(PoseStamped, platform.pose_topic,
                                             QoSProfile(depth=POSE_QUEUE_DEPTH))
            pubs[platform.tf_topic] = None

        from diagnostic_msgs.msg import DiagnosticArray
        diag_type = "diagnostic_msgs/msg/DiagnosticArray"
        node.create_subscription(DiagnosticArray, g.DIAGNOSTICS,
                                 recorder.callback(g.DIAGNOSTICS, "diagnostics", convert_diagnostics,
                                                   diag_type),
                                 QoSProfile(depth=OUTPUT_QUEUE_DEPTH), raw=True)
        if sink is not None and cfg.bag.tf_static in source.topics:
            for m in source.messages([cfg.bag.tf_static]):
                sink.write(m.topic, m.msgtype, m.stamp_ns, m.data)
        _wait_for_graph(node, graph, recorder, [s.frame_topic for s in sensors],
                        cfg.flow.graph_ready_timeout_s)
        _subscribe_outputs(node, spec, recorder, QoSProfile, ReliabilityPolicy)
        _wait_for_matches(node, graph, recorder, cfg.flow.match_timeout_s)

        publish_wall: dict[tuple[str, int], float] = {}
        last_frame: dict[str, int] = {}
        lidars = [s.sensor for s in sensors if s.modality == "3d"]
        patience = AckPatience(cfg.flow.fast_ack_patience, cfg.flow.fast_ack_timeout_s)
        total = sum(source.topics[t].count for t in pubs)
        t0_ns = source.start_ns
        clock_ns = t0_ns
        clock = ClockThinner()
        wall0 = time.monotonic()
        bar = progress_bar(total=total, unit="msg", desc="replay", disable=not progress, dynamic_ncols=True)
        last_bar = 0.0
        n = 0
        try:
            pose_topic = getattr(platform, "tf_topic", None)
            for m in poses_ahead(source.messages(topics=list(pubs)), pose_topic):
                if rate is not None:
                    delay = wall0 + (m.stamp_ns - t0_ns) / NS_PER_S / rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                if m.topic != pose_topic:           # a pose sent ahead does not move the clock ahead
                    clock_ns = max(clock_ns, m.stamp_ns)
                recorder.clock_ns = clock_ns
                if clock.due(clock_ns):
                    clock_pub.publish(_clock_msg(Clock, clock_ns))
                sensor = frame_sensor.get(m.topic)
                if rate is None and sensor is not None:
                    with recorder.cond:
                        answers = len(recorder.acked[sensor])
                    if patience.waits(sensor, answers):
                        previous = _answerable(last_frame, sensor, guided, lidars)
                        answered = _wait_fast(recorder, sensor, previous, cfg)
                        patience.record(sensor, answered, answers)
                    else:
                        rec.info.unwaited[sensor] = rec.info.unwaited.get(sensor, 0) + 1
                recorder.check()
                if sensor is not None:
                    st = header_stamp_ns(m.data, m.topic)
                    last_frame[sensor] = st
                    publish_wall[(sensor, st)] = time.monotonic()
                    rec.published.append((sensor, st, publish_wall[(sensor, st)]))
                if m.topic == pose_topic:
                    _publish_poses(pose_pub, source, m, platform)
                else:
                    pubs[m.topic].publish(m.data)
                rec.info.published[m.topic] = rec.info.published.get(m.topic, 0) + 1
                n += 1
                if n % ALIVE_CHECK_EVERY == 0:
                    graph.check_alive()
                bar.update(1)
                if time.monotonic() - last_bar > PROGRESS_EVERY_S:
                    last_bar = time.monotonic()
                    bar.set_postfix(bag_s=f"{(m.stamp_ns - t0_ns) / NS_PER_S:.1f}", matches=recorder.matches)
        except BagError as e:
            rec.info.bag_error = str(e)
            log.error("%s", e)
        finally:
            bar.close()
        publish_end = time.monotonic()
        _drain(recorder, clock_pub, Clock, clock_ns, cfg, graph)
        with recorder.cond:
            last_out = recorder.last_output_wall
        rec.info.wall_s = max(publish_end, min(last_out, time.monotonic())) - wall0
        for s in sensors:
            sent = {st for sen, st, _ in rec.published if sen == s.sensor}
            rec.info.unacknowledged[s.sensor] = len(sent - recorder.acked[s.sensor])
        rec.info.recorder_errors = dict(recorder.errors)
        _wait_for_final_diagnostics(recorder)
        with recorder.cond:
            rec.info.stages = stage_flows(recorder.last_status, rec.info.published)
        return _latencies(rec, publish_wall, spec)
    finally:
        executor.shutdown(timeout_sec=2.0)
        node.destroy_node()
        rclpy.shutdown(context=ctx)
        spin.join(timeout=5.0)


def _publish_poses(pub: Any, source: BagSource, m: Any, platform: Any) -> None:
    """The platform transforms of one /tf message as PoseStamped (fixed frame <- base)."""
    from geometry_msgs.msg import PoseStamped

    from tcfd_ros.replay.calibration import pose_messages, tf_edges

    for t, T in pose_messages(tf_edges(source.deserialize(m)), platform):
        msg = PoseStamped()
        ns = int(round(t * NS_PER_S))
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(ns, NS_PER_S)
        msg.header.frame_id = platform.fixed_frame
        p, q = msg.pose.position, msg.pose.orientation
        p.x, p.y, p.z = (float(v) for v in T.t)
        q.x, q.y, q.z, q.w = (float(v) for v in T.quaternion())
        pub.publish(msg)


def _wait_for_final_diagnostics(recorder: _Recorder) -> None:
    """Let every node publish its diagnostics once more after the graph went quiet (1 s period)."""
    with recorder.cond:
        seen = {n: id(st) for n, st in recorder.last_status.items()}
    deadline = time.monotonic() + FINAL_DIAGNOSTICS_WAIT_S
    while time.monotonic() < deadline:
        with recorder.cond:
            if all(id(recorder.last_status.get(n)) != i for n, i in seen.items()):
                return
        time.sleep(0.05)


def _clock_msg(Clock: Any, ns: int) -> Any:
    msg = Clock()
    msg.clock.sec, msg.clock.nanosec = divmod(ns, NS_PER_S)
    return msg


def _wait_for_graph(node: Any, graph: GraphProcess, recorder: _Recorder, inputs: list[str],
                    timeout_s: float) -> None:
    """Block until the graph subscribes to every sensor input and every node is spinning.

    A node is spinning once its (steady-clock) diagnostics arrive; bringup starts spinning only after
    every node, the recognizer's model included, is built, so this also waits for the model to load.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        graph.check_alive()
        missing = [f"a subscriber of {t}" for t in inputs if node.count_subscribers(t) == 0]
        with recorder.cond:
            reporting = set(recorder.diagnostic_names)
        missing += [f"diagnostics of {n}" for n in g.NODE_NAMES if not any(n in name for name in reporting)
                    and _node_expected(n, inputs)]
        if not missing:
            return
        if time.monotonic() > deadline:
            from tcfd_ros.errors import TcfdError
            raise TcfdError(f"the node graph did not come up within {timeout_s:.0f} s: still no "
                            f"{', '.join(missing)}; see {graph.log_path}")
        time.sleep(0.2)


def _wait_for_matches(node: Any, graph: GraphProcess, recorder: _Recorder, timeout_s: float) -> None:
    """Block until every publisher of the replay and of the graph has matched every subscription discovered
    on its topic, and each of the replay's subscriptions every publisher (``matching``); after
    ``timeout_s`` say what is unmatched in one line and go on (an endpoint whose QoS no peer can match would
    otherwise stop the replay)."""
    start = time.monotonic()
    deadline = start + timeout_s
    while True:
        graph.check_alive()
        own = [Endpoint(p.topic_name, "publisher", p.get_subscription_count(),
                        node.count_subscribers(p.topic_name))
               for p in node.publishers if p.topic_name not in _INFRASTRUCTURE_TOPICS]
        own += [Endpoint(s.topic_name, "subscription", s.get_publisher_count(),
                         node.count_publishers(s.topic_name))
                for s in node.subscriptions if s.topic_name not in _INFRASTRUCTURE_TOPICS]
        with recorder.cond:
            status = dict(recorder.last_status)
        missing = unmatched(own + node_endpoints(status, node.count_subscribers, node.count_publishers))
        if not missing:
            log.info("replay: every publisher matched its subscribers after %.1f s", time.monotonic() - start)
            return
        if time.monotonic() > deadline:
            log.warning("replay: after %.0f s still unmatched: %s; the first frames may be lost on them (the "
                        "report counts them)", timeout_s, "; ".join(missing))
            return
        time.sleep(0.1)


def _node_expected(name: str, inputs: list[str]) -> bool:
    """Whether the graph has node ``name`` (camera nodes only with a camera, LiDAR ones with a LiDAR)."""
    if name.startswith("camera"):
        return any(t.endswith("/" + g.TopicNames.image) for t in inputs)
    if name.startswith("lidar"):
        return any(t.endswith("/" + g.TopicNames.points) for t in inputs)
    return True


def _subscribe_outputs(node: Any, spec: g.GraphSpec, recorder: _Recorder, QoSProfile: Any,
                       ReliabilityPolicy: Any) -> None:
    """Subscribe to every output the graph advertises, with a QoS compatible with its publishers."""
    advertised = dict(node.get_topic_names_and_types())
    for topic in output_topics(spec):
        if topic == g.DIAGNOSTICS:
            continue            # subscribed before the graph came up
        types = advertised.get(topic)
        if not types:
            log.info("graph does not publish %s; not recorded", topic)
            continue
        kind_conv = _CONVERTERS.get(types[0])
        if kind_conv is None:
            recorder.rec.info.skipped_topics[topic] = f"output type {types[0]} has no recorder converter"
            continue
        infos = node.get_publishers_info_by_topic(topic)
        reliable = bool(infos) and all(i.qos_profile.reliability == ReliabilityPolicy.RELIABLE for i in infos)
        qos = QoSProfile(depth=OUTPUT_QUEUE_DEPTH,
                         reliability=(ReliabilityPolicy.RELIABLE if reliable
                                      else ReliabilityPolicy.BEST_EFFORT))
        kind, conv = kind_conv
        node.create_subscription(_msg_class(types[0]), topic, recorder.callback(topic, kind, conv, types[0]),
                                 qos, raw=True)
    if recorder.sink is None:
        return
    for topic in annotated_topics(spec):
        if IMAGE_TYPE not in advertised.get(topic, []):
            log.warning("graph does not publish %s; the recording and video have no annotated image", topic)
            continue
        node.create_subscription(_msg_class(IMAGE_TYPE), topic, recorder.annotated_callback(topic),
                                 QoSProfile(depth=OUTPUT_QUEUE_DEPTH, reliability=ReliabilityPolicy.RELIABLE),
                                 raw=True)


def _answerable(last_frame: dict[str, int], sensor: str, guided: Collection[str], lidars: list[str]
                ) -> int | None:
    """The stamp of ``sensor``'s previous frame, whose answer --fast waits for before its next frame; None
    (no wait) when that answer needs a LiDAR frame not sent yet: a guided camera's image waits for the
    clusters of a scan at or after its stamp (guide.wait_s), and a 15 Hz camera has a second image before
    that scan in the bag, which would wait behind the first (RESULTS.md, "A robot replay that decides alike
    every run")."""
    previous = last_frame.get(sensor)
    if previous is None or sensor not in guided:
        return previous
    newest_scan = max((last_frame[s] for s in lidars if s in last_frame), default=None)
    return previous if newest_scan is not None and newest_scan >= previous else None


def _wait_fast(recorder: _Recorder, sensor: str, previous: int | None, cfg: ReplayConfig) -> bool | None:
    """--fast flow control before a sensor's next frame: the graph's first stage has answered this
    sensor's previous frame (one frame in flight per sensor, so sensors still run in parallel), and
    the recognizer has at most ``fast_max_backlog`` tracklets waiting (tracklets seen minus matches
    seen minus tracklets it reported dropped). Waits give up after the configured timeouts. Returns
    whether ``previous`` was answered (None: nothing to wait for)."""
    answered = None
    with recorder.cond:
        if previous is not None:
            answered = recorder.cond.wait_for(
                lambda: previous in recorder.acked[sensor] or recorder.failure is not None,
                timeout=cfg.flow.fast_ack_timeout_s) and previous in recorder.acked[sensor]
        recorder.cond.wait_for(lambda: recorder.backlog() <= cfg.flow.fast_max_backlog
                               or recorder.failure is not None, timeout=cfg.flow.fast_backlog_timeout_s)
    return answered


class AckPatience:
    """--fast's patience with each sensor's first stage: after ``patience`` frames in a row whose answer timed
    out, the sensor's frames go out without waiting, until its stage answers a frame again. A cloud topic that
    DDS never delivered to the graph (once in a robot replay: the LiDAR segmenter received none of 400 clouds)
    cost ``fast_ack_timeout_s`` per frame, 20 minutes for a 40 s bag; the report still counts every frame
    the graph did not answer."""

    def __init__(self, patience: int, timeout_s: float) -> None:
        self.patience = patience
        self.timeout_s = timeout_s                  # each wait's length (for the warning)
        self._missed: dict[str, int] = {}
        self._stopped_at: dict[str, int] = {}      # sensor -> its stage's answers when waiting stopped

    def waits(self, sensor: str, answers: int) -> bool:
        """Whether --fast waits for ``sensor``'s previous frame, its stage having answered ``answers``
        frames so far."""
        stopped_at = self._stopped_at.get(sensor)
        if stopped_at is None:
            return True
        if answers <= stopped_at:
            return False
        del self._stopped_at[sensor]
        log.info("--fast: %s's first stage answers again; waiting for its answers again", sensor)
        return True

    def record(self, sensor: str, answered: bool | None, answers: int) -> None:
        """After a wait for ``sensor``'s previous frame: ``answered`` it, or not (None: there was no wait)."""
        if answered is None:
            return
        if answered:
            self._missed[sensor] = 0
            return
        missed = self._missed[sensor] = self._missed.get(sensor, 0) + 1
        if missed >= self.patience:
            self._missed[sensor] = 0
            self._stopped_at[sensor] = answers
            log.warning("--fast: %s's first stage answered none of its last %d frames (%g s each; %d "
                        "answered so far): its next frames go out without waiting, until it answers again; "
                        "the report counts what it missed", sensor, missed, self.timeout_s, answers)


def _drain(recorder: _Recorder, clock_pub: Any, Clock: Any, clock_ns: int, cfg: ReplayConfig,
           graph: GraphProcess) -> None:
    """Let the graph finish: keep /clock running until its outputs are quiet (or a time limit)."""
    start = time.monotonic()
    while time.monotonic() - start < cfg.flow.drain_timeout_s:
        graph.check_alive()
        recorder.check()
        time.sleep(DRAIN_TICK_S)
        clock_ns += int(DRAIN_TICK_S * NS_PER_S)
        clock_pub.publish(_clock_msg(Clock, clock_ns))
        with recorder.cond:
            quiet = time.monotonic() - recorder.last_output_wall
            backlog = recorder.backlog()
        if quiet >= cfg.flow.drain_quiet_s and backlog <= 0:
            return
    log.warning("graph still producing output %.0f s after the bag ended; stopping it",
                cfg.flow.drain_timeout_s)


def _latencies(rec: Recording, publish_wall: dict[tuple[str, int], float],
               spec: g.GraphSpec) -> list[StageLatency]:
    """Output arrival minus input publish (wall clock) for every stamped output of a known input frame."""
    sensor_of = output_topics(spec)
    by_stamp: dict[int, float] = {}
    for (sensor, st), w in publish_wall.items():
        by_stamp[st] = min(by_stamp.get(st, w), w)
    out = []
    for r in rec.received:
        if r.stamp_ns is None or r.kind == "diagnostics":
            continue
        sensor = sensor_of.get(r.topic, "")
        w = publish_wall.get((sensor, r.stamp_ns)) if sensor else by_stamp.get(r.stamp_ns)
        if w is not None:
            out.append(StageLatency(r.topic, r.wall_s - w))
    return out
