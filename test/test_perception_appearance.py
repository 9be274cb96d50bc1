"""Clothing colour of camera detections (``perception.appearance``) and its path into the tracker's
measurements (``sensor_tracking.camera_measurements`` with the frame's image)."""

from __future__ import annotations

import colorsys

import numpy as np

from tcfd_ros.perception.appearance import N_BINS, appearance_distance, describe
from tcfd_ros.perception.sensor_tracking import camera_measurements
from tcfd_ros.sim.lighting import LOWLIGHT_LEVEL, expose_lowlight

H, W = 240, 320
SKY = (0.55, 0.6, 0.62)          # BGR 0..1 background
SKIN = (0.45, 0.55, 0.75)


def _bgr(hue: float, sat: float, val: float) -> tuple[float, float, float]:
    r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
    return (b, g, r)


def _person(img: np.ndarray, labels: np.ndarray, k: int, x0: int, top, bottom, seed: int) -> None:
    """A 30 x 120 px walker at column ``x0``: head (skin), torso ``top``, legs ``bottom`` (BGR 0..1),
    with shading texture; writes its pixels to ``img`` and label ``k`` to ``labels``."""
    rng = np.random.default_rng(seed)
    y0 = 60
    parts = ((y0, y0 + 20, x0 + 8, x0 + 22, SKIN), (y0 + 20, y0 + 62, x0, x0 + 30, top),
             (y0 + 62, y0 + 120, x0 + 3, x0 + 27, bottom))
    for r0, r1, c0, c1, colour in parts:
        shade = rng.uniform(0.8, 1.0, size=(r1 - r0, c1 - c0, 1))
        img[r0:r1, c0:c1] = np.asarray(colour) * shade
        labels[r0:r1, c0:c1] = k


def _scene(people, seed=0):
    img = np.zeros((H, W, 3)) + np.asarray(SKY)
    labels = np.zeros((H, W), np.uint16)
    for k, (x0, top, bottom) in enumerate(people, start=1):
        _person(img, labels, k, x0, top, bottom, seed + k)
    return img, labels


def _to_u8(img: np.ndarray) -> np.ndarray:
    return np.clip(img * 255, 0, 255).astype(np.uint8)


RED, BLUE = _bgr(0.0, 0.7, 0.8), _bgr(0.62, 0.7, 0.7)
GREY, DARK = _bgr(0.0, 0.05, 0.6), _bgr(0.1, 0.4, 0.25)


def test_same_clothes_are_near_different_clothes_far():
    img, labels = _scene([(40, RED, DARK), (200, BLUE, DARK)], seed=1)
    img2, labels2 = _scene([(120, RED, DARK), (260, BLUE, DARK)], seed=7)   # other places, other shading
    a, b = camera_measurements(labels, _to_u8(img))
    a2, b2 = camera_measurements(labels2, _to_u8(img2))
    for m in (a, b, a2, b2):
        assert m.appearance is not None and m.appearance.hist.shape == (2, N_BINS)
        np.testing.assert_allclose(m.appearance.hist.sum(axis=1), 1.0)
        assert m.appearance.weight > 0.5                    # saturated, well lit, 3000+ pixels
    same = appearance_distance(a.appearance.hist, a2.appearance.hist)
    other = appearance_distance(a.appearance.hist, b2.appearance.hist)
    assert same < 0.15 and other > 0.45                      # the average of a torso ~1 and legs ~0
    assert appearance_distance(a.appearance.hist[:1], b.appearance.hist[:1]) > 0.9     # torsos
    assert appearance_distance(a.appearance.hist[1:], b.appearance.hist[1:]) < 0.15    # same trousers


def test_grey_clothes_still_differ_by_brightness_but_weigh_less():
    img, labels = _scene([(40, GREY, GREY), (200, _bgr(0.0, 0.05, 0.15), _bgr(0.0, 0.05, 0.15))])
    light, dark = camera_measurements(labels, _to_u8(img))
    assert appearance_distance(light.appearance.hist, dark.appearance.hist) > 0.5
    assert light.appearance.weight < 0.3                     # no hue: little saturation


def test_low_light_weighs_less_and_monochrome_carries_no_colour():
    img, labels = _scene([(40, RED, DARK), (200, BLUE, DARK)])
    day = camera_measurements(labels, _to_u8(img))
    noise = np.random.default_rng(2).standard_normal(img.shape, dtype=np.float32)
    night = camera_measurements(labels, expose_lowlight(img, LOWLIGHT_LEVEL, noise))
    for d, n in zip(day, night):
        assert n.appearance is not None and n.appearance.weight < 0.6 * d.appearance.weight
    grey = np.repeat(_to_u8(img).mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)   # IR as bgr8
    assert all(m.appearance is None for m in camera_measurements(labels, grey))
    assert all(m.appearance is None for m in camera_measurements(labels, grey[..., 0]))      # mono8
    assert all(m.appearance is None for m in camera_measurements(labels))                  # no image
    assert all(m.appearance is None for m in camera_measurements(labels, _to_u8(img)[:100]))  # wrong size


def test_tiny_silhouettes_have_no_colour():
    img = _to_u8(np.zeros((H, W, 3)) + np.asarray(RED))
    mask = np.zeros((10, 4), bool)
    mask[2:8, 1:3] = True
    assert describe(img, mask, (10, 10, 14, 20)) is None
    assert appearance_distance(np.zeros((2, N_BINS)), np.ones((2, N_BINS)) / N_BINS) is None
