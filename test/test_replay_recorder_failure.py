"""A replay whose recording fails (a full disk) or whose output thread dies stops or goes on, never hangs."""

from __future__ import annotations

import errno
import logging
import threading
import time

import pytest

from tcfd_ros.errors import TcfdError
from tcfd_ros.replay.config import ReplayConfig
from tcfd_ros.replay.output_bag import OutputBag
from tcfd_ros.replay.player import _Recorder, _wait_fast
from tcfd_ros.replay.recording import Recording, RunInfo

STRING = "std_msgs/msg/String"
CDR_HELLO = bytes([0, 1, 0, 0, 6, 0, 0, 0]) + b"hello\x00"


def test_a_full_disk_stops_the_recording_with_one_line_and_leaves_no_file(tmp_path, caplog, monkeypatch):
    sink = OutputBag(tmp_path / "outputs.mcap")
    sink.write("/a", STRING, 1, CDR_HELLO)

    def full(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sink._writer, "write", full)
    with caplog.at_level(logging.ERROR):
        sink.write("/a", STRING, 2, CDR_HELLO)      # no raise into the subscription thread
        sink.write("/a", STRING, 3, CDR_HELLO)      # nor later: writing has stopped
        assert sink.close() is None
    assert sink.failure == "writing failed after 1 messages: [Errno 28] No space left on device"
    lines = [r.getMessage() for r in caplog.records]
    assert sum("recording stopped" in m for m in lines) == 1 and any("not written" in m for m in lines)
    assert list(tmp_path.iterdir()) == []           # neither the file nor its partial folder


def test_a_dead_output_thread_wakes_the_flow_control_and_stops_the_replay():
    recorder = _Recorder(Recording(RunInfo("bag", 1.0)), {"/camera/detections": "camera"})

    def broken_spin() -> None:
        time.sleep(0.2)
        raise OSError(errno.ENOSPC, "No space left on device")

    thread = threading.Thread(target=recorder.spin, args=(broken_spin,))
    thread.start()
    t0 = time.monotonic()
    _wait_fast(recorder, "camera", 123, ReplayConfig())   # an ack that will never come
    assert time.monotonic() - t0 < 2.0
    thread.join()
    with pytest.raises(TcfdError, match="No space left"):
        recorder.check()
