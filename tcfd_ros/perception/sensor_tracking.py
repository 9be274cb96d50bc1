"""One sensor's tracking step without ROS: measurements -> Kalman tracks -> track states, tracklets, ground.

The tracker node is a thin shell around :class:`SensorTracking`: it decodes the segmenter's message,
calls :func:`camera_measurements` / :func:`lidar_measurements` and :meth:`SensorTracking.step`, and
publishes what comes back.

Frames: a camera tracks box centres in pixels. A LiDAR tracks cluster centroids on the ground plane;
with a calibrated sensor and ``calibration.lidar_track_in_fixed_frame`` the Kalman filter runs in the
fixed frame, so a moving platform's own motion (its turns sweep every person sideways in the sensor
frame) is not mistaken for the people's; the published ``position`` and ``box`` are then moved back
into the sensor frame at the frame's stamp, so they keep their v1 meaning. Every track and tracklet
also gets its fixed-frame ``ground`` position (``tcfd_ros.perception.ground``), and every measured
track state the person's stature (``tcfd_ros.perception.stature``: the box top above the ground point,
the cluster top above the ground). A camera on a moving
platform (``calibration.camera_ego_motion``) stays in pixels, but before each update every track is
moved by the image motion of its foot point between the camera's previous and current pose, so the
image-plane filter models the people's motion, not the robot's turns; a coasting camera track's
``ground_sigma_m`` comes from its filter's spread (:func:`pixel_sigma`). A track that has coasted more
than ``tracker.publish_coasting_frames`` consecutive frames is left out of the published states (the
camera: 0, only measured tracks; the LiDAR: -1, every live track); it lives on in the tracker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from tcfd_ros.geometry.align import align_silhouette
from tcfd_ros.geometry.calibration import CameraIntrinsics, RigidTransform, reproject_ground_pixels
from tcfd_ros.geometry.range_view import points_to_depth_map
from tcfd_ros.perception.appearance import describe
from tcfd_ros.perception.body_cue import describe_cluster
from tcfd_ros.track_messages import TrackState
from tcfd_ros.perception.ground import (
    GroundPositions,
    NoTransform,
    SensorPlacement,
    camera_ground,
    lidar_ground,
)
from tcfd_ros.perception.stature import camera_stature, lidar_stature
from tcfd_ros.perception.track import Measurement, MultiTargetTracker, Track
from tcfd_ros.perception.tracklet import Tracklet, TrackletBuffer

SILHOUETTE_SIZE = 64
#: Camera poses closer than this (rotation entries, metres) are the same pose: nothing moved.
EGO_MOTION_EPS = 1e-9


def label_boxes(labels: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    """(k, y0, y1, x0, x1) of each instance label k >= 1 present in ``labels`` (2-D), in increasing k: the
    half-open bounding box of its pixels. What ``scipy.ndimage.find_objects`` gives, without the ~0.2-0.9 s
    its import adds to the tracker's start, for a handful of labels per frame."""
    wx, wy, ww, wh = cv2.boundingRect((labels > 0).view(np.uint8))   # the labelled pixels' box
    if not ww:
        return []
    window = labels[wy:wy + wh, wx:wx + ww]
    counts = np.bincount(window.ravel().astype(np.int64).clip(0))
    counts[0] = 0
    out = []
    for k in np.flatnonzero(counts):
        x, y, w, h = cv2.boundingRect((window == k).view(np.uint8))
        out.append((int(k), wy + y, wy + y + h, wx + x, wx + x + w))
    return out


def camera_measurements(labels: np.ndarray, image: np.ndarray | None = None) -> list[Measurement]:
    """One Measurement per instance label k >= 1: box centre (px), box size, aligned silhouette payload.

    With the frame's ``image`` (bgr8, the labels' size) each measurement also carries its clothing colour
    (``perception.appearance``; None on a monochrome image)."""
    if image is not None and image.shape[:2] != labels.shape[:2]:
        image = None
    out: list[Measurement] = []
    for k, y0, y1, x0, x1 in label_boxes(labels):
        crop = (labels[y0:y1, x0:x1] == k).astype(np.uint8) * 255
        app = describe(image, crop > 0, (x0, y0, x1, y1)) if image is not None else None
        out.append(Measurement(position=((x0 + x1) / 2.0, (y0 + y1) / 2.0), size=(x1 - x0, y1 - y0),
                               payload=(align_silhouette(crop, SILHOUETTE_SIZE), (x0, y0, x1, y1), k),
                               appearance=app))
    return out


def lidar_measurements(points: np.ndarray, min_frame_points: int = 0) -> list[Measurement]:
    """One Measurement per cluster number: ground-plane centroid (m, sensor frame), footprint, depth map.

    Payload: (depth map, (xmin, ymin, zmin, xmax, ymax, zmax), cluster number, centroid (3,)). Each
    measurement also carries the cluster's body cue (``perception.body_cue``: height, intensities).
    A cluster of fewer than ``min_frame_points`` points is still tracked, but its depth map is None:
    it gives no tracklet frame (``TrackletConfig.min_lidar_points``).
    """
    out: list[Measurement] = []
    cluster = points["cluster"]
    has_intensity = "intensity" in (points.dtype.names or ())
    for k in np.unique(cluster):
        sel = points[cluster == k]
        xyz = np.stack([sel["x"], sel["y"], sel["z"]], axis=1).astype(np.float64)
        finite = np.isfinite(xyz).all(axis=1)
        xyz = xyz[finite]
        if len(xyz) == 0:
            continue
        lo, hi = xyz.min(axis=0), xyz.max(axis=0)
        centroid = xyz.mean(axis=0)
        out.append(Measurement(position=(centroid[0], centroid[1]), size=(hi[0] - lo[0], hi[1] - lo[1]),
                               payload=(points_to_depth_map(xyz, size=SILHOUETTE_SIZE)
                                        if len(xyz) >= min_frame_points else None,
                                        (*lo, *hi), int(k), centroid),
                               body=describe_cluster(xyz, sel["intensity"][finite] if has_intensity
                                                     else None)))
    return out


def pixel_sigma(track: Track, measured_px: float) -> float:
    """1-sigma of a camera track's foot point, pixels: ``measured_px`` while it is measured; a coasting
    track's filtered position spread (the larger axis of its covariance) when that is larger, so a
    prediction that drifts on does not pose as a measured position in the fusion."""
    if track.measurement_index >= 0:
        return measured_px
    return max(measured_px, math.sqrt(max(float(np.linalg.eigvalsh(track.P[:2, :2])[-1]), 0.0)))


def to_fixed(measurements: list[Measurement], fixed_from_sensor: RigidTransform) -> list[Measurement]:
    """LiDAR measurements with their position in the fixed frame's ground plane (payload unchanged)."""
    out = []
    for m in measurements:
        p = fixed_from_sensor.apply(np.asarray(m.payload[3], dtype=np.float64))
        out.append(replace(m, position=(p[0], p[1])))
    return out


@dataclass(frozen=True)
class ReadyTracklet:
    """A tracklet due for publishing, with its newest frame's sensor-frame position and ground."""

    tracklet: Tracklet
    position: tuple[float, ...]
    ground: tuple[float, float, float] | None
    ground_sigma_m: float | None


@dataclass(frozen=True)
class StepResult:
    states: list[TrackState]
    ready: list[ReadyTracklet]
    fixed_frame: str              # frame of every ``ground`` ("" when the sensor cannot be placed)
    placement_error: str = ""     # why there are no ground positions this frame ("" when there are)


class SensorTracking:
    """Tracker, tracklet buffers and fixed-frame placement of one sensor (see the module docstring)."""

    def __init__(self, modality: str, tracker: MultiTargetTracker, buffer: TrackletBuffer,
                 placement: SensorPlacement) -> None:
        self.modality = modality
        self.tracker = tracker
        self.buffer = buffer
        self.placement = placement
        self.extents: dict[int, tuple[float, ...]] = {}
        self.in_fixed_frame = (modality == "3d" and placement.enabled
                               and placement.cfg.lidar_track_in_fixed_frame)
        self._camera_pose: RigidTransform | None = None   # the camera's pose at the previous frame
        self._coasting: dict[int, int] = {}   # track id -> consecutive frames without a measurement
        self.sparse_frames = 0   # detections of tracks that gave no tracklet frame (too few LiDAR points)

    def step(self, t: float, frame_id: str, measurements: list[Measurement],
             camera: CameraIntrinsics | None = None) -> StepResult:
        """Advance to stamp ``t`` with this frame's measurements.

        Raises :class:`NoTransform` (nothing changed) when the LiDAR tracks in the fixed frame and the
        sensor cannot be placed at ``t``: the caller drops the frame.
        """
        T: RigidTransform | None = None
        error = ""
        if self.placement.enabled:
            try:
                T = self.placement.fixed_from_sensor(frame_id, t)
            except NoTransform as e:
                if self.in_fixed_frame:
                    raise
                error = str(e)
        else:
            error = "not calibrated"
        if self.modality == "2d" and T is not None and camera is None:
            error, T = "no camera_info received yet", None
        tracked = to_fixed(measurements, T) if self.in_fixed_frame and T is not None else measurements
        if self.modality == "2d":
            self._follow_camera(T, camera)
        tracks = self.tracker.update(t, tracked)
        states: list[TrackState] = []
        pending: list[tuple[Track, Tracklet]] = []
        for tr in tracks:
            payload = measurements[tr.measurement_index].payload if tr.measurement_index >= 0 else None
            if payload is not None:
                self.extents[tr.track_id] = payload[1]
            states.append(self._state(tr, -1 if payload is None else payload[2], T))
            if payload is None:
                continue
            if payload[0] is None:   # too few LiDAR points for a frame (lidar_measurements)
                self.sparse_frames += 1
                continue
            if tr.part:              # half a walker is no gait frame: the track lives on, its sequence waits
                continue
            position = (tuple(float(v) for v in payload[3]) if self.modality == "3d"
                        else (float(tr.position[0]), float(tr.position[1])))
            ready = self.buffer.push(tr.track_id, t, payload[0], np.asarray(position))
            if ready is not None:
                pending.append((tr, ready))
        ground = self._ground(states, T, camera, tracks)
        stature = self._stature(states, ground, T, camera, [tr.size_kept for tr in tracks])
        states = [TrackState(s.track_id, s.position, s.box, s.detection, *ground.get(i),
                             None if math.isnan(stature[i]) else float(stature[i]))
                  for i, s in enumerate(states)]
        published = self._published(tracks)
        by_id = {s.track_id: s for s in states}
        out = []
        for tr, ready in pending:
            s = by_id[tr.track_id]
            pos = tuple(float(v) for v in ready.position) if ready.position is not None else s.position
            out.append(ReadyTracklet(ready, pos, s.ground, s.ground_sigma_m))
        live = {tr.track_id for tr in self.tracker.tracks}
        for dead in [k for k in self.extents if k not in live]:
            del self.extents[dead]
            self.buffer.drop(dead)
        for dead in [k for k in self._coasting if k not in live]:
            del self._coasting[dead]
        self.buffer.prune(t)
        states = [s for s, keep in zip(states, published) if keep]
        return StepResult(states, out, self.placement.fixed_frame if T is not None else "", error)

    def _published(self, tracks: list[Track]) -> list[bool]:
        """Which tracks this frame publishes: those coasting no longer than ``publish_coasting_frames``
        (``tracker`` config) consecutive frames. A coasting camera track's box is the image-plane filter's
        guess; on a robot it drifts off the person within a frame or two, so the camera publishes only
        measured tracks; the track itself lives on, so the person keeps it when measured again."""
        limit = self.tracker.cfg.publish_coasting_frames
        keep = []
        for tr in tracks:
            n = 0 if tr.measurement_index >= 0 else self._coasting.get(tr.track_id, 0) + 1
            self._coasting[tr.track_id] = n
            keep.append(limit < 0 or n <= limit)
        return keep

    def _follow_camera(self, T: RigidTransform | None, camera: CameraIntrinsics | None) -> None:
        """Shift every live track by the image motion of its foot point between the previous camera pose
        and ``T`` (``calibration.camera_ego_motion``). A camera that did not move (a pole) shifts nothing;
        a frame without a pose breaks the chain (the next frame shifts nothing)."""
        before, self._camera_pose = self._camera_pose, T
        if (T is None or before is None or camera is None or not self.placement.cfg.camera_ego_motion
                or np.allclose(before.matrix(), T.matrix(), rtol=0.0, atol=EGO_MOTION_EPS)):
            return
        live = [tr for tr in self.tracker.tracks if tr.size is not None]
        if not live:
            return
        feet = np.array([(tr.position[0], tr.position[1] + 0.5 * tr.size[1]) for tr in live])
        cfg = self.placement.cfg
        moved = reproject_ground_pixels(feet, camera, before, T, cfg.ground_z_m, cfg.max_ground_range_m)
        self.tracker.translate({tr.track_id: moved[i] - feet[i] for i, tr in enumerate(live)})

    def _ground(self, states: list[TrackState], T: RigidTransform | None,
                camera: CameraIntrinsics | None, tracks: list[Track]) -> GroundPositions:
        if T is None or not states:
            return GroundPositions.none(len(states))
        cfg = self.placement.cfg
        if self.modality == "2d":
            assert camera is not None
            return camera_ground(np.array([s.box for s in states]), camera, T, cfg,
                                 np.array([pixel_sigma(tr, cfg.pixel_sigma_px) for tr in tracks]))
        return lidar_ground(np.array([s.position for s in states]), T, cfg)

    def _stature(self, states: list[TrackState], ground: GroundPositions, T: RigidTransform | None,
                 camera: CameraIntrinsics | None, size_kept: list[bool]) -> np.ndarray:
        """(N,) statures of the states measured this frame (``perception.stature``), NaN elsewhere and
        where the tracker kept the track's size: a part of its person, or a blob that also covers a hidden
        track. There the box is the old size around the new measurement, so its top is no head: on s53's
        recorded camera tracks, frames with a kept size read 0.11 m tall (median), 74 % of them off by
        more than 5 cm (14 % of the other frames)."""
        out = np.full(len(states), np.nan)
        measured = [i for i, s in enumerate(states) if s.detection >= 0 and not size_kept[i]]
        if T is None or not measured:
            return out
        cfg = self.placement.cfg
        if self.modality == "2d":
            if camera is None:
                return out
            feet = np.where(ground.valid[measured, None], ground.points[measured], np.nan)
            out[measured] = camera_stature(np.array([states[i].box for i in measured]), feet, camera, T,
                                           cfg.ground_z_m)
        else:
            tops = np.array([(states[i].position[0], states[i].position[1], states[i].box[5])
                             for i in measured], dtype=np.float64)
            out[measured] = lidar_stature(tops, T, cfg.ground_z_m,
                                          cfg.lidar_top_beam_deg - cfg.lidar_top_margin_deg)
        return out

    def _state(self, tr: Track, detection: int, T: RigidTransform | None) -> TrackState:
        """The track's filtered position (sensor frame) with its last measured extent moved along."""
        pos = tr.position
        if self.modality == "2d":
            w, h = (tr.size if tr.size is not None else (0.0, 0.0))
            return TrackState(tr.track_id, (float(pos[0]), float(pos[1])),
                              (pos[0] - w / 2, pos[1] - h / 2, pos[0] + w / 2, pos[1] + h / 2), detection)
        ext = self.extents.get(tr.track_id)
        if self.in_fixed_frame and T is not None:   # filtered position back into the sensor frame
            centre_z = 0.5 * (ext[2] + ext[5]) if ext is not None else 0.0
            z_fixed = T.apply(np.array([0.0, 0.0, centre_z]))[2] if ext is None else \
                T.apply(0.5 * (np.array(ext[:3]) + np.array(ext[3:])))[2]
            p = T.inverse().apply(np.array([pos[0], pos[1], z_fixed]))
            pos = np.array([p[0], p[1]])
        if ext is None:  # no cluster measured since a state reset: a point box at the filtered position
            ext = (pos[0], pos[1], 0.0, pos[0], pos[1], 0.0)
        lo, hi = np.array(ext[:3]), np.array(ext[3:])
        centre = (lo + hi) / 2
        shift = np.array([pos[0] - centre[0], pos[1] - centre[1], 0.0])
        return TrackState(tr.track_id, (float(pos[0]), float(pos[1]), float(centre[2])),
                          tuple(float(v) for v in np.concatenate([lo + shift, hi + shift])), detection)

    def drop(self, track_id: int) -> None:
        self.extents.pop(track_id, None)
        self.buffer.drop(track_id)
