"""Settings of the LiDAR-guided camera segmentation (the camera mode for moving platforms).

One ``GuidedSegmenterConfig`` per camera segmenter node (parameters ``guide.*``). ``mode`` ``lidar``
replaces background subtraction, which needs a static camera, by LiDAR-guided segmentation: each
person cluster of ``clusters_topic`` is projected into the image with the camera intrinsics
(``camera_info``) and the extrinsics below, and the silhouette is cut out of the projected region.
The extrinsics are ``camera optical frame <- LiDAR frame`` (a point in the LiDAR frame maps to
``R p + t`` in the optical frame, x right, y down, z forward): for two sensors on one robot this is
``inverse(base_from_camera) * base_from_lidar`` of the robot's /tf_static, and it does not change
while the robot drives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from tcfd_ros.config_io import param
from tcfd_ros.errors import ConfigError

GUIDE_MODES = ("segmenter", "lidar")


def _check(cond: bool, name: str, value: object, expected: str) -> None:
    if not cond:
        raise ConfigError(f"GuidedSegmenterConfig.{name} = {value!r}: expected {expected}")


@dataclass(frozen=True)
class GuidedSegmenterConfig:
    """Where the LiDAR clusters come from, how they map into the image and how the silhouette is cut."""

    mode: Literal["segmenter", "lidar"] = param(
        "segmenter", "segmenter: the segmenter backend (background subtraction needs a static camera; yolo "
        "works anywhere); lidar: LiDAR-guided segmentation for moving platforms", read_only=True)
    clusters_topic: str = param("/lidar/clusters", "the LiDAR segmenter's person clusters (PointCloud2 with "
                                "a cluster field)", read_only=True)
    translation_m: tuple[float, ...] = param(
        (0.0, 0.0, 0.0), "LiDAR origin in the camera optical frame, metres")
    rotation_xyzw: tuple[float, ...] = param((0.0, 0.0, 0.0, 1.0), "LiDAR orientation in the optical frame")
    max_offset_s: float = param(0.25, "use the clusters whose stamp is nearest the image, within this")
    wait_s: float = param(
        0.2, "an image newer than every received clusters message waits this long for the next one, so "
             "that the nearest is chosen by stamp, not by which arrived first; after 3 waits in a row in "
             "vain, none until the clusters are in time again; 0 = never wait, s", lo=0.0, hi=5.0)
    predict: bool = param(True, "move them to the image stamp at their centroids' velocity")
    min_points: int = param(5, "projected cluster points inside the image to try a person")
    person_height_m: float = param(2.0, "region above the cluster's lowest point (LiDAR misses heads)")
    min_footprint_m: float = param(0.3, "clusters narrower than this on the ground (poles) are skipped")
    footprint_margin_m: float = param(0.1, "horizontal margin around the cluster's points")
    context_fraction: float = param(0.15, "background context added around the region, per side")
    work_height_px: int = param(64, "the region is cut at this height (cost ~ its square)")
    grabcut_iterations: int = param(2, "GrabCut iterations per person")
    min_height_px: int = param(24, "smaller silhouettes are dropped")
    min_area_px: int = param(120, "smaller silhouettes (pixels) are dropped")
    min_aspect_h_over_w: float = param(1.0, "people stand: taller than wide")
    max_aspect_h_over_w: float = param(5.0, "thinner (a pole the LiDAR took for a person) is dropped")
    core_fraction: float = param(0.3, "seeds this near the centre column (x their spread) are sure person")

    def validate(self) -> None:
        _check(self.mode in GUIDE_MODES, "mode", self.mode, f"one of {GUIDE_MODES}")
        _check(self.mode != "lidar" or bool(self.clusters_topic), "clusters_topic", self.clusters_topic,
               "a topic name when mode is 'lidar'")
        _check(len(self.translation_m) == 3 and all(math.isfinite(v) for v in self.translation_m),
               "translation_m", self.translation_m, "3 finite numbers (x, y, z) in metres")
        _check(len(self.rotation_xyzw) == 4 and all(math.isfinite(v) for v in self.rotation_xyzw)
               and math.sqrt(sum(v * v for v in self.rotation_xyzw)) > 1e-6,
               "rotation_xyzw", self.rotation_xyzw, "a non-zero quaternion (x, y, z, w)")
        for name in ("max_offset_s", "person_height_m"):
            v = getattr(self, name)
            _check(v > 0 and math.isfinite(v), name, v, "a finite value > 0")
        for name in ("footprint_margin_m", "context_fraction"):
            v = getattr(self, name)
            _check(0 <= v <= 10, name, v, "a value in 0..10")
        _check(self.work_height_px >= 16, "work_height_px", self.work_height_px, ">= 16")
        for name in ("min_points", "grabcut_iterations", "min_height_px"):
            v = getattr(self, name)
            _check(v >= 1, name, v, ">= 1")
        _check(self.min_area_px >= 0, "min_area_px", self.min_area_px, ">= 0")
        _check(0 < self.min_aspect_h_over_w <= self.max_aspect_h_over_w, "max_aspect_h_over_w",
               self.max_aspect_h_over_w, "> 0 and >= min_aspect_h_over_w")
        _check(0 < self.core_fraction <= 1, "core_fraction", self.core_fraction, "a value in (0, 1]")
