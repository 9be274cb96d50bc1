"""Write a labelled rosbag2 bag of the simulated world with the ``rosbags`` library.

Topics: /camera/image_raw (sensor_msgs/Image bgr8; mono8 for condition ``nt``, an IR camera at night,
see ``sim.lighting``), /camera/camera_info, /lidar/points
(sensor_msgs/PointCloud2: x, y, z, intensity float32, ring uint16, time float32), /tf_static
(map -> lidar, map -> camera_optical_frame) and /ground_truth (std_msgs/String, JSON schema
``tcfd_ros/ground_truth`` v1, docs/ground_truth.md). Both sensors are posed in one world with one
clock; the same walking bodies drive both.
"""

from __future__ import annotations

import json
import logging
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tcfd_ros.errors import ConfigError
from tcfd_ros.image_conversions import pack_image
from tcfd_ros.point_cloud2 import pack_cloud
from tcfd_ros.sim.frames_ahead import FramesAhead
from tcfd_ros.sim.person import CONDITIONS, sample_identity, sample_variation
from tcfd_ros.sim.lighting import Lighting, lighting_at
from tcfd_ros.sim.output import commit_output, prepare_output
from tcfd_ros.sim.scan import CameraRenderer, LidarScanner
from tcfd_ros.sim.sensors import camera_model, camera_pose, lidar_model, lidar_pose
from tcfd_ros.sim.walker import Polyline, Walker, yaw_matrix
from tcfd_ros.sim.world import LAYOUTS, person_path, sensor_layout, static_world

log = logging.getLogger(__name__)

GT_SCHEMA = "tcfd_ros/ground_truth"
GT_VERSION = 1
WORLD_FRAME = "map"
LIDAR_FRAME = "lidar"
CAMERA_FRAME = "camera_optical_frame"
TOPICS = {"image": "/camera/image_raw", "info": "/camera/camera_info", "points": "/lidar/points",
          "tf": "/tf_static", "gt": "/ground_truth", "tf_dyn": "/tf"}
STORAGES = ("sqlite3", "mcap")
MOUNTS = ("pole", "robot")
BASE_FRAME = "base_link"
#: Robot mount: sensor extrinsics on the base (x forward, z up) and patrol speed.
ROBOT_LIDAR_ON_BASE = (0.0, 0.0, 1.0)
ROBOT_CAMERA_ON_BASE = (0.25, 0.0, 0.9)
ROBOT_CAMERA_TILT_DEG = 6.0
ROBOT_SPEED_MPS = 0.6
#: Bag clock origin (2025-06-15T...Z); all stamps are this plus simulated time.
EPOCH_S = 1_750_000_000
#: Std of the stamp jitter of each sensor (s) and of the camera's per-frame exposure delay.
LIDAR_JITTER_S = 0.0005
CAMERA_JITTER_S = 0.0015
#: Ground-truth "should be detected" thresholds (docs/ground_truth.md).
DETECT_MIN_MASK_PIXELS = 400
DETECT_MAX_OCCLUDED = 0.5
DETECT_MIN_LIDAR_POINTS = 20
#: People start walking staggered by up to this many seconds.
MAX_START_DELAY_S = 8.0
#: Robot mount: threads that cast the static world from the next poses while the current frame is
#: rendered (numpy releases the GIL in its kernels, so a second core overlaps them; results are the
#: same, as each cast reads only fixed state).
PREFETCH_THREADS = 1


@dataclass(frozen=True)
class BagSpec:
    """What bag to write (see ``tcfd-ros simulate bag --help``)."""

    out: Path
    storage: str = "sqlite3"
    people: int = 5
    duration_s: float = 60.0
    seed: int = 0
    lidar: str = "hdl64"
    conditions: tuple[str, ...] = ("nm",)
    layout: str = "disjoint"
    camera_hz: float = 15.0
    camera_width: int = 640
    camera_height: int = 480
    camera_hfov_deg: float = 70.0
    first_id: int = 0
    mount: str = "pole"        # "pole": fixed sensors; "robot": both ride a robot patrolling zone A
    force: bool = False
    #: processes casting camera frames ahead of the writer, beside one each for the camera's noise and
    #: the LiDAR (1: everything in one process); the bag is the same byte for byte for any number
    #: (sim/frames_ahead.py)
    workers: int = 2

    def validate(self) -> None:
        if self.storage not in STORAGES:
            raise ConfigError(f"storage {self.storage!r} is not one of {list(STORAGES)}")
        if self.people < 1:
            raise ConfigError(f"people must be >= 1, got {self.people}")
        if not self.duration_s > 0:
            raise ConfigError(f"duration must be > 0 s, got {self.duration_s}")
        lidar_model(self.lidar)
        if not self.conditions:
            raise ConfigError("conditions must not be empty")
        for c in self.conditions:
            if c not in CONDITIONS:
                raise ConfigError(f"condition {c!r} is not one of {list(CONDITIONS)}")
        if self.layout not in LAYOUTS:
            raise ConfigError(f"layout {self.layout!r} is not one of {list(LAYOUTS)}")
        if not 1.0 <= self.camera_hz <= 60.0:
            raise ConfigError(f"camera_hz must be in 1..60, got {self.camera_hz}")
        if self.mount not in MOUNTS:
            raise ConfigError(f"mount {self.mount!r} is not one of {list(MOUNTS)}")
        if self.mount == "robot" and self.layout != "overlap":
            raise ConfigError("mount 'robot' carries both sensors, so it needs --layout overlap "
                              f"(got {self.layout!r})")
        if self.first_id < 0:
            raise ConfigError(f"first_id must be >= 0, got {self.first_id}")
        if self.workers < 1:
            raise ConfigError(f"workers must be >= 1, got {self.workers}")


def _latched_qos():
    """The QoS tf2's static broadcaster offers (reliable, transient local, depth 1), so that
    ``ros2 bag play`` republishes /tf_static to late-joining listeners."""
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    zero = QosTime(0, 0)
    return Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL, zero, zero,
               QosLiveliness.AUTOMATIC, zero, False)


def _stamp(t_s: float) -> tuple[int, int]:
    ns = int(round(t_s * 1e9))
    return ns // 1_000_000_000, ns % 1_000_000_000


def _quaternion(R: np.ndarray) -> tuple[float, float, float, float]:
    from scipy.spatial.transform import Rotation

    x, y, z, w = Rotation.from_matrix(R).as_quat()
    return float(x), float(y), float(z), float(w)


def _r(v, nd: int = 4):
    return [round(float(x), nd) for x in v]


class _Messages:
    """Builds rosbags typestore messages (no rclpy needed to write)."""

    def __init__(self, typestore):
        self.ts = typestore
        T = typestore.types
        self.Header = T["std_msgs/msg/Header"]
        self.Time = T["builtin_interfaces/msg/Time"]
        self.Image = T["sensor_msgs/msg/Image"]
        self.CameraInfo = T["sensor_msgs/msg/CameraInfo"]
        self.RegionOfInterest = T["sensor_msgs/msg/RegionOfInterest"]
        self.PointCloud2 = T["sensor_msgs/msg/PointCloud2"]
        self.PointField = T["sensor_msgs/msg/PointField"]
        self.String = T["std_msgs/msg/String"]
        self.TFMessage = T["tf2_msgs/msg/TFMessage"]
        self.TransformStamped = T["geometry_msgs/msg/TransformStamped"]
        self.Transform = T["geometry_msgs/msg/Transform"]
        self.Vector3 = T["geometry_msgs/msg/Vector3"]
        self.Quaternion = T["geometry_msgs/msg/Quaternion"]

    def header(self, t_s: float, frame_id: str):
        sec, ns = _stamp(t_s)
        return self.Header(stamp=self.Time(sec=sec, nanosec=ns), frame_id=frame_id)

    def image(self, t_s: float, img: np.ndarray):
        p = pack_image(img, "mono8" if img.ndim == 2 else "bgr8")
        return self.Image(header=self.header(t_s, CAMERA_FRAME), height=p.height, width=p.width,
                          encoding=p.encoding, is_bigendian=int(p.is_bigendian), step=p.step, data=p.data)

    def camera_info(self, t_s: float, cam):
        K = cam.K
        P = np.zeros((3, 4))
        P[:, :3] = K
        return self.CameraInfo(
            header=self.header(t_s, CAMERA_FRAME), height=cam.height, width=cam.width,
            distortion_model="plumb_bob", d=np.zeros(5), k=K.reshape(-1), r=np.eye(3).reshape(-1),
            p=P.reshape(-1), binning_x=0, binning_y=0,
            roi=self.RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))

    def cloud(self, t_s: float, points: np.ndarray):
        p = pack_cloud(points, is_dense=True)
        fields = [self.PointField(name=f.name, offset=f.offset, datatype=f.datatype, count=f.count)
                  for f in p.fields]
        return self.PointCloud2(header=self.header(t_s, LIDAR_FRAME), height=p.height, width=p.width,
                                fields=fields, is_bigendian=p.is_bigendian, point_step=p.point_step,
                                row_step=p.row_step, data=p.data, is_dense=p.is_dense)

    def tf_static(self, t_s: float, frames: list[tuple[str, np.ndarray, np.ndarray]], parent: str):
        """A TFMessage of ``parent -> child`` transforms (used for /tf_static and, on robots, /tf)."""
        transforms = []
        for child, R, t in frames:
            qx, qy, qz, qw = _quaternion(R)
            transforms.append(self.TransformStamped(
                header=self.header(t_s, parent), child_frame_id=child,
                transform=self.Transform(translation=self.Vector3(x=float(t[0]), y=float(t[1]),
                                                                  z=float(t[2])),
                                         rotation=self.Quaternion(x=qx, y=qy, z=qz, w=qw))))
        return self.TFMessage(transforms=transforms)

    def string(self, text: str):
        return self.String(data=text)


def _box(walker: Walker, i: int, R_s: np.ndarray, t_s: np.ndarray, sensor: str) -> tuple[dict, dict]:
    """GT boxes of walker ``i`` in the sensor frame and the world frame."""
    lo, hi = walker.posed.frame(i).aabb()                   # body frame, x along heading
    centre_b = 0.5 * (lo + hi)
    size = _r(hi - lo, 3)
    h = float(walker.heading[i])
    c, s = np.cos(h), np.sin(h)
    Rh = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    centre_w = Rh @ centre_b + walker.position[i]
    hv = R_s.T @ np.array([c, s, 0.0])
    yaw_s = np.arctan2(hv[1], hv[0]) if sensor == "lidar" else np.arctan2(hv[0], hv[2])
    return ({"center": _r(R_s.T @ (centre_w - t_s)), "size": size, "yaw_rad": round(float(yaw_s), 4)},
            {"center": _r(centre_w), "size": size, "yaw_rad": round(h, 4)})


class BagSimulation:
    """The world of one bag: sensors, static scene and walkers, sampled at both sensors' stamps."""

    def __init__(self, spec: BagSpec):
        spec.validate()
        self.spec = spec
        rng = np.random.default_rng([spec.seed, 10])
        self.layout = sensor_layout(spec.layout)
        lay = self.layout
        self.world = static_world(lay, "oc" in spec.conditions, rng)
        self.lidar_model = lidar_model(spec.lidar)
        self.cam_model = camera_model(spec.camera_width, spec.camera_height, spec.camera_hfov_deg,
                                      spec.camera_hz, noise_sigma=2.0)
        self.mount = spec.mount
        if spec.mount == "robot":  # extrinsics relative to base_link; the base moves in the world
            self.R_l, self.t_l = lidar_pose(ROBOT_LIDAR_ON_BASE, 0.0)
            self.R_c, self.t_c = camera_pose(ROBOT_CAMERA_ON_BASE, 0.0, np.deg2rad(ROBOT_CAMERA_TILT_DEG))
            ax, ay = lay.zone_a
            loop = np.array([[ax - 7, ay - 4], [ax - 7, ay + 4], [ax + 1, ay + 4], [ax + 1, ay - 4],
                             [ax - 7, ay - 4]])
            self.robot_path = Polyline(loop)
        else:
            self.R_l, self.t_l = lidar_pose(lay.lidar_position, lay.lidar_yaw_rad)
            self.R_c, self.t_c = camera_pose(lay.camera_position, lay.camera_yaw_rad, lay.camera_tilt_rad)
        n_l = int(np.floor(spec.duration_s * self.lidar_model.rate_hz))
        n_c = int(np.floor(spec.duration_s * spec.camera_hz))
        self.lidar_t = np.arange(n_l) / self.lidar_model.rate_hz + rng.normal(0, LIDAR_JITTER_S, n_l)
        cam_offset = rng.uniform(0.0, 1.0 / spec.camera_hz)
        self.cam_t = cam_offset + np.arange(n_c) / spec.camera_hz + np.abs(rng.normal(0, CAMERA_JITTER_S,
                                                                                      n_c))
        self.lidar_t = np.clip(self.lidar_t, 0.0, None)
        times = np.concatenate([self.lidar_t, self.cam_t])
        self.walkers: list[Walker] = []
        self.conditions: dict[int, str] = {}
        for k in range(spec.people):
            pid = spec.first_id + k
            cond = spec.conditions[k % len(spec.conditions)]
            ident = sample_identity(pid, spec.seed)
            var = sample_variation(ident, cond, spec.seed, 100_000 + k)
            prng = np.random.default_rng([spec.seed, 11, k])
            path = Polyline(person_path(lay, prng))
            start = float(prng.uniform(0.0, min(MAX_START_DELAY_S, 0.25 * spec.duration_s)))
            self.walkers.append(Walker(pid, ident, var, times, path, start_time_s=start))
            self.conditions[pid] = cond
        self.scanner = LidarScanner(self.lidar_model, *self.lidar_world_pose(0.0), self.world)
        self.camera = CameraRenderer(self.cam_model, *self.camera_world_pose(0.0), self.world)
        self.rng_lidar = np.random.default_rng([spec.seed, 12])
        self.rng_cam = np.random.default_rng([spec.seed, 13])
        self._pool: ThreadPoolExecutor | None = None
        self._views: dict[tuple[str, int], Future] = {}
        if spec.mount == "robot":
            self._pool = ThreadPoolExecutor(PREFETCH_THREADS, thread_name_prefix="static-cast")

    def close(self) -> None:
        """Stop the prefetch threads (robot mount); the simulation stays usable without them."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._views.clear()

    def _move(self, sensor: str, i: int) -> None:
        """Pose sensor ``sensor`` for its frame ``i`` and start casting its frame ``i + 1`` (robot mount)."""
        dev, stamps, pose = ((self.scanner, self.lidar_t, self.lidar_world_pose) if sensor == "lidar"
                             else (self.camera, self.cam_t, self.camera_world_pose))
        fut = self._views.pop((sensor, i), None)
        view = fut.result() if fut is not None else dev.static_view(*pose(float(stamps[i])))
        dev.use_view(view)
        if self._pool is not None and i + 1 < len(stamps) and (sensor, i + 1) not in self._views:
            self._views[(sensor, i + 1)] = self._pool.submit(dev.static_view, *pose(float(stamps[i + 1])))

    def base_pose(self, t_rel: float) -> tuple[np.ndarray, np.ndarray]:
        """World-from-base_link at simulated time ``t_rel`` (identity for pole mounts)."""
        if self.mount != "robot":
            return np.eye(3), np.zeros(3)
        s = (ROBOT_SPEED_MPS * t_rel) % self.robot_path.length
        pos, heading = self.robot_path.at(np.array([s]))
        return yaw_matrix(float(heading[0])), np.array([pos[0, 0], pos[0, 1], 0.0])

    def lidar_world_pose(self, t_rel: float) -> tuple[np.ndarray, np.ndarray]:
        Rb, tb = self.base_pose(t_rel)
        return Rb @ self.R_l, Rb @ self.t_l + tb

    def camera_world_pose(self, t_rel: float) -> tuple[np.ndarray, np.ndarray]:
        Rb, tb = self.base_pose(t_rel)
        return Rb @ self.R_c, Rb @ self.t_c + tb

    def _actors(self, i: int):
        return [w.actor(i) for w in self.walkers if w.active[i]]

    def lidar_frame(self, j: int) -> tuple[np.ndarray, dict]:
        if self.mount == "robot":
            self._move("lidar", j)
        pts, label = self.scanner.scan(self._actors(j), self.rng_lidar)
        counts = {w.person_id: int((label == w.person_id).sum()) for w in self.walkers}
        people = []
        for w in self.walkers:
            if not w.active[j]:
                continue
            full, visible = self.scanner.last_stats.get(w.person_id, (0, 0))
            if full == 0 and counts[w.person_id] == 0:
                continue
            b_s, b_w = _box(w, j, self.scanner.R, self.scanner.t, "lidar")
            occl = 0.0 if full == 0 else round(1.0 - visible / full, 4)
            people.append(self._person(w, j, b_s, b_w, in_fov=full > 0, lidar_points=counts[w.person_id],
                                       occluded=occl,
                                       detectable=counts[w.person_id] >= DETECT_MIN_LIDAR_POINTS))
        return pts, {"people": people}

    def camera_frame(self, k: int) -> tuple[np.ndarray, dict]:
        """Camera frame ``k``: its image and ground truth. Frames must be taken in order (one noise
        stream); ``camera_scene`` and ``camera_noise`` split the same work for frames made elsewhere."""
        scene, lighting, gt = self.camera_scene(k)
        return self.camera.expose(scene, lighting, self.camera_noise(k)), gt

    def camera_lighting(self, k: int) -> Lighting:
        return lighting_at(self.spec.conditions, float(self.cam_t[k]), self.spec.duration_s)

    def camera_noise(self, k: int) -> np.ndarray | None:
        """Camera frame ``k``'s sensor noise: the next draws of the camera's stream, so frames are taken
        in order (``CameraRenderer.draw_noise``)."""
        return self.camera.draw_noise(self.camera_lighting(k), self.rng_cam)

    def camera_scene(self, k: int) -> tuple[np.ndarray, Lighting, dict]:
        """Camera frame ``k`` before its noise: the scene's light, the lighting and the ground truth. Uses
        no random stream, so any process holding an equal simulation renders the same frame."""
        i = len(self.lidar_t) + k
        if self.mount == "robot":
            self._move("camera", k)
        lighting = self.camera_lighting(k)
        frame = self.camera.render_scene(self._actors(i), lighting=lighting)
        people = []
        for w in self.walkers:
            if not w.active[i]:
                continue
            full = frame.full_pixels.get(w.person_id, 0)
            mask = frame.labels == w.person_id
            n = int(mask.sum()) if full else 0
            if full == 0:
                continue
            b_s, b_w = _box(w, i, self.camera.R, self.camera.t, "camera")
            centre = np.array(b_s["center"])
            uv, front = self.cam_model.project(centre[None])
            u, v = uv[0]
            in_fov = bool(front[0] and 0 <= u < self.cam_model.width and 0 <= v < self.cam_model.height)
            img_box = None
            if n:
                ys, xs = np.nonzero(mask)
                img_box = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
            occl = round(1.0 - n / full, 4)
            people.append(self._person(w, i, b_s, b_w, in_fov=in_fov, image_box=img_box, mask_pixels=n,
                                       truncated=frame.truncated.get(w.person_id, False), occluded=occl,
                                       detectable=(n >= DETECT_MIN_MASK_PIXELS
                                                   and occl <= DETECT_MAX_OCCLUDED)))
        return frame.scene, lighting, {"people": people}

    def _person(self, w: Walker, i: int, b_s: dict, b_w: dict, *, in_fov: bool, occluded: float,
                detectable: bool, lidar_points: int | None = None, image_box=None,
                mask_pixels: int | None = None,
                truncated: bool | None = None) -> dict:
        v = w.velocity[i]
        return {"id": w.person_id, "condition": self.conditions[w.person_id],
                "position_world": _r(w.position[i]), "velocity_world": _r(v, 3),
                "heading_rad": round(float(w.heading[i]), 4), "box3d": b_s, "box3d_world": b_w,
                "in_fov": bool(in_fov), "lidar_points": lidar_points, "image_box": image_box,
                "mask_pixels": mask_pixels, "truncated": truncated, "occluded_fraction": float(occluded),
                "detectable": bool(detectable)}


def ground_truth_json(sensor: str, topic: str, frame_id: str, t_s: float, seq: int, seed: int, layout: str,
                      people: list[dict], mount: str = "pole") -> str:
    """One /ground_truth message body (docs/ground_truth.md)."""
    sec, ns = _stamp(t_s)
    msg = {"schema": GT_SCHEMA, "version": GT_VERSION, "sensor": sensor, "topic": topic, "frame_id": frame_id,
           "stamp": {"sec": sec, "nanosec": ns}, "stamp_s": sec + ns * 1e-9, "seq": seq,
           "scene": {"seed": seed, "layout": layout, "world_frame": WORLD_FRAME, "mount": mount},
           "people": sorted(people, key=lambda p: p["id"])}
    return json.dumps(msg, separators=(",", ":"))


def write_bag(spec: BagSpec, progress: bool = False) -> dict[str, object]:
    """Simulate and write the bag to ``spec.out`` (a rosbag2 folder), all or nothing; returns a summary."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    spec.validate()
    out = Path(spec.out)
    tmpdir = prepare_output(out, spec.force)
    bag_dir = tmpdir / out.name
    sim: BagSimulation | None = None
    ahead: FramesAhead | None = None
    try:
        sim = BagSimulation(spec)
        ahead = FramesAhead(sim, spec.workers)
        ts = get_typestore(Stores.ROS2_KILTED)
        mk = _Messages(ts)
        storage = StoragePlugin.MCAP if spec.storage == "mcap" else StoragePlugin.SQLITE3
        counts = {k: 0 for k in TOPICS}
        with Writer(bag_dir, version=9, storage_plugin=storage) as writer:
            conns = {
                "image": writer.add_connection(TOPICS["image"], "sensor_msgs/msg/Image", typestore=ts),
                "info": writer.add_connection(TOPICS["info"], "sensor_msgs/msg/CameraInfo", typestore=ts),
                "points": writer.add_connection(TOPICS["points"], "sensor_msgs/msg/PointCloud2",
                                                typestore=ts),
                "tf": writer.add_connection(TOPICS["tf"], "tf2_msgs/msg/TFMessage", typestore=ts,
                                            offered_qos_profiles=[_latched_qos()]),
                "gt": writer.add_connection(TOPICS["gt"], "std_msgs/msg/String", typestore=ts),
            }
            if spec.mount == "robot":
                conns["tf_dyn"] = writer.add_connection(TOPICS["tf_dyn"], "tf2_msgs/msg/TFMessage",
                                                        typestore=ts)

            def put(key: str, t_s: float, msg, msgtype: str) -> None:
                sec, ns = _stamp(t_s)
                writer.write(conns[key], sec * 1_000_000_000 + ns, ts.serialize_cdr(msg, msgtype))
                counts[key] += 1

            t0 = float(EPOCH_S)
            parent = BASE_FRAME if spec.mount == "robot" else WORLD_FRAME
            sensors = [(LIDAR_FRAME, sim.R_l, sim.t_l), (CAMERA_FRAME, sim.R_c, sim.t_c)]
            put("tf", t0, mk.tf_static(t0, sensors, parent), "tf2_msgs/msg/TFMessage")
            events = sorted([(float(t), 0, j) for j, t in enumerate(sim.lidar_t)]
                            + [(float(t), 1, k) for k, t in enumerate(sim.cam_t)])
            it = events
            if progress:
                from tcfd_ros.progress import progress

                it = progress(events, desc="simulate bag", unit="frame")
            for t_rel, kind, idx in it:
                t_abs = t0 + t_rel
                if spec.mount == "robot":  # map -> base_link at every sensor stamp
                    Rb, tb = sim.base_pose(t_rel)
                    put("tf_dyn", t_abs, mk.tf_static(t_abs, [(BASE_FRAME, Rb, tb)], WORLD_FRAME),
                        "tf2_msgs/msg/TFMessage")
                if kind == 0:
                    pts, gt = ahead.lidar_frame(idx)
                    put("points", t_abs, mk.cloud(t_abs, pts), "sensor_msgs/msg/PointCloud2")
                    text = ground_truth_json("lidar", TOPICS["points"], LIDAR_FRAME, t_abs, idx, spec.seed,
                                             spec.layout, gt["people"], spec.mount)
                else:
                    scene, lighting, gt = ahead.camera_scene(idx)
                    img = sim.camera.expose(scene, lighting, ahead.camera_noise(idx))
                    put("image", t_abs, mk.image(t_abs, img), "sensor_msgs/msg/Image")
                    put("info", t_abs, mk.camera_info(t_abs, sim.cam_model), "sensor_msgs/msg/CameraInfo")
                    text = ground_truth_json("camera", TOPICS["image"], CAMERA_FRAME, t_abs, idx, spec.seed,
                                             spec.layout, gt["people"], spec.mount)
                put("gt", t_abs, mk.string(text), "std_msgs/msg/String")
        commit_output(bag_dir, out)
    finally:
        if ahead is not None:
            ahead.close()
        if sim is not None:
            sim.close()
        shutil.rmtree(tmpdir, ignore_errors=True)
    summary = {"out": str(out), "storage": spec.storage,
               "messages": {TOPICS[k]: v for k, v in counts.items() if v},
               "people": spec.people, "duration_s": spec.duration_s, "layout": spec.layout,
               "lidar": spec.lidar}
    log.info("wrote bag %s", summary)
    return summary
