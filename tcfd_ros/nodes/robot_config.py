"""``config/robot.yaml``: the graph for sensors on a moving platform, rendered from the node dataclasses.

It differs from ``config/crossmodal.yaml`` (static poles) only where a moving platform needs it:

- camera_segmenter ``guide.mode: lidar``: background subtraction cannot work when the whole image moves,
  so people are cut out of the image where the LiDAR's person clusters project (the extrinsics are the
  simulated robot's, ``tcfd-ros simulate bag --mount robot``: replace them with your robot's
  ``camera optical frame <- LiDAR`` transform; ``tcfd-ros replay`` takes them from the bag's /tf_static);
- lidar_segmenter ``background_learning_frames: 0``: a static background learned from a moving LiDAR
  is a smear of the places it passed, so it stays off (RESULTS.md measures what turning it on costs);
- recognizer ``identity.geometry_link_span_s`` ``MOVING_PLATFORM_LINK_SPAN_S``: a robot's camera sees a
  passer-by for 1-2 s, and the poles' 1.2 s left those seen for 1.0-1.2 s unlinked; 10 co-located samples
  (``geometry_link_samples``) at the LiDAR's 10 Hz already span 0.9 s.

Regenerate: ``python -c "from tcfd_ros.nodes.robot_config import render_robot_params as r; print(r())"
> config/robot.yaml``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tcfd_ros import graph as g
from tcfd_ros.geometry.calibration import RigidTransform
from tcfd_ros.nodes.config_file import render_params_file

#: Shortest span of a geometric link's co-located samples on a moving platform, seconds (the poles keep
#: ``IdentityConfig.geometry_link_span_s``, where 0.9 s once added a false link; RESULTS.md, "Recordings
#: without their images").
MOVING_PLATFORM_LINK_SPAN_S = 0.9

ROBOT_HEADER = "# Moving platform (robot): LiDAR-guided camera segmentation, no LiDAR static background.\n"


def sim_robot_camera_from_lidar() -> RigidTransform:
    """``camera_optical_frame <- lidar`` of the simulated robot (both on base_link, tcfd_ros.sim.bag)."""
    from tcfd_ros.sim.bag import ROBOT_CAMERA_ON_BASE, ROBOT_CAMERA_TILT_DEG, ROBOT_LIDAR_ON_BASE
    from tcfd_ros.sim.sensors import camera_pose, lidar_pose

    R_l, t_l = lidar_pose(ROBOT_LIDAR_ON_BASE, 0.0)
    R_c, t_c = camera_pose(ROBOT_CAMERA_ON_BASE, 0.0, np.deg2rad(ROBOT_CAMERA_TILT_DEG))
    return RigidTransform(R_c, t_c).inverse().compose(RigidTransform(R_l, t_l))


def moving_platform_params(camera_from_lidar: RigidTransform, clusters_topic: str = "/lidar/clusters"
                           ) -> dict[str, dict[str, Any]]:
    """Per-node parameter overrides of the moving-platform mode (also used by ``tcfd-ros replay``)."""
    T = camera_from_lidar
    return {
        g.CAMERA_SEGMENTER: {"guide.mode": "lidar", "guide.clusters_topic": clusters_topic,
                             "guide.translation_m": [round(float(v), 6) for v in T.t],
                             "guide.rotation_xyzw": [round(float(v), 9) for v in T.quaternion()]},
        g.LIDAR_SEGMENTER: {"segmenter.background_learning_frames": 0},
        g.RECOGNIZER: {"identity.geometry_link_span_s": MOVING_PLATFORM_LINK_SPAN_S},
    }


def render_robot_params() -> str:
    """The robot params file (see the module docstring)."""
    return ROBOT_HEADER + render_params_file(moving_platform_params(sim_robot_camera_from_lidar()))
