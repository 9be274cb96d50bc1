"""The two modalities and the frame size, defined once (no torch, no rclpy: anything may import it).

``MODALITIES[0]`` is the camera (binary silhouettes), ``MODALITIES[1]`` the LiDAR (jet depth maps);
the order is the network's modality index. Frames of both are ``FRAME_SIZE`` x ``FRAME_SIZE`` pixels
(SUSTech1K and FreeGait store 64 x 64; TCFDNet's input).
"""

from __future__ import annotations

MODALITIES = ("2d", "3d")   # tensor index 0 = camera silhouettes, 1 = LiDAR depth maps
FRAME_SIZE = 64             # pixels, both sides, both modalities
#: one frame's array shape per modality: a binary silhouette; a jet-coloured depth map, channels first
FRAME_SHAPES = {"2d": (FRAME_SIZE, FRAME_SIZE), "3d": (3, FRAME_SIZE, FRAME_SIZE)}
