"""Step frequency beside gait, speed and stature: leg widths from aligned frames, the periodogram's rate on
synthetic, simulated and real silhouettes, per-track accumulation, the likelihood ratio, and the recognizer
weighing it (perception.step_frequency)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tcfd_ros.errors import ConfigError
from tcfd_ros.perception.config import IdentityConfig
from tcfd_ros.perception.cue_combination import cue_ratio
from tcfd_ros.perception.identity import IdentityManager, TrackObservation
from tcfd_ros.perception.step_frequency import (
    LOWER_BODY_FROM,
    TrackStepFrequencies,
    leg_widths,
    step_frequency,
    step_frequency_likelihood_ratio,
)
from test_perception_walking_speed import BASE, PERSON, _at_distance

CAMERA_HZ = 15.0


def _legs(widths_px: np.ndarray, size: int = 64) -> np.ndarray:
    """Silhouettes: a torso, and two legs whose outer edges are ``widths_px`` apart in the lower rows."""
    out = np.zeros((len(widths_px), size, size), np.uint8)
    out[:, 5:int(LOWER_BODY_FROM * size), 26:38] = 255
    for i, w in enumerate(np.rint(widths_px).astype(int)):
        left = 32 - w // 2
        out[i, int(LOWER_BODY_FROM * size):, left:left + 4] = 255
        out[i, int(LOWER_BODY_FROM * size):, left + w - 3:left + w + 1] = 255
    return out


def _stamps(seconds: float, rate_hz: float, seed: int = 0) -> np.ndarray:
    """A sensor's frame stamps with jitter (uneven, as a camera's and a LiDAR's are)."""
    n = int(seconds * rate_hz)
    return np.arange(n) / rate_hz + np.random.default_rng(seed).uniform(0, 0.2 / rate_hz, n)


def _swing(t: np.ndarray, step_hz: float, seed: int = 0) -> np.ndarray:
    """Leg widths (pixels) swinging at ``step_hz`` with a slow drift (turning, range) and pixel noise."""
    rng = np.random.default_rng(seed)
    return 14 + 6 * np.abs(np.sin(np.pi * step_hz * t)) + 2 * np.sin(0.4 * t) + rng.normal(0, 0.7, t.size)


def test_leg_widths_are_the_lower_bodys_extent_in_silhouettes_and_range_views():
    w = np.array([8, 12, 20, 27])
    frames = _legs(w)
    assert leg_widths(frames, "2d") == pytest.approx(w)
    views = np.zeros((4, 3, 64, 64), np.uint8)
    views[:, 2] = frames                                    # a range view lit in one colour channel
    assert leg_widths(views, "3d") == pytest.approx(w)
    frames[1, int(LOWER_BODY_FROM * 64):] = 0               # legs unseen (cut off, occluded)
    assert np.isnan(leg_widths(frames, "2d")[1])
    with pytest.raises(ValueError, match="shape"):
        leg_widths(views, "2d")


@pytest.mark.parametrize("step_hz", [1.5, 1.8, 2.2])
def test_the_step_rate_of_swinging_legs_is_found_to_a_hundredth_of_a_hertz(step_hz):
    t = _stamps(8.0, CAMERA_HZ, seed=int(step_hz * 10))
    est = step_frequency(t, leg_widths(_legs(_swing(t, step_hz)), "2d"))
    assert est.hz == pytest.approx(step_hz, abs=0.01) and est.power > 0.3
    # no swing, too few frames: no rate; a rate outside the band is not invented
    assert step_frequency(t, np.full(t.size, 14.0)) is None
    assert step_frequency(t[:10], _swing(t[:10], step_hz)) is None
    noise = np.random.default_rng(1).normal(14, 2, t.size)
    assert step_frequency(t, noise).power < 0.1


@pytest.mark.parametrize("view, tolerance_hz", [(90, 0.015),
                                                (30, IdentityConfig().step_frequency_within_sd_hz)])
def test_a_simulated_walker_steps_at_twice_its_cadence_in_both_sensors_frames(tmp_path, view, tolerance_hz):
    """The simulator's camera silhouettes and LiDAR range views of a 10 s walk give the step rate its body
    model walks at (twice the identity's cadence, scaled by the walk's pace): to a hundredth of a hertz
    side-on, within the configured within-person SD obliquely (the legs' swing is narrower there)."""
    from tcfd_ros.sim.dataset import DatasetSpec, Rig, simulate_sequence, sequence_key
    from tcfd_ros.sim.person import sample_identity, sample_variation

    spec = DatasetSpec(out=tmp_path / "unused", identities=1, views=(view,), conditions=("nm",), frames=100,
                       camera_hz=CAMERA_HZ)
    res = simulate_sequence(spec, Rig(spec), 0, 1, "01-nm", "nm", view)
    ident = sample_identity(0, spec.seed)
    var = sample_variation(ident, "nm", spec.seed, sequence_key(1, view))
    truth = 2.0 * ident.cadence_hz * var.speed_factor ** 0.45          # as sim.body poses it
    sils = [(t, s) for t, s in zip(res["cam_t"], res["sils"]) if s is not None]
    views = [(t, d) for t, d in zip(res["lidar_t"], res["depths"]) if d is not None]
    for pairs, modality in ((sils, "2d"), (views, "3d")):
        frames = np.stack([f for _, f in pairs])                          # (T, 64, 64) / (T, 3, 64, 64)
        est = step_frequency([t for t, _ in pairs], leg_widths(frames, modality))
        assert est.hz == pytest.approx(truth, abs=tolerance_hz), (modality, est, truth)
        assert est.power >= IdentityConfig().step_frequency_min_power, (modality, est)


def _real_tracks(real_data: Path):
    import cv2
    root = real_data / "gait" / "all_in_one_gait_demo" / "GaitSilhouette"
    for track in sorted(p for video in ("gallery", "probe1") for p in (root / video).iterdir()):
        files = sorted((track / "undefined").glob("*.png"))
        frames = np.stack([cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files])
        yield track, np.array([int(f.stem.split("-")[1]) / 30.0 for f in files]), frames   # 30 fps video


def test_real_walkers_step_at_human_rates(real_data):
    """Eight real tracks (OpenGait's All-in-One-Gait demo: every 4th frame of 30 fps, ~7.5 s, mostly
    frontal): where the periodogram has a clear peak it lies at a human step rate; the four people walking
    side by side in one video step at much the same rate."""
    rates = {}
    for track, t, frames in _real_tracks(real_data):
        est = step_frequency(t, leg_widths(frames, "2d"))
        if est is not None and est.power >= IdentityConfig().step_frequency_min_power:
            rates[f"{track.parent.name}/{track.name}"] = est.hz
    assert len(rates) >= 5, rates
    assert all(1.5 <= hz <= 2.1 for hz in rates.values()), rates
    side_by_side = [hz for k, hz in rates.items() if k.startswith("gallery")]
    assert len(side_by_side) >= 2 and max(side_by_side) - min(side_by_side) < 0.15, rates


def test_a_real_side_view_walk_has_a_clear_step_rate(real_data):
    """OpenGait's README gifs (CASIA-B style side views, 25-33 fps, ~2 s): a clear peak at a human rate."""
    from PIL import Image
    for condition in ("nm", "cl", "bg"):
        gif = Image.open(real_data / "gait" / "opengait_readme_gifs" / f"{condition}.gif")
        frames, stamps, t = [], [], 0.0
        for k in range(gif.n_frames):
            gif.seek(k)
            frames.append(np.asarray(gif.convert("L")) > 128)          # anti-aliased edges: binarise
            stamps.append(t)
            t += gif.info.get("duration", 40) / 1000.0
        est = step_frequency(stamps, leg_widths(np.stack(frames).astype(np.uint8) * 255, "2d"))
        assert 1.6 <= est.hz <= 2.1 and est.power > 0.5, (condition, est)


def test_a_track_keeps_each_frame_once_and_gives_a_rate_once_it_spans_long_enough():
    store = TrackStepFrequencies()
    t = _stamps(8.0, CAMERA_HZ)
    w = _swing(t, 1.9)
    key = ("camera", 4)
    added = [store.add(key, t[i:i + 30], w[i:i + 30]) for i in range(0, t.size - 29, 10)]   # overlapping
    assert sum(added) == t.size - (t.size - 30) % 10 and added[1] == 10
    assert store.estimate(key, min_span_s=4.0, min_power=0.1) == pytest.approx(1.9, abs=0.01)
    assert store.estimate(key, min_span_s=30.0, min_power=0.1) is None
    assert store.estimate(key, min_span_s=4.0, min_power=0.99) is None
    assert store.add(key, [float("nan"), t[-1]], [10.0, 10.0]) == 0          # bad or old stamps
    store.expire(now_s=t[-1] + 100.0, timeout_s=10.0)
    assert store.estimate(key, 1.0, 0.0) is None


def test_agreeing_rates_support_a_match_and_a_harmonic_costs_no_more_than_the_outlier_share():
    cfg = IdentityConfig()
    agree = cue_ratio(cfg, "step_frequency", 1.80, 1.81)
    assert agree > 2.5
    assert cue_ratio(cfg, "step_frequency", 1.80, 2.40) == pytest.approx(cfg.step_frequency_outlier_share)
    # strangers (two draws from the population) average a ratio of 1
    rng = np.random.default_rng(0)
    d = np.abs(rng.normal(0, cfg.step_frequency_between_sd_hz, 200_000)
               - rng.normal(0, cfg.step_frequency_between_sd_hz, 200_000))
    lr = [step_frequency_likelihood_ratio(x, cfg.step_frequency_within_sd_hz,
                                          cfg.step_frequency_between_sd_hz, 0.0) for x in d[:20_000]]
    assert np.mean(lr) == pytest.approx(1.0, abs=0.05)
    with pytest.raises(ValueError, match="cue 'cadence'"):
        cue_ratio(cfg, "cadence", 1.0, 1.0)


def test_step_frequency_config_is_checked():
    with pytest.raises(ConfigError, match="step_frequency_within_sd_hz"):
        IdentityConfig(step_frequency_within_sd_hz=0.2, step_frequency_between_sd_hz=0.12).validate()
    with pytest.raises(ConfigError, match="step_frequency_outlier_share"):
        IdentityConfig(step_frequency_outlier_share=0.0).validate()
    assert IdentityConfig(speed_evidence=False, stature_evidence=False, step_frequency_evidence=True).cues_on
    assert not IdentityConfig(speed_evidence=False, stature_evidence=False,
                              step_frequency_evidence=False).cues_on


# ---- the recognizer (its gait distances as in test_perception_walking_speed) -------------------


def _handoff(camera_hz: float, lidar_hz: float, **cfg) -> tuple[int, int, bool, dict]:
    """A camera track steps at ``camera_hz`` for 8 s; later a LiDAR track at gait distance 0.2 (the
    threshold is 0.1) steps at ``lidar_hz``; the model weighs gait and cues with exponent 1."""
    m = IdentityManager(IdentityConfig(**{"speed_evidence": False, "stature_evidence": False,
                                          "step_frequency_evidence": True, **cfg}),
                        model_metadata={"open_set_threshold_track": BASE, "open_set_cue_exponent_track": 1.0})
    for sensor, modality, t0, hz, emb, rate in (("camera", "2d", 0.0, camera_hz, PERSON, CAMERA_HZ),
                                                ("lidar", "3d", 30.0, lidar_hz, _at_distance(0.2), 10.0)):
        t = t0 + _stamps(8.0, rate, seed=int(t0))
        frames = _legs(_swing(t, hz, seed=int(t0)))
        if modality == "3d":
            frames = np.repeat(frames[:, None], 3, axis=1)
        for i in range(0, t.size - 29, 10):
            o = TrackObservation(float(t[i + 29]), sensor, modality, 1, emb, frame_stamps=tuple(t[i:i + 30]),
                                 frames=frames[i:i + 30])
            (out,) = m.update([o])
        if sensor == "camera":
            cam_id = out.global_id
    return cam_id, out.global_id, out.known, m.cues(("lidar", 1))


def test_a_person_stepping_at_the_identitys_rate_is_handed_off_at_a_looser_gait_distance():
    cam, lid, known, cues = _handoff(1.80, 1.81)
    assert lid == cam and known and cues["step_frequency"] == pytest.approx(1.81, abs=0.01)
    for camera_hz, lidar_hz, cfg in ((1.80, 2.10, {}), (1.80, 1.81, {"step_frequency_evidence": False})):
        cam, lid, known, cues = _handoff(camera_hz, lidar_hz, **cfg)
        assert lid != cam and not known, (lidar_hz, cfg)
    assert "step_frequency" not in cues


def test_turning_it_on_with_a_model_calibrated_before_it_existed_is_one_warning(caplog):
    """The shipped model's calibration names no step-frequency setting: it weighed no step frequency."""
    from tcfd_ros.perception.cue_combination import CUE_CONFIG_KEY, cue_config
    before = {k: v for k, v in cue_config(IdentityConfig()).items() if not k.startswith("step_frequency")}
    meta = {"open_set_threshold_track": BASE, "open_set_cue_exponent_track": 8.0, CUE_CONFIG_KEY: before}
    with caplog.at_level("WARNING", logger="tcfd_ros.perception.identity"):
        IdentityManager(IdentityConfig(), model_metadata=meta)                      # off by default
        assert not caplog.records
        IdentityManager(IdentityConfig(step_frequency_evidence=True), model_metadata=meta)
    (warning,) = caplog.records
    assert "step_frequency_evidence (calibrated without it) -> True" in warning.getMessage()


def test_frames_of_the_wrong_shape_or_count_are_one_format_error_before_any_change():
    from tcfd_ros.errors import MessageFormatError
    m = IdentityManager(IdentityConfig(step_frequency_evidence=True),
                        model_metadata={"open_set_threshold_track": BASE})
    t = tuple(float(s) for s in _stamps(2.0, CAMERA_HZ))
    good = _legs(np.full(len(t), 14.0))
    for frames, stamps in ((good[:, :32], t), (good, t[:-1]), (np.repeat(good[:, None], 3, axis=1), t)):
        with pytest.raises(MessageFormatError, match="frames shape"):
            m.update([TrackObservation(t[-1], "camera", "2d", 1, PERSON, frame_stamps=stamps, frames=frames)])
    assert not m.identities()
    (out,) = m.update([TrackObservation(t[-1], "camera", "2d", 1, PERSON, frame_stamps=t, frames=good)])
    assert not out.known
