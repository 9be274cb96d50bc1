"""The ROS 2 nodes: the only package that imports rclpy. Thin wrappers around the library classes.

One module per executable of setup.py's NODE_EXECUTABLES (``camera_segmenter_node``,
``lidar_segmenter_node``, ``tracker_node``, ``recognizer_node``), plus the shared pieces: ``params``
(parameters from config dataclasses), ``diagnostics``, ``qos``, ``base`` (queue, health, main),
``config_file`` and ``bringup``. The JSON schemas the nodes exchange are plain modules outside this
package (``tcfd_ros.track_messages``, ``tcfd_ros.messages``).
"""

import os

# Library thread pools, one thread each, set before numpy/OpenCV/torch load in a node process. Each node
# already has its own worker thread (and, with --processes, its own process); a BLAS or OpenCV pool of
# one thread per core in each of five nodes puts 10+ spinning threads on two cores, which burns CPU
# waiting instead of working and makes the graph's speed depend on the machine's BLAS build and core
# count. Where parallelism helps (the recognizer's torch), it is a node parameter (``threads``).
# A value the user exported is kept.
LIBRARY_THREADS = "1"
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
             "OPENCV_FOR_THREADS_NUM"):
    os.environ.setdefault(_var, LIBRARY_THREADS)
