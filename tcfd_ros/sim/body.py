"""An articulated body of analytic primitives posed by a parametric gait cycle.

17 body segments (head, neck, chest, abdomen, pelvis, upper arms, forearms, hands, thighs, shanks,
feet) plus condition accessories (bag, coat, carried box, umbrella). Joint-angle curves are smooth
periodic functions of the gait phase shaped like normal walking (hip ~ cosine, knee with a stance
and a swing flexion peak, ankle plantar-flexion at push-off, arms in counter-phase to the legs),
modified per identity (amplitudes, offsets, asymmetry, harmonics) and per sequence (speed, phase,
slow pose drift). Kinematics are vectorised over frames.
"""

from __future__ import annotations

import numpy as np

from tcfd_ros.sim.person import HARMONIC_ORDERS, Identity, SequenceVariation
from tcfd_ros.sim.shapes import Shapes

# Part / material ids (index into the per-sequence colour and reflectivity tables).
HEAD, HAIR, NECK, CHEST, ABDOMEN, PELVIS = 0, 1, 2, 3, 4, 5
L_UPPER_ARM, R_UPPER_ARM, L_FOREARM, R_FOREARM, L_HAND, R_HAND = 6, 7, 8, 9, 10, 11
L_THIGH, R_THIGH, L_SHANK, R_SHANK, L_FOOT, R_FOOT = 12, 13, 14, 15, 16, 17
BAG, COAT, CARRIED, UMBRELLA_SHAFT, UMBRELLA_CANOPY = 18, 19, 20, 21, 22
N_PARTS = 23
BODY_SEGMENTS = 17  # parts 0..17 minus hair (a cap on the head) count as segments

#: Limb radii (m) of an average 1.75 m person in everyday clothes (bare limb girth plus fabric), scaled
#: by stature and girth. Checked against a real HDL-64E pedestrian (test_sim_realism.py).
R_THIGH_M = 0.080
R_SHANK_M = 0.056
R_UPPER_ARM_M = 0.052
R_FOREARM_M = 0.042
#: Reference stature used to scale segment radii.
_REF_HEIGHT_M = 1.75
_DEG = np.pi / 180.0


def _wrap(x: np.ndarray) -> np.ndarray:
    return (x + 0.5) % 1.0 - 0.5


def _bump(phase: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * (_wrap(phase - centre) / width) ** 2)


def _harm(coeffs: np.ndarray, phase: np.ndarray, orders) -> np.ndarray:
    out = np.zeros_like(phase)
    for (a, b), k in zip(coeffs, orders):
        out += a * np.cos(2 * np.pi * k * phase) + b * np.sin(2 * np.pi * k * phase)
    return out


def _rot_y(theta: np.ndarray) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    z, o = np.zeros_like(theta), np.ones_like(theta)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _rot_x(theta: np.ndarray) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    z, o = np.zeros_like(theta), np.ones_like(theta)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _rot_z(theta: np.ndarray) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    z, o = np.zeros_like(theta), np.ones_like(theta)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def _apply(R: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(T,3,3) x (T,3) or (3,) -> (T,3)."""
    return np.einsum("tij,tj->ti", R, np.broadcast_to(v, R.shape[:-1]))


def _down(theta: np.ndarray) -> np.ndarray:
    """Unit vector pointing down, rotated forward (towards +x) by theta about the y axis."""
    return np.stack([np.sin(theta), np.zeros_like(theta), -np.cos(theta)], -1)


class PosedSequence:
    """Frames of one walk in the body frame (x forward, y left, z up, origin on the ground).

    ``frame(i)`` returns the primitives of frame ``i``; ``distance_m`` the distance walked.
    """

    def __init__(self, caps: list, ells: list, boxes: list, distance_m: np.ndarray):
        self._caps = caps      # list of (a (T,3), b (T,3), r float, part)
        self._ells = ells      # list of (c (T,3), R (T,3,3), s (3,), part)
        self._boxes = boxes    # list of (c (T,3), R (T,3,3), h (3,), part)
        self.distance_m = distance_m
        self.n_frames = distance_m.shape[0]

    def frame(self, i: int) -> Shapes:
        s = Shapes.empty()
        if self._caps:
            s.cap_a = np.stack([c[0][i] for c in self._caps])
            s.cap_b = np.stack([c[1][i] for c in self._caps])
            s.cap_r = np.array([c[2] for c in self._caps], float)
            s.cap_part = np.array([c[3] for c in self._caps], np.int64)
        if self._ells:
            s.ell_c = np.stack([e[0][i] for e in self._ells])
            s.ell_R = np.stack([e[1][i] for e in self._ells])
            s.ell_s = np.stack([e[2] for e in self._ells]).astype(float)
            s.ell_part = np.array([e[3] for e in self._ells], np.int64)
        if self._boxes:
            s.box_c = np.stack([b[0][i] for b in self._boxes])
            s.box_R = np.stack([b[1][i] for b in self._boxes])
            s.box_h = np.stack([b[2] for b in self._boxes]).astype(float)
            s.box_part = np.array([b[3] for b in self._boxes], np.int64)
        return s


def pose_sequence(ident: Identity, var: SequenceVariation, times_s: np.ndarray) -> PosedSequence:
    """Pose ``ident`` walking straight ahead at the sampled times (seconds from the walk's start)."""
    t = np.asarray(times_s, float)
    cond = var.condition
    speed_scale = var.speed_factor
    cadence = ident.cadence_hz * speed_scale ** 0.45
    stride = ident.stride_m * speed_scale ** 0.55
    if cond in ("bg", "cr", "ub"):
        stride *= 0.97
    phase = cadence * t + var.start_phase
    scale = ident.height_m / _REF_HEIGHT_M
    g = ident.girth * (1.12 if cond == "cl" else 1.0)
    hj = {name: ident.harmonics[i] for i, name in enumerate(("hip", "knee", "ankle", "shoulder", "elbow"))}
    noise = {name: var.noise_coeffs[i] for i, name in enumerate(("hip", "knee", "ankle", "shoulder",
                                                                 "elbow"))}

    def drift(name: str) -> np.ndarray:
        """Slow, smooth pose noise (not periodic with the gait): sum of three low frequencies."""
        c = noise[name]
        out = np.zeros_like(t)
        for j, f in enumerate((0.13, 0.31, 0.57)):
            out += c[j, 0] * np.cos(2 * np.pi * f * t) + c[j, 1] * np.sin(2 * np.pi * f * t)
        return out * var.pose_noise_deg / np.sqrt(3.0)

    def leg(ph: np.ndarray, amp: float):
        hip = ident.hip_offset_deg + amp * ident.hip_amp_deg * np.cos(2 * np.pi * ph)
        hip += _harm(hj["hip"], ph, HARMONIC_ORDERS) + drift("hip")
        knee = (4.0 + ident.knee_stance_deg * _bump(ph, 0.13, 0.07)
                + amp * ident.knee_swing_deg * _bump(ph, ident.knee_swing_phase, 0.11))
        knee = np.maximum(knee + _harm(hj["knee"], ph, HARMONIC_ORDERS) + drift("knee"), 0.0)
        ankle = (6.0 * _bump(ph, 0.42, 0.10) - amp * ident.ankle_amp_deg * _bump(ph, 0.62, 0.06)
                 + _harm(hj["ankle"], ph, HARMONIC_ORDERS) + drift("ankle"))
        return hip * _DEG, knee * _DEG, ankle * _DEG

    ph_l = phase
    ph_r = phase + 0.5 + ident.asym_phase
    hip_l, knee_l, ankle_l = leg(ph_l, 1.0)
    hip_r, knee_r, ankle_r = leg(ph_r, 1.0 + ident.asym_amp)

    # pelvis and trunk motion
    sway = ident.sway_m * np.cos(2 * np.pi * (ph_l - 0.15))
    pelvis_yaw = -ident.pelvis_yaw_deg * _DEG * np.cos(2 * np.pi * ph_l)
    pelvis_roll = ident.pelvis_roll_deg * _DEG * np.sin(2 * np.pi * (2 * ph_l - 0.1)) * 0.5
    R_pelvis = _rot_z(pelvis_yaw) @ _rot_x(pelvis_roll)
    lean = (ident.lean_deg + (4.0 if cond in ("bg",) else 0.0)) * _DEG + 0.02 * np.cos(4 * np.pi * ph_l)
    R_trunk = _rot_z(-0.6 * pelvis_yaw) @ _rot_y(np.full_like(t, 0.0) + lean) @ _rot_x(-0.5 * pelvis_roll)

    pelvis = np.stack([np.zeros_like(t), sway, np.zeros_like(t)], -1)  # height fixed below
    hip_half = 0.5 * ident.hip_width_m * 0.55
    hip_l_pos = pelvis + _apply(R_pelvis, np.array([0.0, hip_half, 0.0]))
    hip_r_pos = pelvis + _apply(R_pelvis, np.array([0.0, -hip_half, 0.0]))

    def leg_chain(hip_pos, hip, knee, ankle, side: float):
        yaw = _rot_z(pelvis_yaw + side * ident.toe_out_deg * _DEG)
        knee_pos = hip_pos + _apply(yaw, _down(hip)) * ident.thigh_m
        shank_ang = hip - knee
        ankle_pos = knee_pos + _apply(yaw, _down(shank_ang)) * (ident.shank_m - ident.ankle_height_m * 0.3)
        foot_pitch = shank_ang - ankle
        fwd = np.stack([np.cos(foot_pitch), np.zeros_like(t), np.sin(foot_pitch)], -1)
        R_foot = yaw @ _rot_y(-foot_pitch)
        heel = ankle_pos + _apply(yaw, -0.25 * ident.foot_m * fwd) + np.array([0, 0, -ident.ankle_height_m])
        toe = ankle_pos + _apply(yaw, 0.75 * ident.foot_m * fwd) + np.array([0, 0, -ident.ankle_height_m])
        return knee_pos, ankle_pos, heel, toe, R_foot

    knee_lp, ankle_lp, heel_l, toe_l, Rf_l = leg_chain(hip_l_pos, hip_l, knee_l, ankle_l, 1.0)
    knee_rp, ankle_rp, heel_r, toe_r, Rf_r = leg_chain(hip_r_pos, hip_r, knee_r, ankle_r, -1.0)
    lowest = np.minimum.reduce([heel_l[:, 2], toe_l[:, 2], heel_r[:, 2], toe_r[:, 2]])
    lift = np.array([0.0, 0.0, 1.0])[None] * (-lowest)[:, None]

    spine_dir = _apply(R_trunk, np.array([0.0, 0.0, 1.0]))
    neck_base = pelvis + spine_dir * ident.torso_m
    R_head = R_trunk @ _rot_y(np.full_like(t, ident.head_pitch_deg * _DEG - 0.5 * lean.mean()))
    neck_top = neck_base + _apply(R_head, np.array([0.0, 0.0, ident.neck_m]))
    head_c = neck_top + _apply(R_head, np.array([0.01 * scale, 0.0, 0.5 * ident.head_m]))
    sh_half = 0.5 * ident.shoulder_width_m * 0.82
    sh_l = neck_base + _apply(R_trunk, np.array([0.0, sh_half, -0.03 * scale]))
    sh_r = neck_base + _apply(R_trunk, np.array([0.0, -sh_half, -0.03 * scale]))

    # arms: counter-phase to the same-side leg
    def arm(ph: np.ndarray, amp: float):
        sh = ident.arm_offset_deg - amp * ident.arm_swing_deg * np.cos(2 * np.pi * ph)
        sh = sh + _harm(hj["shoulder"], ph, HARMONIC_ORDERS) + drift("shoulder")
        el = ident.elbow_offset_deg + ident.elbow_gain * np.maximum(sh, 0.0)
        el = np.maximum(el + _harm(hj["elbow"], ph, HARMONIC_ORDERS) + drift("elbow"), 0.0)
        return sh * _DEG, el * _DEG

    sh_ang_l, el_ang_l = arm(ph_l, 1.0)
    sh_ang_r, el_ang_r = arm(ph_r, 1.0 + ident.asym_arm)
    if cond == "cr":  # both forearms forward holding a box; swing almost gone
        sh_ang_l = 0.15 * sh_ang_l + 5 * _DEG
        sh_ang_r = 0.15 * sh_ang_r + 5 * _DEG
        el_ang_l = np.full_like(t, 80 * _DEG)
        el_ang_r = np.full_like(t, 80 * _DEG)
    if cond == "ub":  # right hand raised holding the umbrella shaft
        sh_ang_r = np.full_like(t, 35 * _DEG) + 0.05 * sh_ang_r
        el_ang_r = np.full_like(t, 95 * _DEG)
    abd = ident.arm_abduction_deg * _DEG * (1.4 if cond == "cl" else 1.0)

    def arm_chain(sh_pos, sh_ang, el_ang, side: float):
        R_arm = _rot_z(-0.6 * pelvis_yaw) @ _rot_x(np.full_like(t, side * abd))
        elbow = sh_pos + _apply(R_arm, _down(sh_ang)) * ident.upper_arm_m
        wrist = elbow + _apply(R_arm, _down(sh_ang + el_ang)) * ident.forearm_m
        hand_end = wrist + _apply(R_arm, _down(sh_ang + el_ang)) * ident.hand_m * 0.75
        return elbow, wrist, hand_end

    el_l, wr_l, hd_l = arm_chain(sh_l, sh_ang_l, el_ang_l, 1.0)
    el_r, wr_r, hd_r = arm_chain(sh_r, sh_ang_r, el_ang_r, -1.0)

    def up(p):
        return p + lift

    caps, ells, boxes = [], [], []
    limb = scale * g
    caps += [
        (up(neck_base), up(neck_top), 0.055 * scale * min(g, 1.1), NECK),
        (up(sh_l), up(el_l), R_UPPER_ARM_M * limb, L_UPPER_ARM),
        (up(sh_r), up(el_r), R_UPPER_ARM_M * limb, R_UPPER_ARM),
        (up(el_l), up(wr_l), R_FOREARM_M * limb, L_FOREARM),
        (up(el_r), up(wr_r), R_FOREARM_M * limb, R_FOREARM),
        (up(wr_l), up(hd_l), 0.032 * scale, L_HAND),
        (up(wr_r), up(hd_r), 0.032 * scale, R_HAND),
        (up(hip_l_pos), up(knee_lp), R_THIGH_M * limb, L_THIGH),
        (up(hip_r_pos), up(knee_rp), R_THIGH_M * limb, R_THIGH),
        (up(knee_lp), up(ankle_lp), R_SHANK_M * limb, L_SHANK),
        (up(knee_rp), up(ankle_rp), R_SHANK_M * limb, R_SHANK),
    ]
    depth = ident.trunk_depth * g
    head_s = np.array([0.100, 0.078, 0.5 * ident.head_m / scale * 0.92]) * scale
    ells += [
        (up(head_c), R_head, head_s, HEAD),
        (up(head_c + _apply(R_head, np.array([-0.012, 0.0, 0.03]) * scale)), R_head, head_s * 0.96, HAIR),
        (up(pelvis + spine_dir * ident.torso_m * 0.70), R_trunk,
         np.array([0.105 * scale * depth, 0.5 * ident.shoulder_width_m * 0.80 * g, 0.17 * scale]), CHEST),
        (up(pelvis + spine_dir * ident.torso_m * 0.33), R_trunk,
         np.array([0.10 * scale * depth, 0.15 * scale * g, 0.14 * scale]), ABDOMEN),
        (up(pelvis + np.array([0.0, 0.0, 0.03 * scale])), R_pelvis,
         np.array([0.10 * scale * depth, 0.5 * ident.hip_width_m * 0.95 * g, 0.11 * scale]), PELVIS),
    ]
    foot_h = np.array([0.5 * ident.foot_m, 0.045 * scale, 0.035 * scale])
    boxes += [
        (up(0.5 * (heel_l + toe_l) + np.array([0, 0, 0.035 * scale])), Rf_l, foot_h, L_FOOT),
        (up(0.5 * (heel_r + toe_r) + np.array([0, 0, 0.035 * scale])), Rf_r, foot_h, R_FOOT),
    ]

    variant = var.accessory_variant
    if cond == "bg":
        if variant == 0:  # backpack
            boxes.append((up(pelvis + spine_dir * ident.torso_m * 0.62 + _apply(R_trunk, np.array(
                [-(0.105 * scale * depth + 0.08), 0.0, 0.0]))), R_trunk, np.array([0.08, 0.16, 0.21]), BAG))
        else:  # shoulder bag hanging at the left hip
            boxes.append((up(pelvis + _apply(R_pelvis, np.array([0.02, 0.5 * ident.hip_width_m * g + 0.07,
                                                                 0.02]))),
                          R_pelvis, np.array([0.12, 0.05, 0.14]), BAG))
    if cond == "cl":  # coat skirt hiding the upper thighs, rigid with the pelvis
        coat_len = 0.55 * ident.thigh_m + 0.10 * variant
        ells.append((up(pelvis + np.array([0.0, 0.0, 0.05 - 0.5 * coat_len])), R_pelvis,
                     np.array([0.16 * scale * depth, 0.5 * ident.hip_width_m * 1.25 * g + 0.03,
                               0.5 * coat_len + 0.12]), COAT))
    if cond == "cr":
        centre = 0.5 * (wr_l + wr_r) + np.array([0.0, 0.0, 0.06])
        size = np.array([0.14, 0.20, 0.14]) if variant == 0 else np.array([0.20, 0.30, 0.22])
        boxes.append((up(centre), _rot_z(-0.6 * pelvis_yaw), size, CARRIED))
    if cond == "ub":
        top = hd_r + np.array([0.0, 0.0, 0.6 * scale])
        caps.append((up(wr_r), up(top), 0.012, UMBRELLA_SHAFT))
        radius = 0.48 if variant == 0 else 0.55
        ells.append((up(top + np.array([0.0, 0.0, -0.12])), np.broadcast_to(np.eye(3), (t.size, 3, 3)),
                     np.array([radius, radius, 0.2]), UMBRELLA_CANOPY))
    return PosedSequence(caps, ells, boxes, distance_m=stride * (phase - var.start_phase))


def part_colours(var: SequenceVariation) -> np.ndarray:
    """(N_PARTS, 3) BGR 0..1 colour of every part for this sequence's clothing."""
    a = var.appearance
    col = np.zeros((N_PARTS, 3))
    col[[HEAD, NECK, L_HAND, R_HAND]] = a.skin
    col[HAIR] = a.hair
    col[[CHEST, ABDOMEN, L_UPPER_ARM, R_UPPER_ARM, L_FOREARM, R_FOREARM]] = a.top
    col[[PELVIS, L_THIGH, R_THIGH, L_SHANK, R_SHANK]] = a.bottom
    col[[L_FOOT, R_FOOT]] = a.shoes
    col[[BAG, CARRIED, UMBRELLA_CANOPY]] = a.accessory
    col[COAT] = a.top
    col[UMBRELLA_SHAFT] = (0.2, 0.2, 0.2)
    return col


def part_reflectivity(var: SequenceVariation) -> np.ndarray:
    """(N_PARTS,) LiDAR reflectivity 0..1 of every part."""
    a = var.appearance
    refl = np.full(N_PARTS, 0.35)
    refl[[CHEST, ABDOMEN, L_UPPER_ARM, R_UPPER_ARM, L_FOREARM, R_FOREARM, COAT]] = a.top_reflectivity
    refl[[PELVIS, L_THIGH, R_THIGH, L_SHANK, R_SHANK]] = a.bottom_reflectivity
    refl[[L_FOOT, R_FOOT, HAIR]] = 0.1
    refl[[BAG, CARRIED, UMBRELLA_CANOPY]] = 0.5
    return refl
