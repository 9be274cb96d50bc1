"""The ROS 2 nodes: the only package that imports rclpy. Thin wrappers around the library classes.

One module per executable of setup.py's NODE_EXECUTABLES (``camera_segmenter_node``,
``lidar_segmenter_node``, ``tracker_node``, ``recognizer_node``), plus the shared pieces: ``params``
(parameters from config dataclasses), ``diagnostics``, ``qos``, ``base`` (queue, health, main),
``json_messages`` (tracks/tracklet/match schemas), ``config_file`` and ``bringup``.
"""
