"""Per-frame sensing of a world: LiDAR scans and camera renderings by vectorised ray casting.

The static world (ground plane, walls, poles, parked cars) never moves, so each sensor casts its rays
against it once; per frame only the rays inside each person's angular/pixel window are cast against
that person's primitives and depth-tested against the static result. This is exact for a fixed
sensor and keeps a 64-beam scan or a 640x480 frame to a few tens of milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from tcfd_ros.sim.lighting import DAY, Lighting, expose_ir, expose_lowlight, ir_irradiance
from tcfd_ros.sim.sensors import CameraModel, LidarModel, lidar_ray_table
from tcfd_ros.sim.shapes import Shapes, ground_hit, hit_primitive, normals_at, raycast
from tcfd_ros.sim.static_cast import RaySelector, camera_selector, cast_culled, hit_normals, lidar_selector

#: Structured dtype of a LiDAR point (the /lidar/points field layout).
POINT_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("intensity", "<f4"),
                        ("ring", "<u2"), ("time", "<f4")])
#: Part id used for the ground plane in static hit tables.
GROUND_PART = -2
#: Lambertian shading: ambient share and light direction (world frame, towards the light).
AMBIENT = 0.38
SUN_DIR = np.array([0.35, 0.25, 0.9]) / np.linalg.norm([0.35, 0.25, 0.9])
#: Angular margin around a person's bounds when picking LiDAR rays to cast (radians).
_WINDOW_MARGIN_RAD = np.deg2rad(1.0)


@dataclass
class StaticWorld:
    """Static primitives with a colour (BGR 0..1) and LiDAR reflectivity per part id, plus the ground."""

    shapes: Shapes
    colours: dict[int, tuple[float, float, float]] = field(default_factory=dict)
    reflectivity: dict[int, float] = field(default_factory=dict)
    ground: bool = True
    ground_reflectivity: float = 0.18


@dataclass
class Actor:
    """One person (with accessories) in world coordinates for one instant."""

    actor_id: int
    shapes: Shapes
    colours: np.ndarray          # (N_PARTS, 3) BGR 0..1
    reflectivity: np.ndarray     # (N_PARTS,)


def _static_hits(origin: np.ndarray, dirs: np.ndarray, world: StaticWorld | None,
                 select: RaySelector | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest static hit per ray: t, part id (GROUND_PART for the ground) and primitive index (-1: none).

    ``select`` culls each primitive to the rays of its footprint, which keeps re-casting the static
    world from every new pose of a moving (robot-mounted) sensor cheap; results do not depend on it.
    """
    m = dirs.shape[0]
    if world is None:
        return np.full(m, np.inf), np.full(m, -1, np.int64), np.full(m, -1, np.int64)
    t, part, prim = cast_culled(origin, dirs, world.shapes, select)
    if world.ground:
        tg = ground_hit(origin, dirs)
        g = tg < t
        t = np.where(g, tg, t)
        part = np.where(g, GROUND_PART, part)
        prim = np.where(g, -1, prim)
    return t, part, prim


def _static_normals(points: np.ndarray, part: np.ndarray, prim: np.ndarray, world: StaticWorld
                    ) -> np.ndarray:
    """Normals of static hits: up for the ground, else the surface normal of the primitive hit."""
    n = np.zeros_like(points)
    n[:, 2] = 1.0
    obj = part >= 0
    if obj.any():
        n[obj] = hit_normals(points[obj], prim[obj], world.shapes)
    return n


class _MovableSensor:
    """A sensor whose pose-dependent state (the static world seen from it) comes from its ``static_view``.

    ``static_view(R, t)`` is pure, so the next pose's view can be computed in another thread while the
    current frame renders (robot mounts); ``use_view`` takes it over.
    """

    def set_pose(self, R: np.ndarray, t: np.ndarray) -> None:
        """Move the sensor (a robot mount): recompute the static world seen from world-from-sensor (R, t)."""
        self.use_view(self.static_view(R, t))

    def use_view(self, view: dict[str, np.ndarray]) -> None:
        """Take a pose and its static view computed by ``static_view`` (possibly in another thread)."""
        self.__dict__.update(view)


class LidarScanner(_MovableSensor):
    """A LiDAR at world-from-sensor (R, t) (``set_pose`` moves it); ``scan`` gives points and actor labels."""

    def __init__(self, model: LidarModel, R: np.ndarray, t: np.ndarray, world: StaticWorld | None):
        self.model = model
        dirs, el, az = lidar_ray_table(model)                  # (B, C, 3)
        self.elev = el
        self.azim = az
        # firing order: column-major (all beams of a column, then the next column)
        self.dirs_sensor = np.ascontiguousarray(dirs.transpose(1, 0, 2)).reshape(-1, 3)
        n_b, n_c = model.n_beams, model.columns
        self.ring = np.tile(np.arange(n_b, dtype=np.uint16), n_c)
        self.col = np.repeat(np.arange(n_c), n_b)
        self.time = (self.col / n_c / model.rate_hz).astype(np.float32)
        self.world = world
        self.last_stats: dict[int, tuple[int, int]] = {}
        self.set_pose(R, t)

    def static_view(self, R: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """The pose and its static-world ranges, parts and intensities; pure (reads only fixed state)."""
        R = np.asarray(R, float)
        t = np.asarray(t, float)
        dirs_world = self.dirs_sensor @ R.T
        world = self.world
        level = bool(np.allclose(R[:, 2], [0.0, 0.0, 1.0], atol=1e-9))   # the culler's bounds need it
        select = lidar_selector(R, t, self.azim, self.elev) if level else None
        t_static, part_static, prim = _static_hits(t, dirs_world, world, select)
        intensity_static = np.zeros(t_static.shape, np.float32)
        hit = np.isfinite(t_static)
        if world is not None and hit.any():
            pts = t + dirs_world[hit] * t_static[hit, None]
            nrm = _static_normals(pts, part_static[hit], prim[hit], world)
            cos = np.abs(np.einsum("ij,ij->i", nrm, dirs_world[hit]))
            refl = self._refl_table(part_static[hit])
            intensity_static[hit] = (255.0 * refl * (0.25 + 0.75 * cos)).astype(np.float32)
        return {"R": R, "t": t, "dirs_world": dirs_world, "t_static": t_static, "part_static": part_static,
                "intensity_static": intensity_static}

    def _refl_table(self, parts: np.ndarray) -> np.ndarray:
        refl = np.full(parts.shape, self.world.ground_reflectivity)
        refl[parts >= 0] = 0.3
        for p, r in self.world.reflectivity.items():
            refl[parts == p] = r
        return refl

    def _window(self, shapes: Shapes) -> np.ndarray:
        """Indices of the rays that can hit ``shapes`` (from its world bounds)."""
        corners = (shapes.corners() - self.t) @ self.R        # sensor frame
        rng_xy = np.hypot(corners[:, 0], corners[:, 1])
        lo, hi = shapes.aabb()
        inside = np.all((self.t >= lo - 0.3) & (self.t <= hi + 0.3))
        if inside or rng_xy.min() < 0.5:
            return np.arange(self.dirs_sensor.shape[0])
        az = np.arctan2(corners[:, 1], corners[:, 0])
        centre = np.arctan2(np.sin(az).mean(), np.cos(az).mean())
        rel = (az - centre + np.pi) % (2 * np.pi) - np.pi
        a_lo, a_hi = rel.min() - _WINDOW_MARGIN_RAD, rel.max() + _WINDOW_MARGIN_RAD
        el = np.arctan2(corners[:, 2], rng_xy)
        e_lo, e_hi = el.min() - _WINDOW_MARGIN_RAD, el.max() + _WINDOW_MARGIN_RAD
        col_rel = (self.azim - centre + np.pi) % (2 * np.pi) - np.pi
        cols = np.flatnonzero((col_rel >= a_lo) & (col_rel <= a_hi))
        beams = np.flatnonzero((self.elev >= e_lo) & (self.elev <= e_hi))
        return (cols[:, None] * self.model.n_beams + beams[None, :]).ravel()

    def scan(self, actors: list[Actor], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One revolution: (points POINT_DTYPE (N,), label (N,) int64 actor id or -1 for the static world).

        The scan is treated as instantaneous at the header stamp (people move < 15 cm in 0.1 s);
        ``time`` holds each firing's nominal offset from the start of the revolution.
        """
        windows = [(actor, self._window(actor.shapes)) for actor in actors]
        if self.world is None:  # nothing static: only the rays near actors can return
            cand = np.unique(np.concatenate([w for _, w in windows])) if windows else np.zeros(0, np.int64)
        else:
            cand = np.arange(self.t_static.size)
        pos = np.full(self.t_static.size, -1, np.int64) if self.world is None else None
        if pos is not None:
            pos[cand] = np.arange(cand.size)
        t_all = self.t_static[cand].copy()
        label = np.full(cand.size, -1, np.int64)
        part = np.full(cand.size, -1, np.int64)
        full_hits: dict[int, int] = {}
        for actor, idx in windows:
            if idx.size == 0:
                full_hits[actor.actor_id] = 0
                continue
            t, p = raycast(self.t, self.dirs_world[idx], actor.shapes)
            reach = (t >= self.model.min_range_m) & (t <= self.model.max_range_m)
            full_hits[actor.actor_id] = int(reach.sum())
            loc = pos[idx] if pos is not None else idx
            closer = t < t_all[loc]
            sel = loc[closer]
            t_all[sel] = t[closer]
            label[sel] = actor.actor_id
            part[sel] = p[closer]
        m = self.model
        in_range = (t_all >= m.min_range_m) & (t_all <= m.max_range_m)
        #: per actor: (rays reaching it ignoring everything else, rays for which it is the nearest hit)
        self.last_stats = {a: (f, int(((label == a) & in_range).sum())) for a, f in full_hits.items()}
        hit = np.isfinite(t_all) & (t_all >= m.min_range_m) & (t_all <= m.max_range_m)
        loc = np.flatnonzero(hit)
        idx = cand[loc]
        r = t_all[loc] + rng.normal(0.0, m.range_noise_m, idx.size)
        intensity = self.intensity_static[idx].copy()
        dyn = label[loc] >= 0
        if dyn.any():
            di = idx[dyn]
            dl = loc[dyn]
            pts_w = self.t + self.dirs_world[di] * t_all[dl, None]
            refl = np.zeros(di.size)
            nrm = np.zeros((di.size, 3))
            for actor in actors:
                a = label[dl] == actor.actor_id
                if a.any():
                    refl[a] = actor.reflectivity[part[dl][a]]
                    nrm[a] = normals_at(pts_w[a], actor.shapes)
            cos = np.abs(np.einsum("ij,ij->i", nrm, self.dirs_world[di]))
            intensity[dyn] = 255.0 * refl * (0.25 + 0.75 * cos)
        intensity = np.clip(intensity * rng.normal(1.0, 0.05, idx.size), 0, 255)
        # dropouts: a base rate plus weak returns far away
        p_drop = m.dropout + 0.3 * np.clip(t_all[loc] / m.max_range_m, 0, 1) * (intensity < 20)
        keep = rng.random(idx.size) >= p_drop
        idx, loc, r, intensity = idx[keep], loc[keep], r[keep], intensity[keep]
        out = np.empty(idx.size, POINT_DTYPE)
        xyz = self.dirs_sensor[idx] * r[:, None]
        out["x"], out["y"], out["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
        out["intensity"] = intensity
        out["ring"] = self.ring[idx]
        out["time"] = self.time[idx]
        return out, label[loc]


@dataclass
class CameraFrame:
    """A rendered frame: BGR image (or None), per-pixel actor id (-1 background), per-actor pixel counts."""

    image: np.ndarray | None
    labels: np.ndarray
    full_pixels: dict[int, int]      # pixels the actor would cover with nothing in front
    truncated: dict[int, bool]
    windows: dict[int, tuple[int, int, int, int]]   # (u0, v0, u1, v1) pixel window cast per actor
    #: the scene's light before the sensor (colours 0..1, or linear IR) that ``image`` exposes; None when
    #: rendered with ``image=False``
    scene: np.ndarray | None = None


def _ground_texture(points: np.ndarray) -> np.ndarray:
    """Paving: 1 m tiles with dark joints and fixed fine-grained variation (BGR 0..1)."""
    x, y = points[:, 0], points[:, 1]
    ix, iy = np.floor(x), np.floor(y)
    fx, fy = x - ix, y - iy
    joint = (np.minimum(fx, 1 - fx) < 0.02) | (np.minimum(fy, 1 - fy) < 0.02)
    tile = (ix * 7 + iy * 13) % 5
    grain = np.sin(x * 37.1 + np.sin(y * 23.3)) * np.cos(y * 31.7 - x * 3.1)
    base = 0.42 + 0.03 * tile + 0.025 * grain - 0.15 * joint
    return np.stack([base * 0.95, base, base * 1.02], -1)


class CameraRenderer(_MovableSensor):
    """A pinhole camera at world-from-optical (R, t) (``set_pose`` moves it) rendering BGR and labels."""

    def __init__(self, model: CameraModel, R: np.ndarray, t: np.ndarray, world: StaticWorld | None):
        self.model = model
        self.world = world
        self.rays_opt = model.pixel_rays()                                     # (H, W, 3)
        self.set_pose(R, t)

    def static_view(self, R: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """The pose, its rays, static depth and background image; pure (reads only fixed state)."""
        R = np.asarray(R, float)
        t = np.asarray(t, float)
        world = self.world
        model = self.model
        rays_world = self.rays_opt @ R.T
        h, w = model.height, model.width
        flat = rays_world.reshape(-1, 3)
        ts, part, prim = _static_hits(t, flat, world, camera_selector(R, t, model.K, w, h))
        zbuf = ts.reshape(h, w)
        bg = np.empty((h * w, 3))
        # each pixel class is shaded on its own index set: a moving camera redoes this every frame
        sky = np.flatnonzero(np.isinf(ts))
        up = np.clip(flat[sky, 2], 0, 1)
        bg[sky] = np.stack([0.85 - 0.2 * up, 0.75 - 0.15 * up, 0.62 - 0.1 * up], -1)
        if world is not None:
            gi = np.flatnonzero(part == GROUND_PART)
            ground_shade = AMBIENT + (1 - AMBIENT) * np.clip(SUN_DIR[2], 0, 1)     # the ground faces up
            bg[gi] = _ground_texture(t + flat[gi] * ts[gi, None]) * ground_shade
            oi = np.flatnonzero(part >= 0)
            if oi.size:
                po = t + flat[oi] * ts[oi, None]
                obj_parts = part[oi]
                uniq = np.unique(obj_parts)
                table = np.array([world.colours.get(int(p), (0.5, 0.5, 0.5)) for p in uniq])
                col = table[np.searchsorted(uniq, obj_parts)]
                # brick-like variation on objects so the background is not flat
                brick = np.sign(np.sin(po[:, 2] * 9.0) * np.sin((po[:, 0] + po[:, 1]) * 5.0))
                col *= (0.9 + 0.1 * brick)[:, None]
                nrm = hit_normals(po, prim[oi], world.shapes)
                shade = AMBIENT + (1 - AMBIENT) * np.clip(nrm @ SUN_DIR, 0, 1)
                bg[oi] = col * shade[:, None]
        # _background_ir is made on the first IR frame at this pose (lighting.py)
        return {"R": R, "t": t, "rays_world": rays_world, "zbuf": zbuf, "_static_part": part,
                "_static_prim": prim, "_background_ir": None,
                "background": bg.reshape(h, w, 3).astype(np.float32)}

    def _window(self, shapes: Shapes) -> tuple[int, int, int, int] | None:
        corners = (shapes.corners() - self.t) @ self.R
        uv, front = self.model.project(corners)
        if not front.any():
            return None
        if not front.all():
            return 0, 0, self.model.width, self.model.height
        u0 = int(np.clip(np.floor(uv[:, 0].min()) - 1, 0, self.model.width))
        u1 = int(np.clip(np.ceil(uv[:, 0].max()) + 1, 0, self.model.width))
        v0 = int(np.clip(np.floor(uv[:, 1].min()) - 1, 0, self.model.height))
        v1 = int(np.clip(np.ceil(uv[:, 1].max()) + 1, 0, self.model.height))
        if u1 <= u0 or v1 <= v0:
            return None
        return u0, v0, u1, v1

    def _cast_window(self, shapes: Shapes, u0: int, v0: int, u1: int, v1: int
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest hit per pixel of the window, casting each primitive only over its own footprint."""
        wh, ww = v1 - v0, u1 - u0
        t_win = np.full((wh, ww), np.inf)
        p_win = np.full((wh, ww), -1, np.int64)
        for kind, k, lo, hi in shapes.primitive_bounds():
            corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2],
                                                                                                    hi[2])])
            uv, front = self.model.project((corners - self.t) @ self.R)
            if not front.any():
                continue
            if front.all():
                a0 = int(np.clip(np.floor(uv[:, 0].min()), u0, u1))
                a1 = int(np.clip(np.ceil(uv[:, 0].max()) + 1, u0, u1))
                b0 = int(np.clip(np.floor(uv[:, 1].min()), v0, v1))
                b1 = int(np.clip(np.ceil(uv[:, 1].max()) + 1, v0, v1))
            else:
                a0, a1, b0, b1 = u0, u1, v0, v1
            if a1 <= a0 or b1 <= b0:
                continue
            rays = self.rays_world[b0:b1, a0:a1].reshape(-1, 3)
            t, part = hit_primitive(kind, k, self.t, rays, shapes)
            sub_t = t_win[b0 - v0:b1 - v0, a0 - u0:a1 - u0]
            sub_p = p_win[b0 - v0:b1 - v0, a0 - u0:a1 - u0]
            t = t.reshape(b1 - b0, a1 - a0)
            closer = t < sub_t
            sub_t[closer] = t[closer]
            sub_p[closer] = part
        return t_win.reshape(-1), p_win.reshape(-1)

    def _ir_of(self, rays: np.ndarray, t: np.ndarray, normals: np.ndarray,
               reflectivity: np.ndarray) -> np.ndarray:
        """Linear IR value of surfaces hit at distance ``t`` along world ``rays`` (light at the lens)."""
        cos_inc = np.abs(np.einsum("ij,ij->i", normals, rays))
        cos_axis = rays @ self.R[:, 2]
        return ir_irradiance(reflectivity, cos_inc, t, cos_axis)

    def background_ir(self) -> np.ndarray:
        """(H, W) linear IR image of the static world (black sky), cached per pose."""
        if self._background_ir is None:
            h, w = self.model.height, self.model.width
            flat = self.rays_world.reshape(-1, 3)
            ts = self.zbuf.reshape(-1)
            out = np.zeros(h * w)
            hit = np.isfinite(ts)
            if self.world is not None and hit.any():
                part = self._static_part[hit]
                pts = self.t + flat[hit] * ts[hit, None]
                nrm = _static_normals(pts, part, self._static_prim[hit], self.world)
                table = self.world.reflectivity
                refl = np.where(part == GROUND_PART, self.world.ground_reflectivity,
                                np.array([table.get(int(p), 0.3) for p in part]) if part.size else 0.0)
                out[hit] = self._ir_of(flat[hit], ts[hit], nrm, refl)
            self._background_ir = out.reshape(h, w)
        return self._background_ir

    def render(self, actors: list[Actor], rng: np.random.Generator | None, *, lighting: Lighting = DAY,
               image: bool = True) -> CameraFrame:
        """Render one frame under ``lighting`` (``sim.lighting``): ``bgr8`` (H, W, 3), or (H, W) for a
        mono IR camera; ``image=False`` skips colours and noise (label map only, for masks)."""
        frame = self.render_scene(actors, lighting=lighting, image=image)
        if not image:
            return frame
        noise = None if rng is None else self.draw_noise(lighting, rng)
        return replace(frame, image=self.expose(frame.scene, lighting, noise))

    def render_scene(self, actors: list[Actor], *, lighting: Lighting = DAY,
                     image: bool = True) -> CameraFrame:
        """Everything of ``render`` but the exposure, which alone draws noise: the frame's ``scene`` (and
        labels) depend only on the pose and the actors, so frames can be rendered in any order or process
        and exposed in order with one random stream (``sim.bag``'s workers)."""
        h, w = self.model.height, self.model.width
        zbuf = self.zbuf.copy()
        labels = np.full((h, w), -1, np.int32)
        ir = image and lighting.needs_ir
        out = None if not image else (self.background_ir().copy() if ir else self.background.copy())
        full: dict[int, int] = {}
        trunc: dict[int, bool] = {}
        wins: dict[int, tuple[int, int, int, int]] = {}
        for actor in actors:
            win = self._window(actor.shapes)
            if win is None:
                full[actor.actor_id] = 0
                trunc[actor.actor_id] = False
                continue
            u0, v0, u1, v1 = win
            wins[actor.actor_id] = win
            corners = (actor.shapes.corners() - self.t) @ self.R
            uv, front = self.model.project(corners)
            trunc[actor.actor_id] = bool((~front).any() or uv[:, 0].min() < 0 or uv[:, 1].min() < 0
                                         or uv[:, 0].max() > w or uv[:, 1].max() > h)
            rays = self.rays_world[v0:v1, u0:u1].reshape(-1, 3)
            t, part = self._cast_window(actor.shapes, u0, v0, u1, v1)
            full[actor.actor_id] = int(np.isfinite(t).sum())
            zwin = zbuf[v0:v1, u0:u1].reshape(-1)
            closer = t < zwin
            if not closer.any():
                continue
            zwin[closer] = t[closer]
            zbuf[v0:v1, u0:u1] = zwin.reshape(v1 - v0, u1 - u0)
            lw = labels[v0:v1, u0:u1].reshape(-1)
            lw[closer] = actor.actor_id
            labels[v0:v1, u0:u1] = lw.reshape(v1 - v0, u1 - u0)
            if image:
                pts = self.t + rays[closer] * t[closer, None]
                nrm = normals_at(pts, actor.shapes)
                if ir:
                    ow = out[v0:v1, u0:u1].reshape(-1)
                    ow[closer] = self._ir_of(rays[closer], t[closer], nrm, actor.reflectivity[part[closer]])
                    out[v0:v1, u0:u1] = ow.reshape(v1 - v0, u1 - u0)
                    continue
                shade = AMBIENT + (1 - AMBIENT) * np.clip(nrm @ SUN_DIR, 0, 1)
                ow = out[v0:v1, u0:u1].reshape(-1, 3)
                ow[closer] = actor.colours[part[closer]] * shade[:, None]
                out[v0:v1, u0:u1] = ow.reshape(v1 - v0, u1 - u0, 3)
        return CameraFrame(None, labels, full, trunc, wins, scene=out)

    def draw_noise(self, lighting: Lighting, rng: np.random.Generator) -> np.ndarray | None:
        """One frame's sensor noise under ``lighting``: standard-normal float32 draws of the exposed
        image's shape, or None for a noiseless daylight camera. The only random part of a frame: drawn
        in frame order from one stream, the rest of a frame can be made anywhere (``sim.frames_ahead``)."""
        h, w = self.model.height, self.model.width
        if lighting.mode == "day" and self.model.noise_sigma <= 0:
            return None
        shape = (h, w) if lighting.mode == "ir" else (h, w, 3)
        return rng.standard_normal(shape, dtype=np.float32)

    def expose(self, out: np.ndarray, lighting: Lighting, noise: np.ndarray | None) -> np.ndarray:
        """The camera's image of the rendered scene ``out`` (colours 0..1, or linear IR) as uint8, with
        ``noise`` from ``draw_noise`` (None: noiseless)."""
        if lighting.mode == "ir":
            mono = expose_ir(out, noise)
            return mono if lighting.mono else np.repeat(mono[:, :, None], 3, axis=2)
        if lighting.mode == "lowlight":
            return expose_lowlight(out, lighting.level, noise)
        noisy = out * 255.0
        if noise is not None:
            noisy += noise * np.float32(self.model.noise_sigma)
        return np.clip(noisy, 0, 255).astype(np.uint8)
