"""Calibrated geometry without ROS: rigid transforms, pinhole cameras, pixel -> ground, platform poses.

Conventions (REP-103/105, the same as ``tcfd_ros.sim.sensors`` and the simulated bags' /tf):

- A :class:`RigidTransform` ``T`` named ``parent_from_child`` maps points given in the child frame into
  the parent frame, ``p_parent = R @ p_child + t``; it is what a ``geometry_msgs/TransformStamped`` with
  ``header.frame_id = parent`` and ``child_frame_id = child`` holds. Composition reads right to left:
  ``map_from_base.compose(base_from_lidar)`` is ``map_from_lidar``.
- Quaternions are ``(x, y, z, w)`` as in ROS; roll-pitch-yaw are fixed-axis X, Y, Z rotations,
  ``R = Rz(yaw) Ry(pitch) Rx(roll)`` (tf2's ``setRPY``).
- Camera points are in the optical frame (x right, y down, z forward); pixels are ``(u, v)`` with the
  centre of the top-left pixel at (0.5, 0.5) only in the sense that ``K`` says so: this module applies
  ``K`` exactly as ``sensor_msgs/CameraInfo`` defines it (``u = fx x/z + cx``).
- The ground is the plane ``z = ground_z`` of the fixed frame (REP-105 ``map``/``odom``: z up).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from tcfd_ros.geometry import GeometryError
from tcfd_ros.messages import CLOCK_RESET_BACKWARD_S, clock_reset

#: Points closer than this in front of the camera (optical z, metres) count as behind it.
MIN_DEPTH_M = 1e-3
#: A ray must descend at least this much per metre travelled to meet the ground (about 0.6 degrees);
#: flatter rays meet it at the horizon, where the position is meaningless.
MIN_RAY_DESCENT = 0.01
#: Undistortion: fixed-point iterations of the inverse plumb_bob model.
UNDISTORT_ITERATIONS = 20
#: Distortion models this module applies (plumb_bob with 5 coefficients; rational_polynomial with 8).
DISTORTION_MODELS = ("plumb_bob", "rational_polynomial", "")


class PoseLookupError(GeometryError):
    """A pose was asked for a stamp the pose buffer cannot answer (before, after or between gaps)."""


def _finite(a: np.ndarray, what: str) -> np.ndarray:
    if not np.isfinite(a).all():
        raise GeometryError(f"{what} = {a.tolist()!r}: expected finite numbers")
    return a


def quaternion_to_matrix(q_xyzw: Sequence[float]) -> np.ndarray:
    """3x3 rotation of a (x, y, z, w) quaternion; it is normalised, a zero quaternion is refused."""
    q = _finite(np.asarray(q_xyzw, dtype=np.float64).reshape(-1), "quaternion")
    if q.shape != (4,):
        raise GeometryError(f"quaternion = {q.tolist()!r}: expected 4 numbers (x, y, z, w)")
    n = float(np.linalg.norm(q))
    if n < 1e-9:
        raise GeometryError(f"quaternion = {q.tolist()!r}: zero length, not a rotation")
    x, y, z, w = q / n
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def matrix_to_quaternion(R: np.ndarray) -> np.ndarray:
    """(x, y, z, w) of a rotation matrix, with w >= 0 (Shepperd's method, stable for every angle)."""
    R = np.asarray(R, dtype=np.float64)
    tr = np.trace(R)
    if tr > 0:
        s = 2.0 * math.sqrt(tr + 1.0)
        q = [(R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, 0.25 * s]
    elif R[0, 0] > R[1, 1] and R[0, 0] > R[2, 2]:
        s = 2.0 * math.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2])
        q = [0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s, (R[2, 1] - R[1, 2]) / s]
    elif R[1, 1] > R[2, 2]:
        s = 2.0 * math.sqrt(1.0 + R[1, 1] - R[0, 0] - R[2, 2])
        q = [(R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s, (R[0, 2] - R[2, 0]) / s]
    else:
        s = 2.0 * math.sqrt(1.0 + R[2, 2] - R[0, 0] - R[1, 1])
        q = [(R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s, (R[1, 0] - R[0, 1]) / s]
    q = np.asarray(q)
    q /= np.linalg.norm(q)
    return -q if q[3] < 0 else q


def rpy_to_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """``Rz(yaw) Ry(pitch) Rx(roll)`` (radians), the fixed-axis convention of tf2 and URDF."""
    cr, sr, cp, sp, cy, sy = (math.cos(roll), math.sin(roll), math.cos(pitch), math.sin(pitch),
                              math.cos(yaw), math.sin(yaw))
    return np.array([[cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
                     [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
                     [-sp, cp * sr, cp * cr]])


def _slerp(q0: np.ndarray, q1: np.ndarray, a: float) -> np.ndarray:
    d = float(np.dot(q0, q1))
    if d < 0:                       # the shorter way round
        q1, d = -q1, -d
    if d > 0.9995:                  # nearly equal: linear is exact enough and avoids 0/0
        q = q0 + a * (q1 - q0)
        return q / np.linalg.norm(q)
    th = math.acos(min(1.0, d))
    return (math.sin((1 - a) * th) * q0 + math.sin(a * th) * q1) / math.sin(th)


@dataclass(frozen=True)
class RigidTransform:
    """``parent_from_child``: ``p_parent = R @ p_child + t`` (see the module docstring)."""

    R: np.ndarray                   # (3, 3) rotation
    t: np.ndarray                   # (3,) translation, metres

    def __post_init__(self) -> None:
        R = _finite(np.asarray(self.R, dtype=np.float64), "rotation")
        t = _finite(np.asarray(self.t, dtype=np.float64).reshape(-1), "translation")
        if R.shape != (3, 3) or t.shape != (3,):
            raise GeometryError(f"RigidTransform: R {R.shape}, t {t.shape}: expected (3, 3) and (3,)")
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or np.linalg.det(R) < 0:
            raise GeometryError(f"rotation = {R.tolist()!r}: not a proper rotation matrix")
        object.__setattr__(self, "R", R)
        object.__setattr__(self, "t", t)

    @staticmethod
    def identity() -> "RigidTransform":
        return RigidTransform(np.eye(3), np.zeros(3))

    @staticmethod
    def from_xyz_quat(xyz: Sequence[float], q_xyzw: Sequence[float]) -> "RigidTransform":
        """From a translation (metres) and a (x, y, z, w) quaternion, as in ``TransformStamped``."""
        return RigidTransform(quaternion_to_matrix(q_xyzw), np.asarray(xyz, dtype=np.float64))

    @staticmethod
    def from_xyz_rpy(xyz: Sequence[float], rpy: Sequence[float]) -> "RigidTransform":
        """From a translation (metres) and roll, pitch, yaw (radians), as in a URDF ``<origin>``."""
        r = _finite(np.asarray(rpy, dtype=np.float64).reshape(-1), "rpy")
        if r.shape != (3,):
            raise GeometryError(f"rpy = {r.tolist()!r}: expected 3 angles (roll, pitch, yaw) in radians")
        return RigidTransform(rpy_to_matrix(*r), np.asarray(xyz, dtype=np.float64))

    @staticmethod
    def from_matrix(M: np.ndarray) -> "RigidTransform":
        """From a 4x4 homogeneous matrix (e.g. nuScenes/mmdet3d ``lidar2cam``)."""
        M = np.asarray(M, dtype=np.float64)
        if M.shape != (4, 4) or not np.allclose(M[3], [0, 0, 0, 1]):
            raise GeometryError(f"matrix shape {M.shape}: expected a 4x4 homogeneous transform")
        return RigidTransform(M[:3, :3], M[:3, 3])

    @staticmethod
    def from_msg(transform: Any) -> "RigidTransform":
        """From a ``geometry_msgs/Transform`` (``translation``, ``rotation``) or ``Pose`` (``position``,
        ``orientation``) of rclpy or rosbags."""
        tr = getattr(transform, "translation", getattr(transform, "position", None))
        rot = getattr(transform, "rotation", getattr(transform, "orientation", None))
        if tr is None or rot is None:
            raise GeometryError(f"{type(transform).__name__}: expected a Transform or Pose message")
        return RigidTransform.from_xyz_quat((tr.x, tr.y, tr.z), (rot.x, rot.y, rot.z, rot.w))

    def quaternion(self) -> np.ndarray:
        """(x, y, z, w), w >= 0."""
        return matrix_to_quaternion(self.R)

    def matrix(self) -> np.ndarray:
        M = np.eye(4)
        M[:3, :3], M[:3, 3] = self.R, self.t
        return M

    def compose(self, other: "RigidTransform") -> "RigidTransform":
        """``self * other``: with self = a_from_b and other = b_from_c, returns a_from_c."""
        return RigidTransform(self.R @ other.R, self.R @ other.t + self.t)

    def inverse(self) -> "RigidTransform":
        return RigidTransform(self.R.T, -self.R.T @ self.t)

    def apply(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) or (3,) points of the child frame in the parent frame."""
        p = np.asarray(points, dtype=np.float64)
        if p.shape[-1] != 3:
            raise GeometryError(f"points shape {p.shape}: expected (..., 3)")
        return p @ self.R.T + self.t

    def rotate(self, vectors: np.ndarray) -> np.ndarray:
        """Directions (no translation) of the child frame in the parent frame."""
        return np.asarray(vectors, dtype=np.float64) @ self.R.T

    def interpolate(self, other: "RigidTransform", a: float) -> "RigidTransform":
        """``a`` of the way from self (a = 0) to other (a = 1): linear translation, slerp rotation."""
        q = _slerp(self.quaternion(), other.quaternion(), float(a))
        return RigidTransform(quaternion_to_matrix(q), (1 - a) * self.t + a * other.t)


# ---- pinhole cameras ----------------------------------------------------------------------------------
def _field(msg: Any, *names: str) -> Any:
    for n in names:
        if isinstance(msg, dict) and n in msg:
            return msg[n]
        if hasattr(msg, n):
            return getattr(msg, n)
    raise GeometryError(f"camera_info {type(msg).__name__}: no field {names[0]!r}")


@dataclass(frozen=True)
class CameraIntrinsics:
    """A pinhole camera as ``sensor_msgs/CameraInfo`` describes it: K, distortion D, image size."""

    K: np.ndarray                   # (3, 3)
    D: np.ndarray                   # plumb_bob (k1, k2, t1, t2, k3) or rational_polynomial (8); may be empty
    width: int
    height: int
    distortion_model: str = "plumb_bob"

    def __post_init__(self) -> None:
        K = _finite(np.asarray(self.K, dtype=np.float64).reshape(3, 3), "K")
        D = _finite(np.asarray(self.D, dtype=np.float64).reshape(-1), "D")
        if not (K[0, 0] > 0 and K[1, 1] > 0 and K[2, 2] == 1.0 and K[1, 0] == K[2, 0] == K[2, 1] == 0):
            raise GeometryError(f"K = {K.reshape(-1).tolist()!r}: expected [fx, s, cx, 0, fy, cy, 0, 0, 1] "
                                "with fx, fy > 0 (an uncalibrated camera_info has K = 0)")
        if self.distortion_model not in DISTORTION_MODELS:
            raise GeometryError(f"distortion_model = {self.distortion_model!r}: expected one of "
                                f"{[m for m in DISTORTION_MODELS if m]}")
        if D.size and D.size not in (4, 5, 8):
            raise GeometryError(f"D has {D.size} coefficients: expected 0, 4, 5 (plumb_bob) or 8")
        if int(self.width) < 1 or int(self.height) < 1:
            raise GeometryError(f"image size {self.width}x{self.height}: expected positive")
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "D", np.pad(D, (0, 8 - D.size)) if D.size else np.zeros(8))
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))

    @staticmethod
    def from_camera_info(msg: Any) -> "CameraIntrinsics":
        """From a ``sensor_msgs/CameraInfo`` (rclpy or rosbags: ``k``, ``d``) or a dict of the same fields."""
        try:
            model = str(_field(msg, "distortion_model"))
        except GeometryError:
            model = "plumb_bob"
        return CameraIntrinsics(np.asarray(_field(msg, "k", "K"), dtype=np.float64),
                                np.asarray(_field(msg, "d", "D"), dtype=np.float64),
                                int(_field(msg, "width")), int(_field(msg, "height")), model)

    @property
    def distorted(self) -> bool:
        return bool(np.any(self.D != 0))

    def _distort(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k1, k2, p1, p2, k3, k4, k5, k6 = self.D
        r2 = x * x + y * y
        radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return xd, yd

    def project(self, points_optical: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3) optical-frame points -> (N, 2) pixels and (N,) in-front mask (z > MIN_DEPTH_M).

        Points behind the camera get finite but meaningless pixels; use the mask.
        """
        p = np.asarray(points_optical, dtype=np.float64).reshape(-1, 3)
        z = p[:, 2]
        front = z > MIN_DEPTH_M
        zs = np.where(front, z, 1.0)
        x, y = p[:, 0] / zs, p[:, 1] / zs
        if self.distorted:
            x, y = self._distort(x, y)
        K = self.K
        u = K[0, 0] * x + K[0, 1] * y + K[0, 2]
        v = K[1, 1] * y + K[1, 2]
        return np.stack([u, v], axis=-1), front

    def rays(self, uv: np.ndarray) -> np.ndarray:
        """(N, 2) pixels -> (N, 3) unit ray directions in the optical frame (distortion removed)."""
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        K = self.K
        y = (uv[:, 1] - K[1, 2]) / K[1, 1]
        x = (uv[:, 0] - K[0, 2] - K[0, 1] * y) / K[0, 0]
        if self.distorted:
            xd, yd = x.copy(), y.copy()
            for _ in range(UNDISTORT_ITERATIONS):   # x = xd - (distort(x) - x), to a fixed point
                dx, dy = self._distort(x, y)
                x, y = x - (dx - xd), y - (dy - yd)
        d = np.stack([x, y, np.ones_like(x)], axis=-1)
        return d / np.linalg.norm(d, axis=-1, keepdims=True)

    def inside(self, uv: np.ndarray) -> np.ndarray:
        """(N,) mask of pixels within the image."""
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        return (uv[:, 0] >= 0) & (uv[:, 0] < self.width) & (uv[:, 1] >= 0) & (uv[:, 1] < self.height)


def box_corners(center: Sequence[float], size: Sequence[float], yaw: float = 0.0) -> np.ndarray:
    """(8, 3) corners of a box with ``size`` (length x, width y, height z) turned by ``yaw`` about z."""
    c = np.asarray(center, dtype=np.float64)
    half = 0.5 * np.asarray(size, dtype=np.float64)
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)
    local = signs * half
    cy, sy = math.cos(yaw), math.sin(yaw)
    Rz = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
    return local @ Rz.T + c


def project_boxes(corners: np.ndarray, camera: CameraIntrinsics, camera_from_box: RigidTransform,
                  clip: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(M, 8, 3) box corners (any frame) -> (M, 4) pixel boxes ``[x0, y0, x1, y1]`` and (M,) valid mask.

    A box is valid when all 8 corners are in front of the camera and (with ``clip``) its box clipped to
    the image is not empty; a box crossing the image plane is refused, as Autoware's projection does.
    """
    c = np.asarray(corners, dtype=np.float64).reshape(-1, 8, 3)
    uv, front = camera.project(camera_from_box.apply(c.reshape(-1, 3)))
    uv = uv.reshape(-1, 8, 2)
    front = front.reshape(-1, 8).all(axis=1)
    boxes = np.concatenate([uv.min(axis=1), uv.max(axis=1)], axis=1)
    if clip:
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, camera.width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, camera.height)
    valid = front & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return boxes, valid


def project_points(points: np.ndarray, camera: CameraIntrinsics, camera_from_points: RigidTransform
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) points (any frame) -> (N, 2) pixels and (N,) mask: in front of the camera and in the image."""
    uv, front = camera.project(camera_from_points.apply(np.asarray(points, dtype=np.float64).reshape(-1, 3)))
    return uv, front & camera.inside(uv)


# ---- pixel -> ground plane ----------------------------------------------------------------------------
@dataclass(frozen=True)
class GroundHits:
    """Where pixels' rays meet the ground: points (N, 3) in the fixed frame, 1-sigma (N,) metres, valid."""

    points: np.ndarray
    sigma_m: np.ndarray
    valid: np.ndarray


def _intersect(rays_fixed: np.ndarray, origin: np.ndarray, ground_z: float) -> tuple[np.ndarray, np.ndarray]:
    dz = rays_fixed[:, 2]
    ok = dz < -MIN_RAY_DESCENT
    s = np.where(ok, (ground_z - origin[2]) / np.where(ok, dz, -1.0), np.nan)
    ok &= s > 0
    return origin + s[:, None] * rays_fixed, ok


def pixels_to_ground(uv: np.ndarray, camera: CameraIntrinsics, fixed_from_camera: RigidTransform,
                     ground_z: float = 0.0, pixel_sigma_px: float | np.ndarray = 2.0,
                     max_range_m: float = 60.0,
                     floor_sigma_m: float = 0.0) -> GroundHits:
    """Intersect the rays of pixels ``uv`` (N, 2) with the plane ``z = ground_z`` of the fixed frame.

    The uncertainty is the pixel noise ``pixel_sigma_px`` (isotropic, 1-sigma; one value, or one per
    pixel) carried through the ray
    geometry (central differences of the intersection over one pixel in u and in v), so it grows with
    the squared distance and with the ray's grazing angle; ``sigma_m`` is the square root of the larger
    eigenvalue of the horizontal covariance (the worst direction), never below ``floor_sigma_m``. A hit
    is invalid when the ray does not descend (at or above the horizon), meets the ground behind the
    camera, or farther than ``max_range_m`` horizontally from it.
    """
    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    if not np.isfinite(uv).all():
        raise GeometryError(f"pixels {uv.tolist()!r}: expected finite numbers")
    origin = fixed_from_camera.t
    h = 0.5
    offsets = np.array([[0, 0], [h, 0], [-h, 0], [0, h], [0, -h]])
    all_uv = (uv[:, None, :] + offsets[None]).reshape(-1, 2)
    pts, ok = _intersect(fixed_from_camera.rotate(camera.rays(all_uv)), origin, float(ground_z))
    pts, ok = pts.reshape(-1, 5, 3), ok.reshape(-1, 5).all(axis=1)
    centre = pts[:, 0]
    ju = (pts[:, 1, :2] - pts[:, 2, :2]) / (2 * h)        # d(x, y)/du, metres per pixel
    jv = (pts[:, 3, :2] - pts[:, 4, :2]) / (2 * h)
    J = np.stack([ju, jv], axis=-1)                        # (N, 2, 2)
    px = np.broadcast_to(np.asarray(pixel_sigma_px, dtype=np.float64), (len(uv),))[:, None, None]
    cov = px ** 2 * J @ np.swapaxes(J, 1, 2)
    with np.errstate(invalid="ignore"):
        sigma = np.sqrt(np.linalg.eigvalsh(np.nan_to_num(cov, nan=0.0))[:, -1].clip(0))
        horizontal = np.linalg.norm(centre[:, :2] - origin[:2], axis=1)
    ok &= np.nan_to_num(horizontal, nan=np.inf) <= max_range_m
    sigma = np.maximum(sigma, floor_sigma_m)
    return GroundHits(np.where(ok[:, None], centre, np.nan), np.where(ok, sigma, np.nan), ok)


def reproject_ground_pixels(uv: np.ndarray, camera: CameraIntrinsics, before: RigidTransform,
                            after: RigidTransform, ground_z: float = 0.0, max_range_m: float = 60.0
                            ) -> np.ndarray:
    """Where pixels ``uv`` (N, 2) of a camera at pose ``before`` (fixed_from_camera) appear once the
    camera is at ``after``, for points that stand still: the pixel's ground point where its ray meets
    the ground within ``max_range_m`` (a person's foot), else a point at infinity along the ray (only the
    camera's rotation moves it). Why: on a moving platform the image moves under every tracked person;
    an image-plane tracker that is told this motion keeps its constant-velocity model for the person's
    own motion. Rows that end behind the camera keep their pixel.
    """
    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    if len(uv) == 0:
        return uv.copy()
    hits = pixels_to_ground(uv, camera, before, ground_z, 0.0, max_range_m)
    rays_fixed = before.rotate(camera.rays(uv))
    inv = after.inverse()
    out = uv.copy()
    pts = inv.apply(np.where(hits.valid[:, None], hits.points, 0.0))
    dirs = inv.rotate(rays_fixed)
    cam = np.where(hits.valid[:, None], pts, dirs)
    front = cam[:, 2] > MIN_DEPTH_M
    if front.any():
        out[front] = camera.project(cam[front])[0]
    return out


# ---- platform pose over time ----------------------------------------------------------------------------
class PoseBuffer:
    """``fixed_from_base`` over time: interpolated lookups, bounded memory, clear refusals.

    ``add`` keeps poses sorted by stamp (an out-of-order pose is inserted where it belongs; an equal stamp
    replaces); at most ``max_poses`` are kept (oldest dropped). ``lookup(t)`` interpolates between the
    poses around ``t`` (linear translation, slerp rotation); it raises :class:`PoseLookupError` when ``t``
    is before the first pose or after the last by more than ``max_extrapolation_s`` (then the nearest
    pose is held), or when the two poses around it are more than ``max_gap_s`` apart.

    A pose stamped more than ``reset_backward_s`` before the newest is a clock reset of the pose stream (a
    bag restarted or looped): the buffer starts again from it (``resets`` counts them). Kept, the old run's
    later poses would cover every stamp of the new run, so no one waited for a pose that had not arrived,
    and a lookup between a new pose and an old one failed or mixed two runs' poses.
    """

    def __init__(self, max_poses: int = 2000, max_extrapolation_s: float = 0.1, max_gap_s: float = 1.0,
                 frame: str = "", reset_backward_s: float = CLOCK_RESET_BACKWARD_S) -> None:
        if max_poses < 2 or not max_extrapolation_s >= 0 or not max_gap_s > 0 or not reset_backward_s > 0:
            raise GeometryError(f"PoseBuffer(max_poses={max_poses}, max_extrapolation_s="
                                f"{max_extrapolation_s}, max_gap_s={max_gap_s}, reset_backward_s="
                                f"{reset_backward_s}): expected >= 2, >= 0, > 0, > 0")
        self.reset_backward_s = float(reset_backward_s)
        self.resets = 0
        self.max_poses = int(max_poses)
        self.max_extrapolation_s = float(max_extrapolation_s)
        self.max_gap_s = float(max_gap_s)
        self.frame = frame
        self._stamps: list[float] = []
        self._poses: list[RigidTransform] = []

    def __len__(self) -> int:
        return len(self._stamps)

    @property
    def span(self) -> tuple[float, float] | None:
        return (self._stamps[0], self._stamps[-1]) if self._stamps else None

    def add(self, stamp_s: float, pose: RigidTransform) -> None:
        if not math.isfinite(stamp_s):
            raise GeometryError(f"pose stamp {stamp_s!r}: expected finite seconds")
        if self._stamps and clock_reset(stamp_s, self._stamps[-1], self.reset_backward_s):
            self.clear()
            self.resets += 1
        i = bisect.bisect_left(self._stamps, stamp_s)
        if i < len(self._stamps) and self._stamps[i] == stamp_s:
            self._poses[i] = pose
            return
        self._stamps.insert(i, float(stamp_s))
        self._poses.insert(i, pose)
        if len(self._stamps) > self.max_poses:
            del self._stamps[0]
            del self._poses[0]

    def clear(self) -> None:
        self._stamps.clear()
        self._poses.clear()

    def lookup(self, stamp_s: float) -> RigidTransform:
        """The pose at ``stamp_s`` (see the class docstring for when it refuses)."""
        what = f"platform pose{' in ' + repr(self.frame) if self.frame else ''} at t = {stamp_s:.3f} s"
        if not self._stamps:
            raise PoseLookupError(f"{what}: no pose received yet (is the pose topic published?)")
        first, last = self._stamps[0], self._stamps[-1]
        if stamp_s < first - self.max_extrapolation_s or stamp_s > last + self.max_extrapolation_s:
            raise PoseLookupError(f"{what}: outside the buffered poses [{first:.3f}, {last:.3f}] s "
                                  f"(+-{self.max_extrapolation_s} s allowed)")
        if stamp_s <= first:
            return self._poses[0]
        if stamp_s >= last:
            return self._poses[-1]
        i = bisect.bisect_right(self._stamps, stamp_s)
        t0, t1 = self._stamps[i - 1], self._stamps[i]
        if t1 - t0 > self.max_gap_s:
            raise PoseLookupError(f"{what}: the poses around it are {t1 - t0:.3f} s apart "
                                  f"(more than max_gap_s = {self.max_gap_s})")
        return self._poses[i - 1].interpolate(self._poses[i], (stamp_s - t0) / (t1 - t0))
