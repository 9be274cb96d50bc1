"""poses_ahead: a bag's platform poses go out ahead of the sensor frames of their moment
(replay/pose_lead.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tcfd_ros import graph as g
from tcfd_ros.errors import BagError
from tcfd_ros.replay.pose_lead import poses_ahead

MS = 1_000_000


@dataclass(frozen=True)
class Msg:
    topic: str
    stamp_ns: int


def _bag() -> list[Msg]:
    out = []
    for k in range(10):                        # a cloud, an image, then the /tf of the same moment
        t = 100 * MS * k
        out += [Msg("/lidar/points", t), Msg("/camera/image_raw", t + 1), Msg("/tf", t + 2)]
    return out


def test_each_pose_goes_out_before_the_frames_of_its_moment_and_the_frames_keep_their_order():
    bag = _bag()
    out = list(poses_ahead(bag, "/tf", lead_ns=200 * MS))
    assert sorted(out, key=bag.index) == bag                         # nothing lost or duplicated
    assert [m for m in out if m.topic != "/tf"] == [m for m in bag if m.topic != "/tf"]
    for m in out:
        if m.topic != "/tf":                                         # every pose of its moment is out first
            before = out[:out.index(m)]
            assert [p for p in bag if p.topic == "/tf" and p.stamp_ns <= m.stamp_ns + 2] == \
                [p for p in before if p.topic == "/tf" and p.stamp_ns <= m.stamp_ns + 2]
    # frames are held at most the lead: the frame of 0.0 s leaves once a message 0.2 s later is read
    first = out.index(bag[0])
    assert all(m.stamp_ns <= 300 * MS for m in out[:first + 1])


def test_without_a_pose_topic_the_order_is_the_bags():
    bag = _bag()
    assert list(poses_ahead(bag, None)) == bag
    assert list(poses_ahead(bag, "/not_there")) == bag


def test_a_bag_that_breaks_sends_what_was_read_then_the_error():
    def broken():
        yield from _bag()[:5]
        raise BagError("truncated")
    got = []
    with pytest.raises(BagError, match="truncated"):
        for m in poses_ahead(broken(), "/tf"):
            got.append(m)
    assert sorted(got, key=_bag().index) == _bag()[:5]


def test_fast_replay_waits_for_no_answer_that_needs_a_scan_not_sent_yet():
    from tcfd_ros.replay.player import _answerable

    guided, lidars = {"camera"}, ["lidar"]
    # image 1.07 s was sent; the scan at or after it (1.20 s) comes after the next image (1.17 s) in the bag
    last = {"camera": 1_070, "lidar": 1_000}
    assert _answerable(last, "camera", guided, lidars) is None          # do not wait: it cannot come yet
    assert _answerable({"camera": 1_070, "lidar": 1_100}, "camera", guided, lidars) == 1_070
    assert _answerable(last, "camera", set(), lidars) == 1_070            # background subtraction: no guide
    assert _answerable(last, "lidar", guided, lidars) == 1_000
    assert _answerable({"camera": 5}, "camera", guided, lidars) is None   # no scan sent at all
    assert _answerable({}, "camera", guided, lidars) is None


def _two_camera_config(tmp_path: Path, guide_mode: str | None) -> Path:
    data = yaml.safe_load(g.default_config_path().read_text())
    data[f"/**/{g.RECOGNIZER}"]["ros__parameters"]["camera_namespaces"] = ["front", "rear"]
    if guide_mode is not None:
        data[f"/**/{g.CAMERA_SEGMENTER}"]["ros__parameters"]["guide"]["mode"] = guide_mode
    path = tmp_path / "two_cameras.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_player_knows_which_cameras_the_graph_guides(tmp_path):
    from tcfd_ros.replay.run import guided_cameras

    config = _two_camera_config(tmp_path, None)
    spec = g.graph_from_config(config)
    assert guided_cameras(config, spec, []) == set()                    # the params file: subtraction
    moving = ["front.camera_segmenter.guide.mode=lidar"]                 # a moving platform's override
    assert guided_cameras(config, spec, moving) == {"front"}
    # the user's --param comes later and wins (platform_mode.py: guide.mode=segmenter keeps subtraction)
    assert guided_cameras(config, spec, moving + ["camera_segmenter.guide.mode=segmenter"]) == set()
    assert guided_cameras(config, spec, ["camera_segmenter.guide.mode=lidar"]) == {"front", "rear"}
    guided_file = _two_camera_config(tmp_path, "lidar")                  # a static pole set up as guided
    assert guided_cameras(guided_file, g.graph_from_config(guided_file), []) == {"front", "rear"}
    assert guided_cameras(guided_file, spec, ["rear.camera_segmenter.guide.mode=segmenter"]) == {"front"}
