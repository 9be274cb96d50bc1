"""LidarGait / SUSTech1K range-view ("front view") projection of LiDAR points, and its jet colouring.

Facts (LidarGait, SUSTech1K's ``point2depth``): column = atan2(-y, x) / HRES, row = atan2(z, d) / VRES
with d = sqrt(x^2 + y^2), HRES = 0.19188 deg, VRES = 0.2 deg, vertical field of view -25..+15 deg;
the pixel value is the negative horizontal distance -d; it is min-max normalised per frame and
coloured with matplotlib's ``jet``. The image is rasterised directly here (one pixel per point, the
nearest point wins), not plotted to a PNG and re-read as the original script does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tcfd_ros.errors import GeometryError
from tcfd_ros.geometry.align import align_to_square

# matplotlib's ``jet`` segment data (x, value) per channel; evaluated with np.interp so the colours
# match matplotlib's LinearSegmentedColormap without importing matplotlib on the hot path.
_JET_RED = ((0.0, 0.35, 0.66, 0.89, 1.0), (0.0, 0.0, 1.0, 1.0, 0.5))
_JET_GREEN = ((0.0, 0.125, 0.375, 0.64, 0.91, 1.0), (0.0, 0.0, 1.0, 1.0, 0.0, 0.0))
_JET_BLUE = ((0.0, 0.11, 0.34, 0.65, 1.0), (0.5, 1.0, 1.0, 0.0, 0.0))
#: Number of colour levels, as matplotlib's default colormap LUT.
JET_LEVELS = 256


def _jet_lut() -> np.ndarray:
    x = (np.arange(JET_LEVELS) + 0.0) / (JET_LEVELS - 1)
    chans = [np.interp(x, xs, ys) for xs, ys in (_JET_RED, _JET_GREEN, _JET_BLUE)]
    return np.clip(np.rint(np.stack(chans, axis=1) * 255.0), 0, 255).astype(np.uint8)


_JET_LUT = _jet_lut()


@dataclass(frozen=True)
class RangeViewConfig:
    """Angular grid of the range view (SUSTech1K values by default)."""

    hres_deg: float = 0.19188   # horizontal angle per column
    vres_deg: float = 0.2       # vertical angle per row
    vfov_min_deg: float = -25.0  # lowest elevation kept (bottom row)
    vfov_max_deg: float = 15.0   # highest elevation kept (top row)

    def validate(self) -> None:
        if not (self.hres_deg > 0 and self.vres_deg > 0):
            raise GeometryError(
                f"hres_deg and vres_deg must be > 0, got {self.hres_deg!r}, {self.vres_deg!r}")
        if not (-90.0 <= self.vfov_min_deg < self.vfov_max_deg <= 90.0):
            raise GeometryError(
                f"need -90 <= vfov_min_deg < vfov_max_deg <= 90, got {self.vfov_min_deg!r}, "
                f"{self.vfov_max_deg!r}")

    @property
    def width(self) -> int:
        """Columns covering 360 degrees."""
        return int(math.ceil(360.0 / self.hres_deg))

    @property
    def height(self) -> int:
        """Rows covering the vertical field of view."""
        return int(math.ceil((self.vfov_max_deg - self.vfov_min_deg) / self.vres_deg))


def _check_points(points_xyz: np.ndarray) -> np.ndarray:
    pts = np.asarray(points_xyz)
    if pts.ndim != 2 or pts.shape[1] < 3:
        raise GeometryError(f"points_xyz must be (N, 3), got shape {pts.shape}")
    pts = pts[:, :3].astype(np.float64, copy=False)
    return pts[np.isfinite(pts).all(axis=1)]


def range_view_pixels(points_xyz: np.ndarray, cfg: RangeViewConfig = RangeViewConfig()
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel (row, col) and value -d of each finite point inside the vertical field of view.

    Row 0 is the top of the image (elevation ``vfov_max_deg``); column 0 is azimuth +180 deg, the
    forward direction (+x) is the middle column and +y (left) lies left of it.
    """
    cfg.validate()
    pts = _check_points(points_xyz)
    x, y, z = pts[:, 0], pts[:, 1], pts[:, 2]
    d = np.hypot(x, y)
    hres = math.radians(cfg.hres_deg)
    vres = math.radians(cfg.vres_deg)
    col_f = np.arctan2(-y, x) / hres + 180.0 / cfg.hres_deg
    elev_from_top = (math.radians(cfg.vfov_max_deg) - np.arctan2(z, d)) / vres
    keep = (elev_from_top >= 0) & (elev_from_top < cfg.height) & (d > 0)
    col = np.floor(col_f[keep]).astype(np.int64) % cfg.width
    row = np.floor(elev_from_top[keep]).astype(np.int64)
    return row, col, (-d[keep]).astype(np.float32)


def _rasterise(row: np.ndarray, col: np.ndarray, val: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """NaN image with, per pixel, the largest value (the nearest point, as -d is largest)."""
    img = np.full(shape, -np.inf, dtype=np.float32)
    np.maximum.at(img, (row, col), val)
    img[np.isneginf(img)] = np.nan
    return img


def project_range_view(points_xyz: np.ndarray, cfg: RangeViewConfig = RangeViewConfig()) -> np.ndarray:
    """(N, 3) sensor-frame points -> (H, W) float32: -horizontal distance at hit pixels, NaN elsewhere."""
    row, col, val = range_view_pixels(points_xyz, cfg)
    return _rasterise(row, col, val, (cfg.height, cfg.width))


def depth_to_jet(range_img: np.ndarray) -> np.ndarray:
    """(H, W) range image (NaN = empty) -> (H, W, 3) uint8 RGB jet colours, black where empty.

    Values are min-max normalised over the frame's valid pixels (nearest = 1 = dark red, farthest
    = 0 = dark blue); a frame with a single depth maps to the top colour.
    """
    img = np.asarray(range_img, dtype=np.float32)
    if img.ndim != 2:
        raise GeometryError(f"range_img must be 2-D (H, W), got shape {img.shape}")
    valid = np.isfinite(img)
    out = np.zeros(img.shape + (3,), dtype=np.uint8)
    if not valid.any():
        return out
    v = img[valid]
    lo, hi = float(v.min()), float(v.max())
    norm = (v - lo) / (hi - lo) if hi > lo else np.ones_like(v)
    idx = np.clip(np.rint(norm * (JET_LEVELS - 1)), 0, JET_LEVELS - 1).astype(np.intp)
    out[valid] = _JET_LUT[idx]
    return out


def points_to_depth_map(points_xyz: np.ndarray, cfg: RangeViewConfig = RangeViewConfig(),
                        size: int = 64) -> np.ndarray:
    """The whole LidarGait chain for one person cluster (sensor frame) -> (3, size, size) uint8 RGB.

    Projects, colours and aligns only the cluster's angular window (identical to working on the full
    360-degree image, which is mostly empty); a cluster straddling the +-180 degree seam is unwrapped.
    Raises GeometryError when no point falls inside the vertical field of view.
    """
    row, col, val = range_view_pixels(points_xyz, cfg)
    if row.size == 0:
        raise GeometryError(
            f"no point of the cluster ({np.asarray(points_xyz).shape[0]} points) lies inside the "
            f"vertical field of view {cfg.vfov_min_deg}..{cfg.vfov_max_deg} deg")
    if col.max() - col.min() > cfg.width // 2:  # wraps around the seam behind the sensor
        col = (col + cfg.width // 2) % cfg.width
    r0, c0 = int(row.min()), int(col.min())
    shape = (int(row.max()) - r0 + 1, int(col.max()) - c0 + 1)
    window = _rasterise(row - r0, col - c0, val, shape)
    rgb = depth_to_jet(window)
    aligned = align_to_square(rgb, np.isfinite(window), size)
    return np.ascontiguousarray(aligned.transpose(2, 0, 1))
