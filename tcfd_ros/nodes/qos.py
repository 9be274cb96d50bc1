"""QoS profiles of the graph: sensor-data (best effort) on sensor inputs, reliable on outputs."""

from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

# Sensor inputs: best effort, keep last 5 (rclpy's sensor-data profile); a late frame is worth less
# than a fresh one, and a best-effort subscriber also accepts reliable publishers (bag players).
SENSOR_QOS: QoSProfile = qos_profile_sensor_data

# Depth of reliable outputs and inter-node topics: enough to ride out a short consumer stall.
OUTPUT_DEPTH = 10
OUTPUT_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=OUTPUT_DEPTH,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)


def sensor_qos(reliability: str) -> QoSProfile:
    """The sensor-input profile; ``reliable`` for replaying bags of large messages (see below).

    Best effort is right for live sensors, but a best-effort sample that DDS splits into UDP fragments
    (a 2.5 MB 64-beam cloud, a 1 MB 640x480 image) is lost whole when one fragment is, which happens
    in bursts on a loaded host. A bag player can afford retransmission, so replays ask for reliable.
    """
    if reliability == "best_effort":
        return SENSOR_QOS
    if reliability == "reliable":
        return QoSProfile(history=SENSOR_QOS.history, depth=SENSOR_QOS.depth,
                          reliability=ReliabilityPolicy.RELIABLE, durability=SENSOR_QOS.durability)
    raise ValueError(f"input_reliability = {reliability!r}: expected 'best_effort' or 'reliable'")
