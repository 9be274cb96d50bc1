"""Analytic primitives (capsules, ellipsoids, boxes) and vectorised ray casting against them.

Both sensors see the world through ``raycast``: the LiDAR casts one ray per beam and firing, the
camera one ray per pixel. Everything is numpy over (rays x primitives); no per-ray Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Rays processed per chunk, bounding the (rays x primitives) temporaries to a few tens of MB.
RAY_CHUNK = 16384
_EPS = 1e-9


@dataclass
class Shapes:
    """A set of primitives; ``*_part`` holds an integer part/material id per primitive.

    Capsules: segment ``cap_a``-``cap_b`` (K, 3) with radius ``cap_r`` (K,).
    Ellipsoids: centre ``ell_c`` (E, 3), rotation ``ell_R`` (E, 3, 3) whose columns are the local
    axes, semi-axes ``ell_s`` (E, 3). Boxes: centre ``box_c`` (B, 3), rotation ``box_R`` (B, 3, 3),
    half-sizes ``box_h`` (B, 3).
    """

    cap_a: np.ndarray
    cap_b: np.ndarray
    cap_r: np.ndarray
    cap_part: np.ndarray
    ell_c: np.ndarray
    ell_R: np.ndarray
    ell_s: np.ndarray
    ell_part: np.ndarray
    box_c: np.ndarray
    box_R: np.ndarray
    box_h: np.ndarray
    box_part: np.ndarray

    @staticmethod
    def empty() -> "Shapes":
        z3 = np.zeros((0, 3))
        zR = np.zeros((0, 3, 3))
        zi = np.zeros((0,), np.int64)
        return Shapes(z3, z3, np.zeros(0), zi, z3, zR, z3, zi, z3, zR, z3, zi)

    @staticmethod
    def concat(items: "list[Shapes]") -> "Shapes":
        if not items:
            return Shapes.empty()
        return Shapes(*[np.concatenate([getattr(s, f) for s in items]) for f in _FIELDS])

    def transformed(self, R: np.ndarray, t: np.ndarray) -> "Shapes":
        """The shapes moved by the rigid transform x -> R x + t."""
        return Shapes(
            self.cap_a @ R.T + t, self.cap_b @ R.T + t, self.cap_r, self.cap_part,
            self.ell_c @ R.T + t, np.einsum("ij,ejk->eik", R, self.ell_R), self.ell_s, self.ell_part,
            self.box_c @ R.T + t, np.einsum("ij,ejk->eik", R, self.box_R), self.box_h, self.box_part,
        )

    def aabb(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned bounds (lo, hi) of all primitives."""
        los, his = [], []
        if len(self.cap_r):
            r = self.cap_r[:, None]
            los.append(np.minimum(self.cap_a, self.cap_b) - r)
            his.append(np.maximum(self.cap_a, self.cap_b) + r)
        if len(self.ell_s):
            ext = np.sqrt(np.einsum("eij,ej->ei", self.ell_R ** 2, self.ell_s ** 2))
            los.append(self.ell_c - ext)
            his.append(self.ell_c + ext)
        if len(self.box_h):
            ext = np.einsum("eij,ej->ei", np.abs(self.box_R), self.box_h)
            los.append(self.box_c - ext)
            his.append(self.box_c + ext)
        if not los:
            return np.zeros(3), np.zeros(3)
        lo = np.concatenate(los).min(axis=0)
        hi = np.concatenate(his).max(axis=0)
        return lo, hi

    def primitive_bounds(self) -> list[tuple[str, int, np.ndarray, np.ndarray]]:
        """(kind, index, lo, hi) axis-aligned bounds of every primitive, kinds 'cap', 'ell', 'box'."""
        out = []
        if len(self.cap_r):
            r = self.cap_r[:, None]
            lo = np.minimum(self.cap_a, self.cap_b) - r
            hi = np.maximum(self.cap_a, self.cap_b) + r
            out += [("cap", k, lo[k], hi[k]) for k in range(len(r))]
        if len(self.ell_s):
            ext = np.sqrt(np.einsum("eij,ej->ei", self.ell_R ** 2, self.ell_s ** 2))
            out += [("ell", k, self.ell_c[k] - ext[k], self.ell_c[k] + ext[k]) for k in range(len(ext))]
        if len(self.box_h):
            ext = np.einsum("eij,ej->ei", np.abs(self.box_R), self.box_h)
            out += [("box", k, self.box_c[k] - ext[k], self.box_c[k] + ext[k]) for k in range(len(ext))]
        return out

    def primitive(self, kind: str, k: int) -> "Shapes":
        """The one primitive ``k`` of ``kind`` ('cap', 'ell', 'box') as its own Shapes."""
        out = Shapes.empty()
        prefix = {"cap": "cap_", "ell": "ell_", "box": "box_"}[kind]
        for f in _FIELDS:
            if f.startswith(prefix):
                setattr(out, f, getattr(self, f)[k:k + 1])
        return out

    def corners(self) -> np.ndarray:
        """(8, 3) corners of the axis-aligned bounds, for projecting a footprint."""
        lo, hi = self.aabb()
        return np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])


_FIELDS = ("cap_a", "cap_b", "cap_r", "cap_part", "ell_c", "ell_R", "ell_s", "ell_part",
           "box_c", "box_R", "box_h", "box_part")


def box(center, size, part: int, yaw_rad: float = 0.0, R: np.ndarray | None = None) -> Shapes:
    """One box of full ``size`` (x, y, z) at ``center``, rotated by ``yaw_rad`` about z (or by ``R``)."""
    if R is None:
        c, s = np.cos(yaw_rad), np.sin(yaw_rad)
        R = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    sh = Shapes.empty()
    sh.box_c = np.asarray(center, float)[None]
    sh.box_R = np.asarray(R, float)[None]
    sh.box_h = np.asarray(size, float)[None] / 2.0
    sh.box_part = np.array([part], np.int64)
    return sh


def _hit_capsules(o, d, a, b, r):
    """(M,) rays x (K,) capsules -> t (M, K), inf where missed (Quilez's closed form)."""
    ba = b - a                                    # (K,3)
    oa = o[:, None, :] - a[None]                   # (M,K,3)
    baba = np.einsum("kj,kj->k", ba, ba)[None]     # (1,K)
    bard = d @ ba.T                                # (M,K)
    baoa = np.einsum("mkj,kj->mk", oa, ba)
    rdoa = np.einsum("mj,mkj->mk", d, oa)
    oaoa = np.einsum("mkj,mkj->mk", oa, oa)
    rr = (r * r)[None]
    qa = baba - bard * bard
    qb = baba * rdoa - baoa * bard
    qc = baba * oaoa - baoa * baoa - rr * baba
    h = qb * qb - qa * qc
    with np.errstate(invalid="ignore", divide="ignore"):
        t_cyl = (-qb - np.sqrt(h)) / qa
        y = baoa + t_cyl * bard
        body = (h >= 0) & (qa > _EPS) & (y > 0) & (y < baba)
        # caps: sphere at a (y <= 0) or b
        oc = np.where((y <= 0)[..., None], oa, oa - ba[None])
        cb = np.einsum("mj,mkj->mk", d, oc)
        cc = np.einsum("mkj,mkj->mk", oc, oc) - rr
        hc = cb * cb - cc
        t_cap = -cb - np.sqrt(hc)
    t = np.where(body, t_cyl, np.where(hc >= 0, t_cap, np.inf))
    t[~np.isfinite(t) | (t < 0)] = np.inf
    return t


def _hit_ellipsoids(o, d, c, R, s):
    oc = np.einsum("mkj,kji->mki", o[:, None, :] - c[None], R) / s[None]   # local, unit-sphere space
    dl = np.einsum("mj,kji->mki", d, R) / s[None]
    qa = np.einsum("mki,mki->mk", dl, dl)
    qb = np.einsum("mki,mki->mk", oc, dl)
    qc = np.einsum("mki,mki->mk", oc, oc) - 1.0
    h = qb * qb - qa * qc
    with np.errstate(invalid="ignore"):
        t = (-qb - np.sqrt(h)) / qa
    t = np.where((h >= 0) & (t >= 0), t, np.inf)
    return t


def _hit_boxes(o, d, c, R, h):
    ol = np.einsum("mkj,kji->mki", o[:, None, :] - c[None], R)
    dl = np.einsum("mj,kji->mki", d, R)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / np.where(np.abs(dl) < _EPS, _EPS, dl)
        t1 = (-h[None] - ol) * inv
        t2 = (h[None] - ol) * inv
    tn = np.minimum(t1, t2).max(axis=2)
    tf = np.maximum(t1, t2).min(axis=2)
    t = np.where((tn <= tf) & (tn >= 0), tn, np.inf)
    return t


def hit_primitive(kind: str, k: int, origins: np.ndarray, dirs: np.ndarray, shapes: Shapes
                  ) -> tuple[np.ndarray, int]:
    """Distance (M,) of the rays to one primitive (inf = miss) and its part id."""
    o = np.broadcast_to(np.asarray(origins, float), dirs.shape)
    if kind == "cap":
        t = _hit_capsules(o, dirs, shapes.cap_a[k:k + 1], shapes.cap_b[k:k + 1], shapes.cap_r[k:k + 1])
        return t[:, 0], int(shapes.cap_part[k])
    if kind == "ell":
        t = _hit_ellipsoids(o, dirs, shapes.ell_c[k:k + 1], shapes.ell_R[k:k + 1], shapes.ell_s[k:k + 1])
        return t[:, 0], int(shapes.ell_part[k])
    t = _hit_boxes(o, dirs, shapes.box_c[k:k + 1], shapes.box_R[k:k + 1], shapes.box_h[k:k + 1])
    return t[:, 0], int(shapes.box_part[k])


def raycast(origins: np.ndarray, dirs: np.ndarray, shapes: Shapes) -> tuple[np.ndarray, np.ndarray]:
    """Nearest hit of each ray: distance t (M,) (inf = miss) and part id (M,) (-1 = miss).

    ``dirs`` must be unit vectors; ``origins`` is (3,) (one sensor) or (M, 3).
    """
    d = np.asarray(dirs, float)
    m = d.shape[0]
    o = np.broadcast_to(np.asarray(origins, float), (m, 3))
    t_out = np.full(m, np.inf)
    part_out = np.full(m, -1, np.int64)
    groups = [
        (_hit_capsules, (shapes.cap_a, shapes.cap_b, shapes.cap_r), shapes.cap_part),
        (_hit_ellipsoids, (shapes.ell_c, shapes.ell_R, shapes.ell_s), shapes.ell_part),
        (_hit_boxes, (shapes.box_c, shapes.box_R, shapes.box_h), shapes.box_part),
    ]
    for lo in range(0, m, RAY_CHUNK):
        sl = slice(lo, min(m, lo + RAY_CHUNK))
        for fn, args, parts in groups:
            if len(parts) == 0:
                continue
            t = fn(o[sl], d[sl], *args)
            k = np.argmin(t, axis=1)
            tk = t[np.arange(t.shape[0]), k]
            better = tk < t_out[sl]
            t_out[sl] = np.where(better, tk, t_out[sl])
            part_out[sl] = np.where(better, parts[k], part_out[sl])
    return t_out, part_out


def ground_hit(origins: np.ndarray, dirs: np.ndarray, ground_z: float = 0.0) -> np.ndarray:
    """Distance along each ray to the plane z = ground_z (inf when it points away)."""
    o = np.broadcast_to(np.asarray(origins, float), dirs.shape)
    dz = dirs[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (ground_z - o[:, 2]) / dz
    return np.where((dz < -_EPS) & (t > 0), t, np.inf)


def normals_at(points: np.ndarray, shapes: Shapes) -> np.ndarray:
    """Approximate outward unit normals: from the nearest primitive surface of any kind.

    Used for shading and LiDAR intensity; computed from the closest primitive by signed distance.
    """
    n = np.zeros_like(points)
    best = np.full(points.shape[0], np.inf)
    if len(shapes.cap_r):
        ba = shapes.cap_b - shapes.cap_a
        pa = points[:, None, :] - shapes.cap_a[None]
        hh = np.clip(np.einsum("mkj,kj->mk", pa, ba) / np.maximum(np.einsum("kj,kj->k", ba, ba), _EPS),
                     0, 1)
        v = pa - hh[..., None] * ba[None]
        dist = np.linalg.norm(v, axis=2)
        sd = np.abs(dist - shapes.cap_r[None])
        k = np.argmin(sd, axis=1)
        idx = np.arange(points.shape[0])
        upd = sd[idx, k] < best
        best = np.where(upd, sd[idx, k], best)
        n[upd] = v[idx, k][upd] / np.maximum(dist[idx, k][upd, None], _EPS)
    for c, R, s, is_box in ((shapes.ell_c, shapes.ell_R, shapes.ell_s, False),
                            (shapes.box_c, shapes.box_R, shapes.box_h, True)):
        if len(s) == 0:
            continue
        pl = np.einsum("mkj,kji->mki", points[:, None, :] - c[None], R)
        if is_box:
            q = np.abs(pl) / s[None]
            ax = np.argmax(q, axis=2)
            sd = np.abs(q.max(axis=2) - 1.0) * s.min(axis=1)[None]
            nl = np.zeros_like(pl)
            np.put_along_axis(nl, ax[..., None], np.sign(np.take_along_axis(pl, ax[..., None], 2)), 2)
        else:
            q = pl / s[None]
            rad = np.linalg.norm(q, axis=2)
            sd = np.abs(rad - 1.0) * s.min(axis=1)[None]
            nl = pl / (s[None] ** 2)
        k = np.argmin(sd, axis=1)
        idx = np.arange(points.shape[0])
        upd = sd[idx, k] < best
        best = np.where(upd, sd[idx, k], best)
        nw = np.einsum("kij,kj->ki", R[k], nl[idx, k])
        nw /= np.maximum(np.linalg.norm(nw, axis=1, keepdims=True), _EPS)
        n[upd] = nw[upd]
    return n
