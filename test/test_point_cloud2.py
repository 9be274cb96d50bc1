"""tcfd_ros.point_cloud2: sensor_msgs_py semantics with hand-computed expectations.

Messages are built byte by byte with ``struct`` (never with the module under test) and wrapped in a
plain duck-typed object, so a decoding bug cannot hide behind a matching encoding bug.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pytest

from tcfd_ros import point_cloud2 as pc2
from tcfd_ros.errors import MessageFormatError


@dataclass
class Cloud:
    """A PointCloud2 look-alike: readers must accept any object with these attributes."""

    fields: list
    point_step: int
    data: bytes
    width: int
    height: int = 1
    row_step: int | None = None
    is_bigendian: bool = False
    is_dense: bool = False
    header: object = field(default_factory=SimpleNamespace)

    def __post_init__(self) -> None:
        if self.row_step is None:
            self.row_step = self.width * self.point_step


def F(name: str, offset: int, datatype: int, count: int = 1) -> SimpleNamespace:
    return SimpleNamespace(name=name, offset=offset, datatype=datatype, count=count)


XYZ = [F("x", 0, pc2.FLOAT32), F("y", 4, pc2.FLOAT32), F("z", 8, pc2.FLOAT32)]


def xyz_cloud(points: list[tuple[float, float, float]], **kw) -> Cloud:
    data = b"".join(struct.pack("<3f", *p) for p in points)
    return Cloud(XYZ, 12, data, width=len(points), **kw)


# --- all eight datatypes --------------------------------------------------------------------------

ALL_TYPES = [  # (datatype, struct code, size, value, numpy dtype)
    (pc2.INT8, "b", 1, -7, np.int8),
    (pc2.UINT8, "B", 1, 250, np.uint8),
    (pc2.INT16, "h", 2, -30000, np.int16),
    (pc2.UINT16, "H", 2, 65000, np.uint16),
    (pc2.INT32, "i", 4, -2_000_000_000, np.int32),
    (pc2.UINT32, "I", 4, 4_000_000_000, np.uint32),
    (pc2.FLOAT32, "f", 4, 1.5, np.float32),
    (pc2.FLOAT64, "d", 8, -2.25e100, np.float64),
]


def _all_types_cloud(big: bool) -> tuple[Cloud, list]:
    fields, fmt, offset, values = [], "", 0, []
    for i, (dt, code, size, value, _) in enumerate(ALL_TYPES):
        fields.append(F(f"f{i}", offset, dt))
        fmt += code
        offset += size
        values.append(value)
    order = ">" if big else "<"
    rows = [values, [v * 0 + (1 if isinstance(v, int) else 0.5) for v in values]]
    data = b"".join(struct.pack(order + fmt, *r) for r in rows)  # packed: no padding between fields
    return Cloud(fields, offset, data, width=2, is_bigendian=big), rows


@pytest.mark.parametrize("big", [False, True], ids=["little", "big"])
def test_all_eight_datatypes_little_and_big_endian(big: bool) -> None:
    cloud, rows = _all_types_cloud(big)
    original = bytes(cloud.data)
    points = pc2.read_points(cloud)
    assert points.shape == (2,)
    for i, (_, _, _, _, np_type) in enumerate(ALL_TYPES):
        column = points[f"f{i}"]
        assert column.dtype == np.dtype(np_type)  # native byte order, like sensor_msgs_py
        assert column.tolist() == [rows[0][i], rows[1][i]]
    assert bytes(cloud.data) == original  # never byte-swaps the message in place
    assert pc2.read_points_list(cloud)[0] == tuple(rows[0])


def test_dtype_from_fields_matches_sensor_msgs_py_layout() -> None:
    fields = [F("x", 0, pc2.FLOAT32), F("", 4, pc2.UINT16), F("rgb", 8, pc2.UINT8, count=3)]
    dt = pc2.dtype_from_fields(fields, point_step=16)
    assert dt.names == ("x", "unnamed_field_1", "rgb_0", "rgb_1", "rgb_2")
    assert [dt.fields[n][1] for n in dt.names] == [0, 4, 8, 9, 10]
    assert dt.itemsize == 16
    assert pc2.dtype_from_fields(fields).itemsize == 11  # natural size without point_step


def test_count_greater_than_one_and_padding_inside_point_step() -> None:
    # x,y,z float32 | 4 pad | normal float64 x2 at 16 | label uint16 at 32 | 6 pad -> point_step 40
    fields = XYZ + [F("normal", 16, pc2.FLOAT64, count=2), F("label", 32, pc2.UINT16)]
    pts = [(1.0, 2.0, 3.0, 0.5, -0.5, 7), (4.0, 5.0, 6.0, 1.5, -1.5, 65535)]
    data = b"".join(struct.pack("<3f4x2dH6x", *p) for p in pts)
    cloud = Cloud(fields, 40, data, width=2)
    out = pc2.read_points(cloud)
    assert out.dtype.names == ("x", "y", "z", "normal_0", "normal_1", "label")
    assert out.dtype.itemsize == 40
    assert [tuple(p) for p in out.tolist()] == [tuple(p) for p in pts]
    assert out["label"].dtype == np.uint16
    xyz = pc2.read_points_numpy(cloud, ["x", "y", "z"])
    np.testing.assert_array_equal(xyz, [[1, 2, 3], [4, 5, 6]])


def test_row_step_padding_and_organized_shape_is_height_by_width() -> None:
    height, width, pad = 3, 4, 5
    data = b""
    for r in range(height):
        data += b"".join(struct.pack("<3f", 10 * r + c, -r, c) for c in range(width)) + b"\xee" * pad
    cloud = xyz_cloud([(0, 0, 0)] * (height * width))
    cloud.data, cloud.height, cloud.width, cloud.row_step = data, height, width, width * 12 + pad
    flat = pc2.read_points(cloud)
    np.testing.assert_array_equal(flat["x"], [10 * r + c for r in range(height) for c in range(width)])
    grid = pc2.read_points(cloud, reshape_organized_cloud=True)
    assert grid.shape == (3, 4)
    assert grid[2, 1]["x"] == 21 and grid[2, 1]["y"] == -2 and grid[2, 1]["z"] == 1
    assert pc2.read_points_numpy(cloud, reshape_organized_cloud=True).shape == (3, 4, 3)


def test_unorganized_cloud_is_not_reshaped() -> None:
    cloud = xyz_cloud([(1, 2, 3), (4, 5, 6)])
    assert pc2.read_points(cloud, reshape_organized_cloud=True).shape == (2,)


def test_empty_clouds() -> None:
    empty = Cloud(XYZ, 12, b"", width=0)
    assert pc2.read_points(empty).shape == (0,)
    assert pc2.read_points_numpy(empty).shape == (0, 3)
    assert pc2.read_points_list(empty) == []
    default = SimpleNamespace(height=0, width=0, fields=[], is_bigendian=False, point_step=0,
                              row_step=0, data=b"", is_dense=False)
    assert pc2.read_points(default).size == 0
    assert pc2.read_xyz(empty).shape == (0, 3)


def test_zero_copy_views_for_packed_float32_layouts() -> None:
    for fields, step in ((XYZ, 12), (XYZ + [F("intensity", 12, pc2.FLOAT32)], 16),
                         (XYZ + [F("intensity", 16, pc2.FLOAT32)], 32)):
        data = bytearray(np.arange(3 * step, dtype=np.uint8).tobytes())
        cloud = Cloud(fields, step, data, width=3)
        buf = np.frombuffer(data, np.uint8)
        xyz = pc2.read_points_numpy(cloud, ["x", "y", "z"])
        assert np.shares_memory(xyz, buf), f"copy for point_step {step}"
        assert np.shares_memory(pc2.read_points(cloud), buf)
        assert np.shares_memory(pc2.read_xyz(cloud, nonfinite="keep"), buf)


def test_big_endian_floats_decode_to_native_values() -> None:
    data = struct.pack(">6f", 1.0, -2.0, 3.5, 1e-3, 2e5, -7.25)
    cloud = Cloud(XYZ, 12, data, width=2, is_bigendian=True)
    np.testing.assert_array_equal(pc2.read_points_numpy(cloud),
                                  np.array([[1.0, -2.0, 3.5], [1e-3, 2e5, -7.25]], np.float32))


def test_skip_nans_uvs_and_field_selection() -> None:
    nan = float("nan")
    cloud = xyz_cloud([(1, 2, 3), (nan, 0, 0), (4, 5, 6), (7, nan, 9)])
    kept = pc2.read_points_numpy(cloud, skip_nans=True)
    np.testing.assert_array_equal(kept, [[1, 2, 3], [4, 5, 6]])
    # skip_nans looks only at the requested fields (as upstream): point 3 has NaN in y only
    np.testing.assert_array_equal(pc2.read_points_numpy(cloud, ["x"], skip_nans=True), [[1], [4], [7]])
    assert len(pc2.read_points(cloud, skip_nans=False)) == 4
    np.testing.assert_array_equal(pc2.read_points_numpy(cloud, uvs=[2, 0]), [[4, 5, 6], [1, 2, 3]])
    np.testing.assert_array_equal(pc2.read_points_numpy(cloud, uvs=np.array([0])), [[1, 2, 3]])
    # uvs index into the NaN-free points, as in sensor_msgs_py
    np.testing.assert_array_equal(pc2.read_points_numpy(cloud, skip_nans=True, uvs=[1]), [[4, 5, 6]])
    assert pc2.read_points_list(cloud, ["z", "x"], uvs=[0]) == [(3.0, 1.0)]
    assert pc2.read_points_list(cloud, ["z", "x"], uvs=[0])[0].z == 3.0
    with pytest.raises(IndexError, match="uvs"):
        pc2.read_points(cloud, uvs=[4])


def test_dense_cloud_holding_nan_is_rejected_when_asked_to_skip_nans() -> None:
    cloud = xyz_cloud([(1, 2, 3), (float("nan"), 0, 0)], is_dense=True)
    pattern = r"is_dense = True but 1 of 2 points hold NaN \(first at index 1\)"
    with pytest.raises(MessageFormatError, match=pattern):
        pc2.read_points(cloud, skip_nans=True)
    assert len(pc2.read_points(cloud)) == 2  # without skip_nans the points are returned as they are


def test_read_xyz_nonfinite_policies() -> None:
    inf, nan = float("inf"), float("nan")
    cloud = xyz_cloud([(1, 2, 3), (inf, 0, 0), (0, nan, 0), (4, 5, 6)])
    np.testing.assert_array_equal(pc2.read_xyz(cloud), [[1, 2, 3], [4, 5, 6]])
    assert pc2.read_xyz(cloud, nonfinite="keep").shape == (4, 3)
    with pytest.raises(MessageFormatError, match=r"2 of 4 points are NaN/Inf \(first at index 1\)"):
        pc2.read_xyz(cloud, nonfinite="reject")
    with pytest.raises(ValueError, match="nonfinite"):
        pc2.read_xyz(cloud, nonfinite="ignore")


def test_rosbags_typestore_message_is_read() -> None:
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.LATEST)
    PointField = ts.types["sensor_msgs/msg/PointField"]
    PointCloud2 = ts.types["sensor_msgs/msg/PointCloud2"]
    Header = ts.types["std_msgs/msg/Header"]
    Time = ts.types["builtin_interfaces/msg/Time"]
    data = np.frombuffer(struct.pack("<3fB3x", 1.0, 2.0, 3.0, 9) * 2, np.uint8).copy()
    msg = PointCloud2(
        header=Header(stamp=Time(sec=1, nanosec=2), frame_id="lidar"), height=1, width=2,
        fields=[PointField(name=n, offset=o, datatype=d, count=1)
                for n, o, d in (("x", 0, 7), ("y", 4, 7), ("z", 8, 7), ("ring", 12, 2))],
        is_bigendian=False, point_step=16, row_step=32, data=data, is_dense=True)
    points = pc2.read_points(msg)
    assert points["ring"].tolist() == [9, 9]
    assert np.shares_memory(pc2.read_points_numpy(msg, ["x", "y", "z"]), data)
    # and through the rosbags CDR serialiser and back
    raw = ts.serialize_cdr(msg, PointCloud2.__msgtype__)
    again = ts.deserialize_cdr(raw, PointCloud2.__msgtype__)
    np.testing.assert_array_equal(pc2.read_points(again), points)


def test_field_specs_and_pack_cloud_give_plain_message_content() -> None:
    dt = np.dtype({"names": ["x", "y", "z", "intensity", "ring", "time"],
                   "formats": ["<f4", "<f4", "<f4", "<f4", "<u2", "<f4"],
                   "offsets": [0, 4, 8, 12, 16, 20], "itemsize": 24})
    specs = pc2.field_specs_from_dtype(dt)
    assert specs == [pc2.FieldSpec("x", 0, 7, 1), pc2.FieldSpec("y", 4, 7, 1), pc2.FieldSpec("z", 8, 7, 1),
                     pc2.FieldSpec("intensity", 12, 7, 1), pc2.FieldSpec("ring", 16, 4, 1),
                     pc2.FieldSpec("time", 20, 7, 1)]
    sub = pc2.field_specs_from_dtype(np.dtype([("xyz", "<f8", (3,)), ("c", "u1")]))
    assert sub == [pc2.FieldSpec("xyz", 0, 8, 3), pc2.FieldSpec("c", 24, 2, 1)]
    grid = np.zeros((2, 3), dtype=dt)
    grid["x"] = np.arange(6).reshape(2, 3)
    packed = pc2.pack_cloud(grid, is_dense=True)
    assert (packed.height, packed.width, packed.point_step, packed.row_step) == (2, 3, 24, 72)
    assert packed.data.dtype == np.uint8 and packed.data.size == 144
    assert struct.unpack_from("<f", packed.data, 24 * 4)[0] == 4.0  # row 1, col 1
    back = pc2.read_points(packed, reshape_organized_cloud=True)
    np.testing.assert_array_equal(back, grid)
    with pytest.raises(MessageFormatError, match="'flag' has dtype bool"):
        pc2.field_specs_from_dtype(np.dtype([("flag", "?")]))


# --- create_cloud (rclpy messages) --------------------------------------------------------------

def test_create_cloud_xyz32_bytes_are_exact() -> None:
    from std_msgs.msg import Header

    msg = pc2.create_cloud_xyz32(Header(frame_id="lidar"), [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert type(msg).__name__ == "PointCloud2"
    assert (msg.height, msg.width, msg.point_step, msg.row_step, msg.is_dense) == (1, 2, 12, 24, False)
    assert bytes(msg.data) == struct.pack("<6f", 1, 2, 3, 4, 5, 6)
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        ("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 8, 7, 1)]
    assert msg.header.frame_id == "lidar"


def test_create_cloud_structured_unstructured_and_organized() -> None:
    from sensor_msgs.msg import PointField
    from std_msgs.msg import Header

    fields = [PointField(name="x", offset=0, datatype=7, count=1),
              PointField(name="i", offset=4, datatype=4, count=1)]
    dt = pc2.dtype_from_fields(fields, point_step=8)
    grid = np.zeros((2, 3), dtype=dt)
    grid["x"] = [[0, 1, 2], [10, 11, 12]]
    grid["i"] = [[5, 6, 7], [8, 9, 65535]]
    msg = pc2.create_cloud(Header(), fields, grid, point_step=8)
    assert (msg.height, msg.width, msg.row_step) == (2, 3, 24)
    assert struct.unpack_from("<fH", bytes(msg.data), 8 * 4) == (11.0, 9)  # row 1, col 1
    np.testing.assert_array_equal(pc2.read_points(msg, reshape_organized_cloud=True), grid)

    same = [PointField(name=n, offset=4 * k, datatype=8 - 1, count=1) for k, n in enumerate("ab")]
    msg = pc2.create_cloud(Header(), same, np.array([[1, 2], [3, 4]], np.float32))
    assert bytes(msg.data) == struct.pack("<4f", 1, 2, 3, 4)
    with pytest.raises(MessageFormatError, match="one datatype"):
        pc2.create_cloud(Header(), fields, np.zeros((2, 2), np.float32))
    with pytest.raises(MessageFormatError, match="does not match"):
        pc2.create_cloud(Header(), fields, np.zeros(2, dtype=[("x", "<f4"), ("i", "<u4")]))
    with pytest.raises(MessageFormatError, match="last axis"):
        pc2.create_cloud(Header(), same, np.zeros((2, 3), np.float32))
    assert pc2.create_cloud(Header(), same, []).width == 0


def test_dtype_to_fields_builds_pointfields() -> None:
    fields = pc2.dtype_to_fields(np.dtype([("x", "<f4"), ("ring", "<u2"), ("rgb", "u1", (3,))]))
    assert [(f.name, f.offset, f.datatype, f.count) for f in fields] == [
        ("x", 0, 7, 1), ("ring", 4, 4, 1), ("rgb", 6, 2, 3)]
    assert type(fields[0]).__name__ == "PointField"


# --- malformed messages ---------------------------------------------------------------------------

MALFORMED = {
    "unknown datatype": (dict(fields=[F("x", 0, 9)]), r"fields\[0\] \('x'\)\.datatype = 9 is unknown"),
    "datatype zero": (dict(fields=[F("x", 0, 0)]), r"datatype = 0 is unknown"),
    "count zero": (dict(fields=[F("x", 0, 7, count=0)]), r"fields\[0\] \('x'\)\.count = 0"),
    "offset past point_step": (dict(fields=[F("x", 0, 7), F("y", 10, 7)]),
                               r"fields reach byte 14 but point_step = 12"),
    "count past point_step": (dict(fields=[F("v", 4, 7, count=3)]), r"reach byte 16 but point_step = 12"),
    "duplicate names": (dict(fields=[F("x", 0, 7), F("x", 4, 7)]), r"duplicate field name 'x'"),
    "count expansion clash": (dict(fields=[F("a", 0, 7, 2), F("a_1", 8, 7)]), r"duplicate field name 'a_1'"),
    "negative offset": (dict(fields=[F("x", -4, 7)]), r"offset = -4"),
    "data too short": (dict(data=b"\0" * 23), r"len\(data\) = 23 != row_step \* height = 24 \* 1"),
    "data too long": (dict(data=b"\0" * 25), r"len\(data\) = 25 != row_step \* height = 24 \* 1"),
    "row_step too small": (dict(row_step=20), r"row_step = 20 < width \* point_step = 2 \* 12"),
    "height mismatch": (dict(height=2), r"len\(data\) = 24 != row_step \* height = 24 \* 2"),
    "negative width": (dict(width=-1), r"width = -1"),
    "data not bytes": (dict(data=object()), r"PointCloud2\.data: not a byte sequence|expected a sequence"),
    "data wrong dtype": (dict(data=np.zeros(6, np.float32)), r"expected a uint8 array, got dtype float32"),
    "data out of range": (dict(data=[300] * 24), r"bytes 0\.\.255"),
    "empty with data": (dict(width=0, row_step=0, data=b"\0" * 4), r"no points .* len\(data\) = 4"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_clouds_raise_message_format_error(case: str) -> None:
    changes, pattern = MALFORMED[case]
    cloud = xyz_cloud([(1, 2, 3), (4, 5, 6)])
    for k, v in changes.items():
        setattr(cloud, k, v)
    with pytest.raises(MessageFormatError, match=pattern):
        pc2.read_points(cloud)


def test_missing_field_and_mixed_types_are_reported() -> None:
    cloud = xyz_cloud([(1, 2, 3)])
    with pytest.raises(MessageFormatError, match=r"\['w'\] not in PointCloud2.fields \['x', 'y', 'z'\]"):
        pc2.read_points(cloud, ["x", "w"])
    mixed = Cloud([F("x", 0, 7), F("r", 4, 2)], 8, b"\0" * 8, width=1)
    with pytest.raises(MessageFormatError, match="one datatype"):
        pc2.read_points_numpy(mixed)
    assert pc2.read_points_numpy(mixed, ["x"]).shape == (1, 1)


def test_reshape_after_removing_points_is_refused() -> None:
    cloud = xyz_cloud([(float("nan"), 0, 0)] + [(1, 1, 1)] * 3)
    cloud.height, cloud.width, cloud.row_step = 2, 2, 24
    with pytest.raises(ValueError, match="cannot reshape 3 points"):
        pc2.read_points(cloud, skip_nans=True, reshape_organized_cloud=True)
