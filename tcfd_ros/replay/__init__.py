"""Rosbag replay evaluation: play a bag into the real node graph over DDS, record, score, report.

``replay(ReplayOptions(...))`` is the entry point (``tcfd-ros replay`` and ``tcfd_ros.demo`` call it).
Only ``player.py`` touches rclpy, and only inside its functions.
"""

from tcfd_ros.replay.run import ReplayOptions, ReplayResult, replay

__all__ = ["ReplayOptions", "ReplayResult", "replay"]
