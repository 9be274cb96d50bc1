"""MOG2's shadow test against dark clothing: ``bg_shadow_threshold`` (OpenCV's tau) decides how dark a pixel
of the background's colour may get and still count as shadow (RESULTS.md, "Shadow detection and dark
clothing")."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tcfd_ros.errors import ConfigError
from tcfd_ros.perception.config import CameraSegmenterConfig
from tcfd_ros.perception.segment_camera import CameraSegmenter

H, W = 140, 260
BG_GREY = 140
TOP_RATIO = 0.62      # a grey jacket over grey paving: 62 % of the ground's brightness, the ground's colour
LEGS_RATIO = 0.25     # dark trousers: far darker than any shadow
SHADOW_RATIO = 0.85   # a soft cast shadow from the feet toward the camera (overcast light from behind)
HEAD_ROW, WAIST_ROW, FOOT_ROW = 30, 80, 120
BODY_W, SHADOW_ROWS = 24, 14


def _frames(n: int):
    """A walker with a mid-grey top and dark legs, a soft shadow on the ground below his feet."""
    rng = np.random.default_rng(1)
    bg = np.clip(BG_GREY + rng.normal(0, 3, (H, W, 3)), 0, 255).astype(np.float32)
    for i in range(n):
        f = bg.copy()
        x = 10 + 3 * i
        f[HEAD_ROW:WAIST_ROW, x:x + BODY_W] *= TOP_RATIO
        f[WAIST_ROW:FOOT_ROW, x:x + BODY_W] *= LEGS_RATIO
        f[FOOT_ROW:FOOT_ROW + SHADOW_ROWS, x - 4:x + BODY_W + 4] *= SHADOW_RATIO
        yield np.clip(f, 0, 255).astype(np.uint8)


def _last_box(cfg: CameraSegmenterConfig) -> tuple[float, float, float, float]:
    seg = CameraSegmenter(cfg)
    dets = [seg.segment(f) for f in _frames(50)][-1]
    assert len(dets) == 1, dets
    return dets[0].bbox_xyxy


def test_opencvs_tau_takes_a_grey_top_for_shadow():
    x0, y0, x1, y1 = _last_box(CameraSegmenterConfig(warmup_frames=10, bg_shadow_threshold=0.5))
    assert y0 >= WAIST_ROW - 3                  # only the legs: the jacket counted as shadow
    assert y1 <= FOOT_ROW + 3                   # and the cast shadow too


def test_the_shipped_tau_keeps_the_top_and_still_drops_the_soft_shadow():
    x0, y0, x1, y1 = _last_box(CameraSegmenterConfig(warmup_frames=10))
    assert y0 <= HEAD_ROW + 3
    assert FOOT_ROW - 3 <= y1 <= FOOT_ROW + 3   # the feet stand where they are: the ground position holds


def test_shadows_off_keep_the_top_but_stretch_the_box_down_the_shadow():
    x0, y0, x1, y1 = _last_box(CameraSegmenterConfig(warmup_frames=10, bg_detect_shadows=False))
    assert y0 <= HEAD_ROW + 3
    assert y1 >= FOOT_ROW + SHADOW_ROWS - 3


@pytest.mark.parametrize("tau", [0.0, 1.0, -0.2, 1.5])
def test_shadow_threshold_out_of_range_is_refused(tau):
    with pytest.raises(ConfigError, match="bg_shadow_threshold"):
        CameraSegmenter(CameraSegmenterConfig(bg_shadow_threshold=tau))


def test_courtyard_shadows_stay_out_of_the_boxes_at_the_shipped_tau(vtest_frames):
    """vtest's soft shadows at the feet: boxes with shadow detection off are wider than with it on at the
    shipped tau (the shadow is still removed), on the same frames."""
    base = CameraSegmenterConfig()
    on = CameraSegmenter(base)
    off = CameraSegmenter(dataclasses.replace(base, bg_detect_shadows=False))
    ratios = []
    for frame in vtest_frames(200):
        a, b = on.segment(frame), off.segment(frame)
        for d in a:
            x0, y0, x1, y1 = d.bbox_xyxy
            cx = (x0 + x1) / 2
            near = [e for e in b if e.bbox_xyxy[0] <= cx <= e.bbox_xyxy[2]
                    and abs(e.bbox_xyxy[3] - y1) < 0.3 * (y1 - y0)]
            if len(near) == 1:
                ratios.append((near[0].bbox_xyxy[2] - near[0].bbox_xyxy[0]) / (x1 - x0))
    assert len(ratios) >= 200
    assert np.median(ratios) >= 1.12
