"""The verdict-first report without DDS: targets, chance levels, hand-off moments, model identity,
titles, HTML colours; the output-bag writer; the video composer on a simulated bag."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tcfd_ros.replay.config import ReplayConfig, TargetConfig, load_replay_config
from tcfd_ros.replay.records import (GTFrame, GTPerson, MatchEvent, Observation, OutputFrame, RunInfo,
                                     StageLatency)
from tcfd_ros.replay.report import ReportExtras, bag_title, write_report
from tcfd_ros.replay.scoring import DetectionScore, HandoffScore, Score, TrackingScore
from tcfd_ros.replay.verdict import (chance_cmc, describe_clip, handoff_events, model_identity, verdict_line,
                                     verdict_rows)

REPO = Path(__file__).resolve().parents[1]


def _info(wall_s: float = 10.0) -> RunInfo:
    info = RunInfo("/data/site_a/bag", 20.0, {"/camera/image_raw": 10}, mode="fast")
    info.wall_s = wall_s
    return info


def _score(handed: int = 2, both: int = 3, false_links: int = 0) -> Score:
    return Score(detection={"camera": DetectionScore(10, 9, 1, 1), "lidar": DetectionScore(10, 5, 5, 5)},
                 tracking={"camera": TrackingScore(10, 0.8, 0.9, 0, {1: 7, 2: 8}),
                           "lidar": TrackingScore(10, 0.5, 0.5, 1, {4: 7, 5: 9})},
                 handoff=HandoffScore(both, handed, 2, false_links, 0.0), cmc=[0.5, 1.0], cmc_queries=2,
                 latency={"/matches": {"n": 3, "p50": 10.0, "p90": 20.0, "p99": 30.0}}, cmc_gallery=2,
                 cmc_chance=[0.5, 1.0])


def test_chance_cmc_is_the_expected_hit_rate_of_a_random_ranking() -> None:
    assert chance_cmc([1], [1, 2, 3, 4], 4) == pytest.approx([0.25, 0.5, 0.75, 1.0])
    # two true entries among four: 1 - C(2,1)/C(4,1) = 0.5 at rank 1, 1 - C(2,2)/C(4,2) = 5/6 at rank 2
    assert chance_cmc([1], [1, 1, 2, 3], 2) == pytest.approx([0.5, 5 / 6])
    assert chance_cmc([9], [1, 2], 2) == []          # a query whose person is not in the gallery is left out


def test_verdict_rows_pass_fail_and_not_applicable() -> None:
    rows = {r.metric: r for r in verdict_rows(_score(), _info(), TargetConfig())}
    assert rows["hand-off accuracy"].passed is False and rows["hand-off accuracy"].chance == 0.5
    assert rows["false cross-sensor links"].passed is True and rows["false cross-sensor links"].value == 0
    assert rows["CMC rank-1"].passed is False and rows["CMC rank-1"].chance == 0.5
    assert rows["camera detection precision"].passed is True
    assert rows["lidar detection recall"].passed is False
    assert rows["real-time factor"].passed is True
    nobody = {r.metric: r for r in verdict_rows(_score(handed=0, both=0), _info(), TargetConfig())}
    assert nobody["hand-off accuracy"].passed is None and math.isnan(nobody["hand-off accuracy"].value)
    line = verdict_line(list(rows.values()))
    assert line.startswith("FAIL: 5 of 10 targets missed") and "hand-off accuracy" in line
    easy = TargetConfig(handoff_accuracy_min=0.5, cmc_rank1_min=0.5, detection_precision_min=0.5,
                        detection_recall_min=0.5, idf1_min=0.5)
    assert verdict_line(verdict_rows(_score(), _info(), easy)) == "PASS: all 10 targets met"
    assert [r.metric for r in verdict_rows(None, _info(), TargetConfig())] == ["real-time factor"]


def test_targets_load_strictly_from_a_replay_config(tmp_path: Path) -> None:
    f = tmp_path / "r.yaml"
    f.write_text("replay:\n  targets:\n    handoff_accuracy_min: 0.9\n")
    assert load_replay_config(f).targets.handoff_accuracy_min == 0.9
    f.write_text("replay:\n  targets:\n    handoff_accuracy_min: 1.5\n")
    with pytest.raises(Exception, match="handoff_accuracy_min"):
        load_replay_config(f)
    assert ReplayConfig().targets == TargetConfig()


def test_handoff_events_are_links_with_their_moment_and_truth() -> None:
    matches = [MatchEvent(1.0, "camera", 1, 5, 0.1, False), MatchEvent(2.0, "lidar", 4, 5, 0.1, True),
               MatchEvent(3.0, "camera", 2, 6, 0.1, False), MatchEvent(3.5, "lidar", 5, 6, 0.2, True)]
    tracking = {"camera": TrackingScore(track_to_person={1: 7, 2: 8}),
                "lidar": TrackingScore(track_to_person={4: 7, 5: 9})}
    ev = handoff_events(matches, tracking, {"camera": "2d", "lidar": "3d"})
    assert [(e.stamp_s, e.global_id, e.correct) for e in ev] == [(2.0, 5, True), (3.5, 6, False)]


def test_model_identity_says_whether_clip_is_pretrained(tmp_path: Path) -> None:
    f = tmp_path / "m.onnx"
    f.write_bytes(b"model")
    clip = {"weights": "random", "variant": "tcfd-tiny"}
    ident = model_identity(f, "onnx", {"open_set_threshold": 0.3, "clip": clip,
                                       "model_config": {"clip": {"variant": "tcfd-tiny"}, "dim": 64,
                                                        "parts": 15}})
    rows = dict(ident.rows())
    assert rows["CLIP weights"].startswith("random (untrained tcfd-tiny")
    assert rows["open-set threshold (distance)"] == "0.300" and len(rows["sha256"]) == 24
    assert "tcfdnet (CLIP tcfd-tiny; 15 parts x 64)" == rows["architecture"]
    assert rows["pipeline projection"] == "none"
    projected = model_identity(f, "onnx", {"open_set_threshold": 0.3, "open_set_threshold_track": 0.15,
                                           "pipeline_projection": {"parts": 15, "dim": 64, "provenance": {
                                               "out_dim": 16, "people": 60, "replays": ["a", "b"]}}})
    rows = dict(projected.rows())     # the threshold the recognizer decides by, in the projection's space
    assert rows["open-set threshold (distance)"] == "0.150"
    assert rows["pipeline projection"] == "15 x 64 -> 16, fitted on 2 replays (60 people)"
    assert describe_clip({"weights": "/m/clip/open_clip_model.safetensors", "variant": "ViT-B-16",
                          "sha256": "abcdef0123456789"}).startswith("pretrained ViT-B-16: open_clip_model")


def test_titles_name_the_bag() -> None:
    assert bag_title("/data/site_a/bag") == "site_a/bag"
    assert bag_title("out/walk.mcap") == "walk"
    assert bag_title("out/morning_run") == "morning_run"


def test_report_opens_with_verdict_then_timeline_and_colours_rows(tmp_path: Path) -> None:
    gt = {"camera": [GTFrame("camera", 100.0 + i * 0.1, (GTPerson(7, (0, 0, 10, 10), None, True),))
                     for i in range(20)]}
    tracks = {"camera": [OutputFrame("camera", 100.0 + i * 0.1, (Observation(1, (0, 0, 10, 10)),))
                         for i in range(20)],
              "lidar": [OutputFrame("lidar", 100.0 + i * 0.1, (Observation(4, None, (3.0, 1.0)),))
                        for i in range(20)]}
    matches = [MatchEvent(100.5, "camera", 1, 5, 0.1, False), MatchEvent(101.0, "lidar", 4, 5, 0.1, True)]
    score = _score()
    events = handoff_events(matches, score.tracking, {"camera": "2d", "lidar": "3d"})
    extras = ReportExtras(verdict=verdict_rows(score, _info(), TargetConfig()), events=events,
                          track_to_person={"camera": {1: 7}, "lidar": {4: 7}})
    lat = [StageLatency("/matches", 0.01 * k) for k in range(1, 20)] + [StageLatency("/lidar/clusters", 0.2)]
    write_report(tmp_path, _info(), score, gt, tracks, matches, lat, {}, 100.0, extras=extras)
    md = (tmp_path / "report.md").read_text().splitlines()
    assert md[0] == "# Replay of site_a/bag" and md[2].startswith("**FAIL")
    assert md[4] == "| metric | value | target | chance | result | note |"
    page = (tmp_path / "report.html").read_text()
    assert "<p class='verdict fail'>" in page and "<tr class='fail'>" in page and "<tr class='pass'>" in page
    assert page.index("timeline.png") < page.index("<h2>Model</h2>") < page.index("<h2>Hand-offs</h2>")
    assert "same person" in page
    for png in ("timeline.png", "latency.png", "cmc.png"):
        img = cv2.imread(str(tmp_path / png))
        assert img is not None and img.shape[0] > 200, png
    dump = json.loads((tmp_path / "score.json").read_text())
    assert dump["verdict"][0]["metric"] == "hand-off accuracy" and dump["handoffs"][0]["global_id"] == 5


def test_output_bag_writes_one_mcap_and_abort_leaves_nothing(tmp_path: Path) -> None:
    from rosbags.typesys import Stores, get_typestore

    from tcfd_ros.errors import ConfigError
    from tcfd_ros.replay.output_bag import OutputBag
    from tcfd_ros.replay.reader import BagSource

    ts = get_typestore(Stores.ROS2_KILTED)
    data = ts.serialize_cdr(ts.types["std_msgs/msg/String"](data='{"a": 1}'), "std_msgs/msg/String")
    out = OutputBag(tmp_path / "o.mcap")
    out.write("/matches", "std_msgs/msg/String", 2_000, data)
    out.write("/matches", "std_msgs/msg/String", 1_000, data)
    out.write("/weird", "no_pkg/msg/Nope", 1_000, data)
    assert out.close() == tmp_path / "o.mcap" and "/weird" in out.errors
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mcap"]
    with BagSource(tmp_path / "o.mcap") as b:
        assert b.topics["/matches"].count == 2 and "/weird" not in b.topics
    bad = OutputBag(tmp_path / "x.mcap")
    bad.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mcap"]
    with pytest.raises(ConfigError, match=".mcap"):
        OutputBag(tmp_path / "x.bag")


def test_video_composer_writes_one_frame_per_camera_frame(tmp_path: Path) -> None:
    from tcfd_ros.replay.reader import BagSource
    from tcfd_ros.replay.video import ReplayPictures, TopDownView, TrackHistory, camera_fps, write_video

    bag = tmp_path / "b"
    subprocess.run([sys.executable, "-m", "tcfd_ros", "simulate", "bag", "--out", str(bag), "--people", "1",
                    "--duration", "1", "--seed", "4712", "--camera-hz", "10"], cwd=REPO, check=True,
                   capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
    with BagSource(bag) as src:
        n = src.topics["/camera/image_raw"].count
        fps = camera_fps(src, "/camera/image_raw")
        t0 = src.start_ns
    lidar = [OutputFrame("lidar", t0 / 1e9 + 0.5, (Observation(2, None, (6.0, -1.0)),))]
    pics = ReplayPictures(bag, "/camera/image_raw", "/lidar/points", TrackHistory([], [], "camera"),
                          TrackHistory(lidar, [MatchEvent(t0 / 1e9 + 0.4, "lidar", 2, 3, 0.1, False)],
                                       "lidar"),
                          {}, t0)
    assert write_video(pics, tmp_path / "v.mp4", fps) == n
    cap = cv2.VideoCapture(str(tmp_path / "v.mp4"))
    count = 0
    while cap.read()[0]:
        count += 1
    assert count == n
    view = TopDownView.around((0.0, 10.0, -2.0, 2.0), 400)
    px = view.pixels(np.array([[view.cx, view.cy], [view.cx + 1.0, view.cy]]))
    assert tuple(px[0]) == (200, 200) and px[1][1] < 200, "x forward is up in the picture"


def test_viewer_configs_name_the_topics_replay_records() -> None:
    import yaml

    from tcfd_ros import graph as g
    from tcfd_ros.replay.player import annotated_topics, output_topics

    spec = g.graph_from_config(g.default_config_path())
    recorded = set(output_topics(spec)) | set(annotated_topics(spec))
    layout = json.loads((REPO / "config" / "foxglove_layout.json").read_text())
    panels = set(layout["configById"])
    text = json.dumps(layout)

    def leaves(node):
        return [node] if isinstance(node, str) else leaves(node["first"]) + leaves(node["second"])
    assert set(leaves(layout["layout"])) == panels, "every panel is placed, every placed panel exists"
    for topic in ("/camera/annotated", "/markers", "/matches", "/lidar/clusters", "/diagnostics"):
        assert f'"{topic}' in text and topic in recorded, topic
    rviz = yaml.safe_load((REPO / "config" / "tcfd_ros.rviz").read_text())
    topics = {d["Topic"]["Value"] for d in rviz["Visualization Manager"]["Displays"] if "Topic" in d}
    assert topics == {"/markers", "/lidar/clusters", "/camera/annotated"} and topics <= recorded


def test_annotation_labels_have_no_placeholder_global_id() -> None:
    from tcfd_ros.perception.annotate import Annotation, _label

    assert _label(Annotation((0, 0, 1, 1), track_id=3)) == "T3"
    assert _label(Annotation((0, 0, 1, 1), track_id=3, global_id=7, distance=0.25)) == "G7 T3 0.25"
    assert _label(Annotation((0, 0, 1, 1))) == "person"


def test_a_rosbag2_folder_named_dot_bag_opens(tmp_path: Path) -> None:
    """``tcfd-ros simulate bag --out x.bag`` makes a folder; rosbags alone takes ``.bag`` for ROS 1."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    from tcfd_ros.replay.reader import BagSource

    ts = get_typestore(Stores.ROS2_KILTED)
    with Writer(tmp_path / "x.bag", version=9, storage_plugin=StoragePlugin.SQLITE3) as w:
        c = w.add_connection("/matches", "std_msgs/msg/String", typestore=ts)
        w.write(c, 1, ts.serialize_cdr(ts.types["std_msgs/msg/String"](data="a"), "std_msgs/msg/String"))
    with BagSource(tmp_path / "x.bag") as b:
        assert b.topics["/matches"].count == 1
        assert b.deserialize(next(b.messages())).data == "a"
