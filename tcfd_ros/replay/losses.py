"""Messages per stage: what was sent, what arrived, and what vanished without being counted.

A node counts what reaches its callback (``received``), what it finished (``processed``) and what it
dropped, by reason. It cannot count what never reached it: a reliable keep-last DDS reader whose
history is full overwrites the oldest sample, a best-effort one loses fragments of large samples (only
the latter is reported, as ``dropped.dds_lost``). Replay knows what it published on each sensor topic,
and every node counts what it publishes (``<topic>: published``), so the difference per stage is
computed here from the last ``/diagnostics`` of every node:

    unaccounted = sent - received - dropped.dds_lost

The other way round, a stage that receives *more* than was published on its topic hears another
publisher on the replay's ROS domain: a second replay's graph, a graph left running, a live driver.
Those messages were mixed into this run's (two trackers' track ids under one sensor name), and nothing
measured from it is valid (``StageFlow.foreign``, ``foreign_inputs``).

An input the node stopped taking on purpose for a while (``<topic>: unsubscribed`` in its diagnostics:
the camera segmenter takes ``tracks`` and ``matches`` only while ``annotated`` is read) has no
``sent`` to compare with: what was published meanwhile was not meant to arrive.

Plain module (no rclpy): the recorder's converted diagnostics in, ``StageFlow`` rows out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from tcfd_ros.diagnostic_keys import PUBLISHED


#: Received beyond published that is still counting skew, not a foreign publisher: a node's last
#: diagnostics may be a moment older than its downstream's (messages, and a share of those published).
FOREIGN_SLACK_MESSAGES = 2
FOREIGN_SLACK_SHARE = 0.01


@dataclass(frozen=True)
class StageFlow:
    node: str               # e.g. "/lidar/lidar_segmenter"
    topic: str              # the input topic, resolved (e.g. "/lidar/points")
    sent: int | None        # published upstream (by the replay for sensor topics); None if unknown
    received: int           # reached the node's callback
    processed: int
    dropped: int            # counted by the node, every reason
    dds_lost: int           # counted as lost in transport (best effort)
    cpu_s: float            # CPU time of this stage's handler (its thread), all messages
    internal_errors: int = 0  # dropped by a bug in the node (``internal_error``), not by bad input

    @property
    def unaccounted(self) -> int | None:
        """Sent but neither received nor counted as lost: vanished in DDS (keep-last overwrites)."""
        return None if self.sent is None else max(0, self.sent - self.received - self.dds_lost)

    @property
    def foreign(self) -> int:
        """Received beyond what was published on the topic (past the counting slack): another
        publisher's messages; 0 when unknown."""
        if self.sent is None:
            return 0
        extra = self.received - self.sent
        return extra if extra > FOREIGN_SLACK_MESSAGES + FOREIGN_SLACK_SHARE * self.sent else 0


def foreign_inputs(stages: Sequence[StageFlow]) -> list[str]:
    """One phrase per stage that heard another publisher, e.g. ``"/camera/camera_tracker received 3548
    on /camera/detections, 1783 published"``; empty for a clean run."""
    return [f"{f.node} received {f.received} on {f.topic}, {f.sent} published" for f in stages if f.foreign]


def internal_errors(stages: Sequence[StageFlow]) -> list[str]:
    """One phrase per stage that dropped messages to a bug in the node, e.g. ``"/camera/camera_segmenter
    /camera/image_raw 154 of 600"``; empty for a clean run."""
    return [f"{f.node} {f.topic} {f.internal_errors} of {f.received}" for f in stages if f.internal_errors]


def _int(values: Mapping[str, str], key: str) -> int:
    try:
        return int(values.get(key, 0))
    except ValueError:
        return 0


def _float(values: Mapping[str, str], key: str) -> float:
    try:
        return float(values.get(key, 0.0))
    except ValueError:
        return 0.0


def stage_flows(last_status: Mapping[str, Mapping[str, Any]],
                replay_published: Mapping[str, int]) -> list[StageFlow]:
    """One row per (node, input topic) from each node's last diagnostics status."""
    published: dict[str, int] = dict(replay_published)
    for st in last_status.values():
        for k, v in st.get("values", {}).items():
            if k.endswith(PUBLISHED):
                topic = k[: -len(PUBLISHED)]
                published[topic] = published.get(topic, 0) + _int({k: v}, k)
    rows = []
    for name, st in sorted(last_status.items()):
        values: Mapping[str, str] = st.get("values", {})
        for k in values:
            if not k.endswith(": received"):
                continue
            key = k[: -len(": received")]
            topic = values.get(f"{key}: topic", key)
            partial = _int(values, f"{key}: unsubscribed") > 0
            rows.append(StageFlow(
                node=name, topic=topic, sent=None if partial else published.get(topic),
                received=_int(values, f"{key}: received"), processed=_int(values, f"{key}: processed"),
                dropped=_int(values, f"{key}: dropped"), dds_lost=_int(values, f"{key}: dropped.dds_lost"),
                cpu_s=_float(values, f"{key}: cpu_s"),
                internal_errors=_int(values, f"{key}: dropped.internal_error")))
    return rows
