"""People perception without ROS: segmentation, tracking, tracklet buffers and identities.

Modules (each documents its API in its docstring):
- ``config``: frozen configs (CameraSegmenterConfig, LidarSegmenterConfig, TrackerConfig,
  TrackletConfig, IdentityConfig).
- ``segment_camera``: CameraSegmenter -> CameraDetection (OpenCV background subtraction or YOLO).
- ``segment_lidar``: LidarSegmenter -> LidarCluster (ground removal, KD-tree clustering, gating).
- ``track``: MultiTargetTracker (constant-velocity Kalman + Hungarian) over Measurement -> Track.
- ``tracklet``: TrackletBuffer -> Tracklet (bounded s-frame buffers).
- ``identity``: IdentityManager -> IdentityMatch (cross-sensor global ids, open set, hysteresis).
- ``embedding_bank``: the identity manager's single array of stored embeddings.
- ``annotate``: draw_annotations for the ``annotated`` image.
- ``scenes``: analytic LiDAR scenes with known people (tests and benchmarks).
- ``contact_sheet``: ``python -m tcfd_ros.perception.contact_sheet`` on the real recordings.
"""

from tcfd_ros.perception.config import (CameraSegmenterConfig, IdentityConfig, LidarSegmenterConfig,
                                        TrackerConfig, TrackletConfig, camera_tracker_config)

__all__ = ["CameraSegmenterConfig", "IdentityConfig", "LidarSegmenterConfig", "TrackerConfig",
           "TrackletConfig", "camera_tracker_config"]
