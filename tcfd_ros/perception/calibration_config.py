"""Where a sensor sits: its extrinsics, the graph's fixed frame and the ground-position noise model.

One ``CalibrationConfig`` per tracker node (parameters ``calibration.*``; set per sensor namespace with
``tcfd-ros bringup --param camera.camera_tracker.calibration.parent_frame=map`` or a params-file entry).
Frames follow REP-105: the fixed frame is ``map`` (or ``odom``), a moving platform is ``base_link``, and
the sensor frame is the one its messages carry (a camera's optical frame: x right, y down, z forward).

The extrinsics are ``parent_frame <- sensor_frame`` (what ``ros2 run tf2_ros static_transform_publisher``
and a bag's /tf_static hold): ``translation_m`` is the sensor's origin in ``parent_frame`` and
``rotation_xyzw`` its orientation (a quaternion, as tf2 prints it; from roll-pitch-yaw:
``RigidTransform.from_xyz_rpy(xyz, rpy).quaternion()``). ``parent_frame`` is either the fixed frame
(a sensor on a pole) or ``base_frame`` (a sensor on a robot, whose pose in the fixed frame arrives as
``geometry_msgs/PoseStamped`` on ``pose_topic``). With ``source`` ``tf2`` (or ``auto`` where ``tf2_ros``
is importable) the whole chain comes from tf2 instead and these numbers are not used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from tcfd_ros.config_io import param
from tcfd_ros.errors import ConfigError

CALIBRATION_SOURCES = ("auto", "params", "tf2")


def _check(cond: bool, name: str, value: object, expected: str) -> None:
    if not cond:
        raise ConfigError(f"CalibrationConfig.{name} = {value!r}: expected {expected}")


@dataclass(frozen=True)
class CalibrationConfig:
    """Extrinsics of one sensor and how its detections become fixed-frame ground positions."""

    source: Literal["auto", "params", "tf2"] = param(
        "auto", "where the extrinsics come from: tf2, params (the numbers below) or auto (tf2 where tf2_ros "
        "is importable, else params)", read_only=True)
    fixed_frame: str = param("map", "REP-105 frame of every ground position; \"\" disables them")
    base_frame: str = param("base_link", "the moving platform's frame (its pose arrives on pose_topic)")
    sensor_frame: str = param("", "the sensor's frame; \"\" = the frame_id of its messages")
    parent_frame: str = param("", "frame of the extrinsics: fixed_frame, base_frame or \"\" (none)")
    translation_m: tuple[float, ...] = param((0.0, 0.0, 0.0), "the sensor's origin in parent_frame, metres")
    rotation_xyzw: tuple[float, ...] = param(
        (0.0, 0.0, 0.0, 1.0), "its orientation in parent_frame (x, y, z, w)")
    pose_topic: str = param("/platform_pose", "geometry_msgs/PoseStamped of base_frame in fixed_frame (remap "
                            "your localisation output here); subscribed when parent_frame is base_frame",
                            read_only=True)
    pose_max_extrapolation_s: float = param(
        0.1, "a stamp this far outside the received poses holds the nearest")
    pose_max_gap_s: float = param(1.0, "refuse to interpolate across a longer gap between poses")
    pose_wait_s: float = param(
        0.2, "a stamp newer than every received pose waits this long for its pose (a pose published with the "
             "sensor's data can arrive after it; tf2 lookups wait likewise); after 3 waits in a row in vain, "
             "none until a pose is there in time again; 0 = never wait, s", lo=0.0, hi=5.0)
    ground_z_m: float = param(0.0, "height of the ground plane in fixed_frame")
    pixel_sigma_px: float = param(
        3.0, "1-sigma noise of a camera detection's foot point, pixels", lo=0.0, hi=1000.0)
    max_ground_range_m: float = param(
        60.0, "camera foot points meeting the ground farther away: no position", lo=0.0, hi=10000.0)
    foot_offset_m: float = param(0.1, "box bottom = the nearer foot; the person stands this much farther")
    lidar_sigma_m: float = param(
        0.1, "1-sigma of a LiDAR cluster's ground position, metres", lo=0.0, hi=100.0)
    lidar_offset_m: float = param(0.08, "a cluster is the near surface; the centre is this much farther")
    lidar_track_in_fixed_frame: bool = param(
        True, "LiDAR Kalman filter runs in fixed_frame (outputs: sensor frame)")
    lidar_top_beam_deg: float = param(
        2.0, "elevation of the LiDAR's highest beam above its horizontal plane, degrees (HDL-64E 2.0, "
             "HDL-32E 10.7, VLP-16 15, Ouster OS1 16.6-22.5): a cluster whose top lies within "
             "lidar_top_margin_deg of it may have its head outside the field of view and gives no stature "
             "(a low LiDAR on a robot)",
        lo=-90.0, hi=90.0)
    lidar_top_margin_deg: float = param(0.5, "see lidar_top_beam_deg, degrees", lo=0.0, hi=30.0)
    camera_ego_motion: bool = param(
        True, "camera tracker: move every track by the image motion the camera's own motion causes (its pose "
              "in fixed_frame between frames; tracks' foot points assumed on the ground), so the image-plane "
              "filter models only the people's motion; no effect on a sensor that does not move")

    def extrinsics(self):
        """``parent_frame <- sensor`` as a RigidTransform (None without ``parent_frame``)."""
        from tcfd_ros.geometry.calibration import RigidTransform

        if not self.has_extrinsics:
            return None
        return RigidTransform.from_xyz_quat(self.translation_m, self.rotation_xyzw)

    @property
    def has_extrinsics(self) -> bool:
        return bool(self.parent_frame) and bool(self.fixed_frame)

    @property
    def on_platform(self) -> bool:
        """The extrinsics are relative to the moving base: a platform pose is needed per stamp."""
        return self.has_extrinsics and self.parent_frame != self.fixed_frame

    def validate(self) -> None:
        _check(self.source in CALIBRATION_SOURCES, "source", self.source, f"one of {CALIBRATION_SOURCES}")
        _check(len(self.translation_m) == 3 and all(math.isfinite(v) for v in self.translation_m),
               "translation_m", self.translation_m, "3 finite numbers (x, y, z) in metres")
        _check(len(self.rotation_xyzw) == 4 and all(math.isfinite(v) for v in self.rotation_xyzw)
               and math.sqrt(sum(v * v for v in self.rotation_xyzw)) > 1e-6,
               "rotation_xyzw", self.rotation_xyzw, "a non-zero quaternion (x, y, z, w)")
        _check(not self.parent_frame or self.parent_frame in (self.fixed_frame, self.base_frame),
               "parent_frame", self.parent_frame,
               f"'' or the fixed frame {self.fixed_frame!r} or the base frame {self.base_frame!r} "
               "(other chains need tf2)")
        _check(not self.on_platform or bool(self.pose_topic), "pose_topic", self.pose_topic,
               "a topic name when the extrinsics are relative to base_frame")
        _check(self.fixed_frame != self.base_frame or not self.fixed_frame, "base_frame", self.base_frame,
               "a frame other than fixed_frame")
        for name in ("pixel_sigma_px", "max_ground_range_m", "pose_max_gap_s"):
            v = getattr(self, name)
            _check(v > 0 and math.isfinite(v), name, v, "a finite value > 0")
        for name in ("lidar_sigma_m", "pose_max_extrapolation_s", "pose_wait_s", "foot_offset_m",
                     "lidar_offset_m"):
            v = getattr(self, name)
            _check(v >= 0 and math.isfinite(v), name, v, "a finite value >= 0")
        _check(math.isfinite(self.ground_z_m), "ground_z_m", self.ground_z_m, "a finite height in metres")
