"""recognizer: every sensor's ``tracklets`` -> embeddings -> global identities -> ``matches``, ``markers``.

Thin: decodes tracklets (``tcfd_ros/tracklet`` v1/v2), embeds them in batches through the ``Embedder``
from ``make_embedder`` (backend parameter ``tensorrt`` | ``onnx`` | ``torch``), hands the embeddings
to ``IdentityManager`` (track-level evidence, geometric fusion, hysteresis, optional SQLite ``Gallery``)
and publishes one ``tcfd_ros/match`` v2 JSON per decision (``docs/matches.md``). Tracklets and positions
first pass through a stamp order (``tcfd_ros/stamp_merge.py``): a decision reads every sensor's positions
up to its stamp and none later, whatever order they arrived in. Every sensor's
``tracks`` (v2: fixed-frame ``ground``) feed the manager's co-location histories and become
``markers`` (``nodes/markers.py``: a column per person in the fixed frame, coloured by global id).

Services (std_srvs/Trigger, all under the node's name; arguments are parameters because std_srvs has
no request fields):
- ``~/enrol``: enrol the identity of the track in ``enrol_target`` (``sensor:track_id``; empty = the
  track of the most recent match), named ``enrol_label``; its embeddings are kept in the gallery.
- ``~/erase``: erase identity ``erase_global_id`` from memory and the gallery.
- ``~/list``: the identities as JSON in the response message.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.clock import Clock, ClockType
from std_msgs.msg import String
from std_srvs.srv import Trigger
from visualization_msgs.msg import MarkerArray

from tcfd_ros.errors import ConfigError, MessageFormatError, TcfdError
from tcfd_ros.gallery import Gallery
from tcfd_ros.graph import MARKERS, MATCHES, RECOGNIZER, TRACKLETS, TRACKS
from tcfd_ros.inference.embedder import embed_tracks, make_embedder
from tcfd_ros.nodes.base import CLOCK_RESET_BACKWARD_S, TcfdNode, drop_reason, run_single
from tcfd_ros.messages import MatchMsg, stamp_to_seconds
from tcfd_ros.nodes.markers import build_markers
from tcfd_ros.nodes.node_configs import RecognizerNodeConfig
from tcfd_ros.nodes.qos import OUTPUT_QOS
from tcfd_ros.perception.identity import IdentityManager, TrackObservation, threshold_from
from tcfd_ros.perception.identity_types import IdentityMatch
from tcfd_ros.stamp_merge import POSITIONS, TRACKLET, StampedInput, StampMerge
from tcfd_ros.track_messages import TrackletMsg, tracks_from_json

SECONDS_PER_DAY = 86400.0
RETENTION_PERIOD_S = 60.0        # how often the gallery retention runs (node timer; "now" = newest stamp)
REORDER_CHECK_PERIOD_S = 0.1     # how often held inputs are checked for a wait that ran out (steady clock)


@dataclass
class _Pending:
    """A tracklet on its way through the stamp order: its topic, the message, then its embedding."""
    topic: str
    msg: TrackletMsg
    observation: TrackObservation | None = None
    failed: bool = False           # the embedder rejected it (dropped, counted once)

    @property
    def to_embed(self) -> bool:
        return self.observation is None and not self.failed


class RecognizerNode(TcfdNode):
    def __init__(self, **kwargs: Any) -> None:
        self.gallery: Gallery | None = None  # destroy_node() may run on a half-built node
        super().__init__(RECOGNIZER, RecognizerNodeConfig(), **kwargs)
        cfg: RecognizerNodeConfig = self.config
        if not cfg.model_path:
            raise ConfigError("recognizer.model_path is empty: export a model with `tcfd-ros export` and set "
                              "model_path (e.g. --param recognizer.model_path=models/tcfd.onnx)")
        self.embedder = make_embedder(cfg.backend, cfg.model_path, threads=cfg.threads)
        if cfg.gallery_path:
            days = cfg.gallery_retention_days
            retention = days * SECONDS_PER_DAY if days > 0 else None
            self.gallery = Gallery(cfg.gallery_path, retention_s=retention, on_corrupt="recreate")
            if self.gallery.moved_aside is not None:
                msg = f"corrupt gallery moved aside to {self.gallery.moved_aside}; started an empty one"
                self.get_logger().error(msg)
                self.health.values["gallery_moved_aside"] = str(self.gallery.moved_aside)
        self.identity = IdentityManager(cfg.identity, self.gallery, self.embedder.metadata)
        self.health.values["open_set_threshold"] = f"{self.identity.threshold:.4g}"
        self.health.values["open_set_threshold_source"] = self.identity.threshold_source
        self.health.values["cue_weighting"] = self.identity.cue_weighting
        self.health.values["backend"] = cfg.backend
        self.merge = StampMerge(cfg.reorder_window_s, cfg.reorder_max_wait_s, CLOCK_RESET_BACKWARD_S)
        self.ready: deque[StampedInput] = deque()   # released in stamp order, not yet applied
        self.drain_queued = False                   # a drain waits on the worker
        self.last_match: MatchMsg | None = None
        self.frame_ids: dict[str, str] = {}      # sensor -> its tracklets' frame (for revision matches)
        self.matches_pub = self.create_publisher(String, MATCHES, OUTPUT_QOS)
        self.markers_pub = self.create_publisher(MarkerArray, MARKERS, OUTPUT_QOS)
        for ns in cfg.camera_namespaces + cfg.lidar_namespaces:
            topic = f"{ns}/{TRACKLETS}"
            self.health.watch(topic, stale=False)  # tracklets come only while people are seen
            self.create_subscription(String, topic, lambda m, t=topic: self.process_now(
                t, lambda msg: self.on_tracklet(msg, t), m), OUTPUT_QOS)
        for ns in cfg.camera_namespaces + cfg.lidar_namespaces:
            topic = f"{ns}/{TRACKS}"
            self.health.watch(topic)
            self.create_subscription(String, topic, lambda m, t=topic: self.process_now(t, self.on_tracks, m),
                                     OUTPUT_QOS)
        services = MutuallyExclusiveCallbackGroup()
        self.create_service(Trigger, "~/enrol", self.on_enrol, callback_group=services)
        self.create_service(Trigger, "~/erase", self.on_erase, callback_group=services)
        self.create_service(Trigger, "~/list", self.on_list, callback_group=services)
        self.create_timer(RETENTION_PERIOD_S, self.on_retention, callback_group=services)
        self.health.add_queue("pending_tracklets", lambda: self.merge.held(TRACKLET) + sum(
            1 for i in list(self.ready) if i.kind == TRACKLET))
        self.health.add_queue("held_positions", lambda: self.merge.held(POSITIONS))
        self.create_timer(REORDER_CHECK_PERIOD_S, self.on_reorder_check, callback_group=services,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.start()

    def on_config_change(self, config: RecognizerNodeConfig, changed: set[str]) -> None:
        if any(n.startswith("identity.") for n in changed):
            # Thresholds and margins apply to the next tracklet; identities and bindings are kept.
            self.identity.cfg = config.identity
            self.identity.threshold, self.identity.threshold_source = threshold_from(
                config.identity, self.embedder.metadata)
            self.health.values["open_set_threshold"] = f"{self.identity.threshold:.4g}"
            self.health.values["open_set_threshold_source"] = self.identity.threshold_source
            self.health.values["cue_weighting"] = self.identity.cue_weighting

    # ---- inputs in stamp order (stamp_merge.py) -> matches ----------------------------------
    def on_tracklet(self, msg: String, topic: str) -> None:
        """In the callback: a tracklet joins the stamp order the moment it arrives (a tracklet still in a
        queue when the other sensors' positions pass its stamp would be decided late); the worker embeds
        and decides it (``drain``)."""
        t = TrackletMsg.from_json(msg.data)
        self._admit(StampedInput(stamp_to_seconds(t.stamp), TRACKLET, t.sensor, _Pending(topic, t)))

    def _admit(self, item: StampedInput) -> None:
        """Into the stamp order; positions it releases ahead of every tracklet apply now, released
        tracklets go to the worker. Beyond ``queue_size`` waiting tracklets the oldest is dropped."""
        self.merge.add(item, time.monotonic())
        self._release()
        while self.ready and self.ready[0].kind == POSITIONS:
            self._observe(self.ready.popleft())
        waiting = [i for i in self.ready if i.kind == TRACKLET]
        for old in waiting[:max(0, len(waiting) - self.config.queue_size)]:
            self.ready.remove(old)
            self.health.drop(old.payload.topic, "queue_full", f"recognizer behind, {self.config.queue_size} "
                             "tracklets waiting (raise queue_size or batch_size, or slow the input)")
        if self.ready:
            self.request_drain()

    def on_reorder_check(self) -> None:
        """Steady timer: inputs whose wait ran out (a stalled or ended stream) are decided on the worker."""
        with self.state_lock:
            due = self.merge.next_due(time.monotonic()) == 0.0 or bool(self.ready)
        if due:
            self.request_drain()

    def request_drain(self) -> None:
        with self.state_lock:
            if self.drain_queued:
                return
            self.drain_queued = True
        self.run_on_worker(self.drain, prepare=self.embed_released)

    def embed_released(self) -> None:
        """Before a drain, outside the state lock (callbacks go on meanwhile): embed the tracklets released
        so far. Only the worker embeds; a tracklet the callback drops meanwhile is just not decided."""
        with self.state_lock:
            self._release()
            todo = self._unembedded()
        self._embed_pending(todo)

    def drain(self) -> None:
        """Apply what the merge releases, in stamp order: positions to the manager, tracklets embedded
        (in batches; most by ``embed_released``) and decided a stamp at a time, so a decision sees every
        sensor up to its stamp and nothing later."""
        self.drain_queued = False
        self._release()
        self._embed_pending(self._unembedded())
        self.ready = deque(i for i in self.ready if i.kind == POSITIONS or i.payload.observation is not None)
        while self.ready:
            if self.ready[0].kind == POSITIONS:
                self._observe(self.ready.popleft())
                continue
            group = [self.ready.popleft()]
            while self.ready and self.ready[0].kind == TRACKLET and self.ready[0].stamp_s == group[0].stamp_s:
                group.append(self.ready.popleft())
            self._decide([g.payload for g in group])
        self._report()

    def _release(self) -> None:
        self.ready.extend(self.merge.release(time.monotonic()))
        self.health.values["inputs_late"] = str(self.merge.late)
        self.health.values["inputs_released_by_wait"] = str(self.merge.forced)

    def _unembedded(self) -> list[_Pending]:
        """The released tracklets still to embed (not embedded, not rejected by the embedder)."""
        return [i.payload for i in self.ready if i.kind == TRACKLET and i.payload.to_embed]

    def _embed_pending(self, todo: list[_Pending]) -> None:
        """Embed ``todo``, up to batch_size a call per modality; a batch the embedder rejects is dropped on
        its topics (its tracklets keep no embedding and leave the order at the drain)."""
        size = self.config.batch_size
        for modality in ("2d", "3d"):
            group = [p for p in todo if p.msg.modality == modality]
            for k in range(0, len(group), size):
                chunk = group[k:k + size]
                try:
                    for p, o in zip(chunk, self._embed([p.msg for p in chunk], modality)):
                        p.observation = o
                except TcfdError as e:
                    for p in chunk:
                        p.failed = True
                        self.health.drop(p.topic, drop_reason(e), str(e))

    def _embed(self, group: list[TrackletMsg], modality: str) -> list[TrackObservation]:
        emb = embed_tracks(self.embedder, [t.frames for t in group], modality,
                           [(t.sensor, t.track_id) for t in group], [t.frame_stamps for t in group])
        if emb.shape[0] != len(group) or not np.isfinite(emb).all():
            raise MessageFormatError(f"embedder returned shape {emb.shape} "
                                     f"(finite: {np.isfinite(emb).all()}) "
                                     f"for {len(group)} tracklets")
        out = []
        for t, e in zip(group, emb):
            ground = None if t.ground is None or not t.fixed_frame else np.asarray(t.ground)
            out.append(TrackObservation(stamp_to_seconds(t.stamp), t.sensor, modality, t.track_id, e,
                                        ground, t.ground_sigma_m, t.fixed_frame, t.frame_stamps, t.frames))
        return out

    def _observe(self, item: StampedInput) -> None:
        fixed_frame, tracks = item.payload
        self.identity.observe_positions(item.sensor, item.stamp_s, fixed_frame, tracks)

    def _decide(self, group: list[_Pending]) -> None:
        """One stamp's tracklets decided together; a group the manager rejects is dropped on its topics."""
        try:
            results = self.identity.update([p.observation for p in group])
        except TcfdError as e:
            for p in group:
                self.health.drop(p.topic, drop_reason(e), str(e))
            return
        for p, m in zip(group, results):
            self.frame_ids[p.msg.sensor] = p.msg.frame_id
            self.last_match = self._publish_match(p.msg.stamp, p.msg.frame_id, m)
        stamp = group[-1].msg.stamp   # tracks moved without a tracklet of theirs: stamped like the group
        for m in self.identity.take_revisions():
            self._publish_match(stamp, self.frame_ids.get(m.sensor, ""), m)

    def _report(self) -> None:
        self.health.values["identities"] = str(len(self.identity.identities()))
        self.health.values["fragments_gathered"] = str(self.identity.fragments_gathered)
        self.health.values["fragments_released"] = str(self.identity.fragments_released)
        self.health.values["displaced_returned"] = str(self.identity.displaced_returned)
        self.health.values["tracks_split"] = str(self.identity.tracks_split)
        cache = getattr(self.embedder, "frame_cache", None)
        if cache is not None:   # frames embedded once, reused by the track's next tracklet
            self.health.values["frames_embedded"] = str(cache.frames_computed)
            self.health.values["frames_reused"] = str(cache.frames_reused)

    def _publish_match(self, stamp: dict[str, int], frame_id: str, m: IdentityMatch) -> MatchMsg:
        match = MatchMsg(stamp, frame_id, m.sensor, m.modality, m.track_id, m.global_id, m.known, m.distance,
                         m.confidence, self.identity.threshold, m.label, m.switched, m.ground,
                         m.ground_sigma_m, m.fixed_frame, m.decided_by)
        self.matches_pub.publish(String(data=match.to_json()))
        return match

    # ---- tracks -> positions, markers --------------------------------------------------------
    def on_tracks(self, msg: String) -> None:
        head, tracks = tracks_from_json(msg.data)
        cfg: RecognizerNodeConfig = self.config
        stamp = self.get_clock().now().to_msg()
        stamp.sec, stamp.nanosec = int(head["stamp"]["sec"]), int(head["stamp"]["nanosec"])
        sensor = head["sensor"]
        positions = (head["fixed_frame"], [(t.track_id, t.ground, t.ground_sigma_m, t.detection >= 0,
                                            t.stature_m) for t in tracks])
        self._admit(StampedInput(stamp_to_seconds(head["stamp"]), POSITIONS, sensor, positions))
        self.markers_pub.publish(build_markers(head, tracks, lambda tid: self.identity.binding(sensor, tid),
                                               stamp, cfg.marker_lifetime_s, cfg.marker_frame_id))

    # ---- services ---------------------------------------------------------------------------
    def _target(self) -> tuple[str, int]:
        target = self.config.enrol_target
        if not target:
            if self.last_match is None:
                raise MessageFormatError("enrol_target is empty and nothing has been matched yet")
            return self.last_match.sensor, self.last_match.track_id
        sensor, _, track = target.rpartition(":")
        if not sensor or not track.isdigit():
            raise MessageFormatError(f"enrol_target = {target!r}: expected 'sensor:track_id', e.g. 'lidar:3'")
        return sensor, int(track)

    def on_enrol(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        try:
            with self.state_lock:
                sensor, track_id = self._target()
                label = self.config.enrol_label or None
                gid = self.identity.enrol(sensor, track_id, label)
            response.success, response.message = True, f"enrolled {sensor} track {track_id} as identity {gid}"
        except TcfdError as e:
            response.success, response.message = False, str(e)
        return response

    def on_erase(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        gid = int(self.config.erase_global_id)
        with self.state_lock:
            found = self.identity.erase(gid)
        response.success = found
        response.message = f"erased identity {gid}" if found else f"no identity {gid} (set erase_global_id)"
        return response

    def on_list(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self.state_lock:
            ids = self.identity.identities()
        response.success = True
        response.message = json.dumps([{
            "global_id": i.global_id, "label": i.label, "enrolled": i.enrolled,
            "last_seen_s": i.last_seen_s if math.isfinite(i.last_seen_s) else None,
            "num_embeddings": i.num_embeddings, "bound_tracks": [f"{s}:{k}" for s, k in i.bound_tracks],
        } for i in ids])
        return response

    def on_retention(self) -> None:
        with self.state_lock:
            gone = self.identity.apply_retention()  # the gallery's clock: message stamps (gallery.py)
        if gone:
            self.get_logger().info(f"retention deleted identities {gone}")

    def destroy_node(self) -> None:
        super().destroy_node()
        if self.gallery is not None:
            self.gallery.close()


def main(args: list[str] | None = None) -> int:
    return run_single(RecognizerNode, args)


if __name__ == "__main__":
    sys.exit(main())
