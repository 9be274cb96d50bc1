"""Bag reading for replay: both storages, damaged bags and missing topics give BagError naming the problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from tcfd_ros.errors import BagError
from tcfd_ros.replay.reader import BagSource
from tcfd_ros.replay.recording import header_stamp_ns
from tcfd_ros.replay.run import read_ground_truth

TS = get_typestore(Stores.ROS2_KILTED)
N_FRAMES = 120


def _cloud(i: int) -> object:
    T = TS.types
    import numpy as np
    stamp = T["builtin_interfaces/msg/Time"](sec=100 + i // 10, nanosec=(i % 10) * 10**8 + 7)
    hdr = T["std_msgs/msg/Header"](stamp=stamp, frame_id="lidar")
    fields = [T["sensor_msgs/msg/PointField"](name=n, offset=4 * k, datatype=7, count=1)
              for k, n in enumerate("xyz")]
    data = np.arange(300, dtype=np.float32).view(np.uint8)
    return T["sensor_msgs/msg/PointCloud2"](header=hdr, height=1, width=100, fields=fields,
                                            is_bigendian=False, point_step=12, row_step=1200, data=data,
                                            is_dense=True)


def make_bag(path: Path, storage: StoragePlugin, with_gt: bool = True, lidar: bool = True) -> Path:
    with Writer(path, version=9, storage_plugin=storage) as w:
        pc = w.add_connection("/lidar/points", "sensor_msgs/msg/PointCloud2", typestore=TS) if lidar else None
        gt = w.add_connection("/ground_truth", "std_msgs/msg/String", typestore=TS) if with_gt else None
        for i in range(N_FRAMES):
            t = (100 + i // 10) * 10**9 + (i % 10) * 10**8 + 7
            if pc is not None:
                w.write(pc, t, TS.serialize_cdr(_cloud(i), "sensor_msgs/msg/PointCloud2"))
            if gt is not None:
                msg = TS.types["std_msgs/msg/String"](data=json.dumps({"seq": i, "pad": "x" * 20000}))
                w.write(gt, t, TS.serialize_cdr(msg, "std_msgs/msg/String"))
    return path


def _data_file(bag: Path) -> Path:
    return next(p for p in bag.iterdir() if p.name != "metadata.yaml")


@pytest.mark.parametrize("storage", [StoragePlugin.SQLITE3, StoragePlugin.MCAP])
def test_reads_both_storages_in_order_with_header_stamps(tmp_path: Path, storage: StoragePlugin) -> None:
    bag = make_bag(tmp_path / "b", storage)
    with BagSource(bag) as src:
        assert src.topics["/lidar/points"].count == N_FRAMES
        assert src.topics["/ground_truth"].msgtype == "std_msgs/msg/String"
        msgs = list(src.messages(["/lidar/points"]))
        assert [m.stamp_ns for m in msgs] == sorted(m.stamp_ns for m in msgs)
        assert header_stamp_ns(msgs[13].data) == 101 * 10**9 + 3 * 10**8 + 7
        gt, err = read_ground_truth(src, "/ground_truth")
        assert err is None and [d["seq"] for d in gt] == list(range(N_FRAMES))
        assert src.duration_s == pytest.approx((N_FRAMES - 1) * 0.1)


def test_missing_topic_is_named(tmp_path: Path) -> None:
    bag = make_bag(tmp_path / "b", StoragePlugin.SQLITE3, lidar=False)
    with BagSource(bag) as src:
        with pytest.raises(BagError, match=r"lacks the expected topic\(s\) /lidar/points, /camera/image_raw.*"
                                           r"it has /ground_truth \[std_msgs/msg/String\]"):
            src.require_topics(["/lidar/points", "/camera/image_raw"])


def test_missing_bag_is_named(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="bag not found: .*nothere"):
        BagSource(tmp_path / "nothere")


def test_truncated_sqlite_bag_raises_bag_error(tmp_path: Path) -> None:
    bag = make_bag(tmp_path / "b", StoragePlugin.SQLITE3)
    f = _data_file(bag)
    with open(f, "r+b") as fh:
        fh.truncate(f.stat().st_size // 2)
    with pytest.raises(BagError, match=rf"cannot open bag {bag}: .*malformed"):
        BagSource(bag)


def test_truncated_mcap_bag_salvages_complete_messages(tmp_path: Path) -> None:
    """A recorder killed mid-write: no summary, no footer. The complete messages are read, and the
    damage is stated (the replay reports it and raises BagError after the report)."""
    bag = make_bag(tmp_path / "b", StoragePlugin.MCAP)
    f = _data_file(bag)
    with open(f, "r+b") as fh:
        fh.truncate(f.stat().st_size * 2 // 3)
    with BagSource(bag) as src:
        assert src.damage is not None and "truncated or corrupt" in src.damage and "EndOfFile" in src.damage
        n = src.topics["/lidar/points"].count
        assert 0 < n < N_FRAMES
        got = list(src.messages(["/lidar/points"]))
        assert len(got) == n and header_stamp_ns(got[-1].data) == got[-1].stamp_ns
        assert (f"read its {2 * n - 1} complete messages" in src.damage
                or f"read its {2 * n} complete" in src.damage)


def test_corrupt_chunk_mid_bag_keeps_what_was_read(tmp_path: Path) -> None:
    """Garbage in the middle of an mcap: the messages before it are yielded, then BagError says how far."""
    bag = make_bag(tmp_path / "b", StoragePlugin.MCAP)
    f = _data_file(bag)
    raw = bytearray(f.read_bytes())
    # overwrite the payload of a message in the middle of the data section (keeps the summary intact)
    k = raw.find(b'"seq": 60')
    assert k > 0
    raw[k - 40:k + 400] = b"\xff" * 440
    f.write_bytes(bytes(raw))
    got = []
    with pytest.raises(BagError, match=r"truncated or corrupt: read \d+ of \d+ messages") as e:
        with BagSource(bag) as src:
            for m in src.messages():
                got.append(m)
    assert 0 < len(got) < 2 * N_FRAMES
    assert f"read {len(got)} of {2 * N_FRAMES} messages" in str(e.value)
    assert "s into the bag" in str(e.value)


@pytest.mark.parametrize("bare_file", [False, True], ids=["directory", "mcap-file"])
def test_a_whole_mcap_without_metadata_is_not_damaged(tmp_path: Path, caplog, bare_file: bool) -> None:
    """Issue 15: an mcap bag without metadata.yaml is read in full and is not 'truncated or corrupt'."""
    bag = make_bag(tmp_path / "b", StoragePlugin.MCAP)
    (bag / "metadata.yaml").unlink()
    path = _data_file(bag) if bare_file else bag
    with BagSource(path) as src:
        assert src.damage is None
        assert src.topics["/lidar/points"].count == N_FRAMES and src.topics["/ground_truth"].count == N_FRAMES
        assert len(list(src.messages(["/lidar/points"]))) == N_FRAMES
        gt, err = read_ground_truth(src, "/ground_truth")
        assert err is None and len(gt) == N_FRAMES
    assert "truncated" not in caplog.text


def test_metadata_without_data_file(tmp_path: Path) -> None:
    bag = make_bag(tmp_path / "b", StoragePlugin.SQLITE3)
    _data_file(bag).unlink()
    with pytest.raises(BagError, match="cannot open bag"):
        BagSource(bag)


def test_header_stamp_rejects_non_cdr() -> None:
    with pytest.raises(BagError, match="not CDR with a header"):
        header_stamp_ns(b"\x07\x07\x00\x00" + bytes(8), "/lidar/points")
