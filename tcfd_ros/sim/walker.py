"""A simulated person walking a path: identity + sequence variation + trajectory -> per-instant actors."""

from __future__ import annotations

import numpy as np

from tcfd_ros.sim.body import PosedSequence, part_colours, part_reflectivity, pose_sequence
from tcfd_ros.sim.person import Identity, SequenceVariation
from tcfd_ros.sim.scan import Actor


def yaw_matrix(yaw_rad: float) -> np.ndarray:
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


class Polyline:
    """A ground path through waypoints, parametrised by arc length."""

    def __init__(self, waypoints: np.ndarray):
        self.points = np.asarray(waypoints, float)
        seg = np.diff(self.points, axis=0)
        self.seg_len = np.linalg.norm(seg, axis=1)
        self.cum = np.concatenate([[0.0], np.cumsum(self.seg_len)])
        self.length = float(self.cum[-1])

    def at(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions (N, 2) and headings (N,) at arc lengths ``s`` (clamped to the path)."""
        s = np.clip(np.asarray(s, float), 0.0, self.length)
        k = np.clip(np.searchsorted(self.cum, s, side="right") - 1, 0, len(self.seg_len) - 1)
        frac = (s - self.cum[k]) / np.maximum(self.seg_len[k], 1e-9)
        pos = self.points[k] + frac[:, None] * (self.points[k + 1] - self.points[k])
        d = self.points[k + 1] - self.points[k]
        return pos, np.arctan2(d[:, 1], d[:, 0])


class Walker:
    """One person on one path; ``actor(i)`` gives the posed person at the i-th sampled instant."""

    def __init__(self, person_id: int, ident: Identity, var: SequenceVariation, times_s: np.ndarray,
                 path: Polyline, start_time_s: float = 0.0, start_offset_m: float = 0.0):
        self.person_id = person_id
        self.identity = ident
        self.variation = var
        self.times = np.asarray(times_s, float)
        rel = np.maximum(self.times - start_time_s, 0.0)
        self.posed: PosedSequence = pose_sequence(ident, var, rel)
        self.arc = start_offset_m + self.posed.distance_m
        self.active = (self.times >= start_time_s) & (self.arc <= path.length)
        pos, heading = path.at(self.arc)
        self.position = np.concatenate([pos, np.zeros((pos.shape[0], 1))], axis=1)
        self.heading = heading + np.deg2rad(var.heading_jitter_deg) * 0.3
        self.velocity = np.zeros_like(self.position)
        if self.times.size > 1:  # d(position)/dt over the instants in time order (inputs may interleave)
            order = np.argsort(self.times, kind="stable")
            ts = self.times[order]
            if np.ptp(ts) > 0:
                ts = ts + np.arange(ts.size) * 1e-9  # keep the spacing strictly positive
                self.velocity[order] = np.gradient(self.position[order], ts, axis=0)
        self.colours = part_colours(var)
        self.reflectivity = part_reflectivity(var)

    def actor(self, i: int) -> Actor:
        shapes = self.posed.frame(i).transformed(yaw_matrix(float(self.heading[i])), self.position[i])
        return Actor(self.person_id, shapes, self.colours, self.reflectivity)
