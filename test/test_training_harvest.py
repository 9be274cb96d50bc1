"""``training/harvest.py``: windows, partition updates and paired sequences written so training reads them.
(The whole path from a replayed bag is in ``test_replay_outputs.py``.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tcfd_ros.errors import DatasetError
from training.datasets.sustech1k import SUSTech1K
from training.harvest import MAX_WINDOWS, add_to_partition, harvest_replay, windows, write_people


def test_windows_spread_over_the_longer_track_and_stop_at_the_cap() -> None:
    assert windows(30, 30) == [slice(0, 30)]
    assert windows(45, 30) == [slice(7, 37)]                    # one window, centred
    assert windows(60, 30) == [slice(0, 30), slice(30, 60)]
    w = windows(1000, 30)
    assert len(w) == MAX_WINDOWS and w[0].start == 0 and w[-1].stop == 1000


def _frames(n: int, value: int, modality: str) -> np.ndarray:
    shape = (n, 64, 64) if modality == "2d" else (n, 3, 64, 64)
    return np.full(shape, value, np.uint8)


def test_people_with_both_sensors_become_paired_sequences_training_reads(tmp_path: Path) -> None:
    people = {7: {"2d": [_frames(40, 1, "2d")], "3d": [_frames(20, 2, "3d"), _frames(25, 3, "3d")]},
              8: {"2d": [_frames(40, 4, "2d")], "3d": []},                     # camera only: skipped
              9: {"2d": [_frames(5, 5, "2d")], "3d": [_frames(30, 6, "3d")]}}  # too short: skipped
    ids = write_people(people, tmp_path, "bag", min_frames=10)
    assert ids == ["bag-7"]
    add_to_partition(tmp_path / "partition.json", ids)
    ds = SUSTech1K(tmp_path, tmp_path / "partition.json", "train")
    pairs = [ds.load_pair(i) for i in range(len(ds))]
    # camera 40 x LiDAR 20: two windows of 20; camera 40 x LiDAR 25: one centred window of 25
    assert sorted(len(s) for s, _ in pairs) == [20, 20, 25]
    assert {int(d[0, 0, 0, 0]) for _, d in pairs} == {2, 3}
    assert all((s == 1).all() for s, _ in pairs)


def test_partition_keeps_what_it_lists_and_adds_each_new_id_once(tmp_path: Path) -> None:
    part = tmp_path / "partition.json"
    part.write_text(json.dumps({"TRAIN_SET": ["0000"], "TEST_SET": ["0001"]}))
    add_to_partition(part, ["b-1", "0001", "b-1", "b-2"])
    assert json.loads(part.read_text()) == {"TRAIN_SET": ["b-1", "b-2", "0000"], "TEST_SET": ["0001"]}


def test_training_holds_out_the_last_identities_of_the_partition_not_of_the_names(tmp_path: Path) -> None:
    """Harvested people put in front of a clean set must not become its calibration identities."""
    from training.trainer import split_held_out

    people = {p: {"2d": [_frames(12, 1, "2d")], "3d": [_frames(12, 2, "3d")]} for p in (1, 2, 3)}
    clean = write_people(people, tmp_path, "0000", min_frames=10)       # 0000-1, 0000-2, 0000-3
    add_to_partition(tmp_path / "partition.json", clean)
    harvested = write_people(people, tmp_path, "zbag", min_frames=10)   # sort after the clean ones
    add_to_partition(tmp_path / "partition.json", harvested)
    ds = SUSTech1K(tmp_path, tmp_path / "partition.json", "train")
    train, val = split_held_out(ds, 2)
    assert sorted({ds.records[i].subject for i in val}) == ["0000-2", "0000-3"]
    assert {ds.records[i].subject for i in train} == {"0000-1", *harvested}


def test_a_replay_without_ground_truth_or_a_recording_is_refused_in_one_line(tmp_path: Path) -> None:
    from tcfd_ros.replay.recording import Recording
    from tcfd_ros.replay.records import RunInfo

    Recording(RunInfo("real.mcap", 10.0), sensors={"camera": "2d"}).save(tmp_path / "recording.jsonl")
    with pytest.raises(DatasetError, match="no ground truth"):
        harvest_replay(tmp_path)
    (tmp_path / "recording.jsonl").write_text('{"info": {}}\n')
    with pytest.raises(DatasetError, match="not a replay's recording"):
        harvest_replay(tmp_path)
    with pytest.raises(DatasetError, match="not a replay's recording"):
        harvest_replay(tmp_path / "missing")


def test_a_malformed_recorded_tracklet_is_skipped_with_one_warning(tmp_path: Path, caplog) -> None:
    from rosbags.typesys import Stores, get_typestore

    from tcfd_ros.replay.output_bag import OutputBag
    from tcfd_ros.track_messages import TrackletMsg
    from training.harvest import track_sequences

    store = get_typestore(Stores.ROS2_KILTED)
    String = store.types["std_msgs/msg/String"]
    good = TrackletMsg({"sec": 1, "nanosec": 0}, "camera_optical_frame", "camera", "2d", 3,
                       tuple(0.1 * i for i in range(10)), (320.0, 240.0), _frames(10, 7, "2d"))
    bag = OutputBag(tmp_path / "outputs.mcap")
    for i, text in enumerate((good.to_json(), '{"schema": "tcfd_ros/tracklet", "version": 1}')):
        bag.write("/camera/tracklets", "std_msgs/msg/String", 1_000_000_000 + i,
                  store.serialize_cdr(String(data=text), "std_msgs/msg/String"))
    bag.close()
    with caplog.at_level("WARNING"):
        seqs = track_sequences(tmp_path / "outputs.mcap")
    assert list(seqs) == [("camera", 3)] and seqs[("camera", 3)][1].shape == (10, 64, 64)
    assert sum("skipped 1 malformed tracklet" in r.getMessage() for r in caplog.records) == 1


def test_a_replay_that_heard_another_graph_is_refused_in_one_line(tmp_path: Path) -> None:
    """Its tracks mix two runs' track ids: neither training data nor a calibration."""
    from tcfd_ros.replay.losses import StageFlow
    from tcfd_ros.replay.recording import Recording
    from tcfd_ros.replay.records import RunInfo

    gt = [{"schema": "tcfd_ros/ground_truth", "scene": {"seed": 1}, "people": []}]
    info = RunInfo("sim.mcap", 10.0, stages=[StageFlow("/lidar/lidar_tracker", "/lidar/clusters", 100, 199,
                                                       199, 0, 0, 0.1)])
    Recording(info, sensors={"lidar": "3d"}, ground_truth=gt).save(tmp_path / "recording.jsonl")
    with pytest.raises(DatasetError, match=r"another publisher's messages reached this replay's graph "
                                           r"\(/lidar/lidar_tracker received 199 on /lidar/clusters, 100"):
        harvest_replay(tmp_path)
