"""PointCloud2 decode speed for a 131,072-point (64 x 2048, Ouster OS1-64 sized) cloud.

Compares, on the same rclpy ``sensor_msgs.msg.PointCloud2``:
- ``tcfd_ros.point_cloud2.read_points_numpy(cloud, ["x", "y", "z"])`` (a zero-copy view) and the same
  followed by a contiguous (N, 3) copy; ``read_points`` (structured, all fields); ``read_xyz`` (drops
  NaN/Inf: one pass over the coordinates);
- a straightforward per-point decode with ``struct.unpack_from`` into a Python list, then numpy;
- ``memcpy`` of the same bytes (``np.frombuffer(data).copy()``), the floor for any copying decoder.

Two layouts: packed x, y, z, intensity float32 (16 B/point) and the real Ouster driver layout (48 B,
mixed types with padding). Prints one JSON object; times are per call in milliseconds.

    .venv/bin/python benchmarks/pointcloud2_decode.py [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import struct
import time
from datetime import datetime, timezone
from typing import Callable

import numpy as np

from tcfd_ros import point_cloud2 as pc2

HEIGHT, WIDTH = 64, 2048
OUSTER_DTYPE = np.dtype({
    "names": ["x", "y", "z", "intensity", "t", "reflectivity", "ring", "noise", "range"],
    "formats": ["<f4", "<f4", "<f4", "<f4", "<u4", "<u2", "u1", "<u2", "<u4"],
    "offsets": [0, 4, 8, 16, 20, 24, 26, 28, 32], "itemsize": 48})
PACKED_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("intensity", "<f4")])


def make_cloud(dtype: np.dtype):
    from std_msgs.msg import Header

    rng = np.random.default_rng(0)
    points = np.zeros((HEIGHT, WIDTH), dtype=dtype)
    for name in ("x", "y", "z", "intensity"):
        points[name] = rng.normal(size=points.shape).astype(np.float32)
    return pc2.create_cloud(Header(frame_id="bench"), pc2.dtype_to_fields(dtype), points,
                            point_step=dtype.itemsize)


def per_point_struct_decode(cloud) -> np.ndarray:
    """What a hand-written decoder without numpy structured views does: one unpack per point."""
    data = bytes(cloud.data)
    offsets = {f.name: f.offset for f in cloud.fields}
    ox, oy, oz = offsets["x"], offsets["y"], offsets["z"]
    assert (oy, oz) == (ox + 4, ox + 8)
    step = cloud.point_step
    out = []
    for i in range(cloud.width * cloud.height):
        out.append(struct.unpack_from("<3f", data, i * step + ox))
    return np.array(out, dtype=np.float32)


def time_ms(fn: Callable[[], object], repeats: int) -> dict[str, float]:
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    a = np.array(samples)
    return {"p50_ms": round(float(np.median(a)), 4), "p95_ms": round(float(np.percentile(a, 95)), 4),
            "min_ms": round(float(a.min()), 4), "repeats": repeats}


def bench_layout(dtype: np.dtype, repeats: int, slow_repeats: int) -> dict:
    cloud = make_cloud(dtype)
    xyz_view = pc2.read_points_numpy(cloud, ["x", "y", "z"])
    reference = per_point_struct_decode(cloud)
    assert np.array_equal(np.ascontiguousarray(xyz_view), reference)
    cases = {
        "read_points_numpy_xyz_view": lambda: pc2.read_points_numpy(cloud, ["x", "y", "z"]),
        "read_points_numpy_xyz_contiguous_copy":
            lambda: np.ascontiguousarray(pc2.read_points_numpy(cloud, ["x", "y", "z"])),
        "read_points_structured_all_fields": lambda: pc2.read_points(cloud),
        "read_xyz_drop_nonfinite": lambda: pc2.read_xyz(cloud),
        "memcpy_message_bytes": lambda: np.frombuffer(cloud.data, np.uint8).copy(),
    }
    result = {name: time_ms(fn, repeats) for name, fn in cases.items()}
    result["per_point_struct_decode"] = time_ms(lambda: per_point_struct_decode(cloud), slow_repeats)
    result["zero_copy"] = bool(np.shares_memory(xyz_view, np.frombuffer(cloud.data, np.uint8)))
    result["points"] = HEIGHT * WIDTH
    result["point_step"] = cloud.point_step
    result["bytes"] = len(cloud.data)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--slow-repeats", type=int, default=5, help="repeats of the per-point decode")
    args = parser.parse_args()
    report = {
        "benchmark": "pointcloud2_decode",
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
                   f"Python {platform.python_version()}, numpy {np.__version__}",
        "load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "layouts": {
            "packed_xyzi_float32_16B": bench_layout(PACKED_DTYPE, args.repeats, args.slow_repeats),
            "ouster_os1_48B_padded_mixed": bench_layout(OUSTER_DTYPE, args.repeats, args.slow_repeats),
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
