"""tcfd_ros: LiDAR-camera cross-modal gait recognition (TCFDNet) for ROS 2."""

__version__ = "0.1.0"
