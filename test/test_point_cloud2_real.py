"""Real data: the Ouster OS1-64 PointCloud2 and range image recorded in a ROS 1 MCAP.

``shared/data/real/bags/ouster_os1_64/test.mcap`` is an MCAP with profile ``ros1`` (rosbags refuses it),
so this file reads it with ``mcap`` and decodes the ROS 1 wire format itself (little-endian, ``uint32``
lengths before strings and arrays, ``time`` as two ``uint32``). The decoded fields and bytes are put into
a real rclpy ``sensor_msgs.msg.PointCloud2`` / ``Image`` and decoded by tcfd_ros. Two independent checks
of every point: the recording's own ``range`` field (mm) equals ``|xyz|``, and the driver's own
``/img_node/range_image`` equals ``255 - round(range_mm * 0.005)`` after the OS1-64 column stagger.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from tcfd_ros import image_conversions, point_cloud2


@dataclass
class Ros1Header:
    seq: int
    stamp_sec: int
    stamp_nsec: int
    frame_id: str


@dataclass
class Ros1PointField:
    name: str
    offset: int
    datatype: int
    count: int


@dataclass
class Ros1PointCloud2:
    header: Ros1Header
    height: int
    width: int
    fields: list = field(default_factory=list)
    is_bigendian: bool = False
    point_step: int = 0
    row_step: int = 0
    data: bytes = b""
    is_dense: bool = False


@dataclass
class Ros1Image:
    header: Ros1Header
    height: int
    width: int
    encoding: str
    is_bigendian: bool
    step: int
    data: bytes


class _Reader:
    def __init__(self, buf: bytes) -> None:
        self.buf = memoryview(buf)
        self.pos = 0

    def unpack(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def u32(self) -> int:
        return self.unpack("I")[0]

    def u8(self) -> int:
        return self.unpack("B")[0]

    def string(self) -> str:
        n = self.u32()
        s = bytes(self.buf[self.pos:self.pos + n]).decode()
        self.pos += n
        return s

    def blob(self) -> bytes:
        n = self.u32()
        b = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return b

    def header(self) -> Ros1Header:
        seq, sec, nsec = self.unpack("III")
        return Ros1Header(seq, sec, nsec, self.string())


def decode_pointcloud2(buf: bytes) -> Ros1PointCloud2:
    r = _Reader(buf)
    header = r.header()
    height, width = r.u32(), r.u32()
    fields = []
    for _ in range(r.u32()):
        name = r.string()
        offset = r.u32()
        datatype = r.u8()
        fields.append(Ros1PointField(name, offset, datatype, r.u32()))
    is_bigendian = bool(r.u8())
    point_step, row_step = r.u32(), r.u32()
    data = r.blob()
    is_dense = bool(r.u8())
    if r.pos != len(buf):
        raise ValueError(f"{len(buf) - r.pos} trailing bytes after a ROS 1 PointCloud2")
    return Ros1PointCloud2(header, height, width, fields, is_bigendian, point_step, row_step, data, is_dense)


def decode_image(buf: bytes) -> Ros1Image:
    r = _Reader(buf)
    header = r.header()
    height, width = r.u32(), r.u32()
    encoding = r.string()
    is_bigendian = bool(r.u8())
    step = r.u32()
    data = r.blob()
    if r.pos != len(buf):
        raise ValueError(f"{len(buf) - r.pos} trailing bytes after a ROS 1 Image")
    return Ros1Image(header, height, width, encoding, is_bigendian, step, data)


def iter_topic(path: Path, topic: str) -> Iterator[bytes]:
    from mcap.reader import make_reader

    with open(path, "rb") as f:
        reader = make_reader(f)
        profile = reader.get_header().profile
        if profile != "ros1":
            raise ValueError(f"{path}: MCAP profile {profile!r}, expected 'ros1'")
        for _schema, _channel, message in reader.iter_messages(topics=[topic]):
            yield message.data


# --- the tests --------------------------------------------------------------------------------------

BAG = Path("bags/ouster_os1_64/test.mcap")
CLOUD_TOPIC = "/os1_cloud_node/points"
RANGE_IMAGE_TOPIC = "/img_node/range_image"
RANGE_IMAGE_SCALE_PER_MM = 0.005  # the driver's img_node: pixel = 255 - round(range_mm * 0.005)
OS1_64_STAGGER_PX = 12            # 2048-column mode: ring u is shifted by 12 * (u % 4) columns
HEIGHT, WIDTH = 64, 2048


def _to_rclpy_cloud(c: Ros1PointCloud2):
    from sensor_msgs.msg import PointCloud2, PointField
    from std_msgs.msg import Header

    msg = PointCloud2(
        header=Header(frame_id=c.header.frame_id), height=c.height, width=c.width,
        fields=[PointField(name=f.name, offset=f.offset, datatype=f.datatype, count=f.count)
                for f in c.fields],
        is_bigendian=c.is_bigendian, point_step=c.point_step, row_step=c.row_step, is_dense=c.is_dense)
    msg.data = point_cloud2.to_message_bytes(np.frombuffer(c.data, np.uint8))
    return msg


def _to_rclpy_image(i: Ros1Image):
    from sensor_msgs.msg import Image

    msg = Image(height=i.height, width=i.width, encoding=i.encoding, is_bigendian=i.is_bigendian,
                step=i.step)
    msg.data = point_cloud2.to_message_bytes(np.frombuffer(i.data, np.uint8))
    return msg


@pytest.fixture(scope="module")
def ouster(real_data: Path):
    path = real_data / BAG
    if not path.is_file():
        pytest.skip(f"{path} not present")
    clouds = [decode_pointcloud2(b) for b in iter_topic(path, CLOUD_TOPIC)]
    images = [decode_image(b) for b in iter_topic(path, RANGE_IMAGE_TOPIC)]
    assert len(clouds) == 2 and len(images) == 2
    return clouds, images


def test_real_ouster_layout_decodes_with_padding_and_mixed_types(ouster) -> None:
    clouds, _ = ouster
    msg = _to_rclpy_cloud(clouds[0])
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (HEIGHT, WIDTH, 48, 98_304)
    points = point_cloud2.read_points(msg)
    assert points.dtype.names == ("x", "y", "z", "intensity", "t", "reflectivity", "ring", "noise", "range")
    assert points.dtype.itemsize == 48 and points.shape == (HEIGHT * WIDTH,)
    # this driver fills the "64 x 2048" cloud column-major: point k is ring k % 64
    np.testing.assert_array_equal(points["ring"], np.tile(np.arange(HEIGHT, dtype=np.uint8), WIDTH))
    xyz = point_cloud2.read_points_numpy(msg, ["x", "y", "z"])
    assert np.shares_memory(xyz, np.frombuffer(msg.data, np.uint8))  # zero-copy despite the padding
    hit = points["range"] > 0
    assert int(hit.sum()) == 45_716  # README: 45,716 non-zero returns in the first scan
    norm_mm = np.linalg.norm(xyz.astype(np.float64), axis=1) * 1000.0
    np.testing.assert_allclose(norm_mm[hit], points["range"][hit], atol=0.05)
    np.testing.assert_array_equal(xyz[~hit], 0.0)
    assert 0.64 < norm_mm[hit].min() / 1000 and norm_mm[hit].max() / 1000 < 14.8
    assert len(point_cloud2.read_xyz(msg)) == HEIGHT * WIDTH  # is_dense: zeros, no NaN
    assert len(point_cloud2.read_points(msg, skip_nans=True)) == HEIGHT * WIDTH


@pytest.mark.parametrize("scan", [0, 1])
def test_real_range_field_reproduces_the_drivers_range_image(ouster, scan: int) -> None:
    clouds, images = ouster
    cloud = _to_rclpy_cloud(clouds[scan])
    image_msg = _to_rclpy_image(images[scan])
    assert images[scan].header.seq == clouds[scan].header.seq
    image = image_conversions.imgmsg_to_cv2(image_msg)
    assert image.shape == (HEIGHT, WIDTH) and image.dtype == np.uint8
    rng = point_cloud2.read_points(cloud, ["range"])["range"].astype(np.float64)
    rng = rng.reshape(WIDTH, HEIGHT).T  # column-major fill (see above) -> (ring, column)
    shift = OS1_64_STAGGER_PX * (np.arange(HEIGHT)[:, None] % 4)
    staggered = np.take_along_axis(rng, (np.arange(WIDTH)[None, :] + shift) % WIDTH, axis=1)
    expected = np.where(staggered > 0,
                        255 - np.minimum(np.floor(staggered * RANGE_IMAGE_SCALE_PER_MM + 0.5), 255), 0)
    np.testing.assert_array_equal(image, expected.astype(np.uint8))
