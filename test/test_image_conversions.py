"""tcfd_ros.image_conversions: cv_bridge semantics, with hand-computed expectations.

Input messages are plain objects whose bytes are written with ``struct``/numpy by hand, so the decoder
is not checked against its own encoder.
"""

from __future__ import annotations

import struct
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tcfd_ros import image_conversions as ic
from tcfd_ros.errors import MessageFormatError


def Img(height: int, width: int, encoding: str, data: bytes, step: int | None = None, big: bool = False):
    if step is None:
        step = len(data) // max(height, 1)
    return SimpleNamespace(height=height, width=width, encoding=encoding, is_bigendian=big, step=step,
                           data=data, header=SimpleNamespace())


# --- decoding every encoding family ---------------------------------------------------------------

DECODE_CASES = [  # encoding, struct format of one row, values (rows of flat values), shape, dtype
    ("mono8", "3B", [[0, 128, 255], [1, 2, 3]], (2, 3), np.uint8),
    ("mono16", "3H", [[0, 1000, 65535], [7, 8, 9]], (2, 3), np.uint16),
    ("bgr8", "6B", [[1, 2, 3, 4, 5, 6]], (1, 2, 3), np.uint8),
    ("rgb8", "6B", [[1, 2, 3, 4, 5, 6]], (1, 2, 3), np.uint8),
    ("bgra8", "8B", [[1, 2, 3, 4, 5, 6, 7, 8]], (1, 2, 4), np.uint8),
    ("rgba8", "8B", [[1, 2, 3, 4, 5, 6, 7, 8]], (1, 2, 4), np.uint8),
    ("bgr16", "3H", [[1, 300, 65535]], (1, 1, 3), np.uint16),
    ("8UC1", "2B", [[9, 8]], (1, 2), np.uint8),
    ("8UC2", "4B", [[9, 8, 7, 6]], (1, 2, 2), np.uint8),
    ("8UC3", "3B", [[9, 8, 7]], (1, 1, 3), np.uint8),
    ("8UC4", "4B", [[9, 8, 7, 6]], (1, 1, 4), np.uint8),
    ("8SC1", "2b", [[-128, 127]], (1, 2), np.int8),
    ("16UC1", "2H", [[0, 65535]], (1, 2), np.uint16),
    ("16SC3", "3h", [[-32768, 0, 32767]], (1, 1, 3), np.int16),
    ("32SC2", "2i", [[-5, 2_000_000_000]], (1, 1, 2), np.int32),
    ("32FC1", "2f", [[1.5, -0.25]], (1, 2), np.float32),
    ("32FC3", "3f", [[1.5, -0.25, 1e30]], (1, 1, 3), np.float32),
    ("64FC1", "1d", [[1e-300]], (1, 1), np.float64),
    ("32F", "1f", [[2.5]], (1, 1), np.float32),  # OpenCV depth without C<n>: one channel
    ("bayer_rggb8", "2B", [[10, 20], [30, 40]], (2, 2), np.uint8),
    ("bayer_grbg16", "2H", [[10, 20], [30, 40]], (2, 2), np.uint16),
    ("yuv422", "4B", [[128, 50, 128, 60]], (1, 2, 2), np.uint8),
    ("yuyv", "4B", [[50, 128, 60, 128]], (1, 2, 2), np.uint8),
]


@pytest.mark.parametrize("big", [False, True], ids=["little", "big"])
@pytest.mark.parametrize("case", DECODE_CASES, ids=[c[0] for c in DECODE_CASES])
def test_decode_every_encoding_in_both_byte_orders(case, big: bool) -> None:
    encoding, row_fmt, rows, shape, dtype = case
    data = b"".join(struct.pack((">" if big else "<") + row_fmt, *r) for r in rows)
    msg = Img(shape[0], shape[1], encoding, data, big=big)
    out = ic.imgmsg_to_cv2(msg)
    assert out.shape == shape and out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out.reshape(len(rows), -1), np.array(rows, dtype=dtype))
    assert out.flags.c_contiguous


def test_step_padding_is_dropped_and_unpadded_images_are_views() -> None:
    rows = [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]]
    padded = b"".join(bytes(r) + b"\xaa\xbb" for r in rows)  # step 8 for a 2-pixel bgr8 row
    out = ic.imgmsg_to_cv2(Img(2, 2, "bgr8", padded, step=8))
    np.testing.assert_array_equal(out.reshape(2, 6), rows)
    assert out.flags.c_contiguous
    buf = np.frombuffer(bytearray(b"".join(bytes(r) for r in rows)), np.uint8)
    view = ic.imgmsg_to_cv2(Img(2, 2, "bgr8", buf, step=6))
    assert np.shares_memory(view, buf)
    # odd step for a 16-bit image (not a multiple of the element size) is still read correctly
    data = struct.pack("<2H", 1, 2) + b"\x00" + struct.pack("<2H", 3, 4) + b"\x00"
    np.testing.assert_array_equal(ic.imgmsg_to_cv2(Img(2, 2, "mono16", data, step=5)), [[1, 2], [3, 4]])


# --- encoding: cv2_to_imgmsg ------------------------------------------------------------------------

def test_cv2_to_imgmsg_passthrough_names_the_opencv_type() -> None:
    cases = [(np.zeros((2, 3), np.uint8), "8UC1"), (np.zeros((2, 3, 3), np.uint8), "8UC3"),
             (np.zeros((2, 3), np.uint16), "16UC1"), (np.zeros((2, 3, 4), np.int16), "16SC4"),
             (np.zeros((2, 3), np.float32), "32FC1"), (np.zeros((1, 1, 2), np.float64), "64FC2"),
             (np.zeros((1, 1), np.int32), "32SC1"), (np.zeros((1, 1), np.int8), "8SC1")]
    for array, encoding in cases:
        msg = ic.cv2_to_imgmsg(array)
        assert msg.encoding == encoding
        assert msg.step == array.shape[1] * array.itemsize * (array.shape[2] if array.ndim == 3 else 1)


def test_cv2_to_imgmsg_bytes_header_and_named_encodings() -> None:
    from std_msgs.msg import Header

    img = np.array([[[1, 2, 3], [4, 5, 6]]], np.uint8)
    msg = ic.cv2_to_imgmsg(img, "rgb8", header=Header(frame_id="cam"))
    assert type(msg).__name__ == "Image"
    assert (msg.height, msg.width, msg.step, msg.encoding, msg.is_bigendian) == (1, 2, 6, "rgb8", False)
    assert bytes(msg.data) == bytes([1, 2, 3, 4, 5, 6]) and msg.header.frame_id == "cam"
    depth = np.array([[1000, 65535]], np.uint16)
    msg = ic.cv2_to_imgmsg(depth, "mono16")
    assert bytes(msg.data) == struct.pack("<2H", 1000, 65535)
    big = np.array([[1.5]], ">f4")
    msg = ic.cv2_to_imgmsg(big, "32FC1")
    assert msg.is_bigendian and bytes(msg.data) == struct.pack(">f", 1.5)
    assert ic.imgmsg_to_cv2(msg)[0, 0] == 1.5
    sliced = np.arange(24, dtype=np.uint8).reshape(4, 6)[:, ::2]  # non-contiguous input
    np.testing.assert_array_equal(ic.imgmsg_to_cv2(ic.cv2_to_imgmsg(sliced, "mono8")), sliced)


@pytest.mark.parametrize("array,encoding,pattern", [
    (np.zeros((2, 2), np.uint8), "bgr8", r"encoding 'bgr8' needs 8UC3 but the array is 8UC1"),
    (np.zeros((2, 2, 3), np.uint16), "bgr8", r"needs 8UC3 but the array is 16UC3"),
    (np.zeros((2, 2), np.float32), "mono16", r"needs 16UC1 but the array is 32FC1"),
    (np.zeros((2, 2), np.uint8), "h264", r"Image.encoding = 'h264' is unknown"),
    (np.zeros((2, 2), np.bool_), "passthrough", r"dtype bool has no image encoding"),
    (np.zeros((2, 2), np.uint64), "passthrough", r"dtype uint64 has no image encoding"),
    (np.zeros(4, np.uint8), "mono8", r"must be \(H, W\) or \(H, W, C\), got shape \(4,\)"),
    (np.zeros((0, 3), np.uint8), "mono8", r"zero size: shape \(0, 3\)"),
])
def test_cv2_to_imgmsg_rejects_inconsistent_arrays(array, encoding, pattern) -> None:
    with pytest.raises(MessageFormatError, match=pattern):
        ic.cv2_to_imgmsg(array, encoding)


def test_cv2_to_imgmsg_rejects_non_arrays() -> None:
    with pytest.raises(TypeError, match="expected a numpy array, got list"):
        ic.cv2_to_imgmsg([[1, 2]])


# --- conversions between encodings (cv_bridge's table) ----------------------------------------------

def test_colour_conversions() -> None:
    bgr = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], np.uint8)  # B, G, R, mixed
    msg = Img(1, 4, "bgr8", bgr.tobytes())
    np.testing.assert_array_equal(ic.imgmsg_to_cv2(msg, "rgb8"), bgr[..., ::-1])
    bgra = ic.imgmsg_to_cv2(msg, "bgra8")
    np.testing.assert_array_equal(bgra[..., :3], bgr)
    np.testing.assert_array_equal(bgra[..., 3], 255)
    # BT.601 luma 0.114 B + 0.587 G + 0.299 R, rounded: 29.07, 149.7, 76.2, 1.14 + 11.74 + 8.97 = 21.85
    np.testing.assert_array_equal(ic.imgmsg_to_cv2(msg, "mono8"), [[29, 150, 76, 22]])
    # 8 -> 16 bit scales by 65535 / 255 = 257
    np.testing.assert_array_equal(ic.imgmsg_to_cv2(msg, "rgb16")[0, 3], [30 * 257, 20 * 257, 10 * 257])
    rgba = np.array([[[1, 2, 3, 4]]], np.uint8)
    np.testing.assert_array_equal(ic.imgmsg_to_cv2(Img(1, 1, "rgba8", rgba.tobytes()), "bgr8"), [[[3, 2, 1]]])


def test_mono_depth_scaling_and_generic_types() -> None:
    mono16 = Img(1, 4, "mono16", struct.pack("<4H", 0, 128, 129, 65535))
    # 16 -> 8 bit: round(v * 255 / 65535): 128 * 0.00389 = 0.498 -> 0, 129 -> 0.502 -> 1
    np.testing.assert_array_equal(ic.imgmsg_to_cv2(mono16, "mono8"), [[0, 0, 1, 255]])
    np.testing.assert_array_equal(ic.imgmsg_to_cv2(mono16, "16UC1"), [[0, 128, 129, 65535]])
    mono8 = Img(1, 2, "mono8", bytes([1, 255]))
    np.testing.assert_array_equal(ic.imgmsg_to_cv2(mono8, "mono16"), [[257, 65535]])
    np.testing.assert_array_equal(ic.imgmsg_to_cv2(mono8, "bgr8"), [[[1, 1, 1], [255, 255, 255]]])
    # between non-colour types of one channel count: convertTo, rounding half to even, saturating
    f32 = Img(1, 4, "32FC1", struct.pack("<4f", 1.5, 2.5, -3.0, 70000.0))
    np.testing.assert_array_equal(ic.imgmsg_to_cv2(f32, "16UC1"), [[2, 2, 0, 65535]])
    np.testing.assert_array_equal(ic.imgmsg_to_cv2(f32, "64FC1"), [[1.5, 2.5, -3.0, 70000.0]])


@pytest.mark.parametrize("src,dst,pattern", [
    ("32FC1", "mono8", r"source is not a colour format but the destination is"),
    ("8UC3", "bgr8", r"source is not a colour format"),
    ("bgr8", "8UC1", r"3 channels\) to '8UC1' \(1 channels\)"),
    ("8UC3", "8UC1", r"channel count must match"),
    ("bgr8", "bayer_rggb8", r"unsupported conversion from 'bgr8' to 'bayer_rggb8'"),
    ("mono8", "yuv422", r"unsupported conversion"),
    ("bgr8", "nv12", r"'nv12' is unknown"),
])
def test_conversions_cv_bridge_refuses(src, dst, pattern) -> None:
    dtype, channels = ic.encoding_to_dtype_with_channels(src)
    msg = ic.cv2_to_imgmsg(np.zeros((2, 2, channels) if channels > 1 else (2, 2), dtype), src)
    with pytest.raises(MessageFormatError, match=pattern):
        ic.imgmsg_to_cv2(msg, dst)


def test_yuv422_uyvy_and_yuyv() -> None:
    # Y = 16 is black and Y = 235 white in BT.601 video range; U = V = 128 carry no colour
    uyvy = Img(1, 2, "yuv422", bytes([128, 16, 128, 235]))
    yuyv = Img(1, 2, "yuyv", bytes([16, 128, 235, 128]))
    for msg in (uyvy, yuyv, Img(1, 2, "uyvy", bytes([128, 16, 128, 235])),
                Img(1, 2, "yuv422_yuy2", bytes([16, 128, 235, 128]))):
        np.testing.assert_array_equal(ic.imgmsg_to_cv2(msg, "mono8"), [[16, 235]])
        np.testing.assert_array_equal(ic.imgmsg_to_cv2(msg, "bgr8"), [[[0, 0, 0], [255, 255, 255]]])
        assert ic.imgmsg_to_cv2(msg, "rgba8").shape == (1, 2, 4)


@pytest.mark.parametrize("pattern,tile", [
    ("rggb", [["R", "G"], ["G", "B"]]), ("bggr", [["B", "G"], ["G", "R"]]),
    ("gbrg", [["G", "B"], ["R", "G"]]), ("grbg", [["G", "R"], ["B", "G"]]),
])
@pytest.mark.parametrize("bits", [8, 16])
def test_bayer_patterns_demosaic_to_the_right_colours(pattern, tile, bits: int) -> None:
    value = {"R": 200, "G": 100, "B": 50}
    dtype = np.uint8 if bits == 8 else np.uint16
    mosaic = np.zeros((8, 8), dtype)
    for r in range(2):
        for c in range(2):
            mosaic[r::2, c::2] = value[tile[r][c]]
    msg = ic.cv2_to_imgmsg(mosaic, f"bayer_{pattern}{bits}")
    bgr = ic.imgmsg_to_cv2(msg, f"bgr{bits}")
    interior = np.broadcast_to(np.array([50, 100, 200], dtype), (4, 4, 3))
    np.testing.assert_array_equal(bgr[2:-2, 2:-2], interior)
    rgb = ic.imgmsg_to_cv2(msg, f"rgb{bits}")
    np.testing.assert_array_equal(rgb[3, 3], [200, 100, 50])
    assert ic.imgmsg_to_cv2(msg, "mono8" if bits == 8 else "mono16").shape == (8, 8)


def test_bayer_8_to_rgb16_rescales() -> None:
    mosaic = np.full((4, 4), 255, np.uint8)
    out = ic.imgmsg_to_cv2(ic.cv2_to_imgmsg(mosaic, "bayer_rggb8"), "rgb16")
    assert out.dtype == np.uint16 and out[1:3, 1:3].min() == 65535


# --- malformed messages -----------------------------------------------------------------------------

MALFORMED = {
    "unknown encoding": (dict(encoding="jpeg"), r"Image.encoding = 'jpeg' is unknown"),
    "zero channels": (dict(encoding="8UC0"), r"channel count 0 not in 1\.\.512"),
    "data too short": (dict(data=bytes(11)), r"len\(data\) = 11 != step \* height = 6 \* 2"),
    "data too long": (dict(data=bytes(13)), r"len\(data\) = 13 != step \* height = 6 \* 2"),
    "step smaller than a row": (dict(step=5, data=bytes(10)),
                                r"step = 5 < width \* channels \* bytes = 2 \* 3 \* 1"),
    "height mismatch": (dict(height=3), r"len\(data\) = 12 != step \* height = 6 \* 3"),
    "zero width": (dict(width=0), r"zero size: height = 2, width = 0"),
    "zero height": (dict(height=0, data=b""), r"zero size: height = 0, width = 2"),
    "data not bytes": (dict(data=3.5), r"Image.data: not a byte sequence|expected a sequence"),
    "data wrong dtype": (dict(data=np.zeros(3, np.float32)), r"expected a uint8 array, got dtype float32"),
    "16 bit odd length": (dict(encoding="bgr16"), r"step = 6 < width \* channels \* bytes = 2 \* 3 \* 2"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_images_raise_message_format_error(case: str) -> None:
    changes, pattern = MALFORMED[case]
    msg = Img(2, 2, "bgr8", bytes(range(12)))
    for k, v in changes.items():
        setattr(msg, k, v)
    with pytest.raises(MessageFormatError, match=pattern):
        ic.imgmsg_to_cv2(msg)


# --- CompressedImage ------------------------------------------------------------------------------

def test_png_round_trips_exactly_and_jpeg_closely() -> None:
    rng = np.random.default_rng(0)
    for array in (rng.integers(0, 256, (9, 7, 3), dtype=np.uint8),
                  rng.integers(0, 256, (5, 4), dtype=np.uint8),
                  rng.integers(0, 65536, (3, 5), dtype=np.uint16),
                  rng.integers(0, 256, (4, 4, 4), dtype=np.uint8)):
        msg = ic.cv2_to_compressed_imgmsg(array, "png")
        assert msg.format == "png" and bytes(msg.data[:4]) == b"\x89PNG"
        out = ic.compressed_imgmsg_to_cv2(msg)
        np.testing.assert_array_equal(out, array)
    smooth = np.tile(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], (48, 1, 3))
    for fmt in ("jpg", "jpeg"):
        msg = ic.cv2_to_compressed_imgmsg(smooth, fmt)
        assert msg.format == fmt and bytes(msg.data[:2]) == b"\xff\xd8"
        out = ic.compressed_imgmsg_to_cv2(msg)
        assert out.shape == smooth.shape and np.abs(out.astype(int) - smooth).mean() < 2.0


def test_big_endian_arrays_compress_by_value() -> None:
    array = np.array([[1, 258, 65535]], ">u2")
    out = ic.compressed_imgmsg_to_cv2(ic.cv2_to_compressed_imgmsg(array, "png"))
    np.testing.assert_array_equal(out, [[1, 258, 65535]])


def test_compressed_desired_encoding_uses_the_decoded_layout() -> None:
    bgr = np.zeros((2, 2, 3), np.uint8)
    bgr[..., 2] = 255  # pure red in BGR order
    msg = ic.cv2_to_compressed_imgmsg(bgr, "png")
    np.testing.assert_array_equal(ic.compressed_imgmsg_to_cv2(msg, "rgb8")[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(ic.compressed_imgmsg_to_cv2(msg, "mono8"), np.full((2, 2), 76))
    mono = ic.cv2_to_compressed_imgmsg(np.full((2, 2), 9, np.uint8), "png")
    np.testing.assert_array_equal(ic.compressed_imgmsg_to_cv2(mono, "bgr8"), np.full((2, 2, 3), 9))
    mono16 = ic.cv2_to_compressed_imgmsg(np.full((1, 1), 65535, np.uint16), "png")
    assert ic.compressed_imgmsg_to_cv2(mono16, "mono8")[0, 0] == 255


def test_malformed_compressed_images() -> None:
    bad = SimpleNamespace(format="jpeg", data=b"\xff\xd8 definitely not a jpeg")
    pattern = r"CompressedImage.data \(24 bytes, format 'jpeg'\) is not an image"
    with pytest.raises(MessageFormatError, match=pattern):
        ic.compressed_imgmsg_to_cv2(bad)
    with pytest.raises(MessageFormatError, match="CompressedImage.data is empty"):
        ic.compressed_imgmsg_to_cv2(SimpleNamespace(format="png", data=b""))
    with pytest.raises(MessageFormatError, match=r"format = 'webm' is not supported"):
        ic.cv2_to_compressed_imgmsg(np.zeros((2, 2), np.uint8), "webm")
    with pytest.raises(MessageFormatError, match="cannot encode|imencode failed"):
        ic.cv2_to_compressed_imgmsg(np.zeros((2, 2), np.float64), "jpg")
    with pytest.raises(MessageFormatError, match="non-empty"):
        ic.cv2_to_compressed_imgmsg(np.zeros((0, 2), np.uint8), "png")


def test_rosbags_typestore_image_is_read() -> None:
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.LATEST)
    Image = ts.types["sensor_msgs/msg/Image"]
    Header = ts.types["std_msgs/msg/Header"]
    Time = ts.types["builtin_interfaces/msg/Time"]
    packed = ic.pack_image(np.arange(12, dtype=np.uint16).reshape(2, 2, 3), "rgb16")
    msg = Image(header=Header(stamp=Time(sec=0, nanosec=0), frame_id="cam"), height=packed.height,
                width=packed.width, encoding=packed.encoding, is_bigendian=packed.is_bigendian,
                step=packed.step, data=packed.data)
    again = ts.deserialize_cdr(ts.serialize_cdr(msg, Image.__msgtype__), Image.__msgtype__)
    np.testing.assert_array_equal(ic.imgmsg_to_cv2(again), np.arange(12).reshape(2, 2, 3))


# --- properties -----------------------------------------------------------------------------------

DTYPES = st.sampled_from([np.uint8, np.int8, np.uint16, np.int16, np.int32, np.float32, np.float64])


@settings(max_examples=120, deadline=None)
@given(DTYPES.flatmap(lambda dt: hnp.arrays(
    dt, st.tuples(st.integers(1, 5), st.integers(1, 5), st.sampled_from([0, 1, 2, 3, 4])).map(
        lambda s: s[:2] if s[2] == 0 else s))),
       st.integers(0, 9), st.booleans())
def test_passthrough_round_trip_is_bit_exact_with_any_padding_and_byte_order(array, pad, big) -> None:
    if big:
        array = array.astype(array.dtype.newbyteorder(">"))
    packed = ic.pack_image(array)
    rows = packed.data.reshape(packed.height, packed.step)
    padded = np.concatenate([rows, np.full((packed.height, pad), 0xAB, np.uint8)], axis=1)
    msg = Img(packed.height, packed.width, packed.encoding, padded.tobytes(), step=packed.step + pad,
              big=packed.is_bigendian)
    out = ic.imgmsg_to_cv2(msg)
    # one channel decodes as (H, W), as cv_bridge does, even when encoded from (H, W, 1)
    expected_shape = array.shape[:2] if array.ndim == 2 or array.shape[2] == 1 else array.shape
    assert out.shape == expected_shape and out.dtype == array.dtype.newbyteorder("=")
    assert out.tobytes() == array.astype(out.dtype).tobytes()


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 5), st.integers(0, 5), st.integers(0, 40),
       st.sampled_from(["mono8", "bgr8", "rgba16", "32FC1", "16SC2", "yuv422", "bayer_gbrg8", "x", "8UC"]),
       st.booleans(), st.binary(max_size=120),
       st.sampled_from(["passthrough", "mono8", "bgr8", "rgb16", "32FC1", "8UC3"]))
def test_random_garbage_images_raise_message_format_error_or_decode(
        h, w, step, enc, big, data, desired) -> None:
    msg = Img(h, w, enc, data, step=step, big=big)
    try:
        out = ic.imgmsg_to_cv2(msg, desired)
    except MessageFormatError:
        return
    assert out.shape[:2] == (h, w) and len(data) == h * step


def test_yuv422_with_odd_width_is_refused_with_a_message() -> None:
    msg = Img(1, 1, "yuv422", bytes([128, 16]))
    assert ic.imgmsg_to_cv2(msg).shape == (1, 1, 2)  # passthrough still works
    with pytest.raises(MessageFormatError, match=r"cannot convert a 'yuv422' image of shape \(1, 1, 2\)"):
        ic.imgmsg_to_cv2(msg, "bgr8")


ALL_ENCODINGS = sorted(ic.NAMED_ENCODINGS) + ["8UC1", "8UC2", "8UC3", "8UC4", "8SC1", "16UC1", "16UC3",
                                              "16SC1", "32SC1", "32FC1", "32FC3", "64FC1", "64FC4"]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ALL_ENCODINGS), st.sampled_from(ALL_ENCODINGS + ["passthrough"]),
       st.integers(1, 6), st.integers(1, 6), st.randoms(use_true_random=False))
def test_any_conversion_returns_an_image_or_raises_message_format_error(src, dst, h, w, rnd) -> None:
    dtype, channels = ic.encoding_to_dtype_with_channels(src)
    shape = (h, w) if channels == 1 else (h, w, channels)
    raw = np.frombuffer(rnd.randbytes(int(np.prod(shape)) * dtype.itemsize), dtype=dtype).reshape(shape)
    if dtype.kind == "f":
        raw = np.nan_to_num(raw, nan=0.0, posinf=1.0, neginf=-1.0)
    msg = ic.cv2_to_imgmsg(raw, src)
    try:
        out = ic.imgmsg_to_cv2(msg, dst)
    except MessageFormatError:
        return
    assert out.shape[:2] == (h, w)
    if dst != "passthrough":
        want_dtype, want_channels = ic.encoding_to_dtype_with_channels(dst)
        assert out.dtype == want_dtype and (out.shape[2] if out.ndim == 3 else 1) == want_channels


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=400), st.sampled_from(["passthrough", "bgr8", "mono8", "rgba8"]))
def test_compressed_garbage_raises_message_format_error(data: bytes, desired: str) -> None:
    try:
        out = ic.compressed_imgmsg_to_cv2(SimpleNamespace(format="jpeg", data=data), desired)
    except MessageFormatError:
        return
    assert out.size > 0
