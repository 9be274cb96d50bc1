"""Scene layouts for bags: where the sensors stand, what static objects there are, where people walk.

``overlap``: a LiDAR pole and a camera pole side by side looking at one zone.
``disjoint``: the LiDAR watches zone A; a building wall hides zone B, which only the camera (on
another pole, looking away from zone A) sees. People walk through one zone and later the other, so
nothing but their gait links what the two sensors saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tcfd_ros.errors import ConfigError
from tcfd_ros.sim.scan import StaticWorld
from tcfd_ros.sim.shapes import Shapes, box

LAYOUTS = ("overlap", "disjoint")

# static object part ids (colours / reflectivity tables of the StaticWorld)
WALL, POLE, CAR, BOLLARD, BENCH = 100, 101, 102, 103, 104
_STATIC_COLOURS = {WALL: (0.55, 0.6, 0.68), POLE: (0.35, 0.35, 0.38), CAR: (0.6, 0.25, 0.2),
                   BOLLARD: (0.3, 0.45, 0.5), BENCH: (0.2, 0.3, 0.45)}
_STATIC_REFLECTIVITY = {WALL: 0.45, POLE: 0.6, CAR: 0.8, BOLLARD: 0.5, BENCH: 0.35}


@dataclass(frozen=True)
class SensorLayout:
    """Poses of the two poles and the static world of one layout."""

    layout: str
    lidar_position: tuple[float, float, float]
    lidar_yaw_rad: float
    camera_position: tuple[float, float, float]
    camera_yaw_rad: float
    camera_tilt_rad: float
    zone_a: tuple[float, float]      # centre of the LiDAR zone
    zone_b: tuple[float, float]      # centre of the camera zone (== zone_a for overlap)


def sensor_layout(layout: str) -> SensorLayout:
    if layout == "overlap":
        return SensorLayout("overlap", (0.0, 0.0, 2.2), 0.0, (0.0, -1.0, 4.0), 0.0, np.deg2rad(17.0),
                            (11.0, 0.0), (11.0, 0.0))
    if layout == "disjoint":
        return SensorLayout("disjoint", (0.0, 0.0, 2.2), 0.0, (26.0, 2.0, 4.5), 0.0, np.deg2rad(20.0),
                            (10.0, 0.0), (37.0, 0.0))
    raise ConfigError(f"unknown layout {layout!r}; expected one of {list(LAYOUTS)}")


def static_world(lay: SensorLayout, occluders: bool, rng: np.random.Generator) -> StaticWorld:
    """Walls, poles, parked cars (and, for condition ``oc``, bollards/low walls in the zones)."""
    items: list[Shapes] = []
    ax, ay = lay.zone_a
    if lay.layout == "overlap":
        items += [box([27.0, 0.0, 3.0], [1.0, 44.0, 6.0], WALL), box([-6.0, 0.0, 2.0], [1.0, 30.0, 4.0],
                                                                     WALL)]
    else:
        # the building between the zones: blocks the LiDAR's view of zone B; the passage is north of it
        items += [box([22.0, -14.0, 3.5], [2.0, 56.0, 7.0], WALL), box([-6.0, 0.0, 2.0], [1.0, 30.0, 4.0],
                                                                       WALL),
                  box([50.0, 0.0, 3.0], [1.0, 40.0, 6.0], WALL)]
        bx, by = lay.zone_b
        items += [box([bx + 4.0, by + 9.0, 0.75], [4.5, 1.8, 1.5], CAR, yaw_rad=0.1),
                  box([bx - 3.0, by - 10.5, 2.0], [0.2, 0.2, 4.0], POLE)]
    items += [box([ax - 3.0, ay + 9.5, 0.75], [4.5, 1.8, 1.5], CAR, yaw_rad=-0.05),
              box([ax + 6.0, ay - 10.0, 0.75], [4.2, 1.8, 1.4], CAR, yaw_rad=0.02),
              box([ax + 3.0, ay + 7.0, 2.0], [0.2, 0.2, 4.0], POLE),
              box([ax - 4.0, ay - 7.0, 2.0], [0.2, 0.2, 4.0], POLE),
              box([ax + 1.0, ay - 8.0, 0.25], [1.8, 0.5, 0.5], BENCH)]
    if occluders:
        for cx, cy in {lay.zone_a, lay.zone_b}:
            for _ in range(3):
                px, py = cx + rng.uniform(-5, 5), cy + rng.uniform(-5, 5)
                items.append(box([px, py, 0.5], [0.5, rng.uniform(0.8, 2.0), 1.0], BOLLARD,
                                 yaw_rad=rng.uniform(0, np.pi)))
    return StaticWorld(Shapes.concat(items), dict(_STATIC_COLOURS), dict(_STATIC_REFLECTIVITY), ground=True)


def person_path(lay: SensorLayout, rng: np.random.Generator) -> np.ndarray:
    """Waypoints (K, 2) of one person's free path."""
    ax, ay = lay.zone_a
    if lay.layout == "overlap":
        pts = []
        ang = rng.uniform(0, 2 * np.pi)
        for _ in range(3):  # three crossings of the zone, turning in between
            pts.append([ax + 9.0 * np.cos(ang), ay + 9.0 * np.sin(ang)])
            ang = ang + np.pi + rng.uniform(-0.9, 0.9)
        pts.append([ax + 9.0 * np.cos(ang), ay + 9.0 * np.sin(ang)])
        return np.array(pts)
    bx, by = lay.zone_b
    zone_a_cross = [[ax + rng.uniform(-4, 4), ay - 11.0], [ax + rng.uniform(-3, 3), ay + rng.uniform(-2, 2)],
                    [ax + rng.uniform(-4, 4), ay + 12.0]]
    passage = [[22.0 + rng.uniform(-2, 2), 17.0 + rng.uniform(-1.5, 1.5)]]
    zone_b_cross = [[bx + rng.uniform(-6, -3), by + 11.0], [bx + rng.uniform(-2, 2), by + rng.uniform(-2, 2)],
                    [bx + rng.uniform(-5, 5), by - 12.0]]
    pts = zone_a_cross + passage + zone_b_cross
    if rng.random() < 0.5:  # half of the people walk B -> A
        pts = pts[::-1]
    return np.array(pts)
