"""Children that end with their parent (tcfd_ros/child_process.py): no orphaned graph after a kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

PARENT = """
import subprocess, sys, time
from tcfd_ros.child_process import die_with_parent
kw = {"preexec_fn": die_with_parent} if sys.argv[1] == "1" else {}
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True, **kw)
print(child.pid, flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split(")")[-1].split()[0] != "Z"       # a zombie has ended
    except FileNotFoundError:
        return False


def _orphan_after_parent_killed(protect: bool) -> tuple[int, bool]:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, "1" if protect else "0"],
                              stdout=subprocess.PIPE, text=True)
    pid = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5.0
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = _alive(pid)
    if alive:
        os.kill(pid, signal.SIGKILL)
    return pid, alive


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_started_with_die_with_parent_ends_when_its_parent_is_killed() -> None:
    assert _orphan_after_parent_killed(protect=False)[1], "control: a plain child outlives a kill -9"
    assert not _orphan_after_parent_killed(protect=True)[1]


def test_the_replays_graph_is_started_with_it(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from tcfd_ros.child_process import die_with_parent
    from tcfd_ros.replay.graph_process import GraphProcess

    seen = {}

    class FakePopen:
        def __init__(self, cmd, **kw):
            seen.update(kw)
            self.pid = 0

    monkeypatch.setattr(subprocess, "Popen", FakePopen)
    GraphProcess(tmp_path / "c.yaml", [], tmp_path / "graph.log", processes=True).start()
    assert seen["preexec_fn"] is die_with_parent and seen["start_new_session"]


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
            return [int(c) for c in f.read().split()]
    except FileNotFoundError:
        return []


@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_bringup_killed_outright_leaves_no_node_running(tmp_path) -> None:
    """``bringup --processes`` killed with SIGKILL (as an OOM kill would): its node processes end too."""
    with open(tmp_path / "graph.log", "w", encoding="utf-8") as log:
        graph = subprocess.Popen([sys.executable, "-m", "tcfd_ros", "bringup", "--processes"], stdout=log,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 120.0
        while len(_children(graph.pid)) < 2 and graph.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        nodes = _children(graph.pid)
        assert len(nodes) >= 2, (tmp_path / "graph.log").read_text()[-2000:]
        graph.send_signal(signal.SIGKILL)
        graph.wait()
    deadline = time.monotonic() + 30.0
    while any(_alive(n) for n in nodes) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [n for n in nodes if _alive(n)]
    for n in left:
        os.kill(n, signal.SIGKILL)
    assert not left, f"node processes {left} outlived their bringup"
