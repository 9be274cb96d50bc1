"""A bag's /tf_static and /tf as the graph's calibration: parameter overrides and platform poses (no ROS).

``tcfd-ros replay`` reads /tf_static with rosbags and follows each sensor's frame (the ``frame_id`` of its
first image or cloud) up the static tree, composing, until it reaches the fixed frame (a fixed sensor)
or a frame that /tf moves in the fixed frame (the platform's base: a sensor on a robot). The result
becomes the sensor's tracker parameters ``calibration.parent_frame``, ``translation_m``,
``rotation_xyzw`` (and ``base_frame``), passed to the graph as ``--param`` overrides (the user's own
``--param`` still win). /tf transforms ``fixed_frame -> base_frame`` are published during the replay as
``geometry_msgs/PoseStamped`` on the trackers' ``calibration.pose_topic``, since rclpy here has no
tf2_msgs to publish /tf itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from tcfd_ros import graph as g
from tcfd_ros.errors import BagError
from tcfd_ros.geometry import GeometryError
from tcfd_ros.geometry.calibration import RigidTransform
from tcfd_ros.perception.calibration_config import CalibrationConfig
from tcfd_ros.replay.reader import BagSource

log = logging.getLogger(__name__)

#: Longest static chain followed from a sensor frame (a cycle or a deeper tree is refused).
MAX_CHAIN = 16


@dataclass(frozen=True)
class Edge:
    parent: str
    child: str
    transform: RigidTransform      # parent <- child


@dataclass(frozen=True)
class SensorCalibration:
    """Where one sensor of the graph sits, as the bag's tf says."""

    sensor: str                    # namespace
    tracker: str                   # node name (camera_tracker / lidar_tracker)
    frame: str                     # the sensor messages' frame_id
    parent: str                    # fixed frame or the moving base
    transform: RigidTransform      # parent <- frame

    def params(self, fixed_frame: str, node: str = "") -> list[str]:
        """``--param`` texts for this sensor's tracker (or another ``node`` of the sensor with a
        ``calibration`` section: the LiDAR segmenter on a moving platform)."""
        t, q = self.transform.t, self.transform.quaternion()
        pre = f"{self.sensor}.{node or self.tracker}.calibration."
        out = [f"{pre}parent_frame={self.parent}",
               f"{pre}translation_m=[{', '.join(repr(float(v)) for v in t)}]",
               f"{pre}rotation_xyzw=[{', '.join(repr(float(v)) for v in q)}]"]
        if self.parent != fixed_frame:
            out.append(f"{pre}base_frame={self.parent}")
        return out


@dataclass(frozen=True)
class PlatformPose:
    """What the player republishes: /tf ``fixed_frame -> base_frame`` as PoseStamped on ``pose_topic``."""

    tf_topic: str
    fixed_frame: str
    base_frame: str
    pose_topic: str


def tf_edges(msg: Any) -> list[tuple[float, Edge]]:
    """(stamp seconds, edge) of every transform of a deserialized tf2_msgs/TFMessage."""
    out = []
    for tr in msg.transforms:
        st = tr.header.stamp
        try:
            out.append((st.sec + 1e-9 * st.nanosec,
                        Edge(tr.header.frame_id.lstrip("/"), tr.child_frame_id.lstrip("/"),
                             RigidTransform.from_msg(tr.transform))))
        except GeometryError as e:
            raise BagError(f"tf {tr.header.frame_id} -> {tr.child_frame_id}: {e}") from e
    return out


def read_tf(source: BagSource, topic: str) -> list[tuple[float, Edge]]:
    """Every transform on ``topic`` (empty when the bag lacks it)."""
    if topic not in source.topics:
        return []
    out = []
    for m in source.messages([topic]):
        out += tf_edges(source.deserialize(m))
    return out


def first_frame_id(source: BagSource, topic: str) -> str | None:
    """The header.frame_id of the first message on ``topic``."""
    if topic not in source.topics:
        return None
    for m in source.messages([topic]):
        return str(source.deserialize(m).header.frame_id).lstrip("/")
    return None


def resolve(frame: str, static: dict[str, Edge], moving: set[str], fixed_frame: str
            ) -> tuple[str, RigidTransform] | None:
    """Follow static edges from ``frame`` up to the fixed frame or a moving frame.

    Returns (that frame, that frame <- ``frame``), or None when the chain ends elsewhere.
    """
    T = RigidTransform.identity()
    cur = frame
    for _ in range(MAX_CHAIN):
        if cur == fixed_frame or (cur in moving and cur != frame):
            return cur, T
        edge = static.get(cur)
        if edge is None:
            return None
        T = edge.transform.compose(T)
        cur = edge.parent
    return None


def tracker_defaults(graph_config: Path, tracker: str) -> CalibrationConfig:
    """The calibration section of ``tracker`` as the params file sets it (fixed frame, pose topic)."""
    p = g.node_parameters_from_config(graph_config, tracker)
    d = CalibrationConfig()
    return CalibrationConfig(fixed_frame=str(p.get("calibration.fixed_frame", d.fixed_frame)),
                             pose_topic=str(p.get("calibration.pose_topic", d.pose_topic)))


def bag_calibration(source: BagSource, graph_config: Path, tf_static: str, tf: str,
                    frame_topics: Iterable[tuple[str, str, str]]
                    ) -> tuple[list[SensorCalibration], PlatformPose | None, list[str]]:
    """Calibration of every sensor found in the bag's tf, the platform pose to republish, and notes.

    ``frame_topics``: (sensor namespace, tracker node name, frame topic) per sensor of the graph.
    """
    static = {e.child: e for _, e in read_tf(source, tf_static)}
    dynamic = read_tf(source, tf)
    notes: list[str] = []
    out: list[SensorCalibration] = []
    platform: PlatformPose | None = None
    for sensor, tracker, topic in frame_topics:
        cfg = tracker_defaults(graph_config, tracker)
        if not cfg.fixed_frame:
            continue
        moving = {e.child for _, e in dynamic if e.parent == cfg.fixed_frame}
        frame = first_frame_id(source, topic)
        if frame is None:
            continue
        found = resolve(frame, static, moving, cfg.fixed_frame)
        if found is None:
            notes.append(f"{sensor}: the bag's {tf_static} does not connect frame {frame!r} to "
                         f"{cfg.fixed_frame!r} (directly or through a frame {tf} moves): no ground positions")
            continue
        parent, T = found
        out.append(SensorCalibration(sensor, tracker, frame, parent, T))
        if parent != cfg.fixed_frame:
            platform = PlatformPose(tf, cfg.fixed_frame, parent, cfg.pose_topic)
    for c in out:
        log.info("calibration from the bag: %s (%s) in %s, t = %s", c.sensor, c.frame, c.parent,
                 [round(float(v), 3) for v in c.transform.t])
    return out, platform, notes


def pose_messages(edges: list[tuple[float, Edge]], platform: PlatformPose
                  ) -> list[tuple[float, RigidTransform]]:
    """The platform poses among a /tf message's transforms."""
    return [(t, e.transform) for t, e in edges
            if e.parent == platform.fixed_frame and e.child == platform.base_frame]
