"""Camera segmentation at night and in crowds: mono8 input, gain compensation, restarts on a global
change, stacked pieces of one person, stacked people; the simulator's night cameras; real video."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tcfd_ros.perception.config import CameraSegmenterConfig
from tcfd_ros.perception.segment_camera import (CameraSegmenter, PersonScale, is_monochrome, split_rows,
                                                stack_components)

H, W = 120, 240


def _mono_frames(n: int, gains=None, people: int = 1):
    """A static grey scene (IR-like: dark, noisy) with bright upright 'people' walking right."""
    rng = np.random.default_rng(3)
    bg = np.clip(40 + rng.normal(0, 6, (H, W)), 0, 255)
    body = rng.uniform(110, 200, (60, 18))          # textured, moves with the person
    for i in range(n):
        f = bg + rng.normal(0, 3, (H, W))
        for k in range(people):
            x = 5 + 3 * i + 90 * k
            f[30:90, x:x + 18] = body
        g = 1.0 if gains is None else gains[i]
        yield np.clip(f * g, 0, 255).astype(np.uint8)


def test_mono8_input_is_segmented_as_grey():
    seg = CameraSegmenter(CameraSegmenterConfig(warmup_frames=10))
    for f in _mono_frames(40, people=2):
        assert f.ndim == 2
        dets = seg.segment(f)
    assert len(dets) == 2
    for d in dets:
        assert d.mask.shape == (H, W)
        assert 55 <= d.bbox_xyxy[3] - d.bbox_xyxy[1] <= 62


def test_equal_channel_bgr_counts_as_monochrome():
    grey = next(_mono_frames(1))
    assert is_monochrome(grey)
    assert is_monochrome(np.repeat(grey[:, :, None], 3, axis=2))
    colour = np.repeat(grey[:, :, None], 3, axis=2)
    colour[..., 2] = np.clip(colour[..., 2].astype(int) + 9, 0, 255)
    assert not is_monochrome(colour)


def test_gain_compensation_keeps_finding_people_while_the_light_fades():
    gains = np.concatenate([np.ones(20), np.linspace(1.0, 0.25, 30)])  # dusk / AGC: 4x darker
    found = []
    for comp in (True, False):
        seg = CameraSegmenter(CameraSegmenterConfig(warmup_frames=10, bg_gain_compensation=comp))
        counts = [len(seg.segment(f)) for f in _mono_frames(50, gains=gains)]
        found.append(counts[-15:])
    assert all(c == 1 for c in found[0])             # compensated: the one person, every frame
    assert any(c != 1 for c in found[1])             # uncompensated: the darkening scene breaks it


def test_a_sudden_global_change_restarts_the_model(caplog):
    seg = CameraSegmenter(CameraSegmenterConfig(warmup_frames=5))
    for f in _mono_frames(20):
        seg.segment(f)
    assert seg.restarts == 0 and not seg.warming_up
    rng = np.random.default_rng(9)
    other = np.full((H, W), 10.0)                 # a different scene (IR on): the gain cannot explain it
    other[:, : W // 2] = 200.0
    other = np.clip(other + rng.normal(0, 3, (H, W)), 0, 255).astype(np.uint8)
    with caplog.at_level("INFO"):
        assert seg.segment(other) == []
    assert seg.restarts == 1 and seg.warming_up and "restarting" in caplog.text
    colour = np.dstack([other, other, np.clip(other.astype(int) + 20, 0, 255).astype(np.uint8)])
    seg.segment(colour)                                           # the camera left IR mode
    assert seg.restarts == 2


def _stats(*boxes):
    """connectedComponentsWithStats-like rows (x, y, w, h, area); row 0 is the background."""
    return np.array([[0, 0, W, H, 0]] + [[x, y, w, h, w * h // 2] for x, y, w, h in boxes])


def test_stacked_pieces_of_one_person_are_joined_and_neighbours_are_not():
    cfg = CameraSegmenterConfig()
    head, body, legs = (100, 20, 12, 12), (96, 36, 20, 40), (98, 80, 16, 30)
    neighbour = (140, 36, 20, 70)
    far_above = (100, 0, 12, 5)
    groups = sorted(stack_components(_stats(head, body, legs, neighbour), cfg))
    assert groups == [[1, 2, 3], [4]]
    off = CameraSegmenterConfig(stack_max_gap_fraction=0.0)
    assert len(stack_components(_stats(head, body, legs), off)) == 3
    # a gap much larger than the people involved keeps them apart
    assert len(stack_components(_stats((100, 0, 12, 10), (100, 60, 12, 40)), cfg)) == 2
    assert stack_components(_stats(far_above), cfg) == [[1]]


def test_person_scale_learns_height_by_foot_row_and_splits_stacked_people():
    scale = PersonScale()
    rng = np.random.default_rng(1)
    for _ in range(60):
        foot = float(rng.uniform(150, 400))
        h = 0.4 * foot - 40 + rng.normal(0, 2)                    # 20 px at row 150, 120 px at row 400
        scale.observe(int(foot), int(h), int(h / 3), 0.6, (480, 640))
    for _ in range(10):                                           # merged pairs: not people
        scale.observe(300, 40, 60, 0.6, (480, 640))
    assert scale.expected_height(400) == pytest.approx(120, abs=8)
    cfg = CameraSegmenterConfig()
    blob = np.zeros((200, 30), bool)             # top row 210: a near person (rows 286-410, 124 px)
    blob[76:200, 5:25] = True                    # with a far one above (rows 210-290, feet behind
    blob[0:80, 10:20] = True                     # the near one's head)
    parts = split_rows(blob, 210, scale, cfg)
    assert len(parts) == 2 and parts[1][1] == 200 and abs(parts[1][0] - 76) <= 8
    single = np.zeros((120, 30), bool)
    single[:, 5:25] = True
    assert split_rows(single, 280, scale, cfg) == [(0, 120)]     # one person of the expected height
    assert split_rows(blob, 210, PersonScale(), cfg) == [(0, 200)]   # nothing learnt: no split


@pytest.mark.parametrize("condition", ["nt", "nl"])
def test_night_bag_frames_are_segmented(condition):
    """Simulated night (IR mono8, and low light without IR): most detectable people are found."""
    from tcfd_ros.replay.config import ScoringConfig
    from tcfd_ros.replay.records import GTFrame, GTPerson, Observation, OutputFrame
    from tcfd_ros.replay.scoring import score_detection
    from tcfd_ros.sim.bag import BagSimulation, BagSpec

    sim = BagSimulation(BagSpec(out=Path("unused"), people=3, duration_s=9.0, seed=5151,
                                conditions=(condition,), layout="overlap"))
    seg = CameraSegmenter()
    gt, out = [], []
    for k in range(len(sim.cam_t)):
        img, truth = sim.camera_frame(k)
        assert img.ndim == (2 if condition == "nt" else 3)
        t = float(sim.cam_t[k])
        out.append(OutputFrame("camera", t, tuple(Observation(-1, image_box=d.bbox_xyxy)
                                                  for d in seg.segment(img))))
        gt.append(GTFrame("camera", t, tuple(GTPerson(p["id"], p["image_box"] and tuple(p["image_box"]), None,
                                                      p["detectable"]) for p in truth["people"])))
    s = score_detection(gt, out, "2d", ScoringConfig())
    assert s.true_positives + s.false_negatives >= 100
    assert s.recall >= 0.55 and s.precision >= 0.6, (s.recall, s.precision)


def test_sim_night_cameras():
    from tcfd_ros.sim.lighting import DUSK_SWITCH_FRACTION, Lighting, lighting_at
    from tcfd_ros.sim.scan import Actor, CameraRenderer
    from tcfd_ros.sim.sensors import camera_model, camera_pose
    from tcfd_ros.sim.shapes import Shapes, box

    assert lighting_at(("nt",), 3.0, 30.0) == Lighting("ir", 0.0, mono=True)
    assert lighting_at(("nl",), 3.0, 30.0).mode == "lowlight"
    dusk = [lighting_at(("dk",), t, 30.0) for t in (0.0, 5.0, 14.0, 30.0 * DUSK_SWITCH_FRACTION + 0.1)]
    assert dusk[0].level == pytest.approx(1.0) and dusk[1].level > dusk[2].level
    assert dusk[3].mode == "ir" and not dusk[3].mono
    cam = camera_model(160, 120, 70.0, 15.0, 2.0)
    R, t = camera_pose([0.0, 0.0, 1.0], 0.0, 0.0)
    renderer = CameraRenderer(cam, R, t, None)

    def person(x):
        return Actor(7, Shapes.concat([box([x, 0.0, 1.0], [0.4, 0.4, 1.6], 0)]),
                     np.array([[0.5, 0.5, 0.5]]), np.array([0.5]))

    rng = np.random.default_rng(0)
    near = renderer.render([person(5.0)], rng, lighting=Lighting("ir", 0.0, mono=True))
    far = renderer.render([person(15.0)], rng, lighting=Lighting("ir", 0.0, mono=True))
    assert near.image.shape == (120, 160) and near.image.dtype == np.uint8
    bright_near = near.image[near.labels == 7].mean()
    bright_far = far.image[far.labels == 7].mean()
    assert bright_near > 1.5 * bright_far > 1.5 * 8          # inverse-square falloff; the sky is black
    assert far.image[near.labels == -1].mean() < 8
    eq = renderer.render([person(5.0)], rng, lighting=Lighting("ir", 0.0, mono=False)).image
    assert eq.shape == (120, 160, 3) and is_monochrome(eq)
    day = renderer.render([person(5.0)], rng).image
    low = renderer.render([person(5.0)], rng, lighting=Lighting("lowlight", 0.06)).image
    assert low.shape == day.shape == (120, 160, 3)
    assert low.mean() < day.mean()
    grain = lambda img: np.abs(np.diff(img[:40].astype(float), axis=1)).mean()  # noqa: E731
    assert grain(low) > grain(day)                            # amplified sensor noise


def test_real_video_stretch_gives_sane_detections_and_tracks(real_data):
    from tcfd_ros.perception.real_video import run_video

    stats = run_video(real_data / "video" / "vtest_480x360.avi", max_frames=200)
    s = stats.summary()
    assert stats.frames == 200
    d = s["detections_per_frame"]
    assert 1.5 <= d["mean"] <= 12 and d["frames_with_none"] <= 20      # a courtyard with several walkers
    t = s["tracks"]
    assert 2 <= t["confirmed"] <= 60                                    # not one track per frame
    assert t["lasting_2s_or_more"] >= 2 and t["frames_max"] >= 60


def _learnt_scale(a: float, b: float) -> PersonScale:
    """A scale that has learnt height = a * foot_row + b from clean samples."""
    scale = PersonScale()
    for foot in np.linspace(150, 400, 60):
        h = a * foot + b
        scale.observe(int(foot), max(int(round(h)), 1), max(int(round(h / 3)), 1), 0.6, (480, 640))
    return scale


def test_three_stacked_people_are_cut_into_three():
    scale = _learnt_scale(0.4, -40.0)            # 20 px at row 150, 120 px at row 400
    cfg = CameraSegmenterConfig()
    blob = np.zeros((260, 30), bool)             # top row 150: people standing on rows 410, 310, 250
    blob[136:260, 5:25] = True                   # the near one, 124 px (expected 124 at row 410)
    blob[76:160, 8:22] = True                    # the middle one, 84 px (expected 84 at row 310)
    blob[0:100, 10:20] = True                    # the far one's head and body above it
    parts = split_rows(blob, 150, scale, cfg)
    assert len(parts) == 3
    assert parts[0][0] == 0 and parts[-1][1] == 260
    assert all(a < b for (a, _), (b, _) in zip(parts, parts[1:]))


def test_a_scale_of_tiny_people_does_not_cut_a_blob_a_row_at_a_time():
    # a moving camera's foreground gives the scale foot rows of any height; here a person is learnt
    # 1-2 px tall, and a blob over the whole image used to be cut a row at a time until Python's
    # recursion limit (the camera segmenter dropped 154 of 600 robot images with a RecursionError)
    scale = _learnt_scale(0.004, 0.5)
    cfg = CameraSegmenterConfig()
    assert 0 < scale.expected_height(470) < cfg.min_height_px
    whole = np.ones((470, 640), bool)
    assert split_rows(whole, 0, scale, cfg) == [(0, 470)]
