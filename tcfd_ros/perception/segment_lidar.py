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
   keeps a 120k-point frame within budget).
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
from tcfd_ros.geometry.range_view import RangeViewConfig, points_to_depth_map
from tcfd_ros.perception.config import LidarSegmenterConfig

log = logging.getLogger(__name__)

#: Voxel indices are packed into one int64 key with this many bits per axis (+-2^20 voxels).
_KEY_BITS = 21
_KEY_OFFSET = 1 << (_KEY_BITS - 1)
#: The nominal person of the expected-density gate (metres).
NOMINAL_PERSON_HEIGHT_M = 1.7
NOMINAL_PERSON_WIDTH_M = 0.5
#: The fitted ground plane is rounded to this many decimals (1e-9: far below any threshold in metres).
PLANE_DECIMALS = 9


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
    ground_plane: tuple[float, float, float, float] | None = None  # n . p + d = height, n_z > 0
    rejected: dict[str, int] = field(default_factory=dict)          # gate name -> clusters rejected


def check_points(points: object) -> np.ndarray:
    """(N, >=3) real array -> (N, 3) float64 view/copy; raise MessageFormatError otherwise."""
    if not isinstance(points, np.ndarray):
        raise MessageFormatError(f"points: expected a numpy array, got {type(points).__name__}")
    if points.ndim != 2 or points.shape[1] < 3:
        raise MessageFormatError(f"points.shape = {points.shape}: expected (N, 3) or (N, >3) x, y, z first")
    if not (np.issubdtype(points.dtype, np.floating) or np.issubdtype(points.dtype, np.integer)):
        raise MessageFormatError(f"points.dtype = {points.dtype}: expected a real number type")
    return points[:, :3].astype(np.float64, copy=False)


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
    z = sample[:, 2]
    k = max(3, int(math.ceil(cfg.ground_candidate_quantile * sample.shape[0])))
    # The candidates are the k lowest points in sample order. np.argpartition returns them in an order
    # (and, at tied z, a choice) that depends on the CPU's SIMD sort kernel, and the RANSAC triples are
    # drawn by index into this array: a stable sort makes the plane the same on every machine.
    cand = sample[np.sort(np.argsort(z, kind="stable")[:k])] if k < sample.shape[0] else sample
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
    inliers = np.abs(_plane_distance(cand, normals.T, offsets)) < cfg.ground_distance_m  # (S, K)
    best = int(np.argmax(inliers.sum(axis=0)))
    inl = cand[inliers[:, best]]
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

    def segment(self, points: np.ndarray) -> list[LidarCluster]:
        """People clusters of one cloud, nearest first."""
        c = self.cfg
        xyz = check_points(points)
        st = LidarFrameStats(n_input=int(xyz.shape[0]))
        self.last_stats = st
        x, y, z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
        with np.errstate(invalid="ignore"):
            keep = ((x >= c.roi_x_min_m) & (x < c.roi_x_max_m) & (y >= c.roi_y_min_m)
                    & (y < c.roi_y_max_m) & (z >= c.roi_z_min_m) & (z < c.roi_z_max_m)
                    & (x * x + y * y >= c.min_range_m ** 2))  # NaN compares False: dropped here
        st.n_nonfinite = int(xyz.shape[0] - np.isfinite(xyz).all(axis=1).sum()) if not keep.all() else 0
        idx = np.flatnonzero(keep)
        st.n_roi = int(idx.size)
        if idx.size < 3:
            return []
        pts = xyz[idx]
        plane = fit_ground_plane(pts, c, self._rng)
        if plane is None:
            log.debug("no acceptable ground plane in a frame of %d points", idx.size)
            return []
        st.ground_plane = tuple(float(v) for v in plane)
        h = _plane_distance(pts, plane[:3, None], plane[3])[:, 0]
        band = (h >= c.ground_distance_m) & (h <= c.clip_above_ground_m)
        st.n_ground = int((h < c.ground_distance_m).sum())
        if c.background_learning_frames > 0:
            if self._static_keys is None:
                self._learn_background(pts[band])
            else:
                sel = np.flatnonzero(band)
                static = self._static(pts[sel])
                st.n_background = int(static.sum())
                band[sel[static]] = False
        sel = np.flatnonzero(band)
        if sel.size == 0:
            return []
        bp, bh = pts[sel], h[sel]
        # pillar voxels: occupied (x, y) cells of the height band
        cell = np.floor(bp[:, :2] / c.cell_size_m).astype(np.int64) + _KEY_OFFSET
        ckeys, inverse, counts = np.unique((cell[:, 0] << _KEY_BITS) | cell[:, 1], return_inverse=True,
                                           return_counts=True)
        inverse = inverse.ravel()
        st.n_cells = int(ckeys.size)
        centres = (np.stack([ckeys >> _KEY_BITS, ckeys & ((1 << _KEY_BITS) - 1)], axis=1)
                   - _KEY_OFFSET + 0.5) * c.cell_size_m
        cell_label = self._cluster(centres)
        st.n_clusters = int(cell_label.max()) + 1 if cell_label.size else 0
        label = cell_label[inverse]
        people = self._gate(bp, bh, label, st.n_clusters, st)
        out = []
        for lab, height, bottom, foot in people:
            m = np.flatnonzero(label == lab)
            p = bp[m]
            out.append(LidarCluster(points=p.astype(np.float32), indices=idx[sel[m]],
                                    centroid=p.mean(axis=0), box=np.stack([p.min(0), p.max(0)]),
                                    height_m=height, bottom_m=bottom, footprint_m=foot))
        out.sort(key=lambda cl: float(np.hypot(cl.centroid[0], cl.centroid[1])))
        st.n_people = len(out)
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
              st: LidarFrameStats) -> list[tuple[int, float, float, float]]:
        """(label, height, bottom, footprint) of the clusters that look like a standing person."""
        c = self.cfg
        ok = labels >= 0
        lab = labels[ok]
        if lab.size == 0:
            return []
        # per-cluster reductions over points sorted by label (one sort instead of ufunc.at calls)
        order = np.argsort(lab, kind="stable")
        lab, hv, pv = lab[order], h[ok][order], p[ok][order]
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
        cells_r2 = (NOMINAL_PERSON_HEIGHT_M / math.radians(c.sensor_vres_deg)
                    * NOMINAL_PERSON_WIDTH_M / math.radians(c.sensor_hres_deg))  # cells x r^2
        need = np.maximum(c.min_points, c.min_point_fraction * cells_r2 / np.maximum(rng2, 1e-6))
        lo = np.full((ncl, 2), np.inf)
        hi = np.full((ncl, 2), -np.inf)
        lo[ids] = np.minimum.reduceat(pv[:, :2], starts, axis=0)
        hi[ids] = np.maximum.reduceat(pv[:, :2], starts, axis=0)
        aabb = (hi - lo).max(axis=1)
        checks = {
            "height": (top >= c.min_height_m) & (top <= c.max_height_m),
            "bottom": bottom <= c.max_bottom_m,
            "range": rng2 <= c.max_person_range_m ** 2,
            "points": n_pts >= need,
            # an axis-aligned extent is at most sqrt(2) times the principal one
            "footprint_coarse": aabb <= c.max_footprint_m * math.sqrt(2.0),
        }
        passed = np.ones(ncl, dtype=bool)
        for name, m in checks.items():
            st.rejected[name] = int((passed & ~m).sum())
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
                continue
            if thick < c.min_thickness_m:
                st.rejected["thickness"] += 1
                continue
            # the visible vertical extent, not the top: a low, wide blob that floats above the ground
            # (a hedge, a car's bonnet) is not taller than wide because its top is high
            if foot / max(float(top[k] - bottom[k]), 1e-6) > c.max_aspect_footprint_over_height:
                st.rejected["aspect"] += 1
                continue
            out.append((int(k), float(top[k]), float(bottom[k]), foot))
        return out
