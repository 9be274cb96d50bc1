"""Property tests for tcfd_ros.point_cloud2: random layouts round-trip, random garbage never crashes."""

from __future__ import annotations

import struct
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tcfd_ros import point_cloud2 as pc2
from tcfd_ros.errors import MessageFormatError

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STRUCT_CODES = {1: "b", 2: "B", 3: "h", 4: "H", 5: "i", 6: "I", 7: "f", 8: "d"}


@st.composite
def layouts(draw):
    """Random field lists with gaps, count > 1, padding, either byte order, organized or not."""
    n_fields = draw(st.integers(1, 5))
    fields, offset = [], 0
    for i in range(n_fields):
        datatype = draw(st.integers(1, 8))
        count = draw(st.integers(1, 3))
        offset += draw(st.integers(0, 3))  # padding before the field (unaligned on purpose)
        fields.append(SimpleNamespace(name=f"f{i}", offset=offset, datatype=datatype, count=count))
        offset += pc2.POINTFIELD_DTYPES[datatype].itemsize * count
    point_step = offset + draw(st.integers(0, 5))
    height = draw(st.integers(1, 3))
    width = draw(st.integers(0, 4))
    row_pad = draw(st.integers(0, 7))
    big = draw(st.booleans())
    return fields, point_step, height, width, row_pad, big


@SETTINGS
@given(layouts(), st.randoms(use_true_random=False))
def test_random_layouts_decode_to_the_struct_packed_values(layout, rnd) -> None:
    fields, point_step, height, width, row_pad, big = layout
    order = ">" if big else "<"
    row_step = width * point_step + row_pad
    buf = bytearray(rnd.randbytes(row_step * height))
    expected: list[list] = []
    for r in range(height):
        for c in range(width):
            values = []
            for f in fields:
                code = STRUCT_CODES[f.datatype]
                size = struct.calcsize(code)
                for k in range(f.count):
                    if f.datatype in (7, 8):
                        v = rnd.uniform(-1e6, 1e6)
                        v = struct.unpack(code, struct.pack(code, v))[0]  # representable value
                    else:
                        bits = size * 8
                        signed = code.islower()
                        lo, hi = (-(1 << bits - 1), (1 << bits - 1) - 1) if signed else (0, (1 << bits) - 1)
                        v = rnd.randint(lo, hi)
                    at = r * row_step + c * point_step + f.offset + k * size
                    struct.pack_into(order + code, buf, at, v)
                    values.append(v)
            expected.append(values)
    cloud = SimpleNamespace(height=height, width=width, fields=fields, is_bigendian=big,
                            point_step=point_step, row_step=row_step, data=bytes(buf), is_dense=True)
    points = pc2.read_points(cloud)
    assert [list(p) for p in points.tolist()] == expected
    grid = pc2.read_points(cloud, reshape_organized_cloud=True)
    assert grid.shape == ((height, width) if height > 1 else (width,))


@SETTINGS
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, min_side=0, max_side=6).filter(
    lambda s: s[1] >= 1), elements=st.floats(width=32, allow_nan=True, allow_infinity=True)))
def test_create_cloud_round_trips_float32_arrays_bit_exactly(values: np.ndarray) -> None:
    from sensor_msgs.msg import PointField
    from std_msgs.msg import Header

    fields = [PointField(name=f"v{i}", offset=4 * i, datatype=7, count=1) for i in range(values.shape[1])]
    msg = pc2.create_cloud(Header(), fields, values)
    back = pc2.read_points_numpy(msg)
    assert back.shape == values.shape
    assert back.tobytes() == values.tobytes()  # bit-exact, NaN payloads included


@SETTINGS
@given(st.integers(0, 4), st.integers(0, 4), st.integers(0, 40), st.integers(0, 200),
       st.lists(st.tuples(st.integers(0, 50), st.integers(0, 10), st.integers(0, 3)), max_size=4),
       st.booleans(), st.binary(max_size=300))
def test_random_garbage_raises_message_format_error_or_decodes_consistently(
        height, width, point_step, row_step, raw_fields, big, data) -> None:
    fields = [SimpleNamespace(name=f"g{i}", offset=o, datatype=d, count=c)
              for i, (o, d, c) in enumerate(raw_fields)]
    cloud = SimpleNamespace(height=height, width=width, fields=fields, is_bigendian=big,
                            point_step=point_step, row_step=row_step, data=data, is_dense=False)
    try:
        points = pc2.read_points(cloud, skip_nans=True)
    except MessageFormatError:
        return
    # accepted: the message must really be consistent
    assert len(points) <= height * width
    if height * width:
        assert len(data) == row_step * height and row_step >= width * point_step
        assert all(1 <= f.datatype <= 8 and f.count >= 1 for f in fields)


@pytest.mark.parametrize("n", [0, 1, 7])
def test_read_points_list_matches_read_points(n: int) -> None:
    rng = np.random.default_rng(n)
    arr = np.zeros(n, dtype=[("x", "<f4"), ("flag", "u1"), ("id", "<i4")])
    arr["x"] = rng.normal(size=n)
    arr["flag"] = rng.integers(0, 255, size=n)
    arr["id"] = rng.integers(-5, 5, size=n)
    packed = pc2.pack_cloud(arr)
    rows = pc2.read_points_list(packed)
    assert [tuple(r) for r in rows] == arr.tolist()
