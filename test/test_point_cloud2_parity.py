"""Exact parity with the real ``sensor_msgs_py.point_cloud2`` (a one-off check, skipped by default).

sensor_msgs_py cannot be installed beside the pip ROS 2 wheels, so this test runs only when the path of
upstream's ``point_cloud2.py`` is given in ``SENSOR_MSGS_PY_POINT_CLOUD2`` (it needs nothing but
``sensor_msgs``/``std_msgs``, which are installed). The command and its result are in RESULTS.md,
"Message conversions". Both implementations decode the same rclpy messages; every array, dtype and
namedtuple must be equal, except the documented differences, which are asserted as such.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from tcfd_ros import point_cloud2 as ours

UPSTREAM_ENV = "SENSOR_MSGS_PY_POINT_CLOUD2"


@pytest.fixture(scope="module")
def upstream():
    path = os.environ.get(UPSTREAM_ENV)
    if not path:
        pytest.skip(f"one-off parity check: set {UPSTREAM_ENV} to sensor_msgs_py's point_cloud2.py "
                    f"(see RESULTS.md)")
    spec = importlib.util.spec_from_file_location("upstream_point_cloud2", Path(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fields(*specs):
    from sensor_msgs.msg import PointField

    return [PointField(name=n, offset=o, datatype=d, count=c) for n, o, d, c in specs]


def _clouds():
    """rclpy messages covering every layout feature upstream decodes correctly."""
    from sensor_msgs.msg import PointCloud2
    from std_msgs.msg import Header

    def msg(fields, point_step, data, width, height=1, dense=False, big=False):
        m = PointCloud2(header=Header(frame_id="p"), height=height, width=width, fields=fields,
                        is_bigendian=big, point_step=point_step, row_step=width * point_step, is_dense=dense)
        m.data = ours.to_message_bytes(np.frombuffer(data, np.uint8))
        return m

    rng = np.random.default_rng(3)
    nan = float("nan")
    all_types = _fields(("a", 0, 1, 1), ("b", 1, 2, 1), ("c", 2, 3, 1), ("d", 4, 4, 1), ("e", 8, 5, 1),
                        ("f", 12, 6, 1), ("g", 16, 7, 1), ("h", 24, 8, 1))
    rows = [(-3, 200, -300, 60000, -70000, 4_000_000_000, 1.5, -2.25), (1, 2, 3, 4, 5, 6, nan, 8.0)]
    data = b"".join(struct.pack("<bBhH2xiIf4xd", *r[:6], r[6], r[7]) for r in rows)  # offsets as fields
    assert len(data) == 2 * 32
    xyz = rng.normal(size=(6, 3)).astype(np.float32)
    xyz[2, 1] = nan
    padded = _fields(("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 8, 7, 1), ("rgb", 16, 2, 3), ("", 20, 4, 1))
    pdata = b"".join(struct.pack("<3f4x3Bx2x2x", *p, 1, 2, 3)[:24] for p in xyz.tolist())
    organized = rng.normal(size=(2 * 3, 3)).astype(np.float32)
    clouds = {
        "all_types": msg(all_types, 32, data, 2),
        "xyz_nan": msg(_fields(("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 8, 7, 1)), 12, xyz.tobytes(), 6),
        "padded_count3_unnamed": msg(padded, 24, pdata, 6),
        "organized_2x3": msg(_fields(("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 8, 7, 1)), 12,
                             organized.tobytes(), 3, height=2),
        "big_endian": msg(_fields(("x", 0, 7, 1), ("i", 4, 4, 1)), 8,
                          struct.pack(">fH2x", 1.5, 513) * 3, 3, big=True),
        "empty": msg(_fields(("x", 0, 7, 1)), 4, b"", 0),
    }
    assert sorted(clouds) == sorted(CLOUD_NAMES)
    return clouds


def _same(a: np.ndarray, b: np.ndarray) -> None:
    """Equal dtype, shape and bytes of every field (NaN payloads included; padding bytes ignored)."""
    assert a.dtype == b.dtype and a.shape == b.shape
    for name in a.dtype.names or [None]:
        x, y = (a, b) if name is None else (a[name], b[name])
        assert np.ascontiguousarray(x).tobytes() == np.ascontiguousarray(y).tobytes(), name


def _same_rows(a: list, b: list) -> None:
    """Equal namedtuples, scalar types included (repr shows np.float32(...) vs float; nan == nan)."""
    assert [type(r).__name__ for r in a] == [type(r).__name__ for r in b]
    assert [r._fields for r in a] == [r._fields for r in b]
    assert repr(a) == repr(b)


CLOUD_NAMES = ["all_types", "xyz_nan", "padded_count3_unnamed", "organized_2x3", "big_endian", "empty"]


@pytest.mark.parametrize("name", CLOUD_NAMES)
def test_read_functions_match_upstream(upstream, name: str) -> None:
    cloud = _clouds()[name]
    names = [n for n in ours.read_points(cloud).dtype.names]
    variants = [dict(), dict(skip_nans=True), dict(field_names=names[:1])]
    if cloud.width * cloud.height >= 2:
        variants.append(dict(uvs=[1, 0]))
    for kw in variants:
        theirs = upstream.read_points(copy.deepcopy(cloud), **kw)  # upstream byte-swaps in place
        _same(ours.read_points(cloud, **kw), theirs)
        if all(f.name and f.count == 1 for f in cloud.fields) or kw.get("field_names"):
            theirs_rows = upstream.read_points_list(copy.deepcopy(cloud), **kw)
            _same_rows(ours.read_points_list(cloud, **kw), theirs_rows)
        else:  # upstream names the tuple's fields from PointField names: '' or count > 1 break it
            with pytest.raises(ValueError):
                upstream.read_points_list(copy.deepcopy(cloud), **kw)
            assert len(ours.read_points_list(cloud, **kw)) == len(theirs)
        same_type = len({cloud.fields[0].datatype} | {f.datatype for f in cloud.fields}) == 1
        if same_type or kw.get("field_names"):
            _same(ours.read_points_numpy(cloud, **kw), upstream.read_points_numpy(copy.deepcopy(cloud), **kw))
    assert ours.dtype_from_fields(cloud.fields, cloud.point_step) == \
        upstream.dtype_from_fields(cloud.fields, point_step=cloud.point_step)
    assert ours.dtype_from_fields(cloud.fields) == upstream.dtype_from_fields(cloud.fields)


def test_organized_reshape_differs_only_in_axis_order(upstream) -> None:
    cloud = _clouds()["organized_2x3"]
    theirs = upstream.read_points(cloud, reshape_organized_cloud=True)
    mine = ours.read_points(cloud, reshape_organized_cloud=True)
    assert theirs.shape == (3, 2) and mine.shape == (2, 3)  # upstream (width, height): issue #236
    _same(mine, theirs.reshape(-1).reshape(2, 3))


def test_create_functions_match_upstream(upstream) -> None:
    from std_msgs.msg import Header

    rng = np.random.default_rng(5)
    pts = rng.normal(size=(7, 3)).astype(np.float32)
    for a, b in ((ours.create_cloud_xyz32(Header(), pts), upstream.create_cloud_xyz32(Header(), pts)),
                 (ours.create_cloud_xyz32(Header(), pts.tolist()),
                  upstream.create_cloud_xyz32(Header(), pts.tolist()))):
        assert a == b  # rclpy messages compare every field, data included
    fields = _fields(("x", 0, 7, 1), ("ring", 4, 4, 1), ("t", 8, 8, 1))
    dt = upstream.dtype_from_fields(fields, point_step=16)
    structured = np.zeros(5, dtype=dt)
    structured["x"], structured["ring"], structured["t"] = pts[:5, 0], np.arange(5), pts[:5, 1]
    assert ours.create_cloud(Header(), fields, structured, 16) == \
        upstream.create_cloud(Header(), fields, structured, 16)
    as_list = [tuple(p) for p in structured.tolist()]
    assert ours.create_cloud(Header(), fields, as_list, 16) == \
        upstream.create_cloud(Header(), fields, as_list, 16)


def test_real_ouster_cloud_matches_upstream(upstream, real_data: Path) -> None:
    from test_point_cloud2_real import BAG, CLOUD_TOPIC, _to_rclpy_cloud, decode_pointcloud2, iter_topic

    for raw in iter_topic(real_data / BAG, CLOUD_TOPIC):
        cloud = _to_rclpy_cloud(decode_pointcloud2(raw))
        _same(ours.read_points(cloud), upstream.read_points(copy.deepcopy(cloud)))
        kw = dict(field_names=["x", "y", "z"], skip_nans=True)
        _same(ours.read_points_numpy(cloud, **kw), upstream.read_points_numpy(copy.deepcopy(cloud), **kw))
        uvs = np.arange(0, 131_072, 97)
        _same(ours.read_points(cloud, uvs=uvs), upstream.read_points(copy.deepcopy(cloud), uvs=uvs))
