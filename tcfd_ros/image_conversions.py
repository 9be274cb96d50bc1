"""sensor_msgs/Image and CompressedImage <-> numpy, with cv_bridge's semantics.

``cv_bridge`` cannot be installed beside the project's pip-installed ROS 2 wheels, so this module
provides its four conversions with the same results:

- ``imgmsg_to_cv2(msg, desired_encoding="passthrough")``: ``(H, W)`` for one channel, ``(H, W, C)``
  otherwise; a zero-copy view of the message buffer when rows are unpadded and the byte order is native.
- ``cv2_to_imgmsg(array, encoding="passthrough", header=None)``: passthrough names the OpenCV type
  (``8UC3``, ``32FC1`` ...); a named encoding must agree with the array's type and channels.
- ``compressed_imgmsg_to_cv2(msg, desired_encoding="passthrough")`` and
  ``cv2_to_compressed_imgmsg(array, dst_format="jpg")`` (jpeg/jpg, png).

Encodings: mono8/16, bgr8/16, rgb8/16, bgra8/16, rgba8/16, the bayer_{rggb,bggr,gbrg,grbg}{8,16}
patterns, yuv422 (UYVY, alias ``uyvy``), yuv422_yuy2 (YUYV, alias ``yuyv``) and every generic OpenCV
type ``{8U,8S,16U,16S,32S,32F,64F}C<n>`` (``C<n>`` may be omitted for one channel). Conversions follow
cv_bridge's table: between the colour/mono formats (with 8 <-> 16 bit rescaling by 65535/255), from
bayer and yuv to colour/mono, and between any two encodings with the same channel count when neither is
a colour format; anything else raises.

Differences from cv_bridge, each only where cv_bridge crashes, mis-reads or silently returns garbage:
malformed messages (``len(data) != step * height``, ``step < width * pixel size``, zero width or
height, unknown encoding) raise :class:`tcfd_ros.errors.MessageFormatError` naming the field and
values; ``compressed_imgmsg_to_cv2`` with a desired encoding takes the decoded image's real layout
(mono8/mono16/bgr8/bgr16/bgra8) as the source instead of always assuming bgr8.

``pack_image`` gives the content of an Image message as plain data, for writers without rclpy (e.g. a
rosbags typestore bag writer).
"""

from __future__ import annotations

import functools
import re
import sys
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from tcfd_ros.errors import MessageFormatError
from tcfd_ros.point_cloud2 import message_bytes, to_message_bytes

PASSTHROUGH = "passthrough"
_NATIVE_BIG_ENDIAN = sys.byteorder != "little"

# OpenCV depth names -> numpy dtype.
_DEPTHS = {
    "8U": np.dtype(np.uint8), "8S": np.dtype(np.int8), "16U": np.dtype(np.uint16),
    "16S": np.dtype(np.int16), "32S": np.dtype(np.int32), "32F": np.dtype(np.float32),
    "64F": np.dtype(np.float64),
}
_DEPTH_NAMES = {v: k for k, v in _DEPTHS.items()}
_GENERIC = re.compile(r"(8U|8S|16U|16S|32S|32F|64F)(?:C([0-9]+))?")

# Colour families (cv_bridge's Encoding enum) and the named encodings: name -> (family, dtype, channels).
GRAY, RGB, BGR, RGBA, BGRA, YUV422, YUV422_YUY2 = "GRAY", "RGB", "BGR", "RGBA", "BGRA", "UYVY", "YUYV"
BAYER_RGGB, BAYER_BGGR, BAYER_GBRG, BAYER_GRBG = "BAYER_RGGB", "BAYER_BGGR", "BAYER_GBRG", "BAYER_GRBG"
_U8, _U16 = np.dtype(np.uint8), np.dtype(np.uint16)
NAMED_ENCODINGS: dict[str, tuple[str, np.dtype, int]] = {
    "mono8": (GRAY, _U8, 1), "mono16": (GRAY, _U16, 1),
    "bgr8": (BGR, _U8, 3), "bgr16": (BGR, _U16, 3), "rgb8": (RGB, _U8, 3), "rgb16": (RGB, _U16, 3),
    "bgra8": (BGRA, _U8, 4), "bgra16": (BGRA, _U16, 4), "rgba8": (RGBA, _U8, 4), "rgba16": (RGBA, _U16, 4),
    "bayer_rggb8": (BAYER_RGGB, _U8, 1), "bayer_bggr8": (BAYER_BGGR, _U8, 1),
    "bayer_gbrg8": (BAYER_GBRG, _U8, 1), "bayer_grbg8": (BAYER_GRBG, _U8, 1),
    "bayer_rggb16": (BAYER_RGGB, _U16, 1), "bayer_bggr16": (BAYER_BGGR, _U16, 1),
    "bayer_gbrg16": (BAYER_GBRG, _U16, 1), "bayer_grbg16": (BAYER_GRBG, _U16, 1),
    "yuv422": (YUV422, _U8, 2), "uyvy": (YUV422, _U8, 2),
    "yuv422_yuy2": (YUV422_YUY2, _U8, 2), "yuyv": (YUV422_YUY2, _U8, 2),
}
_COLOR_FAMILIES = (GRAY, RGB, BGR, RGBA, BGRA, YUV422)  # cv_bridge: same-family pairs convert by depth


@functools.lru_cache(maxsize=1)
def _conversion_codes() -> dict[tuple[str, str], tuple[int, ...]]:
    """cv_bridge's (source family, destination family) -> OpenCV cvtColor codes."""
    import cv2

    c = cv2
    codes: dict[tuple[str, str], tuple[int, ...]] = {(f, f): () for f in _COLOR_FAMILIES}
    for src, table in {
        GRAY: {RGB: c.COLOR_GRAY2RGB, BGR: c.COLOR_GRAY2BGR,
               RGBA: c.COLOR_GRAY2RGBA, BGRA: c.COLOR_GRAY2BGRA},
        RGB: {GRAY: c.COLOR_RGB2GRAY, BGR: c.COLOR_RGB2BGR, RGBA: c.COLOR_RGB2RGBA, BGRA: c.COLOR_RGB2BGRA},
        BGR: {GRAY: c.COLOR_BGR2GRAY, RGB: c.COLOR_BGR2RGB, RGBA: c.COLOR_BGR2RGBA, BGRA: c.COLOR_BGR2BGRA},
        RGBA: {GRAY: c.COLOR_RGBA2GRAY, RGB: c.COLOR_RGBA2RGB,
               BGR: c.COLOR_RGBA2BGR, BGRA: c.COLOR_RGBA2BGRA},
        BGRA: {GRAY: c.COLOR_BGRA2GRAY, RGB: c.COLOR_BGRA2RGB,
               BGR: c.COLOR_BGRA2BGR, RGBA: c.COLOR_BGRA2RGBA},
        YUV422: {GRAY: c.COLOR_YUV2GRAY_UYVY, RGB: c.COLOR_YUV2RGB_UYVY, BGR: c.COLOR_YUV2BGR_UYVY,
                 RGBA: c.COLOR_YUV2RGBA_UYVY, BGRA: c.COLOR_YUV2BGRA_UYVY},
        YUV422_YUY2: {GRAY: c.COLOR_YUV2GRAY_YUY2, RGB: c.COLOR_YUV2RGB_YUY2, BGR: c.COLOR_YUV2BGR_YUY2,
                      RGBA: c.COLOR_YUV2RGBA_YUY2, BGRA: c.COLOR_YUV2BGRA_YUY2},
        # OpenCV names Bayer patterns by the second row: ROS bayer_rggb is OpenCV's BayerBG.
        BAYER_RGGB: {GRAY: c.COLOR_BayerBG2GRAY, RGB: c.COLOR_BayerBG2RGB, BGR: c.COLOR_BayerBG2BGR},
        BAYER_BGGR: {GRAY: c.COLOR_BayerRG2GRAY, RGB: c.COLOR_BayerRG2RGB, BGR: c.COLOR_BayerRG2BGR},
        BAYER_GBRG: {GRAY: c.COLOR_BayerGR2GRAY, RGB: c.COLOR_BayerGR2RGB, BGR: c.COLOR_BayerGR2BGR},
        BAYER_GRBG: {GRAY: c.COLOR_BayerGB2GRAY, RGB: c.COLOR_BayerGB2RGB, BGR: c.COLOR_BayerGB2BGR},
    }.items():
        for dst, code in table.items():
            codes[(src, dst)] = (code,)
    return codes


def encoding_to_dtype_with_channels(encoding: str) -> tuple[np.dtype, int]:
    """The numpy dtype (native order) and channel count of an image encoding."""
    named = NAMED_ENCODINGS.get(encoding)
    if named is not None:
        return named[1], named[2]
    m = _GENERIC.fullmatch(str(encoding))
    if m is None:
        raise MessageFormatError(
            f"Image.encoding = {encoding!r} is unknown; expected one of {sorted(NAMED_ENCODINGS)} or an "
            f"OpenCV type such as '8UC3', '16UC1', '32FC1'")
    channels = int(m.group(2)) if m.group(2) is not None else 1
    if not 1 <= channels <= 512:  # CV_CN_MAX
        raise MessageFormatError(f"Image.encoding = {encoding!r}: channel count {channels} not in 1..512")
    return _DEPTHS[m.group(1)], channels


def dtype_with_channels_to_encoding(dtype: np.dtype, channels: int) -> str:
    """The OpenCV type name (``8UC3``) of an array dtype and channel count (passthrough encoding)."""
    name = _DEPTH_NAMES.get(np.dtype(dtype).newbyteorder("="))
    if name is None:
        raise MessageFormatError(
            f"array dtype {np.dtype(dtype)} has no image encoding; expected one of "
            f"{sorted(str(d) for d in _DEPTHS.values())}")
    return f"{name}C{channels}"


def _is_color_format(encoding: str) -> bool:
    return encoding in NAMED_ENCODINGS


def convert_encoding(image: np.ndarray, src_encoding: str, dst_encoding: str) -> np.ndarray:
    """Convert an image between encodings as cv_bridge's ``cvtColor2`` does.

    Raises MessageFormatError for a conversion cv_bridge does not make (e.g. 32FC1 -> bgr8).
    """
    if dst_encoding == src_encoding:
        return image.copy()
    src_dtype, src_ch = encoding_to_dtype_with_channels(src_encoding)
    dst_dtype, dst_ch = encoding_to_dtype_with_channels(dst_encoding)
    src_color, dst_color = _is_color_format(src_encoding), _is_color_format(dst_encoding)
    if not src_color or not dst_color:
        if dst_color:  # and the source is not
            raise MessageFormatError(
                f"cannot convert encoding {src_encoding!r} to {dst_encoding!r}: the source is not a colour "
                f"format but the destination is")
        if src_ch != dst_ch:
            raise MessageFormatError(
                f"cannot convert encoding {src_encoding!r} ({src_ch} channels) to {dst_encoding!r} "
                f"({dst_ch} channels): without colour information the channel count must match")
        return _convert_depth(image, src_dtype, dst_dtype)
    import cv2

    src_family, dst_family = NAMED_ENCODINGS[src_encoding][0], NAMED_ENCODINGS[dst_encoding][0]
    codes = _conversion_codes().get((src_family, dst_family))
    if codes is None:
        raise MessageFormatError(f"unsupported conversion from {src_encoding!r} to {dst_encoding!r}")
    out = image
    for code in codes:
        try:
            out = cv2.cvtColor(np.ascontiguousarray(out), code)
        except cv2.error as e:  # e.g. odd width for yuv422, 64-bit data for a colour conversion
            raise MessageFormatError(
                f"cannot convert a {src_encoding!r} image of shape {image.shape}, dtype {image.dtype} to "
                f"{dst_encoding!r}: OpenCV says {str(e).strip().splitlines()[-1]}") from e
    if src_dtype != dst_dtype:
        out = _convert_depth(out, src_dtype, dst_dtype)
    elif not codes:
        out = out.copy()
    return out


def _convert_depth(image: np.ndarray, src_dtype: np.dtype, dst_dtype: np.dtype) -> np.ndarray:
    """OpenCV ``convertTo`` with cv_bridge's 8 <-> 16 bit scaling: round half to even, saturate."""
    if src_dtype == dst_dtype:
        return image.copy()
    scale = 1.0  # cv_bridge scales by bit depth alone (8 -> 16 and 16 -> 8 bits, signed or not)
    if src_dtype.itemsize == 1 and dst_dtype.itemsize == 2 and dst_dtype.kind != "f":
        scale = 65535.0 / 255.0
    elif src_dtype.itemsize == 2 and dst_dtype.itemsize == 1:
        scale = 255.0 / 65535.0
    values = image.astype(np.float64) * scale
    if dst_dtype.kind == "f":
        return values.astype(dst_dtype)
    info = np.iinfo(dst_dtype)
    return np.clip(np.rint(values), info.min, info.max).astype(dst_dtype)


def imgmsg_to_cv2(msg: Any, desired_encoding: str = PASSTHROUGH) -> np.ndarray:
    """Decode a sensor_msgs/Image (any object with its attributes) to an OpenCV-layout array."""
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    encoding = str(msg.encoding)
    dtype, channels = encoding_to_dtype_with_channels(encoding)
    if height <= 0 or width <= 0:
        raise MessageFormatError(f"Image has zero size: height = {height}, width = {width}")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise MessageFormatError(
            f"Image.step = {step} < width * channels * bytes = {width} * {channels} * {dtype.itemsize} "
            f"for encoding {encoding!r}")
    data = message_bytes(msg.data, "Image.data")
    if data.size != step * height:
        raise MessageFormatError(
            f"Image len(data) = {data.size} != step * height = {step} * {height} (encoding {encoding!r})")
    big = bool(msg.is_bigendian)
    wire = dtype.newbyteorder(">" if big else "<")
    pixel = channels * dtype.itemsize
    shape = (height, width) if channels == 1 else (height, width, channels)
    strides = (step, pixel) if channels == 1 else (step, pixel, dtype.itemsize)
    image = np.ndarray(shape=shape, dtype=wire, buffer=data, strides=strides)
    if big != _NATIVE_BIG_ENDIAN and dtype.itemsize > 1:
        image = image.astype(dtype)
    else:
        image = np.ascontiguousarray(image.view(dtype))
    if desired_encoding == PASSTHROUGH:
        return image
    return convert_encoding(image, encoding, desired_encoding)


@dataclass(frozen=True)
class PackedImage:
    """The content of a sensor_msgs/Image (all but the header) as plain data; ``data`` is uint8."""

    height: int
    width: int
    encoding: str
    is_bigendian: bool
    step: int
    data: np.ndarray


def pack_image(cvim: np.ndarray, encoding: str = PASSTHROUGH) -> PackedImage:
    """Pack an OpenCV-layout array as Image content, checking it agrees with ``encoding``.

    ``data`` shares memory with a C-contiguous ``cvim`` (no copy); copy it before changing ``cvim``.
    """
    if not isinstance(cvim, np.ndarray):
        raise TypeError(f"expected a numpy array, got {type(cvim).__name__}")
    if cvim.ndim not in (2, 3):
        raise MessageFormatError(f"image array must be (H, W) or (H, W, C), got shape {cvim.shape}")
    if cvim.shape[0] == 0 or cvim.shape[1] == 0 or (cvim.ndim == 3 and cvim.shape[2] == 0):
        raise MessageFormatError(f"image array has zero size: shape {cvim.shape}")
    channels = 1 if cvim.ndim == 2 else int(cvim.shape[2])
    cv_type = dtype_with_channels_to_encoding(cvim.dtype, channels)
    if encoding == PASSTHROUGH:
        encoding = cv_type
    else:
        dtype, enc_channels = encoding_to_dtype_with_channels(encoding)
        if dtype_with_channels_to_encoding(dtype, enc_channels) != cv_type:
            raise MessageFormatError(
                f"encoding {encoding!r} needs {dtype_with_channels_to_encoding(dtype, enc_channels)} but the "
                f"array is {cv_type} (dtype {cvim.dtype}, shape {cvim.shape})")
    big = cvim.dtype.byteorder == ">" or (cvim.dtype.byteorder == "=" and _NATIVE_BIG_ENDIAN)
    data = np.ascontiguousarray(cvim).view(np.uint8).reshape(-1)  # shares memory when contiguous
    height, width = int(cvim.shape[0]), int(cvim.shape[1])
    return PackedImage(height=height, width=width, encoding=encoding, is_bigendian=bool(big),
                       step=data.size // height, data=data)


def cv2_to_imgmsg(cvim: np.ndarray, encoding: str = PASSTHROUGH, header: Optional[Any] = None) -> Any:
    """Build a ``sensor_msgs.msg.Image`` from an array (cv_bridge semantics; imports sensor_msgs)."""
    from sensor_msgs.msg import Image

    packed = pack_image(cvim, encoding)
    msg = Image(height=packed.height, width=packed.width, encoding=packed.encoding,
                is_bigendian=packed.is_bigendian, step=packed.step)
    msg.data = to_message_bytes(packed.data)
    if header is not None:
        msg.header = header
    return msg


#: Compressed formats this module encodes: dst_format -> file extension for cv2.imencode.
COMPRESSED_FORMATS = {"jpg": ".jpg", "jpeg": ".jpg", "png": ".png"}
#: What each format stores losslessly in layout (OpenCV would silently convert anything else).
_COMPRESSIBLE = {".jpg": ({np.dtype(np.uint8)}, {1, 3}),
                 ".png": ({np.dtype(np.uint8), np.dtype(np.uint16)}, {1, 3, 4})}


def _compressed_source_encoding(image: np.ndarray) -> str:
    channels = 1 if image.ndim == 2 else image.shape[2]
    by_layout = {(1, _U8): "mono8", (1, _U16): "mono16", (3, _U8): "bgr8", (3, _U16): "bgr16",
                 (4, _U8): "bgra8", (4, _U16): "bgra16"}
    enc = by_layout.get((channels, image.dtype))
    return enc if enc is not None else dtype_with_channels_to_encoding(image.dtype, channels)


def compressed_imgmsg_to_cv2(msg: Any, desired_encoding: str = PASSTHROUGH) -> np.ndarray:
    """Decode a sensor_msgs/CompressedImage (jpeg, png, anything OpenCV reads) to an array."""
    import cv2

    data = message_bytes(msg.data, "CompressedImage.data")
    fmt = str(getattr(msg, "format", ""))
    if data.size == 0:
        raise MessageFormatError(f"CompressedImage.data is empty (format {fmt!r})")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise MessageFormatError(
            f"CompressedImage.data ({data.size} bytes, format {fmt!r}) is not an image OpenCV can decode")
    if desired_encoding == PASSTHROUGH:
        return image
    return convert_encoding(image, _compressed_source_encoding(image), desired_encoding)


def cv2_to_compressed_imgmsg(cvim: np.ndarray, dst_format: str = "jpg") -> Any:
    """Build a ``sensor_msgs.msg.CompressedImage`` (``format`` = ``dst_format``, as cv_bridge)."""
    import cv2
    from sensor_msgs.msg import CompressedImage

    if not isinstance(cvim, np.ndarray):
        raise TypeError(f"expected a numpy array, got {type(cvim).__name__}")
    ext = COMPRESSED_FORMATS.get(dst_format)
    if ext is None:
        raise MessageFormatError(
            f"CompressedImage.format = {dst_format!r} is not supported; "
            f"expected {sorted(COMPRESSED_FORMATS)}")
    if cvim.ndim not in (2, 3) or cvim.size == 0:
        raise MessageFormatError(f"image array must be non-empty (H, W) or (H, W, C), got shape {cvim.shape}")
    dtypes, channel_counts = _COMPRESSIBLE[ext]
    channels = 1 if cvim.ndim == 2 else cvim.shape[2]
    if cvim.dtype.newbyteorder("=") not in dtypes or channels not in channel_counts:
        raise MessageFormatError(
            f"cannot encode an array of dtype {cvim.dtype} with {channels} channels as {dst_format}; it "
            f"takes dtypes {sorted(str(d) for d in dtypes)} with {sorted(channel_counts)} channels")
    native = np.ascontiguousarray(cvim, dtype=cvim.dtype.newbyteorder("="))  # OpenCV reads native order
    try:
        ok, buf = cv2.imencode(ext, native)
    except cv2.error as e:
        raise MessageFormatError(
            f"cannot encode an array of dtype {cvim.dtype}, shape {cvim.shape} as {dst_format}: {e}") from e
    if not ok:
        raise MessageFormatError(
            f"cv2.imencode failed for dtype {cvim.dtype}, shape {cvim.shape} as {dst_format}")
    msg = CompressedImage(format=dst_format)
    msg.data = to_message_bytes(buf.reshape(-1))
    return msg
