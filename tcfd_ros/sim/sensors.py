"""Sensor models: a rotating multi-beam LiDAR and a pinhole camera, both casting rays into the world.

LiDAR beam tables follow the published elevation angles of the Velodyne VLP-16, HDL-32E, HDL-64E
(two blocks) and an Ouster OS1-128 (uniform 45 degrees); ring 0 is the lowest beam (Velodyne's
convention). Extrinsics are world-from-sensor rotations R and translations t; the LiDAR frame is
x forward, y left, z up; the camera's optical frame is x right, y down, z forward (REP 103/105).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tcfd_ros.errors import ConfigError


@dataclass(frozen=True)
class LidarModel:
    """A rotating LiDAR: beam elevations, columns per revolution, noise and range limits."""

    name: str
    elevations_deg: tuple[float, ...]
    columns: int
    rate_hz: float
    range_noise_m: float
    dropout: float          # probability that a return is lost regardless of range
    min_range_m: float
    max_range_m: float

    @property
    def n_beams(self) -> int:
        return len(self.elevations_deg)


def _hdl64_elevations() -> tuple[float, ...]:
    upper = np.linspace(2.0, -8.33, 32)
    lower = np.linspace(-8.83, -24.33, 32)
    return tuple(float(x) for x in np.sort(np.concatenate([upper, lower])))


LIDAR_MODELS: dict[str, LidarModel] = {
    "vlp16": LidarModel("vlp16", tuple(float(x) for x in np.arange(-15.0, 15.1, 2.0)), 1800, 10.0,
                        0.03, 0.01, 0.5, 100.0),
    "hdl32": LidarModel("hdl32", tuple(float(x) for x in np.linspace(-30.67, 10.67, 32)), 2172, 10.0,
                        0.02, 0.01, 1.0, 100.0),
    "hdl64": LidarModel("hdl64", _hdl64_elevations(), 2083, 10.0, 0.02, 0.01, 1.0, 120.0),
    "os128": LidarModel("os128", tuple(float(x) for x in np.linspace(-22.5, 22.5, 128)), 1024, 10.0,
                        0.015, 0.005, 0.5, 120.0),
}


def lidar_model(name: str) -> LidarModel:
    """The named beam pattern; an unknown name raises ConfigError listing the known ones."""
    if name not in LIDAR_MODELS:
        raise ConfigError(f"unknown LiDAR model {name!r}; expected one of {sorted(LIDAR_MODELS)}")
    return LIDAR_MODELS[name]


def lidar_ray_table(model: LidarModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit directions (beams, columns, 3) in the sensor frame, elevation (beams,) and azimuth (columns,).

    Columns are in firing order: the head spins clockwise seen from above (azimuth decreasing),
    starting behind the sensor, as a Velodyne does.
    """
    el = np.deg2rad(np.asarray(model.elevations_deg))
    az = np.pi - 2 * np.pi * (np.arange(model.columns) + 0.5) / model.columns
    ce = np.cos(el)[:, None]
    dirs = np.stack([ce * np.cos(az)[None], ce * np.sin(az)[None], np.sin(el)[:,
                                                                              None] * np.ones_like(az)[None]],
                    axis=-1)
    return dirs, el, az


@dataclass(frozen=True)
class CameraModel:
    """Pinhole camera without distortion (plumb_bob with zero coefficients)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    rate_hz: float
    noise_sigma: float      # std of additive pixel noise, 0..255 units

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def pixel_rays(self, u0: int = 0, v0: int = 0, u1: int | None = None,
                   v1: int | None = None) -> np.ndarray:
        """Unit ray directions (v1-v0, u1-u0, 3) in the optical frame through pixel centres."""
        u1 = self.width if u1 is None else u1
        v1 = self.height if v1 is None else v1
        u, v = np.meshgrid(np.arange(u0, u1) + 0.5, np.arange(v0, v1) + 0.5)
        d = np.stack([(u - self.cx) / self.fx, (v - self.cy) / self.fy, np.ones_like(u)], -1)
        return d / np.linalg.norm(d, axis=-1, keepdims=True)

    def project(self, points_optical: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N,3) optical-frame points -> (N,2) pixel coordinates and (N,) in-front mask."""
        z = points_optical[:, 2]
        front = z > 1e-6
        zs = np.where(front, z, 1.0)
        u = self.fx * points_optical[:, 0] / zs + self.cx
        v = self.fy * points_optical[:, 1] / zs + self.cy
        uv = np.stack([u, v], -1)
        return uv, front


def camera_model(width: int, height: int, hfov_deg: float, rate_hz: float, noise_sigma: float) -> CameraModel:
    """A centred pinhole with square pixels and the given horizontal field of view."""
    if width < 16 or height < 16:
        raise ConfigError(f"camera size must be at least 16x16, got {width}x{height}")
    if not 10.0 <= hfov_deg <= 150.0:
        raise ConfigError(f"camera hfov_deg must be in 10..150, got {hfov_deg}")
    f = 0.5 * width / np.tan(np.deg2rad(hfov_deg) / 2)
    return CameraModel(width, height, float(f), float(f), width / 2.0, height / 2.0, float(rate_hz),
                       float(noise_sigma))


def lidar_pose(position, yaw_rad: float) -> tuple[np.ndarray, np.ndarray]:
    """World-from-lidar (R, t) for a level LiDAR at ``position`` facing ``yaw_rad``."""
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]), np.asarray(position, float)


def camera_pose(position, yaw_rad: float, tilt_down_rad: float) -> tuple[np.ndarray, np.ndarray]:
    """World-from-optical (R, t) for a camera at ``position`` looking along ``yaw_rad``, tilted down."""
    f = np.array([np.cos(tilt_down_rad) * np.cos(yaw_rad), np.cos(tilt_down_rad) * np.sin(yaw_rad),
                  -np.sin(tilt_down_rad)])
    r = np.array([np.sin(yaw_rad), -np.cos(yaw_rad), 0.0])
    d = np.cross(f, r)
    return np.stack([r, d, f], axis=1), np.asarray(position, float)
