"""``tcfd-ros replay --record OUT.mcap --video OUT.mp4`` end to end on a short simulated bag: the mcap
holds the graph's outputs (annotated image, markers, matches, ...), the MP4 decodes with OpenCV to one
frame per camera frame, and the report opens with the verdict table and states chance levels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
BAG_SEED = 4711                  # a seed of this test's own
PARAMS = ("recognizer.identity.open_set_threshold=0.2", "recognizer.threads=1")
GRAPH_READY_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    import torch

    from tcfd_ros.model import TCFDNet, tiny_model_config
    from tcfd_ros.model.checkpoint import save_checkpoint

    root = tmp_path_factory.mktemp("outputs")
    torch.manual_seed(0)
    model = root / "tiny.pt"
    save_checkpoint(model, TCFDNet(tiny_model_config()).eval())
    bag = root / "walk"
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", CI="true")
    subprocess.run([sys.executable, "-m", "tcfd_ros", "simulate", "bag", "--out", str(bag), "--people", "2",
                    "--duration", "3", "--seed", str(BAG_SEED), "--layout", "overlap"], cwd=REPO, check=True,
                   stdin=subprocess.DEVNULL, timeout=300, capture_output=True, env=env)
    out = root / "report"
    slow_host = root / "replay.yaml"        # a loaded CI host can take minutes to start five nodes
    slow_host.write_text(f"replay:\n  flow:\n    graph_ready_timeout_s: {GRAPH_READY_TIMEOUT_S}\n")
    cmd = [sys.executable, "-m", "tcfd_ros", "replay", str(bag), "--fast", "--model", str(model),
           "--replay-config", str(slow_host),
           "--backend", "torch", "--out", str(out), "--record", str(out / "outputs.mcap"),
           "--video", str(out / "replay.mp4"), "--no-progress"]
    for p in PARAMS:
        cmd += ["--param", p]
    r = subprocess.run(cmd, cwd=REPO, stdin=subprocess.DEVNULL, timeout=600, capture_output=True, text=True,
                       env=env, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    return bag, out, r


def test_record_holds_the_graphs_outputs(replayed) -> None:
    from tcfd_ros.replay.reader import BagSource

    bag, out, _ = replayed
    with BagSource(out / "outputs.mcap") as rec, BagSource(bag) as src:
        topics = {t: i.msgtype for t, i in rec.topics.items()}
        assert topics["/camera/annotated"] == "sensor_msgs/msg/Image"
        assert topics["/markers"] == "visualization_msgs/msg/MarkerArray"
        assert topics["/matches"] == "std_msgs/msg/String"
        for t in ("/camera/tracks", "/lidar/tracks", "/diagnostics", "/tf_static"):
            assert t in topics, t
        # every camera frame was answered by an annotated image, stamped as its input
        assert rec.topics["/camera/annotated"].count == src.topics["/camera/image_raw"].count
        m = next(rec.messages(["/matches"]))
        assert json.loads(rec.deserialize(m).data)["schema"] == "tcfd_ros/match"
        first = next(rec.messages(["/camera/annotated"]))
        img = rec.deserialize(first)
        assert img.encoding == "bgr8" and img.width == 640
    assert not list(out.glob("*.partial"))


def test_video_has_one_frame_per_camera_frame(replayed) -> None:
    from tcfd_ros.replay.reader import BagSource

    bag, out, _ = replayed
    with BagSource(bag) as src:
        expected = src.topics["/camera/image_raw"].count
    cap = cv2.VideoCapture(str(out / "replay.mp4"))
    assert cap.isOpened()
    frames = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames += 1
        assert frame.shape[1] > 640, "camera and top-down view side by side"
    assert frames == expected


def test_report_opens_with_the_verdict_and_chance_levels(replayed) -> None:
    _, out, r = replayed
    md = (out / "report.md").read_text()
    lines = md.splitlines()
    assert lines[0] == "# Replay of walk"
    assert lines[2].startswith(("**PASS", "**FAIL", "**NO VERDICT"))
    assert lines[4].startswith("| metric | value | target | chance | result |")
    assert "| hand-off accuracy |" in md and "| real-time factor |" in md
    assert "chance" in md and "![" in md.split("## Model")[0], "timeline before the model section"
    page = (out / "report.html").read_text()
    assert "class='verdict" in page and ("<tr class='fail'>" in page or "<tr class='pass'>" in page)
    assert page.index("timeline.png") < page.index("<h2>Model</h2>")
    dump = json.loads((out / "score.json").read_text())
    assert dump["model"]["clip"].startswith("random") and len(dump["model"]["sha256"]) == 24
    if dump["score"]["cmc"]:
        assert len(dump["score"]["cmc"]) <= dump["score"]["cmc_gallery"]
        assert len(dump["score"]["cmc_chance"]) == len(dump["score"]["cmc"])
    for i, _ in enumerate(dump["handoffs"]):
        assert (out / f"handoff_{i + 1}.jpg").stat().st_size > 0
    assert r.stdout.splitlines()[0].startswith(("PASS", "FAIL", "NO VERDICT"))
    assert "video: " in r.stdout and "recording: " in r.stdout


def test_the_recorded_tracklets_become_a_training_set_labelled_by_ground_truth(replayed, tmp_path) -> None:
    """``tcfd-ros simulate tracklets``: the replay's own tracks, each labelled with a person of the bag,
    written as pairs SUSTech1K reads, every frame one the pipeline published."""
    import numpy as np

    from tcfd_ros.replay.reader import BagSource
    from tcfd_ros.track_messages import TrackletMsg
    from training.datasets.sustech1k import SUSTech1K

    _, out, _ = replayed
    root = tmp_path / "harvest"
    r = subprocess.run([sys.executable, "-m", "tcfd_ros", "simulate", "tracklets", str(out),
                        "--out", str(root), "--min-frames", "5"], cwd=REPO, capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout.splitlines()[-1])["identities"] >= 1
    ds = SUSTech1K(root, root / "partition.json", "train")
    published = {"2d": set(), "3d": set()}
    with BagSource(out / "outputs.mcap") as rec:
        for m in rec.messages([t for t in rec.topics if t.endswith("/tracklets")]):
            t = TrackletMsg.from_json(rec.deserialize(m).data)
            published[t.modality] |= {f.tobytes() for f in t.frames}
    for i, record in enumerate(ds.records):
        assert record.subject in ("report-0", "report-1")      # the bag's two people (first id 0)
        sil, dep = ds.load_pair(i)
        assert len(sil) >= 5 and all(f.tobytes() in published["2d"] for f in sil)
        assert all(f.tobytes() in published["3d"] for f in dep) and np.asarray(dep).any()


def test_calibrate_on_the_replay_writes_a_pipeline_threshold_into_a_copy(replayed, tmp_path) -> None:
    """``tcfd-ros calibrate``: the replay's camera x LiDAR track pairs set the track threshold of a copy;
    the original keeps its own; a rate the pairs cannot resolve, or too few genuine pairs to weigh walking
    speed and stature against gait, is one line, exit 2."""
    from tcfd_ros.model.checkpoint import read_checkpoint_dict

    _, out, _ = replayed
    model = out.parent / "tiny.pt"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    # the 3 s bag has one person pair of each kind: given twice, its pairs resolve a 50 % rate
    cmd = [sys.executable, "-m", "tcfd_ros", "calibrate", "--checkpoint", str(model), "--replays", str(out),
           str(out), "--threads", "1", "--min-tracklets", "1", "--out"]
    r = subprocess.run(cmd + [str(tmp_path / "cal.pt"), "--target-fmr", "0.5"], cwd=REPO, capture_output=True,
                       text=True, timeout=300, env=env)
    assert r.returncode == 2 and "the fit needs >= 10 genuine pairs" in r.stderr, r.stderr[-2000:]
    assert not (tmp_path / "cal.pt").exists()
    # the recognizer's own settings (--config): the cues are measured and weighed as it will
    params = tmp_path / "site.yaml"
    params.write_text("/**/recognizer:\n  ros__parameters:\n    identity:\n      speed_within_sd_mps: 0.1\n")
    r = subprocess.run(cmd + [str(tmp_path / "cal.pt"), "--target-fmr", "0.5", "--gait-only", "--config",
                              str(params)], cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    meta = read_checkpoint_dict(tmp_path / "cal.pt")["metadata"]
    assert meta["open_set_cue_exponent_track"] is None          # the gait distance alone
    assert meta["calibration_cue_config"]["speed_within_sd_mps"] == 0.1
    assert meta["calibration_level_track"] == "pipeline" and meta["calibration_replays"] == ["report"] * 2
    genuine, impostor = meta["calibration_pairs_track"]
    assert genuine >= 2 and impostor >= 2
    assert json.loads(r.stdout)["open_set_threshold_track"] == meta["open_set_threshold_track"]
    # gait alone at the same rate of the same pairs (the bar of a pair with no cue): here the same score
    assert meta["open_set_threshold_track_gait_alone"] == meta["open_set_threshold_track"]
    assert json.loads(r.stdout)["open_set_threshold_track_gait_alone"] == meta["open_set_threshold_track"]
    assert "calibration_level_track" not in read_checkpoint_dict(model)["metadata"]
    r = subprocess.run(cmd + [str(tmp_path / "no.pt"), "--target-fmr", "0.0001"], cwd=REPO,
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 2 and "cannot resolve a false-match rate" in r.stderr
    errors = [line for line in r.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("tcfd-ros calibrate: error:"), r.stderr
    assert not (tmp_path / "no.pt").exists() and not list(tmp_path.glob("*.partial"))


def test_the_replays_labelled_tracklets_feed_a_projection_that_calibrate_fits_on_other_replays(
        replayed, tmp_path) -> None:
    """``training.pipeline_projection.labelled_tracklets`` gives each labelled track's tracklet embeddings
    (the network's own); ``tcfd-ros calibrate --projection-replays`` refuses the replays it calibrates on,
    and a fit on too few people, each in one line with exit 2 and no file written."""
    import shutil

    from tcfd_ros.inference import make_embedder
    from training.pipeline_projection import labelled_tracklets

    _, out, _ = replayed
    model = out.parent / "tiny.pt"
    raw = make_embedder("torch", model, threads=1, projection=False)
    tracks = labelled_tracklets(out, raw)
    assert {t.modality for t in tracks} == {"2d", "3d"}
    assert {t.person[1] for t in tracks} <= {0, 1} and all(t.person[0] == f"seed {BAG_SEED}" for t in tracks)
    assert all(t.embeddings.ndim == 3 and t.embeddings.shape[1:] == (raw.parts, raw.dim) for t in tracks)
    other = tmp_path / "other"                      # the same people under another name
    other.mkdir()
    for name in ("recording.jsonl", "outputs.mcap"):
        shutil.copyfile(out / name, other / name)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "tcfd_ros", "calibrate", "--checkpoint", str(model), "--replays", str(out),
           "--threads", "1", "--min-tracklets", "1", "--target-fmr", "0.5", "--out", str(tmp_path / "p.pt"),
           "--projection-replays"]
    for proj, says in ((out, "share"), (other, "16 directions need >= 20 people")):
        r = subprocess.run(cmd + [str(proj)], cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
        errors = [line for line in r.stderr.splitlines() if "error" in line]
        assert r.returncode == 2 and says in r.stderr, r.stderr[-2000:]
        assert len(errors) == 1 and errors[0].startswith("tcfd-ros calibrate: error:"), r.stderr
    assert not (tmp_path / "p.pt").exists()
