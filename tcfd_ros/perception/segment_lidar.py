"""LiDAR person segmentation: one point cluster per person in a sensor-frame point cloud.

API (used by the lidar_segmenter node)::

    seg = LidarSegmenter(LidarSegmenterConfig())
    clusters: list[LidarCluster] = seg.segment(points)   # points (N, 3+) float, x y z [intensity ...]
    c.points      # (M, 3) float32, the person's original points (sensor frame)
    c.indices     # (M,) int64 rows of ``points`` (to copy intensity or any other field)
    c.centroid    # (3,) float64 mean of c.points
    c.box         # (2, 3) float64 axis-aligned [min xyz, max xyz]
    c.height_m    # top of the cluster above the ground plane
    c.footprint_m # largest horizontal extent (principal axes)
    c.depth_map() # (3, 64, 64) uint8 RGB via tcfd_ros.geometry.range_view.points_to_depth_map
    seg.last_stats  # LidarFrameStats of the last call (counts per stage, ground plane)

Pipeline, vectorised numpy + scipy:
1. ROI box and minimum range; non-finite rows fail every comparison and are dropped (counted in
   ``last_stats.n_nonfinite``).
2. Ground: RANSAC plane on the lowest ``ground_candidate_quantile`` of a random sample of
   ``ground_sample_points`` points (normals tilted more than ``ground_max_tilt_deg`` from +z are
   rejected), refined by least squares on its inliers. Points within ``ground_distance_m`` of the
   plane or below it are ground; points higher than ``clip_above_ground_m`` (canopies, ceilings) are
   ignored. With no acceptable plane the frame returns no people (``last_stats.ground_plane`` None).
3. Optional static background (``background_learning_frames`` > 0, fixed poles): during the first N
   frames, coarse voxels (``background_voxel_m``) above ground are counted; those occupied in at least
   ``background_min_occupancy`` of them are static and their points are removed from later frames.
4. Voxel downsampling into pillar voxels: the occupied ground-plane cells (``cell_size_m``) of the
   remaining points (a wall becomes a line of cells instead of a surface of voxels: this is what
   keeps a 120k-point frame within budget). With ``segment(..., fixed_from_sensor=pose)`` (a moving
   platform) the cells are those of the fixed frame, so the static cell map and the static-object
   memory (``static_objects``) see what stands still in the world as still.
5. Euclidean clustering of the cell centres: radius graph on a scipy ``cKDTree``
   (``cluster_radius_m``), connected components, at least ``min_cluster_cells`` cells.
6. Person gate per cluster (on its original points): height above ground, bottom near the ground,
   horizontal range (``max_person_range_m``), point count against the density expected at that range
   (``min_point_fraction`` of the beam x column cells a 1.7 x 0.5 m person covers at that range for
   the configured ``sensor_hres_deg`` / ``sensor_vres_deg``, at least ``min_points``; people closer
   than ~4 m fail the bottom gate anyway: the beams miss their feet), footprint (major extent in the
   ground plane, principal axes), thickness (minor extent: rejects flat facades and car-side
   fragments), footprint/height aspect. ``last_stats.rejected`` counts the clusters each gate rejected.

Bad input: a non-array or a wrong shape raises ``MessageFormatError``; empty clouds and clouds with
only NaN rows return ``[]``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from tcfd_ros.errors import MessageFormatError
from tcfd_ros.geometry.calibration import RigidTransform
from tcfd_ros.geometry.range_view import RangeViewConfig, points_to_depth_map
from tcfd_ros.perception.config import LidarSegmenterConfig
from tcfd_ros.perception.static_objects import StaticCellMap, StaticObjectFilter

log = logging.getLogger(__name__)

#: Voxel indices are packed into one int64 key with this many bits per axis (+-2^20 voxels).
_KEY_BITS = 21
_KEY_OFFSET = 1 << (_KEY_BITS - 1)
#: The nominal person of the expected-density gate (metres).
NOMINAL_PERSON_HEIGHT_M = 1.7
NOMINAL_PERSON_WIDTH_M = 0.5
#: An occluder must be at least this much nearer than the cluster it hides (m).
OCCLUDER_GAP_M = 0.2
#: Occluder search (``_feet_hidden``): a cluster's azimuth wedge narrower than this (half-angle, rad) is
#: pre-selected by two dot products per band point, widened by the margin (far above rounding error).
WEDGE_MAX_HALF_RAD = 1.0
WEDGE_MARGIN_RAD = 1e-6
#: ... and the band points nearer than the farthest asking cluster by a squared range, widened by this (m).
NEAR_MARGIN_M = 1e-6
#: The fitted ground plane is rounded to this many decimals (1e-9: far below any threshold in metres).
PLANE_DECIMALS = 9


#: Frames the static memories can be kept in (``LidarSegmenter.memory_frame``).
SENSOR_FRAME = "sensor"
FIXED_FRAME = "fixed"

#: Ring-field beam measurement: points nearer than this (m, horizontal) are skipped (housing, noise),
#: rings with fewer points than this are not trusted, and more rings than this are not a spinning LiDAR.
RING_MIN_RANGE_M = 1.0
RING_MIN_POINTS = 20
RING_MAX_BEAMS = 512
#: Points sampled to average each beam's elevation, spread by the golden ratio's fractional multiples.
RING_SAMPLE_POINTS = 16384
GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


@dataclass(frozen=True)
class BeamModel:
    """Where the sensor's beams are: their elevations (ascending, rad) or a uniform vertical step.

    ``elevations_rad`` None means "uniform ``vres_rad`` everywhere" (from the config); a ring field
    gives the real table, which is not uniform (HDL-64E blocks, VLP-16's 2 deg, HDL-32E's 1.33 deg).
    """

    elevations_rad: np.ndarray | None
    vres_rad: float
    hres_rad: float
    source: str                           # "config" or "ring"

    @property
    def n_beams(self) -> int:
        return 0 if self.elevations_rad is None else int(self.elevations_rad.size)

    def beams_between(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Number of beams with elevation in [lo, hi] (rad, arrays)."""
        if self.elevations_rad is None:
            return np.maximum(hi - lo, 0.0) / self.vres_rad
        e = self.elevations_rad
        return (np.searchsorted(e, hi, side="right") - np.searchsorted(e, lo, side="left")).astype(float)

    def next_above(self, el: np.ndarray) -> np.ndarray:
        """Elevation of the first beam above ``el`` (+inf above the top beam)."""
        if self.elevations_rad is None:
            return el + self.vres_rad
        e = self.elevations_rad
        k = np.searchsorted(e, el + 0.25 * self._step(), side="right")
        return np.where(k < e.size, e[np.minimum(k, e.size - 1)], np.inf)

    def next_below(self, el: np.ndarray) -> np.ndarray:
        """Elevation of the first beam below ``el`` (-inf below the bottom beam)."""
        if self.elevations_rad is None:
            return el - self.vres_rad
        e = self.elevations_rad
        k = np.searchsorted(e, el - 0.25 * self._step(), side="left") - 1
        return np.where(k >= 0, e[np.maximum(k, 0)], -np.inf)

    def _step(self) -> float:
        """Smallest gap between neighbouring beams: a point is 'on' a beam within a quarter of it."""
        e = self.elevations_rad
        return float(np.diff(e).min()) if e is not None and e.size > 1 else self.vres_rad


def config_beam_model(cfg: LidarSegmenterConfig) -> BeamModel:
    return BeamModel(None, math.radians(cfg.sensor_vres_deg), math.radians(cfg.sensor_hres_deg), "config")


def beam_model_from_ring(xyz: np.ndarray, ring: np.ndarray) -> BeamModel | None:
    """Beam elevations (mean per ring) and column step (median azimuth gap in the fullest ring).

    Elevations are averaged over a sample of at most RING_SAMPLE_POINTS points (a beam's
    elevation is the same at every azimuth); the gap needs the fullest ring's every point. None when
    the ring field does not look like a spinning LiDAR's (fewer than 2 trusted rings, more than
    RING_MAX_BEAMS, or no azimuth gap).
    """
    ring = np.asarray(ring).reshape(-1)
    if ring.size == 0 or not np.issubdtype(ring.dtype, np.integer) and not np.all(ring == np.round(ring)):
        return None
    ring = ring.astype(np.int64)
    if ring.min() < 0 or ring.max() >= RING_MAX_BEAMS:
        return None
    # a golden-ratio sample, not a stride: clouds interleave the rings (a stride of 2 would see only
    # every other ring of a 32-beam sensor)
    n_sample = min(ring.size, RING_SAMPLE_POINTS)
    pick = np.unique((np.mod(np.arange(n_sample) * GOLDEN, 1.0) * ring.size).astype(np.int64)) \
        if n_sample < ring.size else np.arange(ring.size)
    stride = ring.size / pick.size
    s_xyz, s_ring = xyz[pick], ring[pick]
    rxy = np.hypot(s_xyz[:, 0], s_xyz[:, 1])
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(s_xyz).all(axis=1) & (rxy >= RING_MIN_RANGE_M)
    r = s_ring[ok]
    if r.size == 0:
        return None
    counts = np.bincount(r)
    sums = np.bincount(r, weights=np.arctan2(s_xyz[ok, 2], rxy[ok]))
    trusted = np.flatnonzero(counts >= max(2, int(RING_MIN_POINTS / stride)))
    if trusted.size < 2:
        return None
    elev = np.sort(sums[trusted] / counts[trusted])
    fullest = xyz[ring == int(trusted[np.argmax(counts[trusted])])]
    with np.errstate(invalid="ignore"):
        fullest = fullest[np.isfinite(fullest).all(axis=1)]
    az = np.sort(np.arctan2(fullest[:, 1], fullest[:, 0]))
    gaps = np.diff(az)
    gaps = gaps[gaps > 1e-6]
    if gaps.size == 0:
        return None
    return BeamModel(elev, float(np.median(np.diff(elev))), float(np.median(gaps)), "ring")


@dataclass(frozen=True)
class LidarCluster:
    """One person-sized cluster of the input cloud (sensor frame)."""

    points: np.ndarray      # (M, 3) float32
    indices: np.ndarray     # (M,) int64 rows of the input cloud
    centroid: np.ndarray    # (3,) float64
    box: np.ndarray         # (2, 3) float64 [min xyz, max xyz]
    height_m: float         # top above the ground plane
    bottom_m: float         # lowest kept voxel above the ground plane
    footprint_m: float      # largest extent in the ground plane, along its principal axes

    @property
    def num_points(self) -> int:
        return int(self.points.shape[0])

    def depth_map(self, cfg: RangeViewConfig = RangeViewConfig(), size: int = 64) -> np.ndarray:
        """(3, size, size) uint8 LidarGait depth map of this cluster (the project's one projection)."""
        return points_to_depth_map(self.points, cfg, size)


@dataclass
class LidarFrameStats:
    """What happened to one frame, stage by stage (for diagnostics and tests)."""

    n_input: int = 0
    n_nonfinite: int = 0
    n_roi: int = 0
    n_ground: int = 0           # ROI points within ground_distance_m of the plane or below it
    n_background: int = 0       # band points removed as static background
    n_cells: int = 0            # occupied pillar voxels
    n_clusters: int = 0
    n_people: int = 0
    n_static: int = 0           # person-shaped clusters dropped as static objects (never moved)
    n_static_cells: int = 0     # pillar cells left out as a learned static object's
    beams: str = "config"       # where the beam model came from: "config" or "ring"
    memory_frame: str = ""      # static memories' frame this call: "sensor", "fixed" or "skipped" (no pose)
    ground_plane: tuple[float, float, float, float] | None = None  # n . p + d = height, n_z > 0
    rejected: dict[str, int] = field(default_factory=dict)          # gate name -> clusters rejected
    # (x, y, gate) of each rejected cluster with at least min_points points (diagnostics, scoring)
    rejected_at: list[tuple[float, float, str]] = field(default_factory=list)


def check_points(points: object) -> np.ndarray:
    """(N, >=3) real array -> (N, 3) float64 view/copy; raise MessageFormatError otherwise."""
    if not isinstance(points, np.ndarray):
        raise MessageFormatError(f"points: expected a numpy array, got {type(points).__name__}")
    if points.ndim != 2 or points.shape[1] < 3:
        raise MessageFormatError(f"points.shape = {points.shape}: expected (N, 3) or (N, >3) x, y, z first")
    if not (np.issubdtype(points.dtype, np.floating) or np.issubdtype(points.dtype, np.integer)):
        raise MessageFormatError(f"points.dtype = {points.dtype}: expected a real number type")
    return points[:, :3].astype(np.float64, copy=False)


def _columns(points: object) -> np.ndarray:
    """(3, N) float64, C order: x, y and z each contiguous, checked as ``check_points`` does.

    One conversion pass; the per-point masks and the plane distance then read contiguous memory
    (about three times faster than the strided columns of an (N, 3) array), with the same values.
    """
    check_points(points[:0] if isinstance(points, np.ndarray) and points.ndim == 2 else points)
    cols = np.empty((3, points.shape[0]))
    for i in range(3):           # one strided read per column (faster than a transposing copy)
        cols[i] = points[:, i]
    return cols


def _lowest(z: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` lowest ``z``, ties to the lower index, ascending: exactly
    ``np.sort(np.argsort(z, kind="stable")[:k])`` without sorting all of ``z``.

    The k-th smallest value is the same whatever algorithm finds it (np.partition's SIMD kernels
    differ between CPUs only in the order they leave); the set is then fixed by comparisons and
    index order, so it is machine-independent as the stable sort was.
    """
    v = np.partition(z, k - 1)[k - 1]
    take = z < v
    ties = np.flatnonzero(z == v)[: k - int(np.count_nonzero(take))]
    take[ties] = True
    return np.flatnonzero(take)


def _in_roi(x: np.ndarray, y: np.ndarray, z: np.ndarray, c: LidarSegmenterConfig) -> np.ndarray:
    """(N,) True inside the ROI box and beyond ``min_range_m`` (NaN rows fail every comparison).

    The same comparisons as one expression would make, written in place (fewer temporaries)."""
    with np.errstate(invalid="ignore"):
        keep = x * x
        keep += y * y
        keep = keep >= c.min_range_m ** 2
        scratch = np.empty_like(keep)
        for v, lo, hi in ((x, c.roi_x_min_m, c.roi_x_max_m), (y, c.roi_y_min_m, c.roi_y_max_m),
                          (z, c.roi_z_min_m, c.roi_z_max_m)):
            keep &= np.greater_equal(v, lo, out=scratch)
            keep &= np.less(v, hi, out=scratch)
    return keep


def _plane_height(x: np.ndarray, y: np.ndarray, z: np.ndarray, plane: np.ndarray) -> np.ndarray:
    """Signed distance of points given as columns to ``plane`` (a, b, c, d): the same operations in
    the same order as ``_plane_distance`` (so the same rounding on every machine), on contiguous
    columns."""
    return (x * plane[0] + y * plane[1]) + z * plane[2] + plane[3]


#: The dense cell grid of ``_cell_keys`` is used up to this many cells per band point (else np.unique).
DENSE_CELLS_PER_POINT = 16


def _cell_keys(cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique packed keys of (M, 2) int64 cell indices and each row's position among them:
    ``np.unique(keys, return_inverse=True)`` of ``(cell[:, 0] << _KEY_BITS) | cell[:, 1]``.

    Counting on the dense grid spanned by this frame's cells instead of sorting M keys: the grid's
    row-major order is the packed keys' order, so keys and positions are the same.
    """
    cx, cy = cell[:, 0], cell[:, 1]
    x0, y0 = int(cx.min()), int(cy.min())
    nx, ny = int(cx.max()) - x0 + 1, int(cy.max()) - y0 + 1
    if nx * ny > DENSE_CELLS_PER_POINT * cell.shape[0] + 4096:
        keys, inverse = np.unique((cx << _KEY_BITS) | cy, return_inverse=True)
        return keys, inverse.ravel()
    flat = (cx - x0) * ny + (cy - y0)
    occupied = np.bincount(flat, minlength=nx * ny) > 0
    rank = np.cumsum(occupied) - 1
    cells = np.flatnonzero(occupied)
    keys = ((cells // ny + x0) << _KEY_BITS) | (cells % ny + y0)
    return keys, rank[flat]


def _voxel_keys(xyz: np.ndarray, size: float) -> np.ndarray:
    """Pack floor(xyz / size) into one int64 per point (ROI keeps indices inside +-2^20)."""
    v = np.floor(xyz / size).astype(np.int64) + _KEY_OFFSET
    return (v[:, 0] << (2 * _KEY_BITS)) | (v[:, 1] << _KEY_BITS) | v[:, 2]


def fit_ground_plane(points: np.ndarray, cfg: LidarSegmenterConfig, rng: np.random.Generator
                     ) -> np.ndarray | None:
    """RANSAC + least-squares plane (a, b, c, d), unit normal with c > 0, or None if none is acceptable.

    Fitted on a random sample of ``ground_sample_points`` points, drawing the RANSAC triples from its
    lowest ``ground_candidate_quantile`` (the ground is below everything else).
    """
    n = points.shape[0]
    if n < 3:
        return None
    sample = points if n <= cfg.ground_sample_points else \
        points[rng.integers(0, n, size=cfg.ground_sample_points)]
    return fit_ground_sample(sample, cfg, rng)


def fit_ground_sample(sample: np.ndarray, cfg: LidarSegmenterConfig, rng: np.random.Generator
                      ) -> np.ndarray | None:
    """``fit_ground_plane`` on an already drawn (S, 3) sample (S >= 3)."""
    z = sample[:, 2]
    k = max(3, int(math.ceil(cfg.ground_candidate_quantile * sample.shape[0])))
    # The candidates are the k lowest points in sample order. np.argpartition returns them in an order
    # (and, at tied z, a choice) that depends on the CPU's SIMD sort kernel, and the RANSAC triples are
    # drawn by index into this array: ties go to the lower index, which makes the plane the same on
    # every machine (``_lowest``: the stable sort's choice, without the sort).
    cand = sample[_lowest(z, k)] if k < sample.shape[0] else sample
    min_nz = math.cos(math.radians(cfg.ground_max_tilt_deg))
    tri = cand[rng.integers(0, cand.shape[0], size=(cfg.ground_ransac_iterations, 3))]  # (K, 3, 3)
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])                   # (K, 3)
    norm = np.linalg.norm(normals, axis=1)
    ok = norm > 1e-9
    normals[ok] /= norm[ok, None]
    normals *= np.where(normals[:, 2:3] < 0, -1.0, 1.0)
    ok &= normals[:, 2] >= min_nz
    if not ok.any():
        return None
    normals, tri = normals[ok], tri[ok]
    offsets = -np.einsum("kc,kc->k", normals, tri[:, 0])
    # (K, S): each hypothesis' distances in one contiguous row; the same products and sums, in the
    # same order, as _plane_distance(cand, normals.T, offsets).T
    cx, cy, cz = (np.ascontiguousarray(cand[:, i]) for i in range(3))
    dist = (normals[:, 0:1] * cx + normals[:, 1:2] * cy) + normals[:, 2:3] * cz + offsets[:, None]
    inliers = np.abs(dist, out=dist) < cfg.ground_distance_m
    best = int(np.argmax(np.count_nonzero(inliers, axis=1)))
    inl = cand[inliers[best]]
    plane = np.append(normals[best], offsets[best])
    if inl.shape[0] >= 3:  # least-squares refinement: normal = smallest singular vector
        centre = inl.mean(axis=0)
        _, _, vt = np.linalg.svd(inl - centre, full_matrices=False)
        nrm = vt[2] * (1.0 if vt[2, 2] >= 0 else -1.0)
        if nrm[2] >= min_nz:
            plane = np.append(nrm, -float(_plane_distance(centre[None], nrm[:, None], 0.0)[0, 0]))
    # LAPACK's SVD differs in the last bits between CPUs; rounding keeps every later threshold
    # decision (ground, band, gates) identical across machines.
    return np.round(plane, PLANE_DECIMALS)


def _plane_distance(points: np.ndarray, normals: np.ndarray, offsets: np.ndarray | float) -> np.ndarray:
    """(N, 3) points x (3, K) unit normals -> (N, K) signed distances, without BLAS.

    A matrix product's summation order depends on the BLAS kernel the CPU selects; these three
    element-wise products and two additions round the same way everywhere.
    """
    return (points[:, 0:1] * normals[0] + points[:, 1:2] * normals[1]) + points[:, 2:3] * normals[2] + offsets


def _plane_basis(normal: np.ndarray) -> np.ndarray:
    """(3, 2) orthonormal axes of the plane with unit ``normal`` (footprints are measured in it)."""
    ref = np.array([1.0, 0.0, 0.0]) if abs(normal[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(normal, ref)
    u /= np.linalg.norm(u)
    return np.stack([u, np.cross(normal, u)], axis=1)


class LidarSegmenter:
    """Ground removal, clustering and person gating (see module docstring). Not thread-safe."""

    def __init__(self, cfg: LidarSegmenterConfig = LidarSegmenterConfig()) -> None:
        cfg.validate()
        self.cfg = cfg
        self.last_stats = LidarFrameStats()
        self._rng = np.random.default_rng(cfg.ground_seed)
        self._bg_frames = 0
        self._bg_keys: list[np.ndarray] = []
        self._static_keys: np.ndarray | None = None
        self._ring_count = 0
        self.beams = config_beam_model(cfg)
        self._reset_memories()
        #: The frame the static memories (objects, cells) are kept in: None until the first frame,
        #: SENSOR_FRAME, or FIXED_FRAME (clouds came with the sensor's pose in a fixed frame).
        self.memory_frame: str | None = None

    def _reset_memories(self) -> None:
        cfg = self.cfg
        self._static_objects = StaticObjectFilter(cfg.static_after_frames, cfg.static_radius_m,
                                                  cfg.static_gate_m, cfg.static_forget_frames) \
            if cfg.static_after_frames > 0 else None
        self._static_cells = StaticCellMap(cfg.static_cell_frames) if cfg.static_cell_frames > 0 else None

    def _memory_pose(self, fixed_from_sensor: RigidTransform | None) -> tuple[bool, RigidTransform | None]:
        """(use the static memories this frame, the transform of their frame <- sensor or None).

        The memories stay in the frame of the first cloud: with a pose, the fixed frame (a moving
        platform: what stands still in the world stands still there); without, the sensor frame (a fixed
        sensor). A cloud with a pose after sensor-frame ones restarts them in the fixed frame; a cloud
        without a pose while they are in the fixed frame neither uses nor updates them (it cannot be
        placed), so a short gap in the pose stream does not mix frames.
        """
        frame = FIXED_FRAME if fixed_from_sensor is not None else SENSOR_FRAME
        if self.memory_frame is None or (self.memory_frame == SENSOR_FRAME and frame == FIXED_FRAME):
            if self.memory_frame is not None:
                log.info("platform pose available: static memories restart in the fixed frame")
                self._reset_memories()
            self.memory_frame = frame
        if frame != self.memory_frame:
            return False, None
        return True, fixed_from_sensor

    @property
    def background_ready(self) -> bool:
        """True once the static background has been learned (always False when it is disabled)."""
        return self._static_keys is not None

    def reset_background(self) -> None:
        """Forget the learned static background and learn it again from the next frames."""
        self._bg_frames, self._bg_keys, self._static_keys = 0, [], None

    def _learn_background(self, above: np.ndarray) -> None:
        keys = np.unique(_voxel_keys(above, self.cfg.background_voxel_m))
        self._bg_keys.append(keys)
        self._bg_frames += 1
        if self._bg_frames >= self.cfg.background_learning_frames:
            allk, counts = np.unique(np.concatenate(self._bg_keys), return_counts=True)
            need = self.cfg.background_min_occupancy * self._bg_frames
            self._static_keys = allk[counts >= need]
            self._bg_keys = []
            log.info("static background learned over %d frames: %d voxels", self._bg_frames,
                     self._static_keys.size)

    def _static(self, pts: np.ndarray) -> np.ndarray:
        """Which points fall in a learned static-background voxel."""
        sk = self._static_keys
        if sk is None or sk.size == 0:
            return np.zeros(pts.shape[0], dtype=bool)
        keys = _voxel_keys(pts, self.cfg.background_voxel_m)
        pos = np.minimum(np.searchsorted(sk, keys), sk.size - 1)
        return sk[pos] == keys

    def _update_beams(self, xyz: np.ndarray, ring: np.ndarray | None) -> None:
        """Measure the beam model from the first cloud with a usable ring field (again if it changes)."""
        if ring is None or not self.cfg.sensor_from_ring:
            return
        ring = np.asarray(ring).reshape(-1)
        if ring.shape[0] != xyz.shape[0]:
            raise MessageFormatError(f"ring has {ring.shape[0]} values for {xyz.shape[0]} points")
        if self.beams.source == "ring" and ring.size and int(ring.max()) + 1 == self._ring_count:
            return
        model = beam_model_from_ring(xyz, ring)
        if model is not None:
            self.beams, self._ring_count = model, int(ring.max()) + 1
            log.info("beam model from the ring field: %d beams, %.2f deg vertical (median), %.3f deg "
                     "horizontal", model.n_beams, math.degrees(model.vres_rad), math.degrees(model.hres_rad))

    def segment(self, points: np.ndarray, ring: np.ndarray | None = None,
                fixed_from_sensor: RigidTransform | None = None) -> list[LidarCluster]:
        """People clusters of one cloud, nearest first. ``ring``: the cloud's beam number per point.

        ``fixed_from_sensor``: the sensor's pose in a fixed frame at the cloud's stamp, on a moving
        platform; the static memories (objects, cells) are then kept in that frame. Outputs stay in the
        sensor frame.
        """
        c = self.cfg
        cols = _columns(points)                 # (3, N): the per-point work reads contiguous columns
        xyz = cols.T
        st = LidarFrameStats(n_input=int(xyz.shape[0]))
        self.last_stats = st
        use_memory, to_memory = self._memory_pose(fixed_from_sensor)
        st.memory_frame = self.memory_frame if use_memory else "skipped"
        self._update_beams(xyz, ring)
        st.beams = self.beams.source
        x, y, z = cols
        keep = _in_roi(x, y, z, c)              # NaN compares False: dropped here
        if not keep.all():
            st.n_nonfinite = int(x.size - np.count_nonzero(np.isfinite(x) & np.isfinite(y) & np.isfinite(z)))
        idx = np.flatnonzero(keep)
        st.n_roi = int(idx.size)
        if idx.size < 3:
            return []
        # the ground sample as fit_ground_plane draws it from the ROI points (same generator calls)
        pick = idx[self._rng.integers(0, idx.size, size=c.ground_sample_points)] \
            if idx.size > c.ground_sample_points else idx
        plane = fit_ground_sample(np.stack([x[pick], y[pick], z[pick]], axis=1), c, self._rng)
        if plane is None:
            log.debug("no acceptable ground plane in a frame of %d points", idx.size)
            return []
        st.ground_plane = tuple(float(v) for v in plane)
        # heights of every input point (cheaper than gathering the ROI's first); outside the ROI they
        # are masked out below
        with np.errstate(invalid="ignore", over="ignore"):
            h = _plane_height(x, y, z, plane)
            band = (h >= c.ground_distance_m) & (h <= c.clip_above_ground_m)
            band &= keep
            st.n_ground = int(np.count_nonzero((h < c.ground_distance_m) & keep))
        if c.background_learning_frames > 0:
            if self._static_keys is None:
                self._learn_background(np.stack([x[band], y[band], z[band]], axis=1))
            else:
                sel = np.flatnonzero(band)
                static = self._static(np.stack([x[sel], y[sel], z[sel]], axis=1))
                st.n_background = int(static.sum())
                band[sel[static]] = False
        sel = np.flatnonzero(band)              # rows of the input
        if sel.size == 0:
            return []
        bp, bh = np.stack([x[sel], y[sel], z[sel]]).T, h[sel]   # (M, 3) view of contiguous columns
        # pillar voxels: occupied (x, y) cells of the height band, in the static memories' frame
        mxy = bp[:, :2] if to_memory is None else bp @ to_memory.R[:2].T + to_memory.t[:2]
        cell = np.floor(mxy / c.cell_size_m).astype(np.int64) + _KEY_OFFSET
        ckeys, inverse = _cell_keys(cell)
        st.n_cells = int(ckeys.size)
        centres = (np.stack([ckeys >> _KEY_BITS, ckeys & ((1 << _KEY_BITS) - 1)], axis=1)
                   - _KEY_OFFSET + 0.5) * c.cell_size_m
        # cells occupied nearly all the time (walls, bollards) are left out, so a walker beside one is
        # not merged with it
        live, cell_occ = None, None
        if self._static_cells is not None and use_memory:
            static_cell, cell_occ = self._static_cells.update(ckeys)
            live = ~static_cell
        if live is None or live.all():
            cell_label = self._cluster(centres)
        else:
            cell_label = np.full(ckeys.size, -1, dtype=np.int64)
            cell_label[live] = self._cluster(centres[live])
            st.n_static_cells = int((~live).sum())
        st.n_clusters = int(cell_label.max()) + 1 if cell_label.size else 0
        label = cell_label[inverse]
        occupancy = cell_occ[inverse] if cell_occ is not None else None
        people = self._gate(bp, bh, label, st.n_clusters, st, occupancy)
        out = []
        for lab, height, bottom, foot in people:
            m = np.flatnonzero(label == lab)
            p = bp[m]
            out.append(LidarCluster(points=p.astype(np.float32), indices=sel[m],
                                    centroid=p.mean(axis=0), box=np.stack([p.min(0), p.max(0)]),
                                    height_m=height, bottom_m=bottom, footprint_m=foot))
        if self._static_objects is not None and use_memory:
            centres = np.array([cl.centroid for cl in out]).reshape(-1, 3)
            if to_memory is not None:
                centres = to_memory.apply(centres)
            static = self._static_objects.update(centres[:, :2])
            st.n_static = int(static.sum())
            out = [cl for cl, s in zip(out, static) if not s]
        out.sort(key=lambda cl: float(np.hypot(cl.centroid[0], cl.centroid[1])))
        st.n_people = len(out)
        return out

    def _feet_hidden(self, pv: np.ndarray, lab: np.ndarray, starts: np.ndarray, ask: np.ndarray,
                     r: np.ndarray, e_foot: np.ndarray, bottom_z: np.ndarray, band: np.ndarray) -> np.ndarray:
        """(ncl,) True for the ``ask`` clusters whose lower part was hidden by something in front.

        Counts band points (``band``: every above-ground point, clustered or not, static or not) in
        front of the cluster (``pv[a:b]``, points sorted by label ``lab``), within its azimuth span,
        whose elevation lies between the cluster's feet and its lowest point: beams that would have
        reached the lower body were stopped there (a low wall, a bollard, a car).
        """
        out = np.zeros(ask.size, dtype=bool)
        need = self.cfg.occluded_bottom_min_points
        if need <= 0 or not ask.any():
            return out
        bx, by, bz = np.ascontiguousarray(band[:, :3].T)   # segment passes (3, M) columns' view
        # only band points nearer than the farthest asking cluster can hide anyone's feet
        ends = np.r_[starts[1:], lab.size]
        r_near = max(float(np.hypot(pv[a:b, 0], pv[a:b, 1]).min())
                     for a, b in zip(starts, ends) if ask[int(lab[a])]) - OCCLUDER_GAP_M
        if r_near <= 0.0:
            return out
        near = np.flatnonzero(bx * bx + by * by < (r_near + NEAR_MARGIN_M) ** 2)
        bx, by, bz = bx[near], by[near], bz[near]
        for a, b in zip(starts, ends):
            k = int(lab[a])
            if not ask[k]:
                continue
            az_c = math.atan2(float(pv[a:b, 1].mean()), float(pv[a:b, 0].mean()))
            own_az = np.arctan2(pv[a:b, 1], pv[a:b, 0])
            half = float(np.abs((own_az - az_c + math.pi) % (2 * math.pi) - math.pi).max())
            lo, hi = az_c - half, az_c + half
            if half < WEDGE_MAX_HALF_RAD:
                # the band points within the wedge (a superset: WEDGE_MARGIN_RAD wider), without an
                # arctan2 of every band point; the exact azimuth test below decides
                ux, uy = math.cos(az_c), math.sin(az_c)
                along = bx * ux + by * uy
                w = np.flatnonzero((along > 0.0) & (np.abs(by * ux - bx * uy)
                                                    <= along * math.tan(half + WEDGE_MARGIN_RAD)))
            else:
                w = np.arange(bx.size)
            az = np.arctan2(by[w], bx[w])
            rxy = np.hypot(bx[w], by[w])
            el = np.arctan2(bz[w], rxy)
            e_bot = math.atan2(float(bottom_z[k]), float(r[k]))
            hides = ((rxy < float(np.hypot(pv[a:b, 0], pv[a:b, 1]).min()) - OCCLUDER_GAP_M)
                     & (el > float(e_foot[k])) & (el < e_bot))
            # azimuth window [lo, hi]; where it wraps around +-pi its other end counts too
            n = np.count_nonzero(hides & (az >= max(lo, -math.pi)) & (az <= min(hi, math.pi)))
            if lo < -math.pi:
                n += np.count_nonzero(hides & (az >= lo + 2 * math.pi))
            if hi > math.pi:
                n += np.count_nonzero(hides & (az <= hi - 2 * math.pi))
            out[k] = int(n) >= need
        return out

    def _cluster(self, centres: np.ndarray) -> np.ndarray:
        """Connected components of the KD-tree radius graph; clusters below min_cluster_cells get -1."""
        n = centres.shape[0]
        pairs = cKDTree(centres).query_pairs(self.cfg.cluster_radius_m, output_type="ndarray")
        graph = coo_matrix((np.ones(pairs.shape[0], dtype=np.int8), (pairs[:, 0], pairs[:, 1])),
                           shape=(n, n))
        _, labels = connected_components(graph, directed=False)
        sizes = np.bincount(labels)
        keep = sizes >= self.cfg.min_cluster_cells
        remap = np.full(sizes.size, -1, dtype=np.int64)
        remap[keep] = np.arange(int(keep.sum()))
        return remap[labels]

    def _gate(self, p: np.ndarray, h: np.ndarray, labels: np.ndarray, ncl: int,
              st: LidarFrameStats, occupancy: np.ndarray | None = None
              ) -> list[tuple[int, float, float, float]]:
        """(label, height, bottom, footprint) of the clusters that look like a standing person.

        ``occupancy``: per point, how often its pillar cell was occupied before this frame (0..1).
        """
        c = self.cfg
        ok = np.flatnonzero(labels >= 0)       # few of the band's points: index, do not mask
        lab = labels[ok]
        if lab.size == 0:
            return []
        # per-cluster reductions over points sorted by label (one sort instead of ufunc.at calls)
        order = np.argsort(lab, kind="stable")
        lab, hv, pv = lab[order], h[ok][order], p[ok][order]
        n_pts0 = np.maximum(np.bincount(lab, minlength=ncl), 1)
        mean_occ = np.zeros(ncl) if occupancy is None else \
            np.bincount(lab, weights=occupancy[ok][order], minlength=ncl) / n_pts0
        starts = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
        ids = lab[starts]
        top = np.full(ncl, -np.inf)
        bottom = np.full(ncl, np.inf)
        top[ids] = np.maximum.reduceat(hv, starts)
        bottom[ids] = np.minimum.reduceat(hv, starts)
        n_pts = np.bincount(lab, minlength=ncl)
        centre_xy = np.stack([np.bincount(lab, weights=pv[:, i], minlength=ncl) for i in range(2)],
                             axis=1) / np.maximum(n_pts, 1)[:, None]
        rng2 = (centre_xy ** 2).sum(axis=1)
        r = np.sqrt(np.maximum(rng2, 1e-6))
        sensor_h = float(st.ground_plane[3])          # the sensor origin's height above the plane
        beams = self.beams
        with np.errstate(invalid="ignore", over="ignore"):
            # no beam above (below): the object may reach any height (depth); tan(+-inf) would be NaN
            above = beams.next_above(np.arctan2(top - sensor_h, r))
            below = beams.next_below(np.arctan2(bottom - sensor_h, r))
            upper = np.where(np.isfinite(above), sensor_h + r * np.tan(np.clip(above, -1.5, 1.5)), np.inf)
            lower = np.where(np.isfinite(below), sensor_h + r * np.tan(np.clip(below, -1.5, 1.5)), -np.inf)
            e_foot = np.arctan2(-sensor_h, r)
            e_head = np.arctan2(NOMINAL_PERSON_HEIGHT_M - sensor_h, r)
        lo = np.full((ncl, 2), np.inf)
        hi = np.full((ncl, 2), -np.inf)
        lo[ids] = np.minimum.reduceat(pv[:, :2], starts, axis=0)
        hi[ids] = np.maximum.reduceat(pv[:, :2], starts, axis=0)
        aabb = (hi - lo).max(axis=1)
        checks = {
            # the highest the object can be (the next beam above passed over it) reaches a person's
            # height, and its highest point is not above one's
            "height": (upper >= c.min_height_m) & (top <= c.max_height_m),
            "range": rng2 <= c.max_person_range_m ** 2,
            # an axis-aligned extent is at most sqrt(2) times the principal one
            "footprint_coarse": aabb <= c.max_footprint_m * math.sqrt(2.0),
            "bottom": lower <= c.max_bottom_m,
            "points": None,
            # a walker's cells were empty a moment ago (see static_objects.StaticCellMap)
            "static_cells": mean_occ <= c.static_max_cell_occupancy,
        }
        passed = np.ones(ncl, dtype=bool)
        hidden = np.zeros(ncl, dtype=bool)
        for name, m in checks.items():
            if name == "bottom":
                hidden = self._feet_hidden(pv, lab, starts, passed & ~m, r, e_foot, bottom - sensor_h, p)
                m = m | hidden
            elif name == "points":
                # expected points of a nominal person at this range: beams crossing 0..1.7 m (from the
                # lowest visible point where something in front hid the feet) x columns across 0.5 m
                e_lo = np.where(hidden, np.arctan2(bottom - sensor_h, r) - 1e-6, e_foot)
                n_beams = beams.beams_between(e_lo, e_head)
                need = np.maximum(c.min_points, c.min_point_fraction * n_beams * NOMINAL_PERSON_WIDTH_M
                                  / (r * beams.hres_rad))
                m = n_pts >= need
            st.rejected[name] = int((passed & ~m).sum())
            st.rejected_at.extend((float(centre_xy[k, 0]), float(centre_xy[k, 1]), name)
                                  for k in np.flatnonzero(passed & ~m & (n_pts >= c.min_points)))
            passed &= m
        for name in ("footprint", "thickness", "aspect"):
            st.rejected[name] = 0
        basis = _plane_basis(np.asarray(st.ground_plane[:3]))     # (3, 2): in-plane axes
        out = []
        ends = np.r_[starts[1:], lab.size]
        span = {int(i): (int(a), int(b)) for i, a, b in zip(ids, starts, ends)}
        for k in np.flatnonzero(passed):
            a, b = span[int(k)]
            uv = pv[a:b] @ basis
            uv -= uv.mean(axis=0)
            _, _, vt = np.linalg.svd(uv, full_matrices=False)
            proj = uv @ vt.T
            ext = proj.max(axis=0) - proj.min(axis=0)
            foot, thick = float(ext[0]), float(ext[1])
            if not (c.min_footprint_m <= foot <= c.max_footprint_m):
                st.rejected["footprint"] += 1
                st.rejected_at.append((float(centre_xy[k, 0]), float(centre_xy[k, 1]), "footprint"))
                continue
            if thick < c.min_thickness_m:
                st.rejected["thickness"] += 1
                st.rejected_at.append((float(centre_xy[k, 0]), float(centre_xy[k, 1]), "thickness"))
                continue
            # the visible vertical extent, not the top: a low, wide blob that floats above the ground
            # (a hedge, a car's bonnet) is not taller than wide because its top is high. Its top is
            # taken half way to the next beam above (where the true top lies on average) when the beam
            # table was measured (ring field): on a sparse sensor a head can fall in a 0.5 m beam gap.
            half_gap = 0.5 * float(upper[k] - top[k]) \
                if np.isfinite(upper[k]) and self.beams.source == "ring" else 0.0
            if foot / max(float(top[k] + half_gap - bottom[k]), 1e-6) > c.max_aspect_footprint_over_height:
                st.rejected["aspect"] += 1
                st.rejected_at.append((float(centre_xy[k, 0]), float(centre_xy[k, 1]), "aspect"))
                continue
            out.append((int(k), float(top[k]), float(bottom[k]), foot))
        return out
