"""ROS wiring of a sensor's placement in the fixed frame: tf2 where available, else params + pose topic.

``calibration.source``: ``tf2`` needs ``tf2_ros`` (a ROS installation; there is no pip wheel) and looks
up ``fixed_frame <- sensor frame`` at each message stamp, which covers static and moving sensors alike;
``params`` uses the ``calibration.*`` extrinsics and, for a sensor on a moving base, the platform pose
``geometry_msgs/PoseStamped`` on ``calibration.pose_topic`` (``header.frame_id`` = the fixed frame,
``pose`` = ``base_frame`` in it: remap your localisation's output there, or let ``tcfd-ros replay`` publish
it from a bag's /tf); ``auto`` picks ``tf2`` when ``tf2_ros`` imports and ``params`` otherwise.
"""

from __future__ import annotations

from typing import Any

from tcfd_ros.errors import ConfigError
from tcfd_ros.geometry import GeometryError
from tcfd_ros.geometry.calibration import RigidTransform
from tcfd_ros.nodes.base import stamp_seconds
from tcfd_ros.perception.calibration_config import CalibrationConfig
from tcfd_ros.perception.ground import SensorPlacement, TransformLookup

#: Platform poses are small and frequent; keep a few seconds of them queued (reliable, as localisation
#: outputs and ``tcfd-ros replay`` publish them).
POSE_QUEUE_DEPTH = 100
#: How long a tf2 lookup may wait for a transform to arrive (seconds).
TF2_TIMEOUT_S = 0.05
POSE_INPUT = "platform_pose"


def tf2_available() -> bool:
    try:
        import tf2_ros  # noqa: F401
    except ImportError:
        return False
    return True


def _tf2_lookup(node: Any) -> tuple[TransformLookup, Any]:
    """A lookup backed by a tf2 buffer and listener on ``node`` (tf2_ros imported here only)."""
    import tf2_ros
    from rclpy.duration import Duration
    from rclpy.time import Time

    buffer = tf2_ros.Buffer()
    listener = tf2_ros.TransformListener(buffer, node)

    def lookup(target: str, source: str, stamp_s: float) -> RigidTransform:
        sec = int(stamp_s)
        when = Time(seconds=sec, nanoseconds=int(round((stamp_s - sec) * 1e9)))
        try:
            msg = buffer.lookup_transform(target, source, when, timeout=Duration(seconds=TF2_TIMEOUT_S))
        except (tf2_ros.LookupException, tf2_ros.ConnectivityException,
                tf2_ros.ExtrapolationException) as e:
            raise GeometryError(f"{type(e).__name__}: {e}") from e
        return RigidTransform.from_msg(msg.transform)

    return lookup, listener


def wait_for_platform_pose(node: Any, msg: Any) -> None:
    """A sensor message's ``enqueue`` ``prepare``: outside the node's state lock, wait for the platform pose
    of its stamp (``calibration.pose_wait_s``; the pose's callback takes no state lock), and say in
    ``/diagnostics`` how many such waits ended without it."""
    placement = node.placement
    placement.wait_for_pose(stamp_seconds(msg.header.stamp))
    node.health.values["pose_waits_in_vain"] = str(placement.pose_waits_in_vain)
    if placement.poses is not None:
        node.health.values["pose_clock_resets"] = str(placement.poses.resets)


def make_placement(node: Any, cfg: CalibrationConfig) -> SensorPlacement:
    """The node's SensorPlacement; subscribes to the pose topic when the params say the base moves."""
    source = cfg.source
    if source == "tf2" and not tf2_available():
        raise ConfigError("calibration.source = 'tf2' but tf2_ros is not importable (it comes with a ROS "
                          "installation, not from pip): use 'params' (or 'auto') and give the extrinsics "
                          "in the calibration section")
    if source == "tf2" or (source == "auto" and tf2_available() and cfg.fixed_frame):
        lookup, node._tf2_listener = _tf2_lookup(node)
        node.get_logger().info(f"extrinsics from tf2 ({cfg.fixed_frame} <- sensor frame at each stamp)")
        return SensorPlacement(cfg, lookup)
    placement = SensorPlacement(cfg)
    from geometry_msgs.msg import PoseStamped
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    def on_pose(msg: Any) -> None:  # through node.placement: a parameter change replaces it
        node.placement.add_pose(msg.header.frame_id, "", stamp_seconds(msg.header.stamp),
                                RigidTransform.from_msg(msg.pose))

    # Subscribed whatever parent_frame says now, so that setting it to base_frame at run time works;
    # poses are ignored while the sensor is not on the platform.
    # not under the node's state lock: the worker may hold it while it waits for this very pose
    # (SensorPlacement.pose_wait_s); add_pose takes the placement's own lock
    node.create_subscription(PoseStamped, cfg.pose_topic,
                             lambda m: node.process_now(POSE_INPUT, on_pose, m, exclusive=False),
                             QoSProfile(depth=POSE_QUEUE_DEPTH, reliability=ReliabilityPolicy.RELIABLE))
    if placement.poses is not None:
        node.health.watch(POSE_INPUT)   # a silent pose topic shows as stale in /diagnostics
        node.get_logger().info(f"extrinsics from params on {cfg.parent_frame}; platform pose "
                               f"({cfg.fixed_frame} <- {cfg.base_frame}) from {cfg.pose_topic}")
    elif placement.enabled:
        node.get_logger().info(f"extrinsics from params ({cfg.parent_frame} <- sensor, static)")
    else:
        node.get_logger().info("no calibration: tracks carry no fixed-frame ground positions")
    return placement
