"""Geometric evidence between tracks of different sensors: co-located over time, or seen apart.

Every sensor's tracker publishes, per frame, each track's position on the ground in one fixed frame
(``tracks`` v2: ``ground``, ``ground_sigma_m``, ``fixed_frame``). ``GroundTracks`` keeps a short
history of them per (sensor, track) and compares two tracks on their *simultaneous* samples: for
each sample of the sparser track, the other track's sample nearest in time, if within
``geometry_sync_s``. With the combined 1-sigma ``s = sqrt(sa^2 + sb^2)``:

- co-located: distance <= max(``geometry_gate_floor_m``, ``geometry_gate_sigmas`` * s);
- apart: distance > max(``geometry_veto_floor_m``, ``geometry_veto_sigmas`` * s);
- uninformative: neither apart nor a co-location radius within ``geometry_gate_max_m``. Such a sample
  (a camera foot point 30 m away has s of metres) would call every track within many metres
  co-located, and so make strangers look like competitors or partners: it is left out, as if the two
  tracks had not been seen at that moment.

The relation of two tracks (``relation``):

- ``VETO``: at least ``geometry_veto_samples`` consecutive simultaneous samples, spanning at least
  ``geometry_veto_span_s``, were apart: one person cannot be in two places at once, so no gait score
  links them. Consecutive and sustained, because a short run of far samples between co-located ones
  is a measurement that went wrong (a camera box whose feet another person hides, its foot point then
  lands metres too far), not two people; a tracker that follows someone else stays apart. A veto
  sticks for the two tracks' lives, also once the samples leave the history and even if they are
  co-located later: a track that follows two people in turn (a tracker swap) must not merge their
  identities.
- ``LINK``: at least ``geometry_link_samples`` simultaneous co-located samples spanning at least
  ``geometry_link_span_s``, forming ``geometry_link_fraction`` of all simultaneous samples, no veto,
  AND no other track of either sensor, seen while its own sensor's track of the pair was, passes
  the same co-location test with either of them, over the history or over its last
  ``geometry_ambiguous_s`` (two people walking together, or two people one camera box covers at
  nearly the same depth, are left to gait; an earlier or later fragment of the same person's track
  is no competitor).
- ``UNKNOWN``: anything else, in particular tracks never seen at the same moment (disjoint fields):
  geometry never links what the sensors did not both see.

Positions in different fixed frames are never compared. Pure numpy; no ROS.
"""

from __future__ import annotations

import enum
import itertools
import math
from collections import deque
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from tcfd_ros.perception.config import IdentityConfig
from tcfd_ros.perception.identity_types import TrackKey
from tcfd_ros.perception.walking_speed import displacement_speeds, track_speed

DEFAULT_SIGMA_M = 0.3          # used when a sensor gives a position without its uncertainty
MAX_SAMPLES_PER_TRACK = 512    # memory bound per track (8 s at 15 Hz is 120)
_VERSIONS = itertools.count(1)  # history versions, unique over all histories (a new one never matches)


class Relation(enum.IntEnum):
    VETO = -1
    UNKNOWN = 0
    LINK = 1


@dataclass(frozen=True)
class PairEvidence:
    """Simultaneous samples of two tracks (counts) and how they compare."""

    simultaneous: int = 0
    colocated: int = 0
    apart: int = 0
    span_s: float = 0.0           # time between the first and the last co-located sample
    mean_distance_m: float = math.nan
    apart_run: int = 0            # the longest run of consecutive apart samples
    apart_run_span_s: float = 0.0  # its duration (first to last sample of the run)


@dataclass
class _History:
    frame: str
    stamps: deque
    xyz: deque
    sigma: deque
    version: int = 0                # a new number from _VERSIONS on every change: keys the caches below
    _arrays: tuple | None = None    # (stamps, xyz, sigma) as arrays, built once per version
    speed: float | None = None      # walking speed (m/s) of version speed_version
    speed_version: int = -1

    def changed(self) -> None:
        self.version = next(_VERSIONS)
        self._arrays = None

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The deques as arrays (the same values), built once per change instead of once per comparison:
        the recognizer compares every pair of tracks several times per tracklet."""
        if self._arrays is None:
            n = len(self.stamps)
            self._arrays = (np.fromiter(self.stamps, np.float64, n), np.asarray(self.xyz),
                            np.asarray(self.sigma))
        return self._arrays


def longest_run(stamps: np.ndarray, flags: np.ndarray) -> tuple[int, float]:
    """(length, duration) of the longest run of consecutive True ``flags`` (samples at ``stamps``)."""
    best, best_span, start = 0, 0.0, -1
    for i, f in enumerate(flags):
        if not f:
            start = -1
            continue
        if start < 0:
            start = i
        n = i - start + 1
        if n > best or (n == best and stamps[i] - stamps[start] > best_span):
            best, best_span = n, float(stamps[i] - stamps[start])
    return best, best_span


class GroundTracks:
    """Short fixed-frame position histories of every sensor's tracks (see module docstring)."""

    def __init__(self, cfg: IdentityConfig) -> None:
        self.cfg = cfg
        self._h: dict[TrackKey, _History] = {}
        self._vetoed: set[frozenset] = set()     # pairs of tracks once seen apart at the same moment
        # evidence(a, b) with the two histories' versions and the config it was computed with
        self._evidence: dict[tuple[TrackKey, TrackKey], tuple[int, int, IdentityConfig, PairEvidence]] = {}

    def add(self, key: TrackKey, stamp_s: float, frame: str, ground: Iterable[float],
            sigma_m: float | None) -> bool:
        """Record a position; False (ignored) when it is older than the track's newest or not finite."""
        g = np.asarray(tuple(ground), dtype=np.float64)
        if not frame or g.shape != (3,) or not np.isfinite(g).all() or not math.isfinite(stamp_s):
            return False
        sigma = DEFAULT_SIGMA_M if sigma_m is None or not math.isfinite(sigma_m) else max(float(sigma_m), 0.0)
        h = self._h.get(key)
        if h is None or h.frame != frame:
            n = MAX_SAMPLES_PER_TRACK
            h = self._h[key] = _History(frame, deque(maxlen=n), deque(maxlen=n), deque(maxlen=n))
        if h.stamps and stamp_s <= h.stamps[-1]:
            return False
        h.stamps.append(float(stamp_s))
        h.xyz.append(g)
        h.sigma.append(sigma)
        while h.stamps and h.stamps[-1] - h.stamps[0] > self.cfg.geometry_history_s:
            h.stamps.popleft()
            h.xyz.popleft()
            h.sigma.popleft()
        h.changed()
        return True

    def keys(self) -> list[TrackKey]:
        return list(self._h)

    def last_stamp(self, key: TrackKey) -> float | None:
        h = self._h.get(key)
        return h.stamps[-1] if h is not None and h.stamps else None

    def expire(self, now_s: float, timeout_s: float) -> None:
        for key in [k for k, h in self._h.items() if not h.stamps or now_s - h.stamps[-1] > timeout_s]:
            self.forget(key)

    def moved_faster(self, key: TrackKey, speed_mps: float, window_s: float, sigmas: float) -> bool:
        """Whether ``key``'s positions show it moving faster than ``speed_mps`` between a sample and the first
        one ``window_s`` or more later, each distance less ``sigmas`` combined sigmas of its two samples: no
        walker does; a tracker that jumped to someone else does, and a far camera foot point that slides
        a metre in depth as the legs come and go does not."""
        h = self._h.get(key)
        if h is None or len(h.stamps) < 2:
            return False
        t, xyz, sigma = h.arrays()
        return bool((displacement_speeds(t, xyz, window_s, sigma, sigmas) > speed_mps).any())

    def forget(self, key: TrackKey) -> None:
        self._h.pop(key, None)
        self._vetoed = {p for p in self._vetoed if key not in p}
        self._evidence = {k: v for k, v in self._evidence.items() if key not in k}

    def position(self, key: TrackKey, at_s: float | None = None,
                 max_dt_s: float = math.inf) -> tuple[np.ndarray, float, str] | None:
        """(xyz, sigma, frame) of the track's sample nearest ``at_s`` (its newest without), if within
        ``max_dt_s``."""
        h = self._h.get(key)
        if h is None or not h.stamps:
            return None
        if at_s is None:
            i = len(h.stamps) - 1
        else:
            st = h.arrays()[0]
            i = int(np.argmin(np.abs(st - at_s)))
            if abs(st[i] - at_s) > max_dt_s:
                return None
        return h.xyz[i].copy(), float(h.sigma[i]), h.frame

    def speed(self, key: TrackKey) -> float | None:
        """The track's walking speed over its history (``walking_speed.track_speed``), m/s, or None."""
        h = self._h.get(key)
        if h is None:
            return None
        if h.speed_version != h.version:
            st, xyz, _ = h.arrays()
            h.speed = track_speed(st, xyz, self.cfg.speed_baseline_s, self.cfg.speed_min_span_s,
                                  self.cfg.speed_max_se_mps or math.inf)
            h.speed_version = h.version
        return h.speed

    def evidence(self, a: TrackKey, b: TrackKey, since_s: float = -math.inf) -> PairEvidence:
        """Compare two tracks on their simultaneous samples (those stamped ``since_s`` or later); the
        whole-history comparison is kept until either history changes."""
        ha, hb = self._h.get(a), self._h.get(b)
        if ha is None or hb is None or ha.frame != hb.frame or not ha.stamps or not hb.stamps:
            return PairEvidence()
        if math.isfinite(since_s):                 # a recent stretch: asked with a moving start, not kept
            return self._compare(ha, hb, since_s)
        key = (a, b)
        hit = self._evidence.get(key)
        if hit is not None and hit[0] == ha.version and hit[1] == hb.version and hit[2] is self.cfg:
            return hit[3]
        e = self._compare(ha, hb, since_s)
        self._evidence[key] = (ha.version, hb.version, self.cfg, e)
        return e

    def _compare(self, ha: _History, hb: _History, since_s: float) -> PairEvidence:
        if len(ha.stamps) > len(hb.stamps):
            ha, hb = hb, ha                        # iterate over the sparser track
        ta, xyz_a, sigma_a = ha.arrays()
        first = int(np.searchsorted(ta, since_s)) if math.isfinite(since_s) else 0
        if first >= len(ta):
            return PairEvidence()
        ta, xyz_a, sigma_a = ta[first:], xyz_a[first:], sigma_a[first:]
        tb, xyz_b, sigma_b = hb.arrays()
        k = np.clip(np.searchsorted(tb, ta), 1, max(len(tb) - 1, 1))
        lo = np.maximum(k - 1, 0)
        hi = np.minimum(k, len(tb) - 1)
        j = np.where(np.abs(tb[lo] - ta) <= np.abs(tb[hi] - ta), lo, hi)
        sync = np.abs(tb[j] - ta) <= self.cfg.geometry_sync_s
        if not sync.any():
            return PairEvidence()
        ia = np.flatnonzero(sync)
        jb = j[sync]
        xa = xyz_a[ia, :2]
        xb = xyz_b[jb, :2]
        d = np.linalg.norm(xa - xb, axis=1)
        s = np.hypot(sigma_a[ia], sigma_b[jb])
        c = self.cfg
        radius = np.maximum(c.geometry_gate_floor_m, c.geometry_gate_sigmas * s)
        near = d <= radius
        far = d > np.maximum(c.geometry_veto_floor_m, c.geometry_veto_sigmas * s)
        # a sample too uncertain to tell neighbours apart is no evidence of co-location (nor against it)
        informative = (radius <= c.geometry_gate_max_m) | far
        near &= informative
        t_near = ta[ia][near]
        span = float(t_near[-1] - t_near[0]) if t_near.size else 0.0
        if not informative.any():
            return PairEvidence()
        run, run_span = longest_run(ta[ia], far)
        return PairEvidence(int(informative.sum()), int(near.sum()), int(far.sum()), span,
                            float(d[informative].mean()), run, run_span)

    def _colocated(self, e: PairEvidence, strict: bool) -> bool:
        c = self.cfg
        if strict:
            # far samples that do not make a veto (checked first) are bounded by the fraction
            return (e.colocated >= c.geometry_link_samples
                    and e.span_s >= c.geometry_link_span_s
                    and e.colocated >= c.geometry_link_fraction * e.simultaneous)
        # a competitor: co-located on most of its simultaneous samples, over a few of them
        return e.colocated >= max(2, c.geometry_link_samples // 3) and e.colocated >= 0.5 * e.simultaneous

    def vetoed(self, a: TrackKey, b: TrackKey) -> bool:
        """True once the two tracks were seen apart on ``geometry_veto_samples`` simultaneous samples."""
        pair = frozenset((a, b))
        if pair in self._vetoed:
            return True
        e = self.evidence(a, b)
        c = self.cfg
        if e.apart_run >= c.geometry_veto_samples and e.apart_run_span_s >= c.geometry_veto_span_s:
            self._vetoed.add(pair)
            return True
        return False

    def relation(self, a: TrackKey, b: TrackKey) -> Relation:
        """VETO, LINK or UNKNOWN for two tracks (of different sensors); see module docstring."""
        if a[0] == b[0]:
            return Relation.UNKNOWN
        if self.vetoed(a, b):
            return Relation.VETO
        e = self.evidence(a, b)
        if e.simultaneous == 0 or not self._colocated(e, strict=True):
            return Relation.UNKNOWN
        recent = min(self._h[a].stamps[-1], self._h[b].stamps[-1]) - self.cfg.geometry_ambiguous_s
        for other in self._h:
            if other in (a, b):
                continue
            # a competitor is another person there at the same time: an earlier fragment of the same
            # sensor's track (the tracker lost the person and started again) is not one
            if other[0] == b[0] and self._overlap(other, b) and self._competes(a, other, recent):
                return Relation.UNKNOWN          # a has two candidates on b's sensor
            if other[0] == a[0] and self._overlap(other, a) and self._competes(other, b, recent):
                return Relation.UNKNOWN          # b has two candidates on a's sensor
        return Relation.LINK

    def _competes(self, x: TrackKey, y: TrackKey, recent_s: float) -> bool:
        """A competitor: co-located over the history (cached), or since ``recent_s`` (two people one
        camera box covers at nearly the same depth: the camera's position cannot tell which of them
        it is); the recent stretch is compared only when the history does not already decide."""
        if self._colocated(self.evidence(x, y), strict=False):
            return True
        recent = self.evidence(x, y, recent_s)
        return recent.colocated >= 2 and recent.colocated >= 0.5 * recent.simultaneous

    def _overlap(self, a: TrackKey, b: TrackKey) -> bool:
        """Whether the two tracks' histories overlap in time (within ``geometry_sync_s``)."""
        ha, hb = self._h.get(a), self._h.get(b)
        if ha is None or hb is None or not ha.stamps or not hb.stamps:
            return False
        sync = self.cfg.geometry_sync_s
        return ha.stamps[0] <= hb.stamps[-1] + sync and hb.stamps[0] <= ha.stamps[-1] + sync

    def fuse(self, keys: Iterable[TrackKey], at_s: float) -> tuple[np.ndarray, float, str] | None:
        """Inverse-variance mean of the tracks' positions nearest ``at_s`` (one frame), with its sigma."""
        got = [p for p in (self.position(k, at_s, self.cfg.track_timeout_s) for k in keys) if p is not None]
        if not got:
            return None
        frame = got[0][2]
        got = [p for p in got if p[2] == frame]
        w = np.array([1.0 / max(s, 1e-3) ** 2 for _, s, _ in got])
        xyz = (np.stack([p for p, _, _ in got]) * w[:, None]).sum(axis=0) / w.sum()
        return xyz, float(1.0 / math.sqrt(w.sum())), frame
