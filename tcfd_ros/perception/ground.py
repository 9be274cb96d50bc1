"""Fixed-frame ground positions of a sensor's detections (the trackers' ``ground`` field; no ROS).

A :class:`SensorPlacement` knows how a sensor's frame reaches the graph's fixed frame at a stamp: static
extrinsics (a sensor on a pole: parent frame = fixed frame), extrinsics on a moving base composed with
the base's pose at that stamp (a :class:`PoseBuffer` filled from the pose topic), or an external lookup
(tf2, given by the node). Then:

- camera: the foot point of a box (bottom centre) through the intrinsics and extrinsics onto the ground
  plane, with a 1-sigma that grows with distance (``calibration.pixels_to_ground``; the pixel noise is
  ``pixel_sigma_px``, or for a coasting track its filter's position spread when larger), then moved
  ``foot_offset_m`` away from the camera (the box's bottom is the nearer foot's edge, the person stands
  behind it: measured on simulated bags, -0.10 m along the viewing ray without it); a box touching the
  image's bottom edge, or whose bottom edge lies on a nearer person's box (``feet_hidden``), has no
  visible foot and gets no position;
- LiDAR: the cluster centroid's x, y in the fixed frame, moved ``lidar_offset_m`` away from the sensor
  (the points are the near surface of the body: -0.09 m along the ray without it, simulated bags), with
  the ground's z; 1-sigma ``lidar_sigma_m``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np

from tcfd_ros.errors import MessageFormatError
from tcfd_ros.geometry import GeometryError
from tcfd_ros.geometry.calibration import (
    CameraIntrinsics,
    GroundHits,
    PoseBuffer,
    PoseLookupError,
    RigidTransform,
    pixels_to_ground,
)
from tcfd_ros.perception.calibration_config import CalibrationConfig
from tcfd_ros.stream_wait import StreamWait

#: A box whose bottom is this close to the image's bottom edge (pixels) is cut off: its foot is unseen.
BOTTOM_EDGE_MARGIN_PX = 2.0
#: A box whose bottom edge lies on a nearer person's box over this share of its width has its feet hidden.
HIDDEN_FEET_OVERLAP = 0.25

#: ``lookup(target_frame, source_frame, stamp_s) -> target_from_source`` (tf2's argument order).
TransformLookup = Callable[[str, str, float], RigidTransform]


class NoTransform(GeometryError):
    """The sensor cannot be placed in the fixed frame at this stamp (no calibration, no pose, tf2 miss)."""


@dataclass(frozen=True)
class GroundPositions:
    """Per detection: fixed-frame point (N, 3), 1-sigma (N,) metres and a validity mask (N,)."""

    points: np.ndarray
    sigma_m: np.ndarray
    valid: np.ndarray

    def get(self, i: int) -> tuple[tuple[float, float, float] | None, float | None]:
        """(ground, sigma) of detection ``i`` as the JSON fields want them (None where invalid)."""
        if not self.valid[i]:
            return None, None
        return tuple(float(v) for v in self.points[i]), float(self.sigma_m[i])  # type: ignore[return-value]

    @staticmethod
    def none(n: int) -> "GroundPositions":
        return GroundPositions(np.full((n, 3), np.nan), np.full(n, np.nan), np.zeros(n, bool))


class SensorPlacement:
    """fixed_frame <- sensor at a stamp, from params (static or on a moving base) or from tf2."""

    def __init__(self, cfg: CalibrationConfig, lookup: TransformLookup | None = None) -> None:
        cfg.validate()
        self.cfg = cfg
        self.lookup = lookup
        self.extrinsics = cfg.extrinsics()
        self.poses = (PoseBuffer(max_extrapolation_s=cfg.pose_max_extrapolation_s,
                                 max_gap_s=cfg.pose_max_gap_s, frame=cfg.fixed_frame)
                      if cfg.on_platform and lookup is None else None)
        self._lock = threading.Condition()     # add_pose notifies a lookup waiting for its stamp's pose
        self._pose_wait = StreamWait(self._lock)

    @property
    def enabled(self) -> bool:
        """Whether ground positions can exist at all (fixed frame set and a way to reach it)."""
        return bool(self.cfg.fixed_frame) and (self.lookup is not None or self.extrinsics is not None)

    @property
    def fixed_frame(self) -> str:
        """The frame of ground positions in messages ("" when disabled, as the schema says)."""
        return self.cfg.fixed_frame if self.enabled else ""

    def add_pose(self, frame_id: str, child_frame: str, stamp_s: float, pose: RigidTransform) -> None:
        """One platform pose (``frame_id <- child_frame`` at ``stamp_s``); wrong frames are refused."""
        if self.poses is None:
            return
        if frame_id != self.cfg.fixed_frame:
            raise MessageFormatError(f"platform pose header.frame_id = {frame_id!r}: expected the fixed "
                                     f"frame {self.cfg.fixed_frame!r}")
        if child_frame and child_frame != self.cfg.base_frame:
            raise MessageFormatError(f"platform pose child frame {child_frame!r}: expected the base frame "
                                     f"{self.cfg.base_frame!r}")
        with self._lock:
            self.poses.add(stamp_s, pose)
            self._lock.notify_all()

    def fixed_from_sensor(self, sensor_frame: str, stamp_s: float) -> RigidTransform:
        """The sensor's pose in the fixed frame at ``stamp_s``; raises :class:`NoTransform` saying why not."""
        cfg = self.cfg
        frame = cfg.sensor_frame or sensor_frame
        if not cfg.fixed_frame:
            raise NoTransform("calibration.fixed_frame is empty: ground positions are disabled")
        if self.lookup is not None:
            try:
                return self.lookup(cfg.fixed_frame, frame, stamp_s)
            except GeometryError as e:
                raise NoTransform(f"tf2 has no {cfg.fixed_frame} <- {frame} at {stamp_s:.3f} s: {e}"
                                  ) from e
        if self.extrinsics is None:
            raise NoTransform("no extrinsics (set calibration.parent_frame, translation_m, rotation_xyzw, "
                              "or run with tf2)")
        if self.poses is None:
            return self.extrinsics
        try:
            with self._lock:
                base = self.poses.lookup(stamp_s)
        except PoseLookupError as e:
            raise NoTransform(str(e)) from e
        return base.compose(self.extrinsics)

    def _covered(self, stamp_s: float) -> bool:
        span = self.poses.span if self.poses is not None else None
        return span is not None and span[1] >= stamp_s

    def wait_for_pose(self, stamp_s: float) -> bool:
        """Wait at most ``pose_wait_s`` for a platform pose at or after ``stamp_s`` (at once True where no
        pose is needed or it is there); call it before the lookup, holding no lock a pose's delivery needs.

        Why: a replay or a robot publishes the platform pose beside the sensor data, and the two topics
        arrive in either order; a cloud taken up before its pose was dropped or placed by the pose held
        from 0.1 s before, so one bag gave different tracks from run to run (RESULTS.md, "A robot replay
        that decides alike every run"). tf2 lookups wait for their transform the same way."""
        if self.poses is None or not self.cfg.fixed_frame:
            return True
        with self._lock:
            return self._pose_wait.until(lambda: self._covered(stamp_s), self.cfg.pose_wait_s)

    @property
    def pose_waits_in_vain(self) -> int:
        return self._pose_wait.in_vain


def push_away(points: np.ndarray, sensor: np.ndarray, offset_m: float) -> np.ndarray:
    """(N, 3) points moved ``offset_m`` horizontally away from the sensor's position (a copy)."""
    out = np.array(points, dtype=np.float64, copy=True)
    if offset_m <= 0 or len(out) == 0:
        return out
    away = out[:, :2] - np.asarray(sensor, dtype=np.float64)[:2]
    dist = np.linalg.norm(away, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:, :2] += np.where(dist > 0, offset_m * away / np.where(dist > 0, dist, 1.0), 0.0)
    return out


def foot_points(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) boxes ``[x0, y0, x1, y1]`` -> (N, 2) bottom-centre pixels (where the person stands)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.column_stack([0.5 * (b[:, 0] + b[:, 2]), b[:, 3]])


def feet_hidden(boxes: np.ndarray) -> np.ndarray:
    """(N,) bool: the box's bottom edge lies on another, nearer person's box, so it is where that person
    hides this one, not where this one stands.

    A person standing behind another is cut off at the nearer one's outline: the box ends above the feet
    and its "foot point" lands metres too far (seen on simulated pole bags: 2-2.5 m at 11-14 m, for a
    second at a time). The nearer person is the box reaching lower in the image; the bottom edge is on
    it when it lies between that box's top (less ``BOTTOM_EDGE_MARGIN_PX``) and bottom, and the two
    boxes share at least ``HIDDEN_FEET_OVERLAP`` of this box's width.
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x0, y0, x1, y1 = (b[:, i][:, None] for i in range(4))       # this box (rows)
    ox0, oy0, ox1, oy1 = (b[:, i][None, :] for i in range(4))   # the other box (columns)
    overlap = np.clip(np.minimum(x1, ox1) - np.maximum(x0, ox0), 0.0, None)
    width = np.maximum(x1 - x0, 1e-6)
    on_it = (oy1 > y1) & (y1 >= oy0 - BOTTOM_EDGE_MARGIN_PX) & (overlap >= HIDDEN_FEET_OVERLAP * width)
    np.fill_diagonal(on_it, False)
    return on_it.any(axis=1)


def camera_ground(boxes: np.ndarray, camera: CameraIntrinsics, fixed_from_camera: RigidTransform,
                  cfg: CalibrationConfig, pixel_sigma_px: np.ndarray | None = None) -> GroundPositions:
    """Ground positions of camera boxes (see the module docstring); ``pixel_sigma_px`` (N,) replaces
    ``cfg.pixel_sigma_px`` per box (a coasting track's foot is as uncertain as its filter says)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(b) == 0:
        return GroundPositions.none(0)
    px = cfg.pixel_sigma_px if pixel_sigma_px is None else np.asarray(pixel_sigma_px, dtype=np.float64)
    hits: GroundHits = pixels_to_ground(foot_points(b), camera, fixed_from_camera, cfg.ground_z_m,
                                        px, cfg.max_ground_range_m)
    valid = hits.valid & (b[:, 3] < camera.height - BOTTOM_EDGE_MARGIN_PX) & ~feet_hidden(b)
    # from the nearer foot's edge to where the person stands
    points = push_away(hits.points, fixed_from_camera.t, cfg.foot_offset_m)
    return GroundPositions(points, hits.sigma_m, valid)


def lidar_ground(centroids: np.ndarray, fixed_from_lidar: RigidTransform,
                 cfg: CalibrationConfig) -> GroundPositions:
    """Ground positions of LiDAR cluster centroids (N, 3) given in the sensor frame."""
    c = np.asarray(centroids, dtype=np.float64).reshape(-1, 3)
    p = push_away(fixed_from_lidar.apply(c), fixed_from_lidar.t, cfg.lidar_offset_m)
    p[:, 2] = cfg.ground_z_m
    ok = np.isfinite(p).all(axis=1)
    return GroundPositions(p, np.full(len(p), cfg.lidar_sigma_m), ok)
