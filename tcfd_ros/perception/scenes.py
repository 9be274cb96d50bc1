"""Synthetic LiDAR scenes with known people, for the segmenter's tests and benchmarks.

Analytic ray casting (no dependency on the synthetic world in ``tcfd_ros.sim``, which models bodies
and sensors in detail): a spinning multi-beam sensor at the origin, a ground plane ``sensor_height_m``
below it, upright cylinders (people, poles) and axis-aligned boxes (cars, walls). Every ray returns
its nearest hit within ``max_range_m``; rays that hit nothing return no point.

    pts = cast_scene(SceneSpec(people=((8.0, 2.0),), boxes=(((12, -4, 0.75 - 1.8), (4.2, 1.8, 1.5)),)))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PERSON_RADIUS_M = 0.25
PERSON_HEIGHT_M = 1.75


@dataclass(frozen=True)
class SceneSpec:
    """Scene in the sensor frame (x forward, y left, z up; the ground is at z = -sensor_height_m)."""

    beams: int = 64
    elev_min_deg: float = -24.8
    elev_max_deg: float = 2.0
    azimuth_steps: int = 1875             # 64 x 1875 = 120,000 rays (HDL-64E at 10 Hz)
    sensor_height_m: float = 1.8
    max_range_m: float = 80.0
    people: tuple[tuple[float, float], ...] = ()                     # (x, y) of 1.75 m people
    poles: tuple[tuple[float, float, float, float], ...] = ()        # (x, y, radius, height)
    boxes: tuple[tuple[tuple[float, float, float], tuple[float, float, float]], ...] = ()  # centre, size
    range_noise_m: float = 0.01
    seed: int = 0


def _ray_directions(s: SceneSpec) -> np.ndarray:
    elev = np.radians(np.linspace(s.elev_min_deg, s.elev_max_deg, s.beams))
    az = np.linspace(-math.pi, math.pi, s.azimuth_steps, endpoint=False)
    e, a = np.meshgrid(elev, az, indexing="ij")
    return np.stack([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)], axis=-1).reshape(-1, 3)


def _hit_cylinder(d: np.ndarray, cx: float, cy: float, r: float, z0: float, z1: float) -> np.ndarray:
    a = d[:, 0] ** 2 + d[:, 1] ** 2
    b = -2.0 * (d[:, 0] * cx + d[:, 1] * cy)
    c = cx * cx + cy * cy - r * r
    disc = b * b - 4 * a * c
    t = np.full(d.shape[0], np.inf)
    ok = (disc >= 0) & (a > 1e-12)
    tt = (-b[ok] - np.sqrt(disc[ok])) / (2 * a[ok])
    z = tt * d[ok, 2]
    good = (tt > 0) & (z >= z0) & (z <= z1)
    idx = np.flatnonzero(ok)[good]
    t[idx] = tt[good]
    return t


def _hit_box(d: np.ndarray, centre: np.ndarray, size: np.ndarray) -> np.ndarray:
    lo, hi = centre - size / 2, centre + size / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / d
        t1, t2 = lo * inv, hi * inv
    tmin = np.nanmax(np.minimum(t1, t2), axis=1)
    tmax = np.nanmin(np.maximum(t1, t2), axis=1)
    return np.where((tmax >= tmin) & (tmin > 0), tmin, np.inf)


def cast_scene(s: SceneSpec) -> np.ndarray:
    """(N, 4) float32 x, y, z, intensity: the returns of one sweep of the scene."""
    return cast_scene_with_rings(s)[0]


def cast_scene_with_rings(s: SceneSpec) -> tuple[np.ndarray, np.ndarray]:
    """``cast_scene``'s points and (N,) uint16 ring (beam number, 0 = lowest) of each."""
    d = _ray_directions(s)
    ring = np.repeat(np.arange(s.beams, dtype=np.uint16), s.azimuth_steps)  # beam-major, as the rays
    with np.errstate(divide="ignore"):
        t = np.where(d[:, 2] < 0, -s.sensor_height_m / d[:, 2], np.inf)
    inten = np.full(d.shape[0], 0.2)
    ground = -s.sensor_height_m
    for x, y in s.people:
        th = _hit_cylinder(d, x, y, PERSON_RADIUS_M, ground, ground + PERSON_HEIGHT_M)
        inten = np.where(th < t, 0.5, inten)
        t = np.minimum(t, th)
    for x, y, r, h in s.poles:
        th = _hit_cylinder(d, x, y, r, ground, ground + h)
        inten = np.where(th < t, 0.8, inten)
        t = np.minimum(t, th)
    for centre, size in s.boxes:
        th = _hit_box(d, np.asarray(centre, float), np.asarray(size, float))
        inten = np.where(th < t, 0.3, inten)
        t = np.minimum(t, th)
    hit = t <= s.max_range_m
    rng = np.random.default_rng(s.seed)
    tt = t[hit] + rng.normal(0.0, s.range_noise_m, hit.sum())
    pts = d[hit] * tt[:, None]
    return np.concatenate([pts, inten[hit, None]], axis=1).astype(np.float32), ring[hit].copy()


def courtyard(people: tuple[tuple[float, float], ...] = ((6.0, 2.0), (-9.0, -4.0), (3.0, -12.0)),
              seed: int = 0) -> SceneSpec:
    """A ~120k-point 64-beam scene: walls all round (every ray hits), two cars, a pole, people."""
    g = -1.8
    walls = (((30.0, 0.0, g + 4), (0.5, 60.0, 8.0)), ((-30.0, 0.0, g + 4), (0.5, 60.0, 8.0)),
             ((0.0, 30.0, g + 4), (60.0, 0.5, 8.0)), ((0.0, -30.0, g + 4), (60.0, 0.5, 8.0)))
    cars = (((12.0, -5.0, g + 0.75), (4.2, 1.8, 1.5)), ((-6.0, 8.0, g + 0.75), (1.8, 4.5, 1.5)))
    return SceneSpec(people=people, poles=((4.0, 6.0, 0.08, 4.0),), boxes=walls + cars, seed=seed)
