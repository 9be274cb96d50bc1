"""The labelled synthetic multi-sensor world: walkers of analytic primitives seen by a ray-cast LiDAR
and a rendered pinhole camera, written as rosbag2 bags (``bag``) or SUSTech1K-layout data sets
(``dataset``). Depth maps and silhouettes go through ``tcfd_ros.geometry``, the same code the live
pipeline uses."""
