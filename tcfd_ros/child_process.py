"""Child processes that end with their parent (Linux ``PR_SET_PDEATHSIG``).

Why: a replay's graph runs in a session of its own (``replay/graph_process.py``), and ``bringup
--processes`` starts a process per node. A parent killed outright (SIGKILL, the OOM killer) never stops
them: an orphaned graph kept running on its ROS domain and fed its detections, tracks and tracklets into
every later replay there (four calibration replays of 2026-12-01 heard such a second graph). With
``die_with_parent`` as the ``preexec_fn`` of ``subprocess.Popen``, the kernel sends the child SIGTERM when
the parent dies (our nodes and bringup stop cleanly on SIGTERM). Elsewhere than Linux it does nothing.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

#: prctl(2) option: the signal the calling process gets when its parent dies (linux/prctl.h)
PR_SET_PDEATHSIG = 1
# resolved here, in the parent: between fork and exec the child may only call, not load or look up
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def die_with_parent() -> None:
    """In the child, between fork and exec: SIGTERM when the parent exits (Linux; else nothing)."""
    if _PRCTL is None:
        return
    parent = os.getppid()
    _PRCTL(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent:      # the parent died before the request: nobody will send it
        os.kill(os.getpid(), signal.SIGTERM)
