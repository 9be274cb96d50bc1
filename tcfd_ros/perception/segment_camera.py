"""Camera person segmentation: one binary mask per person in a BGR image.

API (used by the camera_segmenter node)::

    seg = CameraSegmenter(CameraSegmenterConfig())          # default: OpenCV background subtraction
    dets: list[CameraDetection] = seg.segment(bgr)           # bgr: (H, W, 3) uint8
    det.mask        # (H, W) bool, this person's pixels
    det.bbox_xyxy   # (x0, y0, x1, y1) float pixels, x1/y1 exclusive
    det.score       # backend confidence in [0, 1]
    det.silhouette()  # (64, 64) uint8 {0, 255}, via tcfd_ros.geometry.align.align_silhouette
    seg.warming_up  # True while the background model is still learning (no detections yet)
    label_image(dets, shape) -> (H, W) uint16, 0 = background, k = k-th detection (the mono16
                                 ``detections`` topic)

Backends:
- ``background``: MOG2 or KNN background model, shadows dropped, opening + closing, connected
  components, side-by-side people merged into one blob split at deep valleys of the upper body's
  column profile (``split_groups``), person-size gate. ``bg_scale`` < 1 runs the model and
  morphology on a downscaled image (about ``bg_scale``^2 of the cost) and scales the mask back
  before the components. Needs a static camera and no weights. The first ``warmup_frames`` frames
  only train the model; ``segment`` returns ``[]`` for them. People who stand still fade into the
  background model (over about ``bg_history_frames``). A change of image size restarts the model
  (logged) because the old background no longer applies.
- ``yolo``: ultralytics segmentation model from a local ``.pt``, ``.onnx`` or ``.engine`` file, person
  class only, masks at the input resolution. A missing file raises ``MissingWeightsError``; nothing is
  ever downloaded. Detections from both backends pass the same size gate.

Bad input (not an ndarray, wrong dtype or shape, zero-size image) raises ``MessageFormatError``
naming the value; the node drops that frame.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from tcfd_ros.errors import MessageFormatError, MissingWeightsError
from tcfd_ros.geometry.align import align_silhouette
from tcfd_ros.perception.config import CameraSegmenterConfig

log = logging.getLogger(__name__)

SHADOW_VALUE = 127          # MOG2/KNN label for shadow pixels
FOREGROUND_THRESHOLD = 200  # foreground is 255; anything at or below (shadows) is background
SILHOUETTE_SIZE = 64
YOLO_MASK_THRESHOLD = 0.5   # ultralytics mask probabilities above this are the person
UPPER_BODY_FRACTION = 0.6   # group splitting looks at the top 60 % of a blob (heads and torsos)
PROFILE_SMOOTH_FRACTION = 0.08  # column-profile smoothing window, as a fraction of the blob height
SPLIT_MARGIN_FRACTION = 0.15    # no split closer than this (of the blob height) to either side


@dataclass(frozen=True)
class CameraDetection:
    """One person in one image: full-image mask, box and backend score."""

    mask: np.ndarray                              # (H, W) bool
    bbox_xyxy: tuple[float, float, float, float]  # pixels, x1/y1 exclusive
    score: float

    @property
    def centre_xy(self) -> np.ndarray:
        """Box centre in pixels (the tracker's image-plane position)."""
        x0, y0, x1, y1 = self.bbox_xyxy
        return np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0])

    @property
    def size_wh(self) -> np.ndarray:
        x0, y0, x1, y1 = self.bbox_xyxy
        return np.array([x1 - x0, y1 - y0])

    def silhouette(self, size: int = SILHOUETTE_SIZE) -> np.ndarray:
        """The mask cropped to its box and aligned to (size, size) uint8 {0,255} (one implementation)."""
        x0, y0, x1, y1 = (int(round(v)) for v in self.bbox_xyxy)
        crop = self.mask[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)]
        return align_silhouette(crop.astype(np.uint8) * 255, size)


def check_bgr(bgr: object) -> np.ndarray:
    """Validate a BGR image; raise MessageFormatError naming what is wrong."""
    if not isinstance(bgr, np.ndarray):
        raise MessageFormatError(f"image: expected a numpy array, got {type(bgr).__name__}")
    if bgr.dtype != np.uint8:
        raise MessageFormatError(f"image.dtype = {bgr.dtype}: expected uint8 (bgr8)")
    if bgr.ndim != 3 or bgr.shape[2] != 3:
        raise MessageFormatError(f"image.shape = {bgr.shape}: expected (H, W, 3) bgr8")
    if bgr.shape[0] == 0 or bgr.shape[1] == 0:
        raise MessageFormatError(f"image.shape = {bgr.shape}: zero-size image")
    return bgr


def label_image(detections: Sequence[CameraDetection], shape: tuple[int, int]) -> np.ndarray:
    """(H, W) uint16 instance labels: 0 background, k for the k-th detection (later ones on top)."""
    out = np.zeros(shape[:2], dtype=np.uint16)
    for k, det in enumerate(detections, start=1):
        if det.mask.shape != out.shape:
            raise MessageFormatError(f"detection {k} mask shape {det.mask.shape} != image {out.shape}")
        out[det.mask] = k
    return out


def split_columns(mask: np.ndarray, cfg: CameraSegmenterConfig) -> list[tuple[int, int]]:
    """Column ranges of the people in a blob's (h, w) mask: side-by-side people merged by the
    background model are cut at deep valleys of the upper body's column profile (recursively)."""
    h, w = mask.shape
    if not cfg.split_groups or h == 0 or w < cfg.split_min_width_over_height * h:
        return [(0, w)]
    prof = mask[: max(1, int(h * UPPER_BODY_FRACTION))].sum(axis=0).astype(np.float64)
    win = max(1, int(h * PROFILE_SMOOTH_FRACTION))
    prof = np.convolve(prof, np.ones(win) / win, mode="same")
    margin = max(1, int(h * SPLIT_MARGIN_FRACTION))
    if w <= 2 * margin:
        return [(0, w)]
    cut = margin + int(np.argmin(prof[margin:w - margin]))
    left, right = prof[:cut].max(initial=0.0), prof[cut:].max(initial=0.0)
    if prof[cut] > cfg.split_valley_ratio * min(left, right):
        return [(0, w)]
    return (split_columns(mask[:, :cut], cfg)
            + [(a + cut, b + cut) for a, b in split_columns(mask[:, cut:], cfg)])


def _passes_gate(cfg: CameraSegmenterConfig, w: float, h: float, area: float) -> bool:
    if w <= 0 or h <= 0:
        return False
    aspect = h / w
    return (cfg.min_height_px <= h <= cfg.max_height_px
            and area >= cfg.min_area_px
            and cfg.min_aspect_h_over_w <= aspect <= cfg.max_aspect_h_over_w
            and area / (w * h) >= cfg.min_fill_ratio)


class _BackgroundBackend:
    """MOG2/KNN foreground -> morphology -> connected components -> size gate."""

    def __init__(self, cfg: CameraSegmenterConfig) -> None:
        self.cfg = cfg
        self._shape: tuple[int, int] | None = None
        self._frames = 0
        self._model = self._make_model()
        self._open = self._kernel(round(cfg.morph_open_px * cfg.bg_scale))
        self._close = self._kernel(round(cfg.morph_close_px * cfg.bg_scale))

    @staticmethod
    def _kernel(px: int) -> np.ndarray | None:
        return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (px, px)) if px > 0 else None

    def _make_model(self) -> cv2.BackgroundSubtractor:
        c = self.cfg
        if c.bg_method == "mog2":
            return cv2.createBackgroundSubtractorMOG2(
                history=c.bg_history_frames, varThreshold=c.bg_var_threshold,
                detectShadows=c.bg_detect_shadows)
        return cv2.createBackgroundSubtractorKNN(
            history=c.bg_history_frames, dist2Threshold=c.bg_knn_dist2_threshold,
            detectShadows=c.bg_detect_shadows)

    @property
    def warming_up(self) -> bool:
        return self._frames < self.cfg.warmup_frames

    def foreground(self, bgr: np.ndarray) -> np.ndarray:
        """Update the model and return the cleaned (H, W) uint8 {0,255} foreground."""
        shape = bgr.shape[:2]
        if self._shape is not None and shape != self._shape:
            log.warning("image size changed from %s to %s: restarting the background model",
                        self._shape, shape)
            self._model = self._make_model()
            self._frames = 0
        self._shape = shape
        scale = self.cfg.bg_scale
        small = bgr if scale == 1.0 else cv2.resize(bgr, None, fx=scale, fy=scale,
                                                    interpolation=cv2.INTER_AREA)
        fg = self._model.apply(small, learningRate=self.cfg.bg_learning_rate)
        self._frames += 1
        _, fg = cv2.threshold(fg, FOREGROUND_THRESHOLD, 255, cv2.THRESH_BINARY)
        if self._open is not None:
            fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, self._open)
        if self._close is not None:
            fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, self._close)
        if scale != 1.0:
            fg = cv2.resize(fg, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
        return fg

    def segment(self, bgr: np.ndarray) -> list[CameraDetection]:
        fg = self.foreground(bgr)
        if self._frames <= self.cfg.warmup_frames:  # this frame was still a warm-up frame
            return []
        n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
        dets = []
        for k in range(1, n):
            x, y, w, h, area = (int(v) for v in stats[k])
            if h < self.cfg.min_height_px or area < self.cfg.min_area_px:
                continue
            blob = labels[y:y + h, x:x + w] == k
            for c0, c1 in split_columns(blob, self.cfg):
                part = blob[:, c0:c1]
                rows = np.flatnonzero(part.any(axis=1))
                cols = np.flatnonzero(part.any(axis=0))
                if rows.size == 0:
                    continue
                r0, r1, q0, q1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
                pw, ph, parea = q1 - q0, r1 - r0, int(part.sum())
                if not _passes_gate(self.cfg, pw, ph, parea):
                    continue
                mask = np.zeros(labels.shape, dtype=bool)
                mask[y + r0:y + r1, x + c0 + q0:x + c0 + q1] = part[r0:r1, q0:q1]
                bbox = (float(x + c0 + q0), float(y + r0), float(x + c0 + q1), float(y + r1))
                dets.append(CameraDetection(mask, bbox, score=float(min(1.0, parea / (pw * ph)))))
        dets.sort(key=lambda d: -float(d.mask.sum()))
        return dets[: self.cfg.max_detections]


class _YoloBackend:
    """ultralytics YOLO segmentation, person class only, from a local weights file."""

    def __init__(self, cfg: CameraSegmenterConfig) -> None:
        self.cfg = cfg
        path = Path(cfg.yolo_weights).expanduser()
        if not path.is_file():
            raise MissingWeightsError(
                f"yolo_weights = {str(path)!r}: file not found. Put a YOLO segmentation model "
                f"(e.g. yolov8n-seg.pt, or an .onnx/.engine export of one) at that path, or set "
                f"camera backend 'background' (no weights needed). Nothing is downloaded.")
        from ultralytics import YOLO  # heavy import, only for this backend

        self._model = YOLO(str(path), task="segment")
        log.info("YOLO segmentation weights loaded from %s", path)

    @property
    def warming_up(self) -> bool:
        return False

    def segment(self, bgr: np.ndarray) -> list[CameraDetection]:
        c = self.cfg
        results = self._model.predict(bgr, classes=[c.yolo_person_class], conf=c.yolo_conf,
                                      iou=c.yolo_iou, imgsz=c.yolo_imgsz, device=c.yolo_device,
                                      retina_masks=True, verbose=False)
        res = results[0]
        if res.masks is None or res.boxes is None or len(res.boxes) == 0:
            return []
        masks = res.masks.data.cpu().numpy() > YOLO_MASK_THRESHOLD  # (n, H, W) at input size
        scores = res.boxes.conf.cpu().numpy()
        classes = res.boxes.cls.cpu().numpy().astype(int)
        dets = []
        for mask, score, cls in zip(masks, scores, classes):
            if cls != c.yolo_person_class or mask.shape != bgr.shape[:2]:
                continue
            ys, xs = np.nonzero(mask)
            if xs.size == 0:
                continue
            x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
            if not _passes_gate(c, x1 - x0, y1 - y0, xs.size):
                continue
            dets.append(CameraDetection(mask, (float(x0), float(y0), float(x1), float(y1)),
                                        float(score)))
        dets.sort(key=lambda d: -d.score)
        return dets[: c.max_detections]


class CameraSegmenter:
    """People masks from BGR images with the configured backend (see module docstring)."""

    def __init__(self, cfg: CameraSegmenterConfig = CameraSegmenterConfig()) -> None:
        cfg.validate()
        self.cfg = cfg
        self._backend = _YoloBackend(cfg) if cfg.backend == "yolo" else _BackgroundBackend(cfg)
        self.frames_seen = 0

    @property
    def warming_up(self) -> bool:
        return self._backend.warming_up

    def segment(self, bgr: np.ndarray) -> list[CameraDetection]:
        """One detection per person passing the size gate, largest (background) / surest (yolo) first."""
        check_bgr(bgr)
        self.frames_seen += 1
        return self._backend.segment(np.ascontiguousarray(bgr))


__all__ = ["CameraDetection", "CameraSegmenter", "check_bgr", "label_image", "SHADOW_VALUE",
           "CameraSegmenterConfig"]
