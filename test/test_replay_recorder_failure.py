"""A replay whose recording fails (a full disk), whose output thread dies or whose graph stops answering a
sensor stops or goes on, never hangs."""

from __future__ import annotations

import errno
import logging
import threading
import time

import pytest

from tcfd_ros.errors import ConfigError, TcfdError
from tcfd_ros.replay.config import FlowConfig, ReplayConfig
from tcfd_ros.replay.output_bag import OutputBag
from tcfd_ros.replay.player import AckPatience, _Recorder, _wait_fast
from tcfd_ros.replay.recording import Recording, RunInfo
from tcfd_ros.replay.report import summary_lines

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


def test_fast_stops_waiting_for_a_sensor_whose_stage_stopped_answering(caplog):
    """A cloud topic DDS never delivered left the LiDAR's first stage silent; --fast waited 3 s for each
    of its 400 frames. After ``fast_ack_patience`` unanswered frames in a row it sends that sensor's frames
    without waiting, once (one warning), and waits again as soon as the stage answers a frame."""
    patience = AckPatience(3, 3.0)
    with caplog.at_level(logging.INFO, logger="tcfd_ros.replay.player"):
        for _ in range(2):
            assert patience.waits("lidar", 0)
            patience.record("lidar", False, 0)
        patience.record("lidar", True, 1)               # an answer in time resets the count
        for _ in range(3):
            assert patience.waits("lidar", 1)
            patience.record("lidar", False, 1)
        assert not patience.waits("lidar", 1) and not patience.waits("lidar", 1)
        assert patience.waits("camera", 0)              # the other sensor is waited for as before
        assert patience.waits("lidar", 2)               # the stage answered a frame: waiting again
        patience.record("lidar", None, 2)               # nothing to wait for: no count
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "lidar's first stage answered none of its last 3 frames" in warned[0]
    assert any("answers again" in r.getMessage() for r in caplog.records)


def test_the_summary_says_which_frames_went_out_without_waiting():
    info = RunInfo("bag", 40.0, unwaited={"lidar": 395})
    lines = [line for line in summary_lines(info, None, {}) if "WITHOUT WAITING" in line]
    assert lines == ["--fast SENT WITHOUT WAITING (the sensor's first stage had stopped answering): "
                     "lidar 395 frames"]
    assert not [line for line in summary_lines(RunInfo("bag", 40.0), None, {}) if "WITHOUT" in line]
    with pytest.raises(ConfigError, match="fast_ack_patience"):
        FlowConfig(fast_ack_patience=0).validate()


def test_wait_fast_says_whether_the_previous_frame_was_answered():
    recorder = _Recorder(Recording(RunInfo("bag", 1.0)), {"/camera/detections": "camera"})
    cfg = ReplayConfig(flow=FlowConfig(fast_ack_timeout_s=0.05))
    assert _wait_fast(recorder, "camera", None, cfg) is None
    assert _wait_fast(recorder, "camera", 7, cfg) is False
    recorder.acked["camera"].add(7)
    assert _wait_fast(recorder, "camera", 7, cfg) is True
