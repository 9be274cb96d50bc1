"""Whether every publisher of a replay has matched the subscribers it will send to.

A reliable, volatile DDS writer delivers a sample only to the readers it has matched when it writes it; a
reader that matches a moment later never sees it, and nothing counts the loss. The replay used to start
sending one second after the graph came up; under load the first 1-11 frames of a bag then went missing
between two stages in 10 of 128 replays (``LOST without being counted``), and which frames a tracker saw
depended on the host's speed. So the replay waits until each publisher (its own and every node's, as the
nodes report ``<topic>: matched`` in their diagnostics) has matched as many subscriptions as discovery
shows on its topic, and each subscription (``<topic>: matched publishers``) as many publishers.

Plain module (no rclpy): counts in, the unmatched endpoints out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from tcfd_ros.diagnostic_keys import MATCHED, MATCHED_PUBLISHERS


@dataclass(frozen=True)
class Endpoint:
    """A publisher (its peers: subscriptions) or a subscription (its peers: publishers), the replay's own
    or a graph node's."""

    topic: str
    role: str          # "publisher" or "subscription"
    matched: int       # peers matched now
    discovered: int    # peers discovery shows on the topic


def node_endpoints(last_status: Mapping[str, Mapping[str, Any]], subscribers: Callable[[str], int],
                   publishers: Callable[[str], int]) -> list[Endpoint]:
    """The graph nodes' publishers and subscriptions from their last diagnostics (``<topic>: matched``,
    ``<topic>: matched publishers``), each with the peers discovery shows on its topic (``subscribers``,
    ``publishers``)."""
    out = []
    for st in last_status.values():
        for key, value in st.get("values", {}).items():
            for suffix, role, peers in ((MATCHED_PUBLISHERS, "subscription", publishers),
                                        (MATCHED, "publisher", subscribers)):
                if key.endswith(suffix):
                    topic = key[: -len(suffix)]
                    if value.isdigit():
                        out.append(Endpoint(topic, role, int(value), peers(topic)))
                    break
    return out


def unmatched(endpoints: Iterable[Endpoint]) -> list[str]:
    """One phrase per endpoint that has matched fewer peers than discovery shows, e.g. ``"/camera/detections
    (publisher: 1 of 2 subscriptions)"``; empty when everything is matched."""
    peers = {"publisher": "subscriptions", "subscription": "publishers"}
    return [f"{e.topic} ({e.role}: {e.matched} of {e.discovered} {peers[e.role]})"
            for e in endpoints if e.matched < e.discovered]
