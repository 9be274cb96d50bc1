"""Drawing masks, boxes, track ids and global ids on a camera image (the ``annotated`` topic).

API::

    img = draw_annotations(bgr, [Annotation(bbox_xyxy, mask=None, track_id=3, global_id=7,
                                            known=True, distance=0.21), ...])
    id_colour_bgr(global_id) -> (b, g, r)   # stable colour per id (markers can use the same)

The input image is not modified; a new (H, W, 3) uint8 image is returned. Masks are blended with
``MASK_ALPHA``; labels read ``G<global id> T<track id> <distance>`` (``?`` for unknown people; no ``G`` part
before the recognizer has named the track, whose grey colour says so).
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from tcfd_ros.errors import MessageFormatError
from tcfd_ros.perception.segment_camera import check_bgr

MASK_ALPHA = 0.45
GOLDEN_RATIO_CONJUGATE = 0.618033988749895
UNASSIGNED_COLOUR_BGR = (160, 160, 160)
FONT_SCALE = 0.45
LINE_PX = 2


@dataclass(frozen=True)
class Annotation:
    """What to draw for one person."""

    bbox_xyxy: tuple[float, float, float, float]
    mask: np.ndarray | None = None     # (H, W) bool, same size as the image
    track_id: int | None = None
    global_id: int | None = None
    known: bool | None = None
    distance: float | None = None


def id_colour_bgr(global_id: int | None) -> tuple[int, int, int]:
    """A saturated colour per id, far apart for consecutive ids (golden-ratio hue steps)."""
    if global_id is None:
        return UNASSIGNED_COLOUR_BGR
    hue = (int(global_id) * GOLDEN_RATIO_CONJUGATE) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return int(b * 255), int(g * 255), int(r * 255)


def _label(a: Annotation) -> str:
    # no global id yet: the grey colour says so; "G-" read as a broken label
    parts = [f"G{a.global_id}"] if a.global_id is not None else []
    if a.track_id is not None:
        parts.append(f"T{a.track_id}")
    if a.distance is not None:
        parts.append(f"{a.distance:.2f}")
    if a.known is False:
        parts.append("?")
    return " ".join(parts) or "person"


def draw_annotations(bgr: np.ndarray, annotations: Sequence[Annotation]) -> np.ndarray:
    """A copy of ``bgr`` with every annotation's mask, box and label drawn."""
    img = check_bgr(bgr).copy()
    h, w = img.shape[:2]
    for k, a in enumerate(annotations):
        colour = id_colour_bgr(a.global_id)
        if a.mask is not None:
            if a.mask.shape != (h, w):
                raise MessageFormatError(f"annotations[{k}].mask shape {a.mask.shape}: expected {(h, w)}")
            m = a.mask.astype(bool)
            img[m] = (img[m] * (1 - MASK_ALPHA) + np.array(colour) * MASK_ALPHA).astype(np.uint8)
        x0, y0, x1, y1 = (int(round(v)) for v in a.bbox_xyxy)
        cv2.rectangle(img, (x0, y0), (x1 - 1, y1 - 1), colour, LINE_PX)
        text = _label(a)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, FONT_SCALE, 1)
        ty = max(y0 - 3, th + 2)
        cv2.rectangle(img, (x0, ty - th - 2), (x0 + tw + 2, ty + base - 1), colour, -1)
        cv2.putText(img, text, (x0 + 1, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, FONT_SCALE, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return img
