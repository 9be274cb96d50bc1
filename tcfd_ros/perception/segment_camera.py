"""Camera person segmentation: one binary mask per person in a BGR image.

API (used by the camera_segmenter node)::

    seg = CameraSegmenter(CameraSegmenterConfig())          # default: OpenCV background subtraction
    dets: list[CameraDetection] = seg.segment(image)         # (H, W, 3) bgr8 or (H, W) mono8 uint8
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
  column profile (``split_groups``), person-size gate. ``bg_scale`` < 1 runs the model on a
  downscaled image (about ``bg_scale``^2 of its cost, and averaging pixels lowers sensor noise by
  1 / ``bg_scale``) and scales its mask back before the morphology and the components. Needs a static
  camera and no weights. The first ``warmup_frames`` frames only train the model; ``segment``
  returns ``[]`` for them. People who stand still fade into the background model (over about
  ``bg_history_frames``).
  Night and changing light: a monochrome image (``mono8``, or ``bgr8`` with equal channels, what IR
  cameras publish) is modelled as one grey channel, without shadow detection (an illuminator at the
  lens casts no shadow the camera sees, and a dim person on a brighter background is not a
  shadow). With ``bg_gain_compensation`` each frame is scaled so its mean brightness matches the
  brightness the model was trained at, so dusk and automatic gain do not turn the whole image into
  foreground. A change the gain cannot explain (foreground over ``bg_reset_foreground_fraction`` of
  the image: IR switching on, lights on, the camera moved), a switch between colour and monochrome,
  or a new image size restarts the model (logged, ``restarts`` counts them) with a new warm-up.
- ``yolo``: ultralytics segmentation model from a local ``.pt``, ``.onnx`` or ``.engine`` file, person
  class only, masks at the input resolution. A missing file raises ``MissingWeightsError``; nothing is
  ever downloaded. Detections from both backends pass the same size gate.

Bad input (not an ndarray, wrong dtype or shape, zero-size image) raises ``MessageFormatError``
naming the value; the node drops that frame.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from tcfd_ros.errors import MessageFormatError, MissingWeightsError
from tcfd_ros.geometry.align import align_silhouette
from tcfd_ros.optional_packages import needs_full_setup
from tcfd_ros.perception.config import CameraSegmenterConfig

log = logging.getLogger(__name__)

SHADOW_VALUE = 127          # MOG2/KNN label for shadow pixels
FOREGROUND_THRESHOLD = 200  # foreground is 255; anything at or below (shadows) is background
SILHOUETTE_SIZE = 64
YOLO_MASK_THRESHOLD = 0.5   # ultralytics mask probabilities above this are the person
UPPER_BODY_FRACTION = 0.6   # group splitting looks at the top 60 % of a blob (heads and torsos)
PROFILE_SMOOTH_FRACTION = 0.08  # column-profile smoothing window, as a fraction of the blob height
SPLIT_MARGIN_FRACTION = 0.15    # no split closer than this (of the blob height) to either side
MONO_CHECK_STRIDE = 16          # pixels between the samples that decide whether bgr8 is grey
MIN_REFERENCE_MEAN = 2.0        # grey levels: a black frame does not set an infinite gain
MAX_GAIN_COMPENSATION = 8.0     # the gain compensation never scales a frame by more (or 1 / this)
GAIN_DEADBAND = 0.02            # gains this close to 1 are not applied (saves the scaling pass)
GAIN_GRID_STRIDE = 4            # pixels between the samples of the brightness estimate
# the person-height model (PersonScale): samples kept, needed, refit period, what counts as a sample
SCALE_SAMPLES = 400
SCALE_MIN_SAMPLES = 30
SCALE_REFIT_EVERY = 25
SCALE_MIN_ASPECT = 1.8          # height / width of one upright person
SCALE_MAX_ASPECT = 4.5
SCALE_MIN_FILL = 0.35
SCALE_MIN_ROW_SPREAD_PX = 20.0  # foot rows must spread this much for a line to mean anything
SCALE_OUTLIER_FRACTION = 0.25   # samples this far off the first fit are left out of the second


@dataclass(frozen=True)
class CameraDetection:
    """One person in one image: full-image mask, box and backend score. The mask's pixels lie inside
    the box (every backend's box is its mask's extent); ``label_image`` writes only there."""

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

    def box_slices(self) -> tuple[slice, slice]:
        """(rows, columns) of the mask that hold all its pixels: the box, rounded outwards. Every
        backend's mask lies inside its box; a box that does not say so covers the whole mask."""
        x0, y0, x1, y1 = self.bbox_xyxy
        h, w = self.mask.shape[:2]
        r0, c0, r1, c1 = math.floor(y0), math.floor(x0), math.ceil(y1), math.ceil(x1)
        if not (0 <= r0 <= r1 <= h and 0 <= c0 <= c1 <= w):
            return slice(0, h), slice(0, w)
        return slice(r0, r1), slice(c0, c1)

    def silhouette(self, size: int = SILHOUETTE_SIZE) -> np.ndarray:
        """The mask cropped to its box and aligned to (size, size) uint8 {0,255} (one implementation)."""
        x0, y0, x1, y1 = (int(round(v)) for v in self.bbox_xyxy)
        crop = self.mask[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)]
        return align_silhouette(crop.astype(np.uint8) * 255, size)


def check_bgr(bgr: object) -> np.ndarray:
    """Validate a bgr8 (H, W, 3) or mono8 (H, W) image; raise MessageFormatError naming what is wrong."""
    if not isinstance(bgr, np.ndarray):
        raise MessageFormatError(f"image: expected a numpy array, got {type(bgr).__name__}")
    if bgr.dtype != np.uint8:
        raise MessageFormatError(f"image.dtype = {bgr.dtype}: expected uint8 (bgr8 or mono8)")
    if not (bgr.ndim == 2 or (bgr.ndim == 3 and bgr.shape[2] == 3)):
        raise MessageFormatError(f"image.shape = {bgr.shape}: expected (H, W, 3) bgr8 or (H, W) mono8")
    if bgr.shape[0] == 0 or bgr.shape[1] == 0:
        raise MessageFormatError(f"image.shape = {bgr.shape}: zero-size image")
    return bgr


def is_monochrome(image: np.ndarray) -> bool:
    """True for (H, W) images and for bgr8 whose channels are equal (an IR camera's grey as colour),
    judged on a sparse grid of pixels (cheap; a colour scene never has equal channels there)."""
    if image.ndim == 2:
        return True
    grid = image[::MONO_CHECK_STRIDE, ::MONO_CHECK_STRIDE]
    return bool(np.array_equal(grid[..., 0], grid[..., 1]) and np.array_equal(grid[..., 1], grid[..., 2]))


def label_image(detections: Sequence[CameraDetection], shape: tuple[int, int]) -> np.ndarray:
    """(H, W) uint16 instance labels: 0 background, k for the k-th detection (later ones on top)."""
    out = np.zeros(shape[:2], dtype=np.uint16)
    for k, det in enumerate(detections, start=1):
        if det.mask.shape != out.shape:
            raise MessageFormatError(f"detection {k} mask shape {det.mask.shape} != image {out.shape}")
        r = det.box_slices()
        out[r][det.mask[r]] = k
    return out


def grid_median(grid: np.ndarray) -> float:
    """``np.median`` of a uint8 (h, w) grid, or of its channel mean for (h, w, 3): the same value,
    from the integer channel sums (the mean is a monotonic function of them, so the order statistics
    are the same pixels), about ten times faster than ``np.median(grid.mean(axis=2))``."""
    if grid.ndim == 3:
        vals, div = grid[..., 0].astype(np.uint16) + grid[..., 1] + grid[..., 2], 3.0
    else:
        vals, div = grid, 1.0
    flat = vals.ravel()
    n = flat.size
    if n % 2:
        return float(np.partition(flat, n // 2)[n // 2] / div)
    part = np.partition(flat, [n // 2 - 1, n // 2])
    return float((part[n // 2 - 1] / div + part[n // 2] / div) / 2.0)


class PersonScale:
    """How tall a person is in the image as a function of the row their feet are on, learnt online.

    For a static camera over flat ground a person's image height is close to linear in their foot
    row (zero at the horizon). Single, upright, well-filled detections that do not touch the image
    border are the samples; a least-squares line is refitted every ``SCALE_REFIT_EVERY`` samples,
    once with all of them and once without those more than ``SCALE_OUTLIER_FRACTION`` off the first
    line (merged pairs and fragments). ``expected_height`` is None until ``SCALE_MIN_SAMPLES``
    samples and a line that grows downwards exist."""

    def __init__(self) -> None:
        self._rows: deque[float] = deque(maxlen=SCALE_SAMPLES)
        self._heights: deque[float] = deque(maxlen=SCALE_SAMPLES)
        self._since_fit = 0
        self.line: tuple[float, float] | None = None   # height_px = a * foot_row + b

    def observe(self, foot_row: int, height: int, width: int, fill: float, shape: tuple[int, int]) -> None:
        aspect = height / max(width, 1)
        if not (SCALE_MIN_ASPECT <= aspect <= SCALE_MAX_ASPECT and fill >= SCALE_MIN_FILL):
            return
        if foot_row >= shape[0] - 1 or foot_row - height <= 0:
            return                           # cut by the image border: not the full height
        self._rows.append(float(foot_row))
        self._heights.append(float(height))
        self._since_fit += 1
        due = self.line is None or self._since_fit >= SCALE_REFIT_EVERY
        if len(self._rows) >= SCALE_MIN_SAMPLES and due:
            self._fit()

    def _fit(self) -> None:
        self._since_fit = 0
        r, h = np.asarray(self._rows), np.asarray(self._heights)
        if np.ptp(r) < SCALE_MIN_ROW_SPREAD_PX:
            return
        a, b = np.polyfit(r, h, 1)
        keep = np.abs(h - (a * r + b)) <= SCALE_OUTLIER_FRACTION * np.maximum(a * r + b, 1.0)
        if keep.sum() >= SCALE_MIN_SAMPLES // 2 and np.ptp(r[keep]) >= SCALE_MIN_ROW_SPREAD_PX:
            a, b = np.polyfit(r[keep], h[keep], 1)
        self.line = (float(a), float(b)) if a > 0 else None

    def expected_height(self, foot_row: float) -> float | None:
        if self.line is None:
            return None
        h = self.line[0] * foot_row + self.line[1]
        return float(h) if h > 0 else None


def split_rows(blob: np.ndarray, top: int, scale: PersonScale, cfg: CameraSegmenterConfig
               ) -> list[tuple[int, int]]:
    """Row ranges of the people in a blob whose top row in the image is ``top``: a blob much taller
    than a person standing on its foot row is a near person with a farther one above (a camera
    looking down sees the far person's feet behind the near one's head); the near one is cut off at
    the expected height, the rest is looked at again from its own foot row. A person expected shorter
    than ``min_height_px`` is no detection, so nothing is cut for one: a scale learnt from a moving
    camera's image (foot rows of any height) once cut a whole-image blob a row at a time, a thousand
    levels deep."""
    all_rows = np.flatnonzero(blob.any(axis=1))
    if cfg.split_stack_height_ratio <= 0:
        return [(0, blob.shape[0])]
    pieces: list[tuple[int, int]] = []
    end = blob.shape[0]
    while True:
        rows = all_rows[all_rows < end]
        if rows.size == 0:
            break
        bottom = int(rows[-1]) + 1
        expected = scale.expected_height(top + bottom)
        if (expected is None or expected < cfg.min_height_px
                or bottom - int(rows[0]) <= cfg.split_stack_height_ratio * expected):
            break
        cut = int(round(bottom - expected))
        upper = rows[rows < cut]
        if upper.size == 0 or int(upper[-1]) + 1 - int(upper[0]) < cfg.min_height_px:
            break
        pieces.append((cut, end))
        end = cut
    return [(0, end)] + pieces[::-1]


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


def stack_components(stats: np.ndarray, cfg: CameraSegmenterConfig) -> list[list[int]]:
    """Connected components (``cv2.connectedComponentsWithStats`` stats, row 0 = background) grouped
    into people: a component stacked on another (columns overlapping by ``stack_min_overlap`` of the
    narrower, vertical gap at most ``stack_max_gap_fraction`` of their joint height) is the same
    person. In low light and on noisy sensors the neck, belt or knees often match the background,
    cutting the head or the legs off the body's blob."""
    n = stats.shape[0]
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    if cfg.stack_max_gap_fraction > 0 and n > 2:
        x0, y0 = stats[1:, 0], stats[1:, 1]
        x1, y1 = x0 + stats[1:, 2], y0 + stats[1:, 3]
        overlap = np.minimum(x1[:, None], x1[None]) - np.maximum(x0[:, None], x0[None])
        narrow = np.minimum(stats[1:, 2][:, None], stats[1:, 2][None])
        gap = np.maximum(y0[:, None], y0[None]) - np.minimum(y1[:, None], y1[None])
        joint = np.maximum(y1[:, None], y1[None]) - np.minimum(y0[:, None], y0[None])
        near = (overlap >= cfg.stack_min_overlap * narrow) & (gap <= cfg.stack_max_gap_fraction * joint)
        for a, b in zip(*np.nonzero(np.triu(near, 1))):
            ra, rb = find(int(a) + 1), find(int(b) + 1)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for k in range(1, n):
        groups.setdefault(find(k), []).append(k)
    return list(groups.values())


#: Largest label count CV_16U labels can hold (label 0 is the background).
MAX_U16_LABELS = 65535


def foreground_components(fg: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """``cv2.connectedComponentsWithStats(fg, connectivity=8)`` of a mostly empty mask, labelled only
    within the bounding box of its foreground: (labels of that window, stats in full-image
    coordinates, (row, column) of the window's origin).

    The same components, numbered the same (the window starts on an even row and column, so the
    labelling's 2 x 2 blocks are the full image's), for a fraction of the pixels; the labels are
    16-bit where the window cannot hold more components (a quarter of its pixels), which halves the
    memory written. Stats row 0 (the background) covers the window only.
    """
    x, y, w, h = cv2.boundingRect(fg)
    if w == 0 or h == 0:                   # no foreground: the background alone
        background = np.array([[0, 0, fg.shape[1], fg.shape[0], fg.size]], np.int32)
        return np.zeros((0, 0), np.uint16), background, (0, 0)
    x0, y0 = x & ~1, y & ~1
    win = fg[y0:y + h, x0:x + w]
    most = ((win.shape[0] + 1) // 2) * ((win.shape[1] + 1) // 2)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(
        win, connectivity=8, ltype=cv2.CV_16U if most < MAX_U16_LABELS else cv2.CV_32S)
    stats[:, 0] += x0
    stats[:, 1] += y0
    return labels, stats, (y0, x0)


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
        self._mono: bool | None = None
        self._ref_mean: float | None = None   # median grey level the model learnt the scene at
        self.gain = 1.0                       # last gain compensation applied
        self.restarts = 0
        self._frames = 0
        self._model: cv2.BackgroundSubtractor | None = None   # made on the first frame (colour or mono)
        self.scale = PersonScale()
        self._open = self._kernel(cfg.morph_open_px)      # full-resolution pixels at any bg_scale
        self._close = self._kernel(cfg.morph_close_px)

    @staticmethod
    def _kernel(px: int) -> np.ndarray | None:
        return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (px, px)) if px > 0 else None

    def _make_model(self, shadows: bool | None = None) -> cv2.BackgroundSubtractor:
        c = self.cfg
        shadows = c.bg_detect_shadows if shadows is None else shadows
        if c.bg_method == "mog2":
            model = cv2.createBackgroundSubtractorMOG2(
                history=c.bg_history_frames, varThreshold=c.bg_var_threshold, detectShadows=shadows)
        else:
            model = cv2.createBackgroundSubtractorKNN(
                history=c.bg_history_frames, dist2Threshold=c.bg_knn_dist2_threshold, detectShadows=shadows)
        model.setShadowThreshold(c.bg_shadow_threshold)
        return model

    @property
    def warming_up(self) -> bool:
        return self._frames < self.cfg.warmup_frames

    def _restart(self, why: str) -> None:
        log.info("restarting the background model: %s", why)
        self._model = None
        self._frames = 0
        self._ref_mean = None
        self.restarts += 1
        if why == "image size changed":
            self.scale = PersonScale()

    def _prepare(self, image: np.ndarray) -> np.ndarray:
        """Grey for monochrome input, downscaled by ``bg_scale``, gain-compensated to the model's mean."""
        mono = is_monochrome(image)
        if mono and image.ndim == 3:
            image = np.ascontiguousarray(image[:, :, 0])
        shape = image.shape[:2]
        if self._shape is not None and shape != self._shape:
            log.warning("image size changed from %s to %s: restarting the background model",
                        self._shape, shape)
            self._restart("image size changed")
        elif self._mono is not None and mono != self._mono:
            self._restart(f"the camera switched to {'monochrome (IR)' if mono else 'colour'}")
        if self._model is None or self._mono != mono:
            self._model = self._make_model(shadows=self.cfg.bg_detect_shadows and not mono)
        self._shape, self._mono = shape, mono
        scale = self.cfg.bg_scale
        small = image if scale == 1.0 else cv2.resize(image, None, fx=scale, fy=scale,
                                                      interpolation=cv2.INTER_AREA)
        if self.cfg.bg_blur_px > 1:
            k = self.cfg.bg_blur_px | 1
            small = cv2.GaussianBlur(small, (k, k), 0)
        if self.cfg.bg_gain_compensation:
            # the median of a sparse grid: robust to people covering part of the image (a mean is not:
            # a person walking in would darken the whole compensated frame), and cheap
            grid = small[::GAIN_GRID_STRIDE, ::GAIN_GRID_STRIDE]
            mean = grid_median(grid)
            if self._ref_mean is None:
                self._ref_mean = max(mean, MIN_REFERENCE_MEAN)
            gain = self._ref_mean / max(mean, MIN_REFERENCE_MEAN)
            self.gain = float(np.clip(gain, 1.0 / MAX_GAIN_COMPENSATION, MAX_GAIN_COMPENSATION))
            if abs(self.gain - 1.0) > GAIN_DEADBAND:
                small = cv2.convertScaleAbs(small, alpha=self.gain)
        return small

    def foreground(self, image: np.ndarray) -> np.ndarray:
        """Update the model and return the cleaned (H, W) uint8 {0,255} foreground."""
        small = self._prepare(image)
        fg = self._model.apply(small, learningRate=self.cfg.bg_learning_rate)
        self._frames += 1
        _, fg = cv2.threshold(fg, FOREGROUND_THRESHOLD, 255, cv2.THRESH_BINARY)
        if (self._frames > self.cfg.warmup_frames
                and cv2.countNonZero(fg) > self.cfg.bg_reset_foreground_fraction * fg.size):
            self._restart(f"over {self.cfg.bg_reset_foreground_fraction:.0%} of the image changed at once")
            small = self._prepare(image)
            self._model.apply(small, learningRate=1.0)   # the new scene is this frame
            self._frames = 1
            fg[:] = 0
        if self.cfg.bg_scale != 1.0:
            # back to full resolution before the morphology: its 3 and 7 px kernels at full scale keep
            # what they keep at bg_scale 1 (scaled down to 1-2 and 3-4 px they did not: RESULTS.md)
            fg = cv2.resize(fg, (self._shape[1], self._shape[0]), interpolation=cv2.INTER_NEAREST)
        if self._open is not None:
            fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, self._open)
        if self._close is not None:
            fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, self._close)
        return fg

    def segment(self, image: np.ndarray) -> list[CameraDetection]:
        fg = self.foreground(image)
        if self._frames <= self.cfg.warmup_frames:  # this frame was still a warm-up frame
            return []
        labels, stats, (oy, ox) = foreground_components(fg)
        dets, areas = [], []
        for group in stack_components(stats, self.cfg):
            x0, y0 = stats[group, 0].min(), stats[group, 1].min()
            x, y = int(x0), int(y0)
            w = int((stats[group, 0] + stats[group, 2]).max()) - x
            h = int((stats[group, 1] + stats[group, 3]).max()) - y
            if h < self.cfg.min_height_px or int(stats[group, 4].sum()) < self.cfg.min_area_px:
                continue
            sub = labels[y - oy:y - oy + h, x - ox:x - ox + w]
            blob = sub == group[0] if len(group) == 1 else np.isin(sub, group)
            stacked = split_rows(blob, y, self.scale, self.cfg)
            for b0, b1 in stacked:
                rows_blob = blob[b0:b1]
                splits = split_columns(rows_blob, self.cfg)
                for c0, c1 in splits:
                    part = rows_blob[:, c0:c1]
                    rows = np.flatnonzero(part.any(axis=1))
                    cols = np.flatnonzero(part.any(axis=0))
                    if rows.size == 0:
                        continue
                    r0, r1, q0, q1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
                    pw, ph, parea = q1 - q0, r1 - r0, int(part.sum())
                    if not _passes_gate(self.cfg, pw, ph, parea):
                        continue
                    top, left = y + b0 + r0, x + c0 + q0
                    mask = np.zeros(fg.shape, dtype=bool)
                    mask[top:top + ph, left:left + pw] = part[r0:r1, q0:q1]
                    fill = parea / (pw * ph)
                    if len(stacked) == 1 and len(splits) == 1:
                        self.scale.observe(top + ph, ph, pw, fill, fg.shape)
                    dets.append(CameraDetection(mask, (float(left), float(top), float(left + pw),
                                                       float(top + ph)), score=float(min(1.0, fill))))
                    areas.append(parea)                  # = mask.sum(), without a full-image pass
        order = sorted(range(len(dets)), key=lambda k: -float(areas[k]))   # largest first, stable
        return [dets[k] for k in order[: self.cfg.max_detections]]


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
        with needs_full_setup("camera backend 'yolo'"):
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

    @property
    def restarts(self) -> int:
        """Background-model restarts so far (size, colour/mono switch, sudden global change)."""
        return int(getattr(self._backend, "restarts", 0))

    def segment(self, image: np.ndarray) -> list[CameraDetection]:
        """One detection per person passing the size gate, largest (background) / surest (yolo) first.
        ``image``: (H, W, 3) bgr8 or (H, W) mono8."""
        check_bgr(image)
        self.frames_seen += 1
        if image.ndim == 2 and isinstance(self._backend, _YoloBackend):
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        return self._backend.segment(np.ascontiguousarray(image))


__all__ = ["CameraDetection", "CameraSegmenter", "check_bgr", "is_monochrome", "label_image", "SHADOW_VALUE",
           "CameraSegmenterConfig"]
