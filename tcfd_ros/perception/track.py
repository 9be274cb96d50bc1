"""Multi-target tracking: constant-velocity Kalman filters with Hungarian assignment.

API (used by the tracker node, one tracker per sensor)::

    trk = MultiTargetTracker(TrackerConfig())            # LiDAR ground plane, metres
    trk = MultiTargetTracker(camera_tracker_config())    # camera image plane, pixels
    tracks: list[Track] = trk.update(stamp_s, [Measurement(position=(x, y), size=(w, h)), ...])
    t.track_id           # int, unique per tracker; a re-acquired person's new track takes the old id
    t.position, t.velocity  # (2,) filtered box centre and its velocity, units and units/s
    t.size               # (2,) smoothed box size or None (camera: w, h in pixels)
    t.measurement_index  # index into this update's measurements, or -1 if coasting
    t.hidden             # coasting inside a box assigned to another track (``occlusion_coverage``)
    t.part               # measured by a part of its person this update (``part_rescue_coverage``)
    t.hits, t.missed, t.confirmed, t.last_stamp_s   # missed: updates without a measurement, not hidden
    trk.translate({track_id: (dx, dy)})                  # the sensor moved: shift tracks (before update)
    trk.reacquired       # how many new tracks took a lost track's id (``reacquire_window_s``)
    trk.parts_rescued    # how many measurements were taken as a part of a person (``part_rescue_coverage``)

``update`` returns the confirmed tracks (``min_hits`` updates) that are alive after this step, both
updated and coasting; a node uses ``measurement_index`` to find the mask/cluster of a track.

Rules:
- Predict every track to ``stamp_s`` (state x, y, vx, vy; white-noise acceleration
  ``process_accel_std``), cost = squared Mahalanobis distance of each measurement to each prediction
  (plus ln det S with ``likelihood_cost``), pairs beyond ``gate_mahalanobis2`` or ``max_gate_distance``
  are forbidden, then
  ``scipy.optimize.linear_sum_assignment``. With ``overlap_rescue_iou`` a confirmed track left without a
  measurement then takes a free measurement whose box overlaps its predicted box by that IoU (a near
  person's box moves more between frames than the noise model allows, yet plainly overlaps). With
  ``part_rescue_coverage`` such a track then takes a free measurement that is a part of its person (the
  segmenter lost the legs): shorter than ``PART_SIZE_SHARE`` of its predicted box and lying that much
  inside it, whatever its colour. A part, however assigned, is off by up to half the missing extent: the
  filter takes it with that much more noise per axis and keeps its size (so its foot point and the
  stature and walking speed read from it stay the person's), and no colour or body cue is learned from
  it; after ``PART_RELEARN_FRAMES`` parts running, the track's size is taken to be wrong and parts are
  learned as whole boxes.
- The filtered point is ``box_point_y`` of the way down the box (default 0.5, the centre; 1.0 the foot
  point); a measurement's position and a track's ``position`` are box centres either way. Why the foot
  can help: when two
  people at different depths overlap in the image, the segmenter returns one blob whose box spans both;
  its centre lies between them and drags whichever track takes it, but its bottom edge is the nearer
  person's feet (the one in front is lower in the image), so the nearer track keeps its place and the
  hidden one is not pulled onto it. Why it is not the camera default: where the segmenter loses a
  person's legs the bottom edge jumps by more than the gate and the track breaks (the disjoint bags).
- LiDAR body cue (``Measurement.body``: cluster top, torso / leg intensity; ``body_*_gate``): a track that
  got no measurement in the previous update may not take a measurement whose cue differs by more than a
  gate; a track whose last measurement may have held two people (shared with another track's box, or a
  cue off by more than ``BODY_LEARN_FRACTION`` of a gate) is held to that only while a matching one is
  inside its position gate. The cue is learned like the colour, and only when it matches.
- Birth: every unassigned measurement starts a tentative track (zero velocity, ``initial_velocity_std``).
  A track is confirmed after ``min_hits`` assigned updates; a tentative track that misses once dies.
- Death: a confirmed track dies after ``max_missed_frames`` updates without a measurement or
  ``max_age_s`` seconds since its last one; updates in which a track is ``hidden`` (at least
  ``occlusion_coverage`` of its predicted box inside a box assigned to another track: a person walking
  behind another) do not count as missed, so only ``max_age_s`` ends a long occlusion.
  At most ``max_tracks`` live tracks (the stalest go first).
- Re-acquisition (``reacquire_window_s`` > 0): a confirmed track that dies is remembered that long. When a
  new track is confirmed, a remembered track it continues takes it over (the new track gets its id): the
  new track started (its first measurement) after the lost one's last measurement, within the window,
  within ``reacquire_radius`` + ``reacquire_speed`` x the gap of where the lost one was last measured
  (in box heights with ``reacquire_in_box_heights``), and its cue matches: the clothing colour within
  ``appearance_reacquire_gate`` (camera), or every body-cue part within its ``body_*_gate`` (LiDAR);
  without a cue on both sides, no re-acquisition (where several people walk together, position and time
  alone pick the wrong one as often as the right one). Only a one-to-one fit is taken: a new track that
  fits two remembered tracks, or a remembered track that two tracks confirmed in one update fit, stays
  apart.
- Time: ``stamp_s`` going backwards raises ``MessageFormatError`` and leaves the tracker unchanged
  (the node drops that message); equal stamps are allowed (dt = 0). Non-finite measurements raise
  ``MessageFormatError`` before any state changes.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from tcfd_ros.errors import MessageFormatError
from tcfd_ros.perception.appearance import SAME_PERSON_DISTANCE, Appearance, appearance_distance
from tcfd_ros.perception.config import PART_SIZE_SHARE, TrackerConfig

log = logging.getLogger(__name__)

#: Cost given to forbidden (gated) pairs; larger than any allowed cost.
_FORBIDDEN = 1e9
#: A LiDAR body cue further than this fraction of a ``body_*_gate`` from the track's is not learned, and
#: marks the track's cluster as possibly holding two people (one person's cue scatters within ~0.4 of
#: the gates on the pole bags, RESULTS.md "LiDAR tracker re-acquisition (issue 12)").
BODY_LEARN_FRACTION = 0.5
#: A track whose measurements stay parts of its box for more than this many updates (0.5 s at 15 Hz; a
#: segmenter loses a walker's legs for a few frames) has the wrong size (e.g. learned from a blob of two):
#: they are its person's whole box, learned as any other.
PART_RELEARN_FRAMES = 8
#: ... unless it keeps differing for more than this many consecutive measurements (1.5 s at 10 Hz; two
#: people's clusters stay merged for up to ~1 s on the pole bags): the track's cue was off, learn anew.
BODY_RELEARN_FRAMES = 15


@dataclass(frozen=True)
class Measurement:
    """One detection: 2-D position (image-plane box centre or ground-plane x, y) and optional size."""

    position: tuple[float, float] | np.ndarray
    size: tuple[float, float] | np.ndarray | None = None
    payload: Any = None  # anything the caller wants back (not used by the tracker)
    appearance: Appearance | None = None   # clothing colour (camera; ``perception.appearance``)
    body: np.ndarray | None = None         # (3,) LiDAR body cue (``perception.body_cue``)


@dataclass
class Track:
    """A tracked target (``update`` returns snapshots: later updates do not change them)."""

    track_id: int
    x: np.ndarray                 # (4,) x, y, vx, vy
    P: np.ndarray                 # (4, 4) covariance
    last_stamp_s: float
    size: np.ndarray | None = None
    hits: int = 1
    missed: int = 0
    confirmed: bool = False
    measurement_index: int = -1
    payload: Any = field(default=None, repr=False)
    box_point_y: float = 0.5      # where in the box (fraction of its height from the top) ``x`` is
    hidden: bool = False
    appearance: np.ndarray | None = None   # (2, N_BINS) smoothed colour histograms (``appearance_cost``)
    appearance_weight: float = 0.0         # smoothed colour weight of the measurements behind it
    body: np.ndarray | None = None         # (3,) smoothed LiDAR body cue (``body_*_gate``)
    shared: bool = False                   # its last measurement may hold someone else too (``_body_doubt``)
    body_doubt_frames: int = 0             # consecutive measurements whose body cue did not match
    part_frames: int = 0                   # consecutive measurements that were parts (``_parts``)
    part: bool = False                     # this update's measurement was a part of its person (``_parts``)
    size_kept: bool = False                # this update kept its size: a part or merged blob (``_correct``)
    first_stamp_s: float = 0.0             # stamp of its first measurement
    origin: np.ndarray | None = None       # (2,) filtered point at its first measurement
    last_point: np.ndarray | None = None   # (2,) filtered point at its last measurement

    @property
    def position(self) -> np.ndarray:
        """The box centre (the filtered point moved by the smoothed size)."""
        return _point_to_centre(self.x[:2], self.size, self.box_point_y)

    @property
    def velocity(self) -> np.ndarray:
        return self.x[2:].copy()


def _point_to_centre(p: np.ndarray, size: np.ndarray | None, box_point_y: float) -> np.ndarray:
    """Box centre from the tracked point ``box_point_y`` of the way down a box of ``size``."""
    out = np.array(p, dtype=np.float64)
    if size is not None:
        out[1] += (0.5 - box_point_y) * size[1]
    return out


def _box(p: np.ndarray, size: np.ndarray, box_point_y: float) -> np.ndarray:
    """(x0, y0, x1, y1) of a box of ``size`` whose point ``box_point_y`` down is ``p``."""
    return np.array([p[0] - size[0] / 2, p[1] - box_point_y * size[1],
                     p[0] + size[0] / 2, p[1] + (1.0 - box_point_y) * size[1]])


def _intersection(a: np.ndarray, b: np.ndarray) -> float:
    """Area shared by two (x0, y0, x1, y1) boxes."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes (0 for empty ones)."""
    inter = _intersection(a, b)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _check_measurements(measurements: Sequence[Measurement]) -> tuple[np.ndarray, list[np.ndarray | None]]:
    pos = np.zeros((len(measurements), 2))
    sizes: list[np.ndarray | None] = []
    for i, m in enumerate(measurements):
        p = np.asarray(m.position, dtype=np.float64).ravel()
        if p.shape != (2,) or not np.isfinite(p).all():
            raise MessageFormatError(
                f"measurements[{i}].position = {m.position!r}: expected 2 finite numbers")
        pos[i] = p
        if m.size is None:
            sizes.append(None)
        else:
            s = np.asarray(m.size, dtype=np.float64).ravel()
            if s.shape != (2,) or not np.isfinite(s).all() or (s < 0).any():
                raise MessageFormatError(
                    f"measurements[{i}].size = {m.size!r}: expected 2 finite numbers >= 0")
            sizes.append(s)
    return pos, sizes


def _to_point(pos: np.ndarray, sizes: list[np.ndarray | None], box_point_y: float) -> np.ndarray:
    """Measured box centres -> the tracked point of each box (unchanged without a size)."""
    out = pos.copy()
    for i, s in enumerate(sizes):
        if s is not None:
            out[i, 1] += (box_point_y - 0.5) * s[1]
    return out


def _snapshot(t: Track) -> Track:
    """An independent copy: callers may keep returned tracks without seeing later updates."""
    return dataclasses.replace(t, x=t.x.copy(), P=t.P.copy(), size=None if t.size is None else t.size.copy(),
                               appearance=None if t.appearance is None else t.appearance.copy(),
                               body=None if t.body is None else t.body.copy())


class MultiTargetTracker:
    """Constant-velocity Kalman + Hungarian multi-target tracker (see module docstring)."""

    _H = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])

    def __init__(self, cfg: TrackerConfig = TrackerConfig()) -> None:
        cfg.validate()
        self.cfg = cfg
        self._tracks: list[Track] = []
        self._lost: list[Track] = []   # dead confirmed tracks kept for re-acquisition (reacquire_window_s)
        self.reacquired = 0            # new tracks that took a lost track's id (diagnostics)
        self.parts_rescued = 0         # measurements taken as a part of a track's person (diagnostics)
        self._next_id = 1
        self._last_stamp: float | None = None
        self._R = np.eye(2) * cfg.measurement_std ** 2

    @property
    def tracks(self) -> list[Track]:
        """Snapshots of all live tracks, tentative included."""
        return [_snapshot(t) for t in self._tracks]

    def translate(self, shifts: Mapping[int, Sequence[float] | np.ndarray]) -> None:
        """Move live tracks (``track_id -> (dx, dy)``) without touching velocity or covariance.

        For a sensor whose own motion moved every target in its frame (a camera on a moving platform):
        the filter's constant-velocity model then sees only the targets' motion. Unknown ids are ignored;
        non-finite shifts raise ``MessageFormatError`` before any track moves.
        """
        moves = {}
        for tid, d in shifts.items():
            v = np.asarray(d, dtype=np.float64).ravel()
            if v.shape != (2,) or not np.isfinite(v).all():
                raise MessageFormatError(f"shift of track {tid} = {d!r}: expected 2 finite numbers")
            moves[int(tid)] = v
        for t in self._tracks:
            if t.track_id in moves:
                t.x[:2] += moves[t.track_id]

    def _predict(self, t: Track, dt: float) -> None:
        F = np.eye(4)
        F[0, 2] = F[1, 3] = dt
        q = self.cfg.process_accel_std ** 2
        dt2, dt3, dt4 = dt * dt, dt ** 3, dt ** 4
        Q1 = np.array([[dt4 / 4, dt3 / 2], [dt3 / 2, dt2]]) * q
        Q = np.zeros((4, 4))
        Q[np.ix_([0, 2], [0, 2])] = Q1
        Q[np.ix_([1, 3], [1, 3])] = Q1
        t.x = F @ t.x
        t.P = F @ t.P @ F.T + Q

    def update(self, stamp_s: float, measurements: Sequence[Measurement]) -> list[Track]:
        """Advance to ``stamp_s``, assign ``measurements``, return the confirmed live tracks."""
        if not isinstance(stamp_s, (int, float)) or not math.isfinite(stamp_s):
            raise MessageFormatError(f"stamp_s = {stamp_s!r}: expected a finite number of seconds")
        if self._last_stamp is not None and stamp_s < self._last_stamp:
            raise MessageFormatError(
                f"stamp_s = {stamp_s:.6f} is earlier than the previous update {self._last_stamp:.6f}: "
                f"timestamps must not go backwards (message dropped; restart the tracker after a bag loop)")
        pos, sizes = _check_measurements(measurements)
        pos = _to_point(pos, sizes, self.cfg.box_point_y)
        tentative = {id(t) for t in self._tracks if not t.confirmed}
        dt = 0.0 if self._last_stamp is None else stamp_s - self._last_stamp
        self._last_stamp = float(stamp_s)
        for t in self._tracks:
            self._predict(t, dt)
            t.measurement_index = -1
        apps = [m.appearance for m in measurements]
        bodies = [None if m.body is None else np.asarray(m.body, dtype=np.float64) for m in measurements]
        shared = self._overlaps(pos, sizes)
        assigned = self._assign(pos, apps, bodies)
        assigned += self._rescue(pos, sizes, assigned, apps, bodies)
        rescued = self._rescue_parts(pos, sizes, assigned, bodies)
        assigned += rescued
        self.parts_rescued += len(rescued)
        parts = self._parts(assigned, pos, sizes)
        clear = self._clear_of_others(shared, assigned)
        used = {ti for ti, _ in assigned}
        merged = set()          # measurements that cover a hidden track: two people in one blob
        for ti, t in enumerate(self._tracks):
            t.hidden = False
            if ti not in used:
                cover = self._covering(t, pos, sizes, [mi for _, mi in assigned])
                t.hidden = cover >= 0
                t.missed += not t.hidden
                merged.add(cover)
        for t in self._tracks:
            t.part = t.size_kept = False
        for ti, mi in assigned:
            part = self._tracks[ti].part = (ti, mi) in parts
            self._correct(self._tracks[ti], pos[mi], sizes[mi], stamp_s, mi, measurements[mi].payload,
                          mi in merged, part)
            t = self._tracks[ti]
            doubt = self._body_doubt(t, bodies[mi])
            t.body_doubt_frames = t.body_doubt_frames + 1 if doubt else 0
            t.shared = mi in merged or mi not in clear or doubt
            if mi not in merged and mi in clear and not part:
                # a cue that keeps differing for BODY_RELEARN_FRAMES is the person's own (the first ones
                # learned were off, e.g. a half-hidden cluster): learn it again
                relearn = t.body_doubt_frames > BODY_RELEARN_FRAMES
                self._learn_appearance(t, apps[mi], bodies[mi] if not doubt or relearn else None)
        self._prune(stamp_s)
        taken = {mi for _, mi in assigned}
        for mi in range(len(measurements)):
            if mi not in taken:
                self._birth(pos[mi], sizes[mi], stamp_s, mi, measurements[mi].payload)
                self._tracks[-1].shared = mi not in clear
                if mi in clear:
                    self._learn_appearance(self._tracks[-1], apps[mi], bodies[mi])
                tentative.add(id(self._tracks[-1]))
        self._reacquire([t for t in self._tracks if t.confirmed and id(t) in tentative])
        if len(self._tracks) > self.cfg.max_tracks:
            self._tracks.sort(key=lambda t: (t.last_stamp_s, t.hits), reverse=True)
            dropped = len(self._tracks) - self.cfg.max_tracks
            self._tracks = self._tracks[: self.cfg.max_tracks]
            log.warning("track cap %d reached: dropped the %d stalest tracks", self.cfg.max_tracks, dropped)
        return [_snapshot(t) for t in self._tracks if t.confirmed]

    def _overlaps(self, pos: np.ndarray, sizes: list[np.ndarray | None]) -> np.ndarray:
        """(tracks, measurements) bool: the track's predicted box covers more than
        ``appearance_update_overlap`` of the measurement's box."""
        out = np.zeros((len(self._tracks), len(sizes)), dtype=bool)
        frac, bpy = self.cfg.appearance_update_overlap, self.cfg.box_point_y
        for i, t in enumerate(self._tracks):
            if t.size is None:
                continue
            a = _box(t.x[:2], t.size, bpy)
            for j, s in enumerate(sizes):
                if s is not None and s[0] * s[1] > 0:
                    out[i, j] = _intersection(a, _box(pos[j], s, bpy)) > frac * s[0] * s[1]
        return out

    def _body_forbidden(self, ti: int, bodies: Sequence[np.ndarray | None],
                        candidates: np.ndarray | None = None) -> np.ndarray:
        """Measurements whose body cue differs from the track's by more than ``body_height_gate_m`` in
        height or ``body_intensity_gate`` in torso or leg intensity, for a track that got no measurement in
        the previous update (LiDAR: its person merged into another's cluster, or unseen). A track whose
        last measurement was shared with another track's box (it held the merged cluster) is held to it
        only where one of its ``candidates`` (measurements within its position gate) matches its cue: as
        long as the two people stay merged it keeps the mixed cluster; when they part, it keeps its own."""
        t = self._tracks[ti]
        forbid = np.zeros(len(bodies), dtype=bool)
        coasting = t.missed > 0 or t.hidden
        if t.body is None or not (coasting or (t.shared and candidates is not None)):
            return forbid
        for j, b in enumerate(bodies):
            forbid[j] = self._body_differs(t, b, 1.0)
        if not coasting:
            known = np.array([b is not None for b in bodies])
            assert candidates is not None
            if not (candidates & known & ~forbid).any():
                forbid[:] = False
        return forbid

    def _body_doubt(self, t: Track, body: np.ndarray | None) -> bool:
        """Whether a measured body cue differs from the track's by more than ``BODY_LEARN_FRACTION`` of a
        gate (one person's cue scatters far less): a cluster holding two people mixes their cues, and a
        LiDAR track whose lost neighbour has died sees that cluster as clear of others."""
        return self._body_differs(t, body, BODY_LEARN_FRACTION)

    def _body_gates(self) -> np.ndarray:
        """(3,) gates of the body cue's parts (top height, torso and leg intensity); 0 = part off."""
        cfg = self.cfg
        return np.array([cfg.body_height_gate_m, cfg.body_intensity_gate, cfg.body_intensity_gate])

    def _body_differs(self, t: Track, body: np.ndarray | None, fraction: float) -> bool:
        """Whether ``body`` differs from track ``t``'s cue by more than ``fraction`` of a gate in any part
        both have (parts whose gate is off, or NaN on either side, never differ)."""
        if body is None or t.body is None:
            return False
        gates = self._body_gates()
        d = np.abs(body - t.body)
        return bool(((gates > 0) & np.isfinite(d) & (d > fraction * gates)).any())

    def _appearance_terms(self, ti: int, apps: Sequence[Appearance | None]) -> tuple[np.ndarray, np.ndarray]:
        """(cost, forbidden) of each measurement's colour against track ``ti``: ``appearance_cost`` x
        colour weight x (colour distance - ``SAME_PERSON_DISTANCE``), 0 where either has no colour (so a
        track without a colour yet neither gains nor loses against one whose own person's colour is
        noisy or mixed), and, for a track that got no measurement in the previous update, whether the
        weighted distance exceeds ``appearance_reacquire_gate``."""
        t = self._tracks[ti]
        cost = np.zeros(len(apps))
        forbid = np.zeros(len(apps), dtype=bool)
        cfg = self.cfg
        if t.appearance is None or not cfg.uses_appearance:
            return cost, forbid
        coasting = t.missed > 0 or t.hidden
        for j, a in enumerate(apps):
            if a is None:
                continue
            d = appearance_distance(t.appearance, a.hist)
            if d is not None:
                w = min(t.appearance_weight, a.weight)
                cost[j] = cfg.appearance_cost * w * (d - SAME_PERSON_DISTANCE)
                forbid[j] = coasting and w * d > cfg.appearance_reacquire_gate
        return cost, forbid

    def _assign(self, pos: np.ndarray, apps: Sequence[Appearance | None],
                bodies: Sequence[np.ndarray | None]) -> list[tuple[int, int]]:
        if not self._tracks or pos.shape[0] == 0:
            return []
        cfg = self.cfg
        cost = np.full((len(self._tracks), pos.shape[0]), _FORBIDDEN)
        for i, t in enumerate(self._tracks):
            S = self._H @ t.P @ self._H.T + self._R
            d = pos - t.x[:2]
            m2 = np.einsum("ni,ij,nj->n", d, np.linalg.inv(S), d)
            near = np.hypot(d[:, 0], d[:, 1]) <= cfg.max_gate_distance
            app_cost, app_forbid = self._appearance_terms(i, apps)
            ok = (m2 <= cfg.gate_mahalanobis2) & near & ~app_forbid
            ok &= ~self._body_forbidden(i, bodies, ok)
            cost[i, ok] = (m2[ok] + (math.log(np.linalg.det(S)) if cfg.likelihood_cost else 0.0)
                           + app_cost[ok])
        rows, cols = linear_sum_assignment(cost)
        return [(int(r), int(c)) for r, c in zip(rows, cols) if cost[r, c] < _FORBIDDEN]

    def _rescue(self, pos: np.ndarray, sizes: list[np.ndarray | None],
                assigned: list[tuple[int, int]], apps: Sequence[Appearance | None],
                bodies: Sequence[np.ndarray | None]) -> list[tuple[int, int]]:
        """Confirmed tracks left without a measurement take free measurements that overlap their predicted
        box by ``overlap_rescue_iou`` (IoU; Hungarian on it, the largest overlap first)."""
        bpy = self.cfg.box_point_y

        def iou(ti: int, free: list[int]) -> np.ndarray:
            t = self._tracks[ti]
            a = _box(t.x[:2], t.size, bpy)      # type: ignore[arg-type]
            _, forbid = self._appearance_terms(ti, apps)
            forbid = forbid | self._body_forbidden(ti, bodies)
            return np.array([0.0 if forbid[mi] else _iou(a, _box(pos[mi], sizes[mi], bpy))  # type: ignore
                             for mi in free])
        return self._rescue_free(assigned, sizes, self.cfg.overlap_rescue_iou, iou)

    def _rescue_free(self, assigned: list[tuple[int, int]], sizes: list[np.ndarray | None], thr: float,
                     scores: Callable[[int, list[int]], np.ndarray]) -> list[tuple[int, int]]:
        """Confirmed tracks with a box the assignment left without a measurement take free measurements with
        a box by ``scores(track index, free measurement indices)``: Hungarian on the scores, the largest
        first, pairs scoring at least ``thr`` (> 0; else none) kept."""
        if thr <= 0:
            return []
        used_t = {ti for ti, _ in assigned}
        used_m = {mi for _, mi in assigned}
        tracks = [ti for ti, t in enumerate(self._tracks)
                  if ti not in used_t and t.confirmed and t.size is not None]
        free = [mi for mi in range(len(sizes)) if mi not in used_m and sizes[mi] is not None]
        if not tracks or not free:
            return []
        score = np.stack([scores(ti, free) for ti in tracks])
        rows, cols = linear_sum_assignment(-score)
        return [(tracks[r], free[c]) for r, c in zip(rows, cols) if score[r, c] >= thr]

    def _part_share(self, t: Track, p: np.ndarray, size: np.ndarray | None) -> float:
        """How much of a measurement's box (point ``p``, ``size``) lies inside ``t``'s predicted box, if the
        box is a part of ``t``'s person: shorter than ``PART_SIZE_SHARE`` of it (a width swings with the
        arms) and at least ``part_rescue_coverage`` inside; else 0 (or with the rule off)."""
        thr = self.cfg.part_rescue_coverage
        if (thr <= 0 or size is None or t.size is None or size[0] * size[1] <= 0
                or not size[1] < PART_SIZE_SHARE * t.size[1]):
            return 0.0
        bpy = self.cfg.box_point_y
        share = _intersection(_box(t.x[:2], t.size, bpy), _box(p, size, bpy)) / (size[0] * size[1])
        return share if share >= thr else 0.0

    def _parts(self, assigned: list[tuple[int, int]], pos: np.ndarray,
               sizes: list[np.ndarray | None]) -> set[tuple[int, int]]:
        """The assigned pairs whose measurement is a part of the track's person (``_part_share``), however
        the assignment took it, while the track has had parts for at most ``PART_RELEARN_FRAMES`` updates
        running; counts them on the track (``part_frames``)."""
        out = set()
        for ti, mi in assigned:
            t = self._tracks[ti]
            if self._part_share(t, pos[mi], sizes[mi]) <= 0:
                t.part_frames = 0
                continue
            t.part_frames += 1
            if t.part_frames <= PART_RELEARN_FRAMES:
                out.add((ti, mi))
        return out

    def _rescue_parts(self, pos: np.ndarray, sizes: list[np.ndarray | None],
                      assigned: list[tuple[int, int]], bodies: Sequence[np.ndarray | None]
                      ) -> list[tuple[int, int]]:
        """Confirmed tracks still without a measurement take free measurements that are parts of their
        person (``_part_share``; Hungarian on the share, the largest first). Colour does not forbid it: a
        part's torso and leg colours are read from the wrong rows of the person."""
        def share(ti: int, free: list[int]) -> np.ndarray:
            forbid = self._body_forbidden(ti, bodies)
            return np.array([0.0 if forbid[mi] else self._part_share(self._tracks[ti], pos[mi], sizes[mi])
                             for mi in free])
        return self._rescue_free(assigned, sizes, self.cfg.part_rescue_coverage, share)

    @staticmethod
    def _clear_of_others(shared: np.ndarray, assigned: list[tuple[int, int]]) -> set[int]:
        """Measurements whose colour belongs to one person: no other live track's predicted box covers more
        than ``appearance_update_overlap`` of the measurement's box (``shared``, tracks x measurements; the
        track it went to is not counted)."""
        others = shared.copy()
        for ti, mi in assigned:
            others[ti, mi] = False
        return {int(mi) for mi in np.flatnonzero(~others.any(axis=0))}

    def _learn_appearance(self, t: Track, app: Appearance | None, body: np.ndarray | None = None) -> None:
        """Blend a clear measurement's colour and body cue into the track's (``appearance_memory``); a part
        the track lacks is taken as measured."""
        if body is not None:
            m = self.cfg.appearance_memory
            if t.body is None:
                t.body = body.copy()
            else:
                mix = m * t.body + (1 - m) * body
                t.body = np.where(np.isnan(t.body), body, np.where(np.isnan(body), t.body, mix))
        if app is None:
            return
        if t.appearance is None:
            t.appearance, t.appearance_weight = app.hist.copy(), app.weight
            return
        m = self.cfg.appearance_memory
        new = t.appearance.copy()
        for k in range(len(new)):
            if app.hist[k].sum() <= 0:
                continue
            new[k] = app.hist[k] if new[k].sum() <= 0 else m * new[k] + (1 - m) * app.hist[k]
        t.appearance = new
        t.appearance_weight = m * t.appearance_weight + (1 - m) * app.weight

    def _covering(self, t: Track, pos: np.ndarray, sizes: list[np.ndarray | None], taken: list[int]) -> int:
        """The measurement in ``taken`` whose box holds ``occlusion_coverage`` of the track's predicted box.

        -1 if none (or the check is off, or the track is tentative or has no size).
        """
        cov = self.cfg.occlusion_coverage
        if cov <= 0 or not t.confirmed or t.size is None or t.size[0] * t.size[1] <= 0:
            return -1
        a = _box(t.x[:2], t.size, self.cfg.box_point_y)
        area = t.size[0] * t.size[1]
        for mi in taken:
            s = sizes[mi]
            if s is None:
                continue
            b = _box(pos[mi], s, self.cfg.box_point_y)
            if _intersection(a, b) >= cov * area:
                return mi
        return -1

    def _correct(self, t: Track, z: np.ndarray, size: np.ndarray | None, stamp: float, mi: int,
                 payload: Any, merged: bool = False, part: bool = False) -> None:
        """Kalman update. A ``merged`` blob (it also covers a hidden track) gives the track its box row
        (``box_point_y``: the nearer person's feet) but not its column, which can be anywhere in the extra
        width, nor its size: x noise grows by half the extra width and the size is kept. A ``part`` of the
        person (``_part_share``) is off by up to half the missing extent on each axis: its noise grows by
        that, and the size is kept."""
        R = self._R
        keep_size = t.size_kept = (merged or part) and t.size is not None
        if keep_size and size is not None:
            assert t.size is not None
            R = R.copy()
            if merged:
                R[0, 0] += (max(0.0, size[0] - t.size[0]) / 2) ** 2
            if part:
                R[0, 0] += (max(0.0, t.size[0] - size[0]) / 2) ** 2
                R[1, 1] += (max(0.0, t.size[1] - size[1]) / 2) ** 2
        S = self._H @ t.P @ self._H.T + R
        K = t.P @ self._H.T @ np.linalg.inv(S)
        t.x = t.x + K @ (z - t.x[:2])
        t.P = (np.eye(4) - K @ self._H) @ t.P
        if size is not None and not keep_size:
            a = self.cfg.size_smoothing
            t.size = size.copy() if t.size is None else a * t.size + (1 - a) * size
        t.hits += 1
        t.missed = 0
        t.last_stamp_s = float(stamp)
        t.last_point = t.x[:2].copy()
        t.measurement_index = mi
        t.payload = payload
        if t.hits >= self.cfg.min_hits:
            t.confirmed = True

    def _prune(self, stamp: float) -> None:
        c = self.cfg
        keep = []
        for t in self._tracks:
            if not t.confirmed and t.missed > 0:
                continue
            if t.missed > c.max_missed_frames or stamp - t.last_stamp_s > c.max_age_s:
                if t.confirmed and c.reacquire_window_s > 0:
                    self._lost.append(t)
                continue
            keep.append(t)
        self._tracks = keep
        self._lost = [t for t in self._lost if stamp - t.last_stamp_s <= c.reacquire_window_s]
        del self._lost[:-c.max_tracks]

    def _reacquire(self, confirmed_now: list[Track]) -> None:
        """Give each track confirmed in this update the id of the one remembered track it continues (see
        the module docstring); the remembered track is then forgotten."""
        if not self._lost or not confirmed_now:
            return
        fits = {}
        for t in confirmed_now:
            lost = [k for k, old in enumerate(self._lost) if self._continues(old, t)]
            if len(lost) == 1:
                fits[id(t)] = lost[0]
        claims = Counter(fits.values())
        taken = set()
        for t in confirmed_now:
            k = fits.get(id(t))
            if k is not None and claims[k] == 1:
                old = self._lost[k]
                log.debug("track %d re-acquires lost track %d (%.2f s later)", t.track_id, old.track_id,
                          t.first_stamp_s - old.last_stamp_s)
                t.track_id = old.track_id
                taken.add(k)
                self.reacquired += 1
        self._lost = [old for k, old in enumerate(self._lost) if k not in taken]

    def _continues(self, old: Track, new: Track) -> bool:
        """Whether ``new`` may be ``old``'s person found again: timing, reach and a matching cue."""
        c = self.cfg
        gap = new.first_stamp_s - old.last_stamp_s
        if not 0.0 < gap <= c.reacquire_window_s or old.last_point is None or new.origin is None:
            return False
        scale = 1.0
        if c.reacquire_in_box_heights:
            if old.size is None or old.size[1] <= 0:
                return False
            scale = float(old.size[1])
        reach = (c.reacquire_radius + c.reacquire_speed * gap) * scale
        if float(np.hypot(*(new.origin - old.last_point))) > reach:
            return False
        return self._cue_matches(old, new)

    def _cue_matches(self, old: Track, new: Track) -> bool:
        """A colour within ``appearance_reacquire_gate`` (weighted as in the assignment), or a body cue
        whose every part both know is within its gate (at least one part known); False without a cue."""
        c = self.cfg
        if c.uses_appearance and old.appearance is not None and new.appearance is not None:
            d = appearance_distance(old.appearance, new.appearance)
            w = min(old.appearance_weight, new.appearance_weight)
            if d is not None and w > 0:
                return w * d <= c.reacquire_cue_fraction * c.appearance_reacquire_gate
        if old.body is not None and new.body is not None:
            known = (self._body_gates() > 0) & np.isfinite(new.body - old.body)
            return bool(known.any()) and not self._body_differs(old, new.body, c.reacquire_cue_fraction)
        return False

    def _birth(self, z: np.ndarray, size: np.ndarray | None, stamp: float, mi: int, payload: Any) -> None:
        P = np.diag([self.cfg.measurement_std ** 2] * 2 + [self.cfg.initial_velocity_std ** 2] * 2)
        t = Track(track_id=self._next_id, x=np.array([z[0], z[1], 0.0, 0.0]), P=P, last_stamp_s=float(stamp),
                  size=None if size is None else size.copy(), measurement_index=mi, payload=payload,
                  box_point_y=self.cfg.box_point_y, first_stamp_s=float(stamp), origin=np.array(z[:2], float),
                  last_point=np.array(z[:2], float))
        t.confirmed = self.cfg.min_hits <= 1
        self._next_id += 1
        self._tracks.append(t)
