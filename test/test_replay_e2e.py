"""End to end: a short synthetic bag replayed through the real node graph (``tcfd-ros bringup`` child
process) over DDS, and scored against the ground truth the bag carries.

The bag comes from ``tcfd-ros simulate bag`` (disjoint layout: the camera and the LiDAR watch different
zones; in these 4 s nobody is seen by both). The recognizer runs a random-init tiny TCFDNet (torch
backend), so the checks are those the ground truth decides whatever the model: every frame reaches
the graph and is answered, the LiDAR people are detected and tracked, nobody can be handed off, and
any cross-sensor link the recognizer makes is counted as a false match.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tcfd_ros.errors import BagError

from benchmark_modules import load_benchmark

pytestmark = [pytest.mark.ros, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
# The untrained model has no calibrated open-set threshold; any value works for these checks.
PARAMS = ("recognizer.identity.open_set_threshold=0.2", "recognizer.threads=1")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from tcfd_ros.model import TCFDNet, tiny_model_config
    from tcfd_ros.model.checkpoint import save_checkpoint

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_checkpoint(path, TCFDNet(tiny_model_config()).eval())
    return path


@pytest.fixture(scope="module")
def bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bag") / "b"
    subprocess.run([sys.executable, "-m", "tcfd_ros", "simulate", "bag", "--out", str(out),
                    "--storage", "mcap", "--people", "2", "--duration", "4", "--seed", "5",
                    "--lidar", "hdl64", "--layout", "disjoint"],
                   cwd=REPO, check=True, stdin=subprocess.DEVNULL, timeout=300, capture_output=True)
    return out


def _options(bag: Path, model: Path, out: Path):
    from tcfd_ros.graph import default_config_path
    from tcfd_ros.replay import ReplayOptions

    return ReplayOptions(bag=bag, out_dir=out, graph_config=default_config_path(), rate=None, model=model,
                         backend="torch", params=PARAMS, progress=False)


def test_replay_scores_against_ground_truth(bag: Path, tiny_model: Path, tmp_path: Path) -> None:
    from tcfd_ros.replay import replay
    from tcfd_ros.replay.adapters import ground_truth_frames, match_events
    from tcfd_ros.replay.recording import Recording

    res = replay(_options(bag, tiny_model, tmp_path / "r"))
    info, score = res.info, res.score
    assert info.bag_error is None
    for topic in ("/lidar/points", "/camera/image_raw", "/camera/camera_info"):
        assert info.published[topic] == info.topics[topic], topic
    assert info.unacknowledged == {"camera": 0, "lidar": 0}, "a frame got no answer from the graph"
    assert score is not None
    lid = score.detection["lidar"]
    assert lid.frames == info.topics["/lidar/points"]
    assert lid.recall >= 0.6 and lid.precision >= 0.6, lid
    assert score.tracking["lidar"].mota >= 0.4 and score.tracking["lidar"].track_to_person

    rec = Recording.load(tmp_path / "r" / "recording.jsonl")
    gt = ground_truth_frames(rec.ground_truth)
    seen_by = {s: {p.person_id for f in fr for p in f.people if p.detectable} for s, fr in gt.items()}
    assert not seen_by.get("camera", set()) & seen_by.get("lidar", set()), "fixture: someone is seen by both"
    h = score.handoff
    assert h.people_both == 0 and h.handed_off == 0
    # every cross-sensor link is false here; count them from the raw matches independently of the scorer
    final = {}
    for m in sorted(match_events(rec, "/matches"), key=lambda m: m.stamp_s):
        final[(m.sensor, m.track_id)] = m.global_id
    cam = [gid for (s, _), gid in final.items() if s == "camera"]
    lidg = [gid for (s, _), gid in final.items() if s == "lidar"]
    assert h.false_links == h.cross_links == sum(c == lg for c in cam for lg in lidg)
    assert info.received.get("/matches", 0) > 0 and "/matches" in score.latency
    # the same links per labelled track pair; benchmarks/track_pairs.py reads them back from the recording
    tp = score.track_pairs
    labelled = {s: [t for (s2, t) in final if s2 == s and t in score.tracking[s].track_to_person]
                for s in ("camera", "lidar")}
    assert tp is not None and tp.min_tracklets == 4 and tp.tracks.genuine == 0
    assert tp.tracks.impostor == len(labelled["camera"]) * len(labelled["lidar"])
    assert tp.tracks.impostor_linked == h.false_links - h.unscored_links
    assert load_benchmark("track_pairs").replay_track_pairs(tmp_path / "r", 4) == tp

    # messages per stage: the replay's sent counts against what each node received (issue 15)
    flows = {(f.node, f.topic): f for f in info.stages}
    pts = flows[("/lidar/lidar_segmenter", "/lidar/points")]
    assert pts.sent == info.published["/lidar/points"] == pts.received + pts.dds_lost + pts.unaccounted
    assert pts.processed > 0 and pts.cpu_s > 0
    clusters = flows[("/lidar/lidar_tracker", "/lidar/clusters")]
    assert clusters.sent is not None and clusters.sent > 0 and clusters.received <= clusters.sent
    assert ("/camera/camera_segmenter", "/camera/image_raw") in flows
    assert [f.node for f in rec.info.stages] == [f.node for f in info.stages]     # saved and reloaded
    assert "Messages per stage" in (tmp_path / "r" / "report.md").read_text()
    assert info.ros_domain_id == int(os.environ["ROS_DOMAIN_ID"])         # the test's own, kept
    row = next(r for r in verdict_of(res) if r.metric == "messages from outside the replay")
    assert row.passed and row.value == 0 and not any("FOREIGN" in line for line in res.summary)

    dump = json.loads((tmp_path / "r" / "score.json").read_text())
    assert dump["score"]["detection"]["lidar"]["true_positives"] == lid.true_positives
    for f in ("report.md", "report.html", "timeline.png", "latency.png", "graph.log"):
        assert (tmp_path / "r" / f).stat().st_size > 0, f


def test_truncated_bag_is_replayed_as_far_as_it_goes(bag: Path, tiny_model: Path, tmp_path: Path) -> None:
    """A recording cut short (no mcap summary): what was read is replayed and reported, then BagError."""
    from tcfd_ros.replay import replay

    broken = tmp_path / "broken"
    shutil.copytree(bag, broken)
    data = next(broken.glob("*.mcap"))
    with open(data, "r+b") as f:
        f.truncate(data.stat().st_size // 2)
    with pytest.raises(BagError, match=r"is truncated or corrupt .* complete messages "
                                       r".*The report at .*report\.md covers what was read"):
        replay(_options(broken, tiny_model, tmp_path / "r"))
    md = (tmp_path / "r" / "report.md").read_text()
    assert "BAG DAMAGED" in md
    dump = json.loads((tmp_path / "r" / "score.json").read_text())
    sent = dump["info"]["published"]["/lidar/points"]
    assert 0 < sent < 40 and dump["score"]["detection"]["lidar"]["frames"] == sent


def test_another_publisher_on_the_replays_domain_is_caught(bag: Path, tiny_model: Path,
                                                           tmp_path: Path) -> None:
    """A graph left running, or a second replay, on the same ROS domain: its clusters reach this replay's
    LiDAR tracker. The report says so, the verdict fails it, and the CLI exits with one line."""
    import threading

    import rclpy
    from sensor_msgs.msg import PointCloud2

    from tcfd_ros.errors import ForeignTrafficError
    from tcfd_ros.nodes.qos import OUTPUT_QOS
    from tcfd_ros.replay import replay
    from tcfd_ros.replay.losses import foreign_inputs
    from tcfd_ros.replay.run import raise_if_foreign

    ctx = rclpy.Context()
    rclpy.init(context=ctx)        # the test's ROS_DOMAIN_ID (conftest), which the replay keeps
    node = rclpy.create_node("foreign_segmenter", context=ctx)
    pub = node.create_publisher(PointCloud2, "/lidar/clusters", OUTPUT_QOS)
    stop = threading.Event()

    def publish() -> None:
        msg = PointCloud2()
        msg.header.frame_id = "lidar"
        while not stop.wait(0.02):
            pub.publish(msg)

    worker = threading.Thread(target=publish, daemon=True)
    worker.start()
    try:
        res = replay(_options(bag, tiny_model, tmp_path / "r"))
    finally:
        stop.set()
        worker.join()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
    heard = foreign_inputs(res.info.stages)
    assert any(h.startswith("/lidar/lidar_tracker received") and "/lidar/clusters" in h for h in heard), heard
    row = next(r for r in verdict_of(res) if r.metric == "messages from outside the replay")
    assert row.passed is False and row.value > 0
    assert any(line.startswith("FOREIGN MESSAGES on ROS domain") for line in res.summary)
    with pytest.raises(ForeignTrafficError, match=r"another publisher on ROS domain \d+ reached"):
        raise_if_foreign(res)


def verdict_of(res):
    from tcfd_ros.replay.config import ReplayConfig
    from tcfd_ros.replay.verdict import verdict_rows

    return verdict_rows(res.score, res.info, ReplayConfig().targets)
