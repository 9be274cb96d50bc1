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
