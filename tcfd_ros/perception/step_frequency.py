"""Step frequency as cross-sensor evidence: how fast a walker's legs alternate, seen by both sensors.

Why: cadence is, with stride and stature, one of the first features of gait biometrics (BenAbdelkader,
Cutler and Davis, "Stride and cadence as a biometric in automatic person identification", FG 2002). The
gait embedding cannot see it: it pools a tracklet's frames as a set, which keeps the shapes of a gait
cycle and loses how fast they follow each other. Both sensors see it in the frames their tracklets
already carry: the width of the lower body in an aligned silhouette or range view (legs apart at double
support, together at mid-stance) swings once per step from any side but head-on. Adults step at
~1.6-2.1 Hz (95-125 steps/min; SD between people ~7 steps/min, 0.12 Hz), and one person's rate between
two walks at their comfortable pace differs by a few per cent (~0.05 Hz), so two tracks' rates are a
likelihood ratio like stature's.

Measurement: per frame, the width (pixels of the 64 x 64 aligned frame) of the foreground in its lower
``LOWER_BODY_FROM`` rows (camera silhouette: mask; LiDAR range view: any colour channel lit); per track,
the frames of all its tracklets once each, in time order; the step frequency is the peak of the
Lomb-Scargle periodogram (the frames' stamps are uneven) of the widths, less their 1 s moving average,
over ``STEP_BAND_HZ``. A track gives none until its frames span ``min_span_s`` and the peak's normalised
power reaches ``min_power`` (a person walking head-on, or a blob that is not a walker, has no clear
peak). On four replays of simulated disjoint bags of 8 people (seeds 42001-42004, recorded clean; RESULTS.md,
"Two graphs on one ROS domain") a camera track and a LiDAR track of one person agreed to a median 0.008 Hz,
strangers differed by a median 0.139 Hz.

API::

    w = leg_widths(tracklet.frames, tracklet.modality)   # (T,) pixels, NaN where a frame is empty
    store = TrackStepFrequencies()
    store.add(key, tracklet.frame_stamps, w)              # frames already added (overlap) are skipped
    f = store.estimate(key, min_span_s=4.0, min_power=0.1)   # Hz or None
    lr = step_frequency_likelihood_ratio(abs(f_a - f_b), within_sd_hz, between_sd_hz, outlier_share)
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Hashable, Sequence

import numpy as np

from tcfd_ros.perception.stature import stature_likelihood_ratio

#: the lower body: rows from this fraction of the aligned frame's height down (the frame is aligned head
#: to feet, so 0.6 starts at mid-thigh)
LOWER_BODY_FROM = 0.6
#: a pixel is foreground above this uint8 value (silhouette masks are 0/255; range views are black off
#: the person)
FOREGROUND_LEVEL = 20
#: the step frequencies searched, Hz (a stroll to a brisk walk, ~80-155 steps/min)
STEP_BAND_HZ = (1.3, 2.6)
#: the periodogram's frequency step, Hz (a fifth of the 0.01 Hz two sensors agree to)
FREQUENCY_STEP_HZ = 0.002
#: the resampled spectrum's bin at most, Hz, where the peak is looked for first
COARSE_STEP_HZ = 0.01
#: the periodogram is evaluated this far either side of the resampled spectrum's highest peaks, Hz
REFINE_HZ = 0.03
#: how many of those peaks (two close in height can swap between the spectrum and the periodogram)
REFINED_PEAKS = 3
#: the widths less their moving average over this window, s: removes the slow change of a track's
#: width (turning, range) and keeps the step's swing (~0.5 s period)
DETREND_WINDOW_S = 1.0
#: frames a track's estimate needs at least (besides its span)
MIN_FRAMES = 20
#: frames kept per track (the newest): ~40 s of a 15 Hz camera
MAX_FRAMES = 600
#: a track's estimate is renewed once its frames reach this far past the last one, s (an estimate costs
#: ~8 ms for 600 frames; a second's more frames barely move it)
REESTIMATE_S = 1.0


def leg_widths(frames: np.ndarray, modality: str) -> np.ndarray:
    """Per frame, the width in pixels of the foreground in the lower body's rows; NaN where those rows are
    empty. ``frames``: (T, H, W) silhouettes ("2d") or (T, C, H, W) range views ("3d"), uint8."""
    f = np.asarray(frames)
    fg = f > FOREGROUND_LEVEL
    if modality == "3d":
        fg = fg.any(axis=1)
    if fg.ndim != 3:
        raise ValueError(f"leg_widths: frames of shape {f.shape} for modality {modality!r}")
    cols = fg[:, int(LOWER_BODY_FROM * fg.shape[1]):, :].any(axis=1)
    seen = cols.any(axis=1)
    first = np.argmax(cols, axis=1)
    last = cols.shape[1] - 1 - np.argmax(cols[:, ::-1], axis=1)
    return np.where(seen, (last - first).astype(np.float64), np.nan)


@dataclass(frozen=True)
class StepEstimate:
    """A track's step frequency and how clear its periodogram's peak was."""

    hz: float
    power: float       # normalised Lomb-Scargle power at the peak, 0..1


def periodogram() -> Callable[..., np.ndarray]:
    """scipy's Lomb-Scargle periodogram, imported on first use: importing ``scipy.signal`` takes 1-2 s
    of CPU, which every recognizer start would pay though step frequency is off by default
    (``CueEvidence`` calls this once when the setting is on, so no decision waits for the import)."""
    from scipy.signal import lombscargle
    return lombscargle


def step_frequency(stamps_s: Sequence[float], widths: Sequence[float], min_frames: int = MIN_FRAMES
                   ) -> StepEstimate | None:
    """The Lomb-Scargle periodogram's peak over ``STEP_BAND_HZ`` of the detrended widths (NaN frames left
    out); None with fewer than ``min_frames`` frames or widths that do not vary.

    The periodogram over the whole band at ``FREQUENCY_STEP_HZ`` costs ~0.1 s for 600 frames (scipy's
    ``lombscargle``), too much for every tracklet: the peak is found on the spectrum of the widths
    resampled to their median frame interval (an FFT, ``COARSE_STEP_HZ``), and the periodogram of the
    frames themselves is evaluated only within ``REFINE_HZ`` of its ``REFINED_PEAKS`` highest peaks."""
    t = np.asarray(stamps_s, dtype=np.float64)
    w = np.asarray(widths, dtype=np.float64)
    ok = np.isfinite(t) & np.isfinite(w)
    t, w = t[ok], w[ok]
    if t.size < min_frames:
        return None
    order = np.argsort(t, kind="stable")
    t, w = t[order] - t[order][0], w[order]
    keep = np.concatenate([[True], np.diff(t) > 0])       # one sample per stamp (interpolation needs it)
    t, w = t[keep], w[keep]
    if t.size < min_frames:
        return None
    # the widths less their moving average over DETREND_WINDOW_S (cumulative sums over sorted samples)
    c = np.concatenate([[0.0], np.cumsum(w)])
    lo = np.searchsorted(t, t - DETREND_WINDOW_S / 2, side="left")
    hi = np.searchsorted(t, t + DETREND_WINDOW_S / 2, side="right")
    x = w - (c[hi] - c[lo]) / (hi - lo)
    x -= x.mean()
    if not np.any(np.abs(x) > 1e-9):
        return None
    dt = float(np.median(np.diff(t)))
    if not dt > 0 or 0.5 / dt <= STEP_BAND_HZ[1]:
        return None                                       # frames too sparse to see the band
    uniform = np.interp(np.arange(int(t[-1] / dt) + 1) * dt, t, x)
    n_fft = 1 << int(math.ceil(math.log2(max(uniform.size, 1.0 / (dt * COARSE_STEP_HZ)))))
    freqs = np.fft.rfftfreq(n_fft, dt)
    band = (freqs >= STEP_BAND_HZ[0]) & (freqs <= STEP_BAND_HZ[1])
    spectrum = np.abs(np.fft.rfft(uniform - uniform.mean(), n_fft)[band]) ** 2
    padded = np.concatenate([[-1.0], spectrum, [-1.0]])
    maxima = np.flatnonzero((spectrum >= padded[:-2]) & (spectrum >= padded[2:]))
    peaks = freqs[band][maxima[np.argsort(spectrum[maxima])[::-1][:REFINED_PEAKS]]]
    fine = np.unique(np.concatenate([np.arange(p - REFINE_HZ, p + REFINE_HZ + FREQUENCY_STEP_HZ / 2,
                                               FREQUENCY_STEP_HZ) for p in peaks]).round(6))
    fine = fine[(fine >= STEP_BAND_HZ[0]) & (fine <= STEP_BAND_HZ[1])]
    power = periodogram()(t, x, 2.0 * np.pi * fine, normalize=True)
    i = int(np.argmax(power))
    return StepEstimate(float(fine[i]), float(power[i]))


def step_frequency_likelihood_ratio(df_hz: float, within_sd_hz: float, between_sd_hz: float,
                                    outlier_share: float) -> float:
    """p(step frequency difference | same person) / p(... | different people): Gaussian within one person
    and between two draws from the population, floored at ``outlier_share`` (a harmonic picked on one
    side, a pace changed between the zones); the model of ``stature.stature_likelihood_ratio``."""
    return stature_likelihood_ratio(df_hz, within_sd_hz, between_sd_hz, outlier_share)


@dataclass
class _TrackWidths:
    newest_s: float
    stamps: deque = field(default_factory=lambda: deque(maxlen=MAX_FRAMES))
    widths: deque = field(default_factory=lambda: deque(maxlen=MAX_FRAMES))
    cached: StepEstimate | None = None
    estimated_s: float = -math.inf      # newest frame stamp when ``cached`` was estimated


class TrackStepFrequencies:
    """Each track's per-frame leg widths (the newest ``MAX_FRAMES``), until the track expires."""

    def __init__(self) -> None:
        self._t: dict[Hashable, _TrackWidths] = {}

    def add(self, key: Hashable, stamps_s: Sequence[float], widths: Sequence[float]) -> int:
        """Record a tracklet's frames newer than the track's newest (tracklets overlap); how many were
        new. Frames with a stamp that is not finite are ignored."""
        entry = self._t.get(key)
        added = 0
        for s, w in zip(stamps_s, widths):
            s = float(s)
            if not math.isfinite(s) or (entry is not None and s <= entry.newest_s):
                continue
            if entry is None:
                entry = self._t[key] = _TrackWidths(s)
            entry.stamps.append(s)
            entry.widths.append(float(w))
            entry.newest_s = s
            added += 1
        return added

    def estimate(self, key: Hashable, min_span_s: float, min_power: float) -> float | None:
        """The track's step frequency, Hz, once its frames span ``min_span_s`` and the peak's power
        reaches ``min_power``; else None. Renewed every ``REESTIMATE_S`` of frames."""
        entry = self._t.get(key)
        if entry is None or entry.stamps[-1] - entry.stamps[0] < min_span_s:
            return None
        if entry.newest_s - entry.estimated_s >= REESTIMATE_S:
            entry.cached, entry.estimated_s = step_frequency(entry.stamps, entry.widths), entry.newest_s
        est = entry.cached
        return None if est is None or est.power < min_power else est.hz

    def expire(self, now_s: float, timeout_s: float) -> None:
        self._t = {k: v for k, v in self._t.items() if now_s - v.newest_s <= timeout_s}
