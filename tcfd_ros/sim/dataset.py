"""Synthetic data set in SUSTech1K's exact on-disk layout, as OpenGait consumes it.

``<root>/<ID 0000>/<seq-type 00-nm>/<view 000>/NN-[sync-]<view>-<Sensor>-<Kind>.pkl`` with the file
numbering of OpenGait's ``pretreatment_SUSTech1K.py`` (modality folders sorted: PCDs, PCDs_depths,
PCDs_sils, Pose, RGB_raw (+Ratios-HW), Sils_aligned, Sils_raw; then the same as ``sync-`` files).
Written here: 00 raw person points, 01 depth maps, 02 LiDAR silhouettes, 04 camera image sizes,
06 aligned silhouettes, 07 raw silhouettes (resized to 64x64), and their sync copies 08, 09, 10, 12,
14, 15. Not written: 03/11 ``Camera-Pose`` and 05/13 ``Camera-RGB_raw`` (readers select by name).

A sensor rig (LiDAR + camera, SUSTech1K-like) stands still; the person walks a straight line across
its field of view in the direction given by the view: view v means walking direction = 180 + v deg
in the rig frame, so 000 walks straight at the sensors (frontal), 180 straight away (back) and 090 /
270 cross from one side to the other. Depth maps come from ``geometry.points_to_depth_map`` applied
to the ray-cast person points; silhouettes from ``geometry.align_silhouette`` applied to the rendered
person mask after a segmentation-noise model (strong at night).
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tcfd_ros.errors import ConfigError
from tcfd_ros.geometry import RangeViewConfig, align_silhouette, points_to_depth_map
from tcfd_ros.sim.person import CONDITIONS, sample_identity, sample_variation
from tcfd_ros.sim.output import commit_output, prepare_output
from tcfd_ros.sim.scan import Actor, CameraRenderer, LidarScanner
from tcfd_ros.sim.sensors import camera_model, camera_pose, lidar_model, lidar_pose
from tcfd_ros.sim.shapes import box
from tcfd_ros.sim.walker import Polyline, Walker

log = logging.getLogger(__name__)

#: Actor id of a condition-``oc`` occluder (never a person id).
OCCLUDER_ID = -3
#: SUSTech1K pairs a LiDAR frame with the nearest camera frame within this many seconds.
SYNC_THRESHOLD_S = 0.020
#: SUSTech1K adds half a revolution to a PCD's file-name stamp before pairing (mid-scan time).
LIDAR_MID_SCAN_S = 0.05
GALLERY_SEQ = "00-nm"
#: Camera frames whose (noisy) person mask has fewer pixels are dropped, as a segmenter would.
MIN_MASK_PIXELS = 20
#: Strength of the segmentation-noise model (see ``degrade_mask``) by day and at night.
DAY_MASK_NOISE = 0.25
NIGHT_MASK_NOISE = 0.7
PICKLE_PROTOCOL = 4
#: Ranges of a mixed mounting (``DatasetSpec.mixed_mounting``): the poles and robots of the bags carry
#: the LiDAR 0.8-2.8 m and the camera 1.0-5.0 m up, and watch people 6-13 m away.
MIXED_LIDAR_HEIGHT_M = (0.8, 2.8)
MIXED_CAMERA_HEIGHT_M = (1.0, 5.0)
MIXED_DISTANCE_M = (6.0, 13.0)
#: A mixed-mounting camera aims at this height of the walk's middle, give or take the jitter.
AIM_HEIGHT_M = 1.0
AIM_JITTER_DEG = 3.0
#: Half-width of the walk-distance band around a mixed mounting's sampled distance.
MIXED_DISTANCE_BAND_M = 1.0


@dataclass(frozen=True)
class DatasetSpec:
    """What to generate. ``frames`` = LiDAR frames (10 Hz) per sequence."""

    out: Path
    identities: int
    views: tuple[int, ...] = (0, 45, 90, 135, 180, 225, 270, 315)
    conditions: tuple[str, ...] = ("nm", "bg", "cl")
    frames: int = 30
    seed: int = 0
    lidar: str = "os128"
    camera_hz: float | None = None   # None: triggered by the LiDAR, one frame per revolution
    camera_width: int = 640
    camera_height: int = 480
    camera_hfov_deg: float = 50.0
    lidar_height_m: float = 1.0      # SUSTech1K's rig; a pole LiDAR is ~2-3 m up
    camera_height_m: float = 1.15
    camera_tilt_deg: float = 4.0     # downwards; a pole camera 4.5 m up looks ~20 deg down
    min_distance_m: float = 6.0
    max_distance_m: float = 9.5
    mixed_mounting: float = 0.0      # share of sequences seen from a random pole / robot mounting
    train_fraction: float = 0.5
    workers: int = 2
    force: bool = False

    def validate(self) -> None:
        if self.identities < 2:
            raise ConfigError(
                f"identities must be >= 2 (train and test need one each), got {self.identities}")
        if self.frames < 1:
            raise ConfigError(f"frames must be >= 1, got {self.frames}")
        if not self.views:
            raise ConfigError("views must not be empty")
        for v in self.views:
            if not 0 <= v < 360:
                raise ConfigError(f"view {v} is outside 0..359 degrees")
        if len(set(self.views)) != len(self.views):
            raise ConfigError(f"views contain duplicates: {list(self.views)}")
        for c in self.conditions:
            if c not in CONDITIONS:
                raise ConfigError(f"condition {c!r} is not one of {list(CONDITIONS)}")
        lidar_model(self.lidar)
        if not 0.0 < self.train_fraction < 1.0:
            raise ConfigError(f"train_fraction must be in (0, 1), got {self.train_fraction}")
        if self.camera_hz is not None and self.camera_hz <= 0:
            raise ConfigError(f"camera_hz must be > 0, got {self.camera_hz}")
        if self.workers < 1:
            raise ConfigError(f"workers must be >= 1, got {self.workers}")
        if not (0.2 <= self.lidar_height_m <= 10.0 and 0.2 <= self.camera_height_m <= 10.0):
            raise ConfigError(f"sensor heights must lie in 0.2..10 m, got LiDAR {self.lidar_height_m}, "
                              f"camera {self.camera_height_m}")
        if not -10.0 <= self.camera_tilt_deg <= 60.0:
            raise ConfigError(f"camera_tilt_deg must lie in -10..60, got {self.camera_tilt_deg}")
        if not 1.0 <= self.min_distance_m < self.max_distance_m:
            raise ConfigError(f"distances must satisfy 1 <= min < max, got {self.min_distance_m}.."
                              f"{self.max_distance_m} m")
        if not 0.0 <= self.mixed_mounting <= 1.0:
            raise ConfigError(f"mixed_mounting must lie in 0..1, got {self.mixed_mounting}")


@dataclass(frozen=True)
class Mounting:
    """Where one sequence's sensors stand: heights (m), camera tilt (deg down), walk distances (m)."""

    lidar_height_m: float
    camera_height_m: float
    camera_tilt_deg: float
    min_distance_m: float
    max_distance_m: float


def spec_mounting(spec: DatasetSpec) -> Mounting:
    """The data set's own (fixed) mounting."""
    return Mounting(spec.lidar_height_m, spec.camera_height_m, spec.camera_tilt_deg, spec.min_distance_m,
                    spec.max_distance_m)


def sequence_key(seq_idx: int, view: int) -> int:
    """One number per (sequence type, view) of a person: it seeds the sequence's random streams."""
    return seq_idx * 1000 + view


def sequence_mounting(spec: DatasetSpec, pid: int, seq_idx: int, view: int) -> Mounting:
    """The spec's mounting, or for a ``mixed_mounting`` share of the sequences a random pole / robot one.

    Drawn from a stream of its own, so the sequences that keep the spec's mounting are the same as in a
    data set without mixing; the camera looks down at the middle of the walk, as an installer aims it.
    """
    if spec.mixed_mounting <= 0.0:
        return spec_mounting(spec)
    rng = np.random.default_rng([spec.seed, 5, pid, sequence_key(seq_idx, view)])
    if rng.random() >= spec.mixed_mounting:
        return spec_mounting(spec)
    lidar_h = rng.uniform(*MIXED_LIDAR_HEIGHT_M)
    cam_h = rng.uniform(*MIXED_CAMERA_HEIGHT_M)
    band = MIXED_DISTANCE_BAND_M
    dist = rng.uniform(MIXED_DISTANCE_M[0] + band, MIXED_DISTANCE_M[1] - band)
    tilt = np.rad2deg(np.arctan2(cam_h - AIM_HEIGHT_M, dist)) + rng.uniform(-AIM_JITTER_DEG, AIM_JITTER_DEG)
    return Mounting(float(lidar_h), float(cam_h), float(tilt), float(dist - band), float(dist + band))


def sequence_types(conditions: tuple[str, ...]) -> list[tuple[str, str]]:
    """(folder name, condition): the gallery ``00-nm`` first, then ``01-<cond>`` for each condition."""
    out = [(GALLERY_SEQ, "nm")]
    out += [(f"01-{c}", c) for c in conditions]
    return out


def file_names(view: str) -> dict[str, str]:
    """The SUSTech1K file name of each representation written here, keyed by a short name."""
    return {
        "pcd": f"00-{view}-LiDAR-PCDs.pkl", "depth": f"01-{view}-LiDAR-PCDs_depths.pkl",
        "lidar_sil": f"02-{view}-LiDAR-PCDs_sils.pkl", "hw": f"04-{view}-Camera-Ratios-HW.pkl",
        "sil": f"06-{view}-Camera-Sils_aligned.pkl", "sil_raw": f"07-{view}-Camera-Sils_raw.pkl",
        "sync_pcd": f"08-sync-{view}-LiDAR-PCDs.pkl", "sync_depth": f"09-sync-{view}-LiDAR-PCDs_depths.pkl",
        "sync_lidar_sil": f"10-sync-{view}-LiDAR-PCDs_sils.pkl",
        "sync_hw": f"12-sync-{view}-Camera-Ratios-HW.pkl",
        "sync_sil": f"14-sync-{view}-Camera-Sils_aligned.pkl",
        "sync_sil_raw": f"15-sync-{view}-Camera-Sils_raw.pkl",
    }


class Rig:
    """A standing LiDAR + camera pair (sensor frames coincide in yaw, camera above)."""

    def __init__(self, spec: DatasetSpec, mounting: Mounting | None = None):
        m = mounting or spec_mounting(spec)
        self.mounting = m
        self.lidar_model = lidar_model(spec.lidar)
        self.cam_model = camera_model(spec.camera_width, spec.camera_height, spec.camera_hfov_deg,
                                      spec.camera_hz or self.lidar_model.rate_hz, noise_sigma=0.0)
        R_l, t_l = lidar_pose([0.0, 0.0, m.lidar_height_m], 0.0)
        R_c, t_c = camera_pose([0.0, 0.0, m.camera_height_m], 0.0, np.deg2rad(m.camera_tilt_deg))
        self.lidar = LidarScanner(self.lidar_model, R_l, t_l, world=None)
        self.camera = CameraRenderer(self.cam_model, R_c, t_c, world=None)


def degrade_mask(mask: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A segmenter's imperfect mask: wobbly boundary, occasional holes or blobs (more with ``strength``)."""
    if not mask.any() or strength <= 0:
        return mask
    ys, xs = np.nonzero(mask)
    pad = 4
    y0, y1 = max(0, ys.min() - pad), min(mask.shape[0], ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(mask.shape[1], xs.max() + pad + 1)
    crop = mask[y0:y1, x0:x1].astype(np.float32)
    soft = cv2.GaussianBlur(crop, (5, 5), 1.5)
    gh, gw = max(2, (y1 - y0) // 10), max(2, (x1 - x0) // 10)
    field = cv2.resize(rng.standard_normal((gh, gw)).astype(np.float32), (x1 - x0, y1 - y0),
                       interpolation=cv2.INTER_CUBIC)
    noisy = soft + strength * field * 0.5
    out = np.zeros_like(mask)
    out[y0:y1, x0:x1] = noisy > 0.5
    return out


def simulate_sequence(spec: DatasetSpec, rig: Rig, pid: int, seq_idx: int, seq: str, cond: str,
                      view: int) -> dict[str, object]:
    key = sequence_key(seq_idx, view)
    ident = sample_identity(pid, spec.seed)
    var = sample_variation(ident, cond, spec.seed, key)
    rng = np.random.default_rng([spec.seed, 3, pid, key])
    duration = spec.frames / rig.lidar_model.rate_hz
    lidar_t = np.arange(spec.frames) / rig.lidar_model.rate_hz
    if spec.camera_hz is None:  # hardware trigger at mid-scan, a few ms of jitter
        n_cam = spec.frames
        cam_t = lidar_t + LIDAR_MID_SCAN_S + rng.normal(0.0, 0.002, n_cam)
    else:  # free-running camera
        cam_offset = rng.uniform(0.0, 1.0 / spec.camera_hz)
        n_cam = int(np.floor((duration - cam_offset) * spec.camera_hz)) + 1
        cam_t = cam_offset + np.arange(n_cam) / spec.camera_hz + rng.normal(0.0, 0.002, n_cam)
    times = np.concatenate([lidar_t, cam_t])
    dist = rng.uniform(rig.mounting.min_distance_m, rig.mounting.max_distance_m)
    centre = np.array([dist, rng.uniform(-0.6, 0.6)])
    heading = np.deg2rad(180.0 + view + var.heading_jitter_deg)
    direction = np.array([np.cos(heading), np.sin(heading)])
    walk_len = ident.speed_mps * var.speed_factor * duration * 1.2 + 1.0
    path = Polyline(np.stack([centre - direction * walk_len / 2, centre + direction * walk_len / 2]))
    walker = Walker(pid, ident, var, times, path, start_time_s=0.0, start_offset_m=0.5)
    occluder = None
    if cond == "oc":  # a waist-high obstacle between the rig and the middle of the walk
        frac = rng.uniform(0.35, 0.6)
        c = np.array([centre[0] * frac, centre[1] * frac])
        size = [0.4, rng.uniform(0.8, 1.6), rng.uniform(0.7, 1.1)]
        occluder = Actor(OCCLUDER_ID, box([c[0], c[1], size[2] / 2], size, part=0),
                         np.zeros((1, 3)), np.full(1, 0.5))

    pcds, depths, lidar_sils = [], [], []
    for i in range(spec.frames):
        actors = [walker.actor(i)] + ([occluder] if occluder is not None else [])
        pts, label = rig.lidar.scan(actors, rng)
        person = pts[label == pid]
        xyz = np.stack([person["x"], person["y"], person["z"]], axis=1).astype(np.float64)
        if xyz.shape[0] == 0:
            pcds.append(xyz)
            depths.append(None)
            continue
        dm = points_to_depth_map(xyz, RangeViewConfig())
        pcds.append(xyz)
        depths.append(dm)
        lidar_sils.append(None)
    sils, sils_raw = [], []
    strength = NIGHT_MASK_NOISE if cond == "nt" else DAY_MASK_NOISE
    for j in range(n_cam):
        actors = [walker.actor(spec.frames + j)] + ([occluder] if occluder is not None else [])
        frame = rig.camera.render(actors, None, image=False)
        win = frame.windows.get(pid)
        if win is None:
            sils.append(None)
            sils_raw.append(None)
            continue
        u0, v0, u1, v1 = win
        pad = 8
        u0, v0 = max(0, u0 - pad), max(0, v0 - pad)
        u1, v1 = min(rig.cam_model.width, u1 + pad), min(rig.cam_model.height, v1 + pad)
        crop = degrade_mask(frame.labels[v0:v1, u0:u1] == pid, rng, strength)
        if crop.sum() < MIN_MASK_PIXELS:
            sils.append(None)
            sils_raw.append(None)
            continue
        sils.append(align_silhouette(crop))
        full = np.zeros((rig.cam_model.height, rig.cam_model.width), np.uint8)
        full[v0:v1, u0:u1] = crop.astype(np.uint8) * 255
        sils_raw.append(cv2.resize(full, (64, 64), interpolation=cv2.INTER_AREA))
    return {"lidar_t": lidar_t, "cam_t": cam_t, "pcds": pcds, "depths": depths, "sils": sils,
            "sils_raw": sils_raw}


def _pair_frames(lidar_t: np.ndarray, cam_t: np.ndarray, lidar_ok: np.ndarray, cam_ok: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """SUSTech1K sync rule: each usable LiDAR frame with the nearest usable camera frame within 20 ms."""
    li = np.flatnonzero(lidar_ok)
    ci = np.flatnonzero(cam_ok)
    if li.size == 0 or ci.size == 0:
        return np.zeros(0, int), np.zeros(0, int)
    diff = np.abs((lidar_t[li] + LIDAR_MID_SCAN_S)[:, None] - cam_t[ci][None, :])
    best = np.argmin(diff, axis=1)
    ok = diff[np.arange(li.size), best] <= SYNC_THRESHOLD_S
    return li[ok], ci[best[ok]]


def _write_pickle(path: Path, obj: object) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=PICKLE_PROTOCOL)


def _write_sequence(spec: DatasetSpec, rig: Rig, root: Path, pid: int, seq_idx: int, seq: str, cond: str,
                    view: int) -> dict[str, int]:
    mounting = sequence_mounting(spec, pid, seq_idx, view)
    if mounting != rig.mounting:
        rig = Rig(spec, mounting)
    res = simulate_sequence(spec, rig, pid, seq_idx, seq, cond, view)
    vname = f"{view:03d}"
    folder = root / f"{pid:04d}" / seq / vname
    folder.mkdir(parents=True, exist_ok=True)
    names = file_names(vname)
    lidar_ok = np.array([d is not None for d in res["depths"]])
    cam_ok = np.array([s is not None for s in res["sils"]])
    depths = [d for d in res["depths"] if d is not None]
    pcds = [p for p, ok in zip(res["pcds"], lidar_ok) if ok]
    sils = [s for s in res["sils"] if s is not None]
    sils_raw = [s for s in res["sils_raw"] if s is not None]
    hw = np.array([[rig.cam_model.height, rig.cam_model.width]] * len(sils), dtype=np.int64).reshape(-1, 2)

    def lidar_sil(d: np.ndarray) -> np.ndarray:
        return np.where(d.sum(axis=0) > 0, np.uint8(255), np.uint8(0))

    empty_d = np.zeros((0, 3, 64, 64), np.uint8)
    empty_s = np.zeros((0, 64, 64), np.uint8)
    _write_pickle(folder / names["pcd"], pcds)
    _write_pickle(folder / names["depth"], np.stack(depths) if depths else empty_d)
    _write_pickle(folder / names["lidar_sil"],
                  np.stack([lidar_sil(d) for d in depths]) if depths else empty_s)
    _write_pickle(folder / names["hw"], hw)
    _write_pickle(folder / names["sil"], np.stack(sils) if sils else empty_s)
    _write_pickle(folder / names["sil_raw"], np.stack(sils_raw) if sils_raw else empty_s)
    li, ci = _pair_frames(res["lidar_t"], res["cam_t"], lidar_ok, cam_ok)
    s_depth = [res["depths"][i] for i in li]
    s_sil = [res["sils"][j] for j in ci]
    _write_pickle(folder / names["sync_pcd"], [res["pcds"][i] for i in li])
    _write_pickle(folder / names["sync_depth"], np.stack(s_depth) if s_depth else empty_d)
    _write_pickle(folder / names["sync_lidar_sil"],
                  np.stack([lidar_sil(d) for d in s_depth]) if s_depth else empty_s)
    _write_pickle(folder / names["sync_hw"], hw[:len(ci)])
    _write_pickle(folder / names["sync_sil"], np.stack(s_sil) if s_sil else empty_s)
    _write_pickle(folder / names["sync_sil_raw"],
                  np.stack([res["sils_raw"][j] for j in ci]) if len(ci) else empty_s)
    return {"lidar_frames": len(depths), "camera_frames": len(sils), "sync_frames": int(li.size),
            "empty_lidar_frames": int((~lidar_ok).sum()),
            "mixed_mounting": int(mounting != spec_mounting(spec))}


_WORKER: dict[str, object] = {}


def _worker_init(spec: DatasetSpec, root: str) -> None:
    cv2.setNumThreads(1)
    _WORKER["spec"] = spec
    _WORKER["root"] = Path(root)
    _WORKER["rig"] = Rig(spec)


def _worker_task(task: tuple[int, int, str, str, int]) -> dict[str, int]:
    return _write_sequence(_WORKER["spec"], _WORKER["rig"], _WORKER["root"], *task)  # type: ignore[arg-type]


def partition(identities: int, train_fraction: float) -> dict[str, list[str]]:
    """Disjoint TRAIN_SET (the first ids) and TEST_SET (the rest), like SUSTech1K's JSON."""
    n_train = min(identities - 1, max(1, int(round(identities * train_fraction))))
    ids = [f"{i:04d}" for i in range(identities)]
    return {"TRAIN_SET": ids[:n_train], "TEST_SET": ids[n_train:]}


def write_dataset(spec: DatasetSpec, progress: bool = False) -> dict[str, object]:
    """Generate the data set into ``spec.out`` (all or nothing); returns a summary dict."""
    spec.validate()
    out = Path(spec.out)
    tmp = prepare_output(out, spec.force)
    try:
        tasks = [(pid, si, seq, cond, view) for pid in range(spec.identities)
                 for si, (seq, cond) in enumerate(sequence_types(spec.conditions)) for view in spec.views]
        if spec.workers == 1:
            _worker_init(spec, str(tmp))
            stats = [_worker_task(t) for t in _maybe_progress(tasks, progress)]
        else:
            ctx = mp.get_context("fork")
            with ctx.Pool(spec.workers, initializer=_worker_init, initargs=(spec, str(tmp))) as pool:
                stats = list(_maybe_progress(pool.imap(_worker_task, tasks, chunksize=4), progress,
                                             len(tasks)))
        part = partition(spec.identities, spec.train_fraction)
        (tmp / "partition.json").write_text(json.dumps(part, indent=1) + "\n", encoding="utf-8")
        summary = {
            "identities": spec.identities, "sequences": len(tasks),
            "lidar_frames": int(sum(s["lidar_frames"] for s in stats)),
            "camera_frames": int(sum(s["camera_frames"] for s in stats)),
            "sync_frames": int(sum(s["sync_frames"] for s in stats)),
            "empty_lidar_frames": int(sum(s["empty_lidar_frames"] for s in stats)),
            "mixed_mounting_sequences": int(sum(s["mixed_mounting"] for s in stats)),
        }
        commit_output(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("wrote %s: %s", out, summary)
    return summary


def _maybe_progress(it, enabled: bool, total: int | None = None):
    if not enabled:
        return it
    from tcfd_ros.progress import progress

    return progress(it, total=total, desc="simulate dataset", unit="seq")
