"""Frames -> network input: the one place where silhouettes and depth maps become CLIP-normalised.

Both modalities share one encoder (paper): a binary silhouette (T, 64, 64) is replicated to 3 channels,
a jet depth map (T, 3, 64, 64) is used as is; both are scaled to [0, 1] and normalised with CLIP's
mean/std, so the frozen CLIP and the bypass see the same input.
"""

from __future__ import annotations

import numpy as np

from tcfd_ros.errors import TcfdError
from tcfd_ros.modalities import FRAME_SIZE, MODALITIES

__all__ = ["FRAME_SIZE", "MODALITIES"]  # re-exported: tcfd_ros.modalities defines them
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)  # OpenAI CLIP
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


class ModelInputError(TcfdError, ValueError):
    """Frames or tensors given to the model have the wrong shape, dtype or modality."""


def modality_index(modality: str) -> int:
    """'2d' -> 0, '3d' -> 1; anything else raises ModelInputError."""
    if modality not in MODALITIES:
        raise ModelInputError(f"modality: {modality!r} is not one of {list(MODALITIES)}")
    return MODALITIES.index(modality)


def frames_to_input(frames: np.ndarray, modality: str) -> np.ndarray:
    """(T,64,64) uint8 silhouettes ('2d') or (T,3,64,64) uint8 depth ('3d') -> (T,3,64,64) float32.

    Silhouettes may be {0, 1} or {0, 255}; values are scaled by 255 (a {0, 1} mask is detected by its
    maximum and scaled by 1 first so both encodings give the same input).
    """
    modality_index(modality)
    if not isinstance(frames, np.ndarray):
        raise ModelInputError(f"frames: expected a numpy array, got {type(frames).__name__}")
    if frames.dtype != np.uint8:
        raise ModelInputError(f"frames.dtype: {frames.dtype} for modality {modality}, expected uint8")
    expected = (FRAME_SIZE, FRAME_SIZE) if modality == "2d" else (3, FRAME_SIZE, FRAME_SIZE)
    if frames.ndim != 1 + len(expected) or frames.shape[1:] != expected or frames.shape[0] < 1:
        raise ModelInputError(
            f"frames.shape: {frames.shape} for modality {modality}, expected (T>=1, "
            f"{', '.join(map(str, expected))})"
        )
    x = frames.astype(np.float32)
    if modality == "2d":
        if frames.max() <= 1:
            x *= 255.0
        x = np.repeat(x[:, None], 3, axis=1)
    x /= 255.0
    x -= CLIP_MEAN[None, :, None, None]
    x /= CLIP_STD[None, :, None, None]
    return x
