"""A bounded wait for a message stream to reach a stamp, that stops waiting for a stream that lags.

Why: a node that pairs a message with another topic's message of the same moment (a cloud with the
platform pose at its stamp, an image with the LiDAR clusters nearest it) takes whatever has arrived when
it gets to the message. Two topics arrive in either order, so the same bag paired differently from run
to run (RESULTS.md, "A robot replay that decides alike every run"). Waiting a little for the other stream
to reach the stamp makes the pairing the one the stamps say; a stream that does not come in time (a
localisation that lags, a LiDAR that stopped) is waited for ``MISSES_BEFORE_NO_WAIT`` times in a row and
then not, until it is in time again. No ROS; the caller owns the ``threading.Condition`` and notifies it
when the stream delivers.

API::

    cond = threading.Condition()
    wait = StreamWait(cond)
    with cond:                                   # the deliverer: with cond: store(msg); cond.notify_all()
        wait.until(lambda: newest_stamp() >= stamp_s, timeout_s=0.2)
"""

from __future__ import annotations

import threading
from typing import Callable

#: waits in a row that end without the stream before waiting stops until it is in time again
MISSES_BEFORE_NO_WAIT = 3


class StreamWait:
    """``until(covered, timeout_s)``: wait on the condition (held by the caller) until ``covered()``."""

    def __init__(self, cond: threading.Condition) -> None:
        self.cond = cond
        self.missed = 0                # waits in a row in vain
        self.in_vain = 0               # all waits that ended without the stream (for diagnostics)

    def until(self, covered: Callable[[], bool], timeout_s: float) -> bool:
        """Whether ``covered()`` holds on return; waits at most ``timeout_s`` (not at all when it is 0, or
        after ``MISSES_BEFORE_NO_WAIT`` waits in a row in vain). The caller holds ``cond``."""
        if covered():
            self.missed = 0
            return True
        if timeout_s <= 0 or self.missed >= MISSES_BEFORE_NO_WAIT:
            return False
        if self.cond.wait_for(covered, timeout=timeout_s):
            self.missed = 0
            return True
        self.missed += 1
        self.in_vain += 1
        return False
