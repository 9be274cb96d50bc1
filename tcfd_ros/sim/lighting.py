"""What a surveillance camera records by day, at dusk, in low light and under its own IR illuminator.

Scene-level camera conditions of a bag (``tcfd-ros simulate bag --condition``):

- ``nt`` (night, IR): the camera's IR-cut filter is out and an 850 nm illuminator next to the lens lights
  the scene. The image is monochrome (published ``mono8``, as dedicated IR cameras do); the irradiance
  of a surface falls off with the square of its distance and with the cosine of the incidence angle,
  the illuminator's beam is brightest on the optical axis, and the sky is black. Reflectance at
  850 nm is taken from the parts' 905 nm LiDAR reflectivity (close wavelengths). Near objects
  saturate, far ones sink into the noise, after the camera's gamma.
- ``nl`` (night, low light, no IR): the daylight image at ``LOWLIGHT_LEVEL`` of the light, raised by
  the camera's automatic gain (capped at ``AGC_MAX_GAIN``), with photon shot noise and read noise
  amplified by that gain and the colour desaturated (what sensors do at high gain). ``bgr8``.
- ``dk`` (dusk, then IR): the light fades from daylight to ``DUSK_END_LEVEL`` over the first
  ``DUSK_SWITCH_FRACTION`` of the bag, the automatic gain following it until its cap; then the
  camera switches to IR mode. A day/night camera keeps publishing ``bgr8`` (equal channels in IR
  mode), so the segmenter must adapt to both the fading light and the switch.

Everything else is daylight (``day``): the renderer's shaded colours with mild sensor noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Scene conditions that set the camera's lighting (all others are daylight).
LIGHTING_CONDITIONS = ("nt", "nl", "dk")
#: Light level of the ``nl`` scene relative to daylight (street lighting), and where dusk ends.
LOWLIGHT_LEVEL = 0.06
DUSK_END_LEVEL = 0.04
#: Fraction of a ``dk`` bag after which the IR illuminator switches on.
DUSK_SWITCH_FRACTION = 0.5
#: Automatic gain control: mean image level it aims for (0..1 of full scale) and its largest gain.
AGC_TARGET = 0.42
AGC_MAX_GAIN = 6.0
#: Sensor: electrons at full scale (shot noise ~ sqrt(electrons)) and read noise (electrons, rms).
FULL_WELL_E = 4000.0
READ_NOISE_E = 6.0
#: Share of the colour kept at high gain (the rest is grey): sensors desaturate in low light.
LOWLIGHT_SATURATION = 0.45
#: IR illuminator: linear irradiance of a 100 % reflector facing the camera at 1 m (saturation = 1),
#: chosen so a 40 % reflector 10 m away lands at mid-grey after gamma; beam falloff exponent of the
#: cosine of the angle off the optical axis; display gamma; noise after gamma (0..255 units).
IR_POWER = 43.0
IR_BEAM_EXPONENT = 2.0
GAMMA = 1.0 / 2.2
IR_NOISE_SIGMA = 3.5
#: Smallest distance used in the inverse-square law (m), a guard against division by ~0.
MIN_IR_DISTANCE_M = 0.3


@dataclass(frozen=True)
class Lighting:
    """The camera's mode for one frame: ``day``, ``lowlight`` (at ``level``) or ``ir``."""

    mode: str = "day"
    level: float = 1.0          # scene light relative to daylight (day / lowlight)
    mono: bool = False          # publish a one-channel mono8 image (an IR camera)

    @property
    def needs_ir(self) -> bool:
        return self.mode == "ir"


DAY = Lighting()


def lighting_at(conditions: tuple[str, ...], t_rel_s: float, duration_s: float) -> Lighting:
    """The lighting of the frame at ``t_rel_s`` of a bag with these scene ``conditions``."""
    if "nt" in conditions:
        return Lighting("ir", 0.0, mono=True)
    if "nl" in conditions:
        return Lighting("lowlight", LOWLIGHT_LEVEL)
    if "dk" in conditions:
        frac = t_rel_s / max(duration_s * DUSK_SWITCH_FRACTION, 1e-9)
        if frac >= 1.0:
            return Lighting("ir", 0.0, mono=False)
        # light falls geometrically (the eye's and the sensor's log response): 1 -> DUSK_END_LEVEL
        return Lighting("lowlight", float(DUSK_END_LEVEL ** max(frac, 0.0)))
    return DAY


def ir_irradiance(reflectivity: np.ndarray, cos_incidence: np.ndarray, distance_m: np.ndarray,
                  cos_axis: np.ndarray) -> np.ndarray:
    """Linear IR image value (1 = saturation) of surfaces lit by the illuminator at the lens."""
    d = np.maximum(distance_m, MIN_IR_DISTANCE_M)
    beam = np.clip(cos_axis, 0.0, 1.0) ** IR_BEAM_EXPONENT
    return IR_POWER * reflectivity * np.clip(cos_incidence, 0.0, 1.0) * beam / (d * d)


def expose_ir(irradiance: np.ndarray, noise: np.ndarray | None) -> np.ndarray:
    """(H, W) linear irradiance -> (H, W) uint8 after saturation, gamma and sensor noise; ``noise``:
    standard-normal float32 draws of the image's shape (None: a noiseless image)."""
    img = np.clip(irradiance, 0.0, 1.0).astype(np.float32) ** np.float32(GAMMA) * np.float32(255.0)
    if noise is not None:
        img += noise * np.float32(IR_NOISE_SIGMA)
    return np.clip(img, 0, 255).astype(np.uint8)


def expose_lowlight(colour: np.ndarray, level: float, noise: np.ndarray | None) -> np.ndarray:
    """(H, W, 3) daylight colours 0..1 at ``level`` of the light -> (H, W, 3) uint8 after AGC and noise;
    ``noise``: standard-normal float32 draws of the image's shape (None: a noiseless image)."""
    signal = colour.astype(np.float32) * np.float32(level)           # 0..1 of full scale, pre-gain
    mean = float(signal.mean())
    gain = float(np.clip(AGC_TARGET / max(mean, 1e-6), 1.0, AGC_MAX_GAIN))
    if noise is not None:
        electrons = signal * np.float32(FULL_WELL_E)
        sigma = np.sqrt(electrons + np.float32(READ_NOISE_E ** 2))
        # colour noise: independent per channel
        signal = (electrons + noise * sigma) / np.float32(FULL_WELL_E)
    grey = signal.mean(axis=-1, keepdims=True)
    sat = float(np.clip(LOWLIGHT_SATURATION + (1.0 - LOWLIGHT_SATURATION) * (level - LOWLIGHT_LEVEL)
                        / (1.0 - LOWLIGHT_LEVEL), LOWLIGHT_SATURATION, 1.0))
    out = grey + np.float32(sat) * (signal - grey)
    return np.clip(out * np.float32(gain * 255.0), 0, 255).astype(np.uint8)


__all__ = ["LIGHTING_CONDITIONS", "Lighting", "DAY", "lighting_at", "ir_irradiance", "expose_ir",
           "expose_lowlight"]
