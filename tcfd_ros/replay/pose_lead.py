"""A bag's platform poses sent ahead of its sensor frames, so no node waits for a pose the player holds back.

Why: with ``--fast`` the player sends a sensor's next frame only once the graph answered its previous one,
and the LiDAR segmenter and the trackers of a moving platform wait for the pose of a frame's moment
(``calibration.pose_wait_s``). A ``/tf`` message stamped with a frame but stored after it would wait behind
the next frame of another sensor, which itself waits for the first: the wait would end only by its
timeout, and the pairing would depend on the machine's load (RESULTS.md, "A robot replay that decides alike
every run"). Here every pose goes out as soon as it is read, ahead of the frames up to ``lead_ns`` older
than it, which are held back that long (of bag time) at most. No ROS.

API::

    for m in poses_ahead(source.messages(topics), "/tf", lead_ns=200_000_000): ...
"""

from __future__ import annotations

from collections import deque
from typing import Any, Iterable, Iterator

#: how far (bag time) poses are sent ahead of the frames of their moment, ns
POSE_LEAD_NS = 200_000_000


def poses_ahead(messages: Iterable[Any], pose_topic: str | None,
                lead_ns: int = POSE_LEAD_NS) -> Iterator[Any]:
    """``messages`` (with ``topic`` and ``stamp_ns``, in bag order) with each ``pose_topic`` message moved
    ahead of the other messages stamped up to ``lead_ns`` before it; the others keep their order. An error
    of the bag reading comes after the messages read before it."""
    held: deque[Any] = deque()
    try:
        for m in messages:
            if m.topic != pose_topic:
                held.append(m)
            while held and held[0].stamp_ns + lead_ns < m.stamp_ns:
                yield held.popleft()
            if m.topic == pose_topic:
                yield m
    except Exception:                 # a truncated bag: what was read still goes out, then the error
        yield from held
        raise
    yield from held
