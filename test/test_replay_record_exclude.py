"""``tcfd-ros replay --record OUT.mcap --record-exclude REGEX``: topics left out of the recording.

Why: a 90 s disjoint replay's recording is 0.6-1.3 GB, 90-96 % of it annotated images, which a re-run of the
recognizer never reads; a disk filled with such recordings once stopped CI.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tcfd_ros.errors import ConfigError
from tcfd_ros.graph import default_config_path
from tcfd_ros.replay.config import ReplayConfig
from tcfd_ros.replay.output_bag import OutputBag
from tcfd_ros.replay.reader import BagSource
from tcfd_ros.replay.rerun import recorded_inputs
from tcfd_ros.replay.run import ReplayOptions, check_options

STRING = "std_msgs/msg/String"
CDR_HELLO = bytes([0, 1, 0, 0, 6, 0, 0, 0]) + b"hello\x00"
TRACKS = "/camera/tracks"
ANNOTATED = "/camera/annotated"


def _record(path: Path, exclude: str | None) -> OutputBag:
    sink = OutputBag(path, exclude)
    for stamp in (1, 2, 3):
        sink.write(TRACKS, STRING, stamp, CDR_HELLO)
        sink.write(ANNOTATED, STRING, stamp, CDR_HELLO)
        sink.write("/lidar/annotated_cloud", STRING, stamp, CDR_HELLO)   # the whole name must match
    assert sink.close() == path
    return sink


def test_topics_matching_the_exclusion_are_left_out_and_counted(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        sink = _record(tmp_path / "outputs.mcap", ".*/annotated")
    with BagSource(tmp_path / "outputs.mcap") as src:
        assert sorted(src.topics) == ["/camera/tracks", "/lidar/annotated_cloud"]
        assert src.topics[TRACKS].count == 3
    assert sink.excluded == {ANNOTATED: 3} and sink.counts == {TRACKS: 3, "/lidar/annotated_cloud": 3}
    lines = [r.getMessage() for r in caplog.records]
    assert any("left out by --record-exclude: /camera/annotated (3)" in m for m in lines)


def test_without_an_exclusion_every_topic_is_recorded(tmp_path):
    sink = _record(tmp_path / "outputs.mcap", None)
    with BagSource(tmp_path / "outputs.mcap") as src:
        assert len(src.topics) == 3
    assert sink.excluded == {}


def test_a_rerun_reads_its_tracks_from_a_recording_without_images(tmp_path):
    _record(tmp_path / "outputs.mcap", ".*/annotated")
    inputs = recorded_inputs(tmp_path / "outputs.mcap")
    assert [(ns, kind, topic) for ns, kind, topic, _ in inputs] == [(s, 0, TRACKS) for s in (1, 2, 3)]


@pytest.mark.parametrize("record, exclude, message", [
    (Path("o.mcap"), "[annotated", "--record-exclude '[annotated': not a regular expression"),
    (None, ".*/annotated", "--record-exclude: it filters --record, which was not given"),
])
def test_a_bad_exclusion_is_refused_before_anything_runs(tmp_path, record, exclude, message):
    opts = ReplayOptions(bag=tmp_path / "bag", out_dir=tmp_path / "out", graph_config=default_config_path(),
                         record=None if record is None else tmp_path / record, record_exclude=exclude)
    with pytest.raises(ConfigError, match="^" + message.replace("[", r"\[").replace("*", r"\*")
                       .replace(".", r"\.")):
        check_options(opts, ReplayConfig())
    assert not (tmp_path / "out").exists()
