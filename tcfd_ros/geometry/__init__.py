"""The project's one LidarGait range-view projection and one crop-resize-centre alignment.

Imported by the synthetic data set writer (``tcfd_ros.sim``), the LiDAR and camera pipelines and
replay, so that training data and live data go through exactly the same code.
"""

from __future__ import annotations

from tcfd_ros.errors import GeometryError
from tcfd_ros.geometry.align import align_silhouette, align_to_square
from tcfd_ros.geometry.range_view import (
    RangeViewConfig,
    depth_to_jet,
    points_to_depth_map,
    project_range_view,
)

__all__ = [
    "GeometryError",
    "RangeViewConfig",
    "align_silhouette",
    "align_to_square",
    "depth_to_jet",
    "points_to_depth_map",
    "project_range_view",
]
