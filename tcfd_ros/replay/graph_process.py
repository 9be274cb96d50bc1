"""Run the node graph (``tcfd-ros bringup``) as a child process for a replay, and stop it cleanly.

The graph runs exactly as a user runs it, in its own process with sim time; the replay talks to it
only over DDS. Its output goes to a log file whose tail is quoted when it fails.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from tcfd_ros.child_process import die_with_parent
from tcfd_ros.errors import TcfdError

log = logging.getLogger(__name__)

LOG_TAIL_LINES = 25


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


class GraphProcess:
    """``tcfd-ros bringup --config C --use-sim-time [--param ...]`` in its own process group."""

    def __init__(self, config: Path, params: Sequence[str], log_path: Path, *, processes: bool) -> None:
        self.cmd = [sys.executable, "-m", "tcfd_ros", "bringup", "--config", str(config), "--use-sim-time"]
        if processes:
            self.cmd.append("--processes")
        for p in params:
            self.cmd += ["--param", p]
        self.log_path = log_path
        self._log_file = None
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log.info("starting the graph: %s", " ".join(self.cmd))
        self._log_file = open(self.log_path, "w", encoding="utf-8")
        # its own session (a Ctrl-C to the replay reaches the replay, which stops the graph cleanly), but
        # not past the replay's life: a replay killed outright must not leave a graph on its domain
        self.proc = subprocess.Popen(self.cmd, stdout=self._log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True, env=dict(os.environ),
                                     preexec_fn=die_with_parent)

    def check_alive(self) -> None:
        """Raise TcfdError with the log's tail if the graph has exited."""
        if self.proc is not None and self.proc.poll() is not None:
            raise TcfdError(f"the node graph exited with code {self.proc.returncode} during the replay "
                            f"(command: {' '.join(self.cmd)}); last lines of {self.log_path}:\n"
                            f"{tail(self.log_path)}")

    def stop(self, timeout_s: float) -> int | None:
        """SIGINT (clean rclpy shutdown), then SIGTERM, then SIGKILL; returns the exit code."""
        if self.proc is None:
            return None
        try:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
                if self.proc.poll() is not None:
                    break
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    log.warning("graph did not exit %.0f s after %s", timeout_s, sig.name)
        finally:
            if self._log_file is not None:
                self._log_file.close()
        return self.proc.returncode
