"""Identity and per-sequence parameters of a simulated walker, sampled from realistic human ranges.

Segment proportions follow Drillis & Contini's anthropometric fractions of stature; gait parameters
(cadence, stride, joint ranges) follow normal adult walking (Winter, "Biomechanics and Motor Control
of Human Movement"). People differ only in shape and motion; colours belong to a sequence, not to an
identity, so colour never identifies anyone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

#: Joints whose angle curves get identity-specific harmonics.
HARMONIC_JOINTS = ("hip", "knee", "ankle", "shoulder", "elbow")
#: Harmonic orders (of the gait frequency) added to each joint curve.
HARMONIC_ORDERS = (2, 3, 4)
#: SUSTech1K condition codes supported by the simulator, plus the camera lighting codes ``nl`` (night
#: without IR, low light) and ``dk`` (dusk, then IR); ``nt`` is night under IR (``sim.lighting``).
CONDITIONS = ("nm", "bg", "cl", "cr", "ub", "oc", "nt", "nl", "dk")
#: Crown height above the top of the neck, in head heights (head centre 0.5 + hair cap, body.py).
_CROWN_OVER_NECK = 1.0


@dataclass(frozen=True)
class Identity:
    """Shape and gait of one person (lengths in metres, angles in degrees)."""

    person_id: int
    height_m: float
    thigh_m: float
    shank_m: float
    ankle_height_m: float
    torso_m: float
    neck_m: float
    head_m: float
    upper_arm_m: float
    forearm_m: float
    hand_m: float
    foot_m: float
    shoulder_width_m: float
    hip_width_m: float
    girth: float            # radius scale of trunk and limbs (1 = average build)
    trunk_depth: float      # chest/abdomen depth scale (posture, belly)
    cadence_hz: float       # gait cycles per second (steps per second / 2)
    stride_m: float         # distance per gait cycle (two steps)
    hip_amp_deg: float
    hip_offset_deg: float
    knee_stance_deg: float
    knee_swing_deg: float
    knee_swing_phase: float
    ankle_amp_deg: float
    arm_swing_deg: float
    arm_offset_deg: float
    arm_abduction_deg: float
    elbow_offset_deg: float
    elbow_gain: float
    lean_deg: float
    head_pitch_deg: float
    sway_m: float
    pelvis_yaw_deg: float
    pelvis_roll_deg: float
    toe_out_deg: float
    asym_amp: float         # right-side amplitude factor - 1
    asym_phase: float       # right-side phase offset, cycles
    asym_arm: float         # right-arm swing factor - 1
    harmonics: np.ndarray   # (len(HARMONIC_JOINTS), len(HARMONIC_ORDERS), 2) cos/sin amplitudes, degrees

    @property
    def speed_mps(self) -> float:
        return self.stride_m * self.cadence_hz


def _clipped(rng: np.random.Generator, mean: float, sd: float, lo: float, hi: float) -> float:
    return float(np.clip(rng.normal(mean, sd), lo, hi))


def sample_identity(person_id: int, seed: int) -> Identity:
    """Deterministic identity ``person_id`` of the world with ``seed``."""
    rng = np.random.default_rng([seed, 1, person_id])
    male = bool(rng.random() < 0.5)
    h = _clipped(rng, 1.76 if male else 1.63, 0.07, 1.48, 1.98)

    def frac(mean: float, rel_sd: float = 0.04) -> float:
        return h * mean * float(np.clip(1.0 + rel_sd * rng.standard_normal(), 0.85, 1.15))

    leg_ratio = float(np.clip(1.0 + 0.03 * rng.standard_normal(), 0.92, 1.08))
    harmonics = rng.normal(0.0, 1.0, (len(HARMONIC_JOINTS), len(HARMONIC_ORDERS), 2))
    harmonics *= (np.array([2.5, 3.0, 2.0, 3.0, 3.0])[:, None, None] / np.array(HARMONIC_ORDERS)[None, :,
                                                                                                 None])
    ident = Identity(
        person_id=person_id, height_m=h,
        thigh_m=frac(0.245) * leg_ratio, shank_m=frac(0.246) * leg_ratio, ankle_height_m=h * 0.039,
        torso_m=frac(0.288) / leg_ratio ** 0.5, neck_m=frac(0.052, 0.08), head_m=frac(0.130, 0.03),
        upper_arm_m=frac(0.186), forearm_m=frac(0.146), hand_m=frac(0.108), foot_m=frac(0.152),
        shoulder_width_m=frac(0.259 if male else 0.245, 0.05),
        hip_width_m=frac(0.191 if male else 0.205, 0.05),
        girth=_clipped(rng, 1.0, 0.11, 0.78, 1.38), trunk_depth=_clipped(rng, 1.0, 0.08, 0.8, 1.3),
        cadence_hz=_clipped(rng, 0.92, 0.05, 0.78, 1.06),
        stride_m=h * _clipped(rng, 0.80, 0.05, 0.66, 0.95),
        hip_amp_deg=_clipped(rng, 21.0, 2.5, 15.0, 28.0), hip_offset_deg=_clipped(rng, 9.0, 2.5, 3.0, 15.0),
        knee_stance_deg=_clipped(rng, 17.0, 4.0, 5.0, 28.0), knee_swing_deg=_clipped(rng, 62.0, 4.0, 50.0,
                                                                                     72.0),
        knee_swing_phase=_clipped(rng, 0.72, 0.015, 0.68, 0.76),
        ankle_amp_deg=_clipped(rng, 14.0, 3.0, 6.0, 22.0),
        arm_swing_deg=_clipped(rng, 18.0, 6.0, 5.0, 35.0), arm_offset_deg=_clipped(rng, -3.0, 3.0, -10.0,
                                                                                   6.0),
        arm_abduction_deg=_clipped(rng, 7.0, 2.5, 2.0, 14.0),
        elbow_offset_deg=_clipped(rng, 18.0, 6.0, 5.0, 35.0), elbow_gain=_clipped(rng, 0.6, 0.2, 0.1, 1.1),
        lean_deg=_clipped(rng, 4.0, 2.5, -2.0, 11.0), head_pitch_deg=_clipped(rng, 3.0, 5.0, -10.0, 18.0),
        sway_m=_clipped(rng, 0.025, 0.008, 0.008, 0.05),
        pelvis_yaw_deg=_clipped(rng, 5.0, 1.5, 1.5, 9.0), pelvis_roll_deg=_clipped(rng, 4.0, 1.5, 1.0, 8.0),
        toe_out_deg=_clipped(rng, 7.0, 4.0, -5.0, 18.0),
        asym_amp=_clipped(rng, 0.0, 0.05, -0.12, 0.12), asym_phase=_clipped(rng, 0.0, 0.012, -0.03, 0.03),
        asym_arm=_clipped(rng, 0.0, 0.12, -0.3, 0.3),
        harmonics=harmonics,
    )
    # rescale the vertical chain so that the standing body is exactly ``height_m`` tall
    chain = ident.thigh_m + ident.shank_m + 0.7 * ident.ankle_height_m + ident.torso_m + ident.neck_m
    crown = chain + _CROWN_OVER_NECK * ident.head_m
    k = h / crown
    return replace(ident, thigh_m=ident.thigh_m * k, shank_m=ident.shank_m * k, torso_m=ident.torso_m * k,
                   neck_m=ident.neck_m * k, head_m=ident.head_m * k)


@dataclass(frozen=True)
class Appearance:
    """Clothing and skin colours (BGR, 0..1) of one sequence; LiDAR reflectivity of the clothes."""

    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    top: tuple[float, float, float]
    bottom: tuple[float, float, float]
    shoes: tuple[float, float, float]
    accessory: tuple[float, float, float]
    top_reflectivity: float
    bottom_reflectivity: float


@dataclass(frozen=True)
class SequenceVariation:
    """What changes between two walks of the same person."""

    condition: str
    speed_factor: float
    start_phase: float
    heading_jitter_deg: float
    pose_noise_deg: float
    noise_coeffs: np.ndarray    # (len(HARMONIC_JOINTS), 3 frequencies, 2) slow pose drift
    accessory_variant: int      # which bag/object within a condition
    appearance: Appearance


def _colour(rng: np.random.Generator, dark: bool = False) -> tuple[float, float, float]:
    import colorsys

    hue = rng.random()
    sat = rng.uniform(0.05, 0.8)
    val = rng.uniform(0.08, 0.45) if dark else rng.uniform(0.15, 0.95)
    r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
    return (b, g, r)


def sample_variation(identity: Identity, condition: str, seed: int, sequence_key: int) -> SequenceVariation:
    """Deterministic within-identity variation of one sequence (keyed by ``sequence_key``)."""
    from tcfd_ros.errors import ConfigError

    if condition not in CONDITIONS:
        raise ConfigError(f"condition {condition!r} is not one of {list(CONDITIONS)}")
    rng = np.random.default_rng([seed, 2, identity.person_id, sequence_key])
    tone = rng.uniform(0.25, 0.95)
    skin = (0.55 * tone + 0.05, 0.68 * tone + 0.05, 0.85 * tone + 0.1)
    appearance = Appearance(
        skin=skin, hair=_colour(rng, dark=True), top=_colour(rng), bottom=_colour(rng),
        shoes=_colour(rng, dark=True), accessory=_colour(rng),
        top_reflectivity=float(rng.uniform(0.15, 0.6)), bottom_reflectivity=float(rng.uniform(0.15, 0.6)),
    )
    return SequenceVariation(
        condition=condition,
        speed_factor=_clipped(rng, 1.0, 0.06, 0.85, 1.15),
        start_phase=float(rng.random()),
        heading_jitter_deg=_clipped(rng, 0.0, 3.0, -8.0, 8.0),
        pose_noise_deg=float(rng.uniform(0.5, 1.5)),
        noise_coeffs=rng.normal(0.0, 1.0, (len(HARMONIC_JOINTS), 3, 2)),
        accessory_variant=int(rng.integers(0, 2)),
        appearance=appearance,
    )
