"""Frozen configuration dataclasses of the perception classes (loaded strictly via ``config_io``).

Every threshold the segmenters, tracker, tracklet buffers and identity manager use is a named field
here, with its unit in the name. ``validate()`` is called by ``config_io.from_dict`` and by the
classes' constructors, so a bad value raises ``ConfigError`` naming the field and value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tcfd_ros.errors import ConfigError

YOLO_SUFFIXES = (".pt", ".onnx", ".engine")


def _require(cond: bool, cls: str, field: str, value: object, expected: str) -> None:
    if not cond:
        raise ConfigError(f"{cls}.{field} = {value!r}: expected {expected}")


def _positive(obj: object, *names: str) -> None:
    for n in names:
        v = getattr(obj, n)
        _require(v > 0, type(obj).__name__, n, v, "a value > 0")


def _non_negative(obj: object, *names: str) -> None:
    for n in names:
        v = getattr(obj, n)
        _require(v >= 0, type(obj).__name__, n, v, "a value >= 0")


def _ordered(obj: object, lo: str, hi: str) -> None:
    a, b = getattr(obj, lo), getattr(obj, hi)
    _require(a < b, type(obj).__name__, f"{lo}/{hi}", (a, b), f"{lo} < {hi}")


@dataclass(frozen=True)
class CameraSegmenterConfig:
    """Camera person segmentation. ``backend``: ``background`` (OpenCV, no weights) or ``yolo``."""

    backend: Literal["background", "yolo"] = "background"
    # background subtraction
    bg_method: Literal["mog2", "knn"] = "mog2"
    bg_history_frames: int = 300          # frames the background model remembers
    bg_var_threshold: float = 16.0        # MOG2: squared Mahalanobis distance to call a pixel foreground
    bg_knn_dist2_threshold: float = 400.0  # KNN: squared distance to call a pixel foreground
    bg_detect_shadows: bool = True        # shadows are labelled 127 and dropped from the mask
    bg_learning_rate: float = -1.0        # -1: OpenCV's automatic rate (1 / history)
    warmup_frames: int = 20               # frames fed to the model before detections are reported
    bg_scale: float = 1.0                 # background model at this fraction of the resolution (speed);
    # (bg_scale, continued) the mask is scaled back (nearest) before components
    bg_blur_px: int = 0                   # Gaussian pre-blur (odd kernel, pixels of the modelled image)
    # (bg_blur_px, continued) against sensor noise in low light; 0 or 1 disables
    bg_gain_compensation: bool = True     # scale each frame to the mean brightness the model learnt
    # (bg_gain_compensation, continued) (dusk, automatic gain, IR level changes)
    bg_reset_foreground_fraction: float = 0.5  # more foreground than this share of the image at once
    # (bg_reset_foreground_fraction, continued) (IR switching on, lights, camera moved): restart the model
    morph_open_px: int = 3                # opening kernel (removes speckle); 0 disables
    morph_close_px: int = 7               # closing kernel (joins limbs to torso); 0 disables
    # joining a person's pieces: components stacked vertically (head / torso / legs cut apart where
    # they match the background) are one person (background backend)
    stack_max_gap_fraction: float = 0.3   # largest vertical gap, as a fraction of the joint height; 0 off
    stack_min_overlap: float = 0.5        # columns shared, as a fraction of the narrower component
    # splitting side-by-side people merged into one foreground blob (background backend)
    split_groups: bool = True
    split_min_width_over_height: float = 0.55  # only blobs at least this wide are candidates
    split_valley_ratio: float = 0.5       # split where the upper body's column profile drops below
    # (split_valley_ratio, continued) this fraction of the smaller of the two peaks
    split_stack_height_ratio: float = 1.45  # a blob taller than this many times the person height
    # (split_stack_height_ratio, continued) learnt for its foot row is split into stacked people; 0 off
    # person-size gate (both backends)
    min_height_px: int = 24
    max_height_px: int = 2000
    min_area_px: int = 120                # foreground pixels in the component
    min_aspect_h_over_w: float = 1.0      # people stand: taller than wide
    max_aspect_h_over_w: float = 5.0
    min_fill_ratio: float = 0.2           # mask pixels / bbox area
    max_detections: int = 32
    # YOLO segmentation
    yolo_weights: str = ""                # local .pt, .onnx or .engine file; nothing is downloaded
    yolo_person_class: int = 0            # COCO 'person'
    yolo_conf: float = 0.35
    yolo_iou: float = 0.5
    yolo_imgsz: int = 640
    yolo_device: str = "cpu"

    def validate(self) -> None:
        c = type(self).__name__
        _positive(self, "bg_history_frames", "bg_var_threshold", "bg_knn_dist2_threshold",
                  "min_height_px", "max_height_px",
                  "min_aspect_h_over_w", "max_aspect_h_over_w", "max_detections", "yolo_imgsz")
        _positive(self, "split_min_width_over_height")
        _non_negative(self, "stack_max_gap_fraction", "split_stack_height_ratio")
        _require(0.0 < self.stack_min_overlap <= 1.0, c, "stack_min_overlap", self.stack_min_overlap,
                 "0 < value <= 1")
        _require(0.0 < self.split_valley_ratio < 1.0, c, "split_valley_ratio", self.split_valley_ratio,
                 "0 < value < 1")
        _non_negative(self, "warmup_frames", "bg_blur_px", "morph_open_px", "morph_close_px", "min_area_px",
                      "min_fill_ratio", "yolo_person_class")
        _ordered(self, "min_height_px", "max_height_px")
        _ordered(self, "min_aspect_h_over_w", "max_aspect_h_over_w")
        _require(0.1 <= self.bg_scale <= 1.0, c, "bg_scale", self.bg_scale, "0.1 <= value <= 1")
        _require(0.0 < self.bg_reset_foreground_fraction <= 1.0, c, "bg_reset_foreground_fraction",
                 self.bg_reset_foreground_fraction, "0 < value <= 1")
        _require(0.0 <= self.yolo_conf <= 1.0, c, "yolo_conf", self.yolo_conf, "0 <= value <= 1")
        _require(0.0 <= self.yolo_iou <= 1.0, c, "yolo_iou", self.yolo_iou, "0 <= value <= 1")
        _require(self.bg_learning_rate == -1.0 or 0.0 <= self.bg_learning_rate <= 1.0, c,
                 "bg_learning_rate", self.bg_learning_rate, "-1 (automatic) or 0..1")
        if self.backend == "yolo":
            _require(bool(self.yolo_weights), c, "yolo_weights", self.yolo_weights,
                     "a local weights file path when backend is 'yolo'")
            _require(self.yolo_weights.lower().endswith(YOLO_SUFFIXES), c, "yolo_weights",
                     self.yolo_weights, f"a file ending in one of {YOLO_SUFFIXES}")


@dataclass(frozen=True)
class LidarSegmenterConfig:
    """LiDAR person clustering in the sensor frame (x forward, y left, z up, metres)."""

    # region of interest (sensor frame)
    roi_x_min_m: float = -40.0
    roi_x_max_m: float = 40.0
    roi_y_min_m: float = -40.0
    roi_y_max_m: float = 40.0
    roi_z_min_m: float = -5.0
    roi_z_max_m: float = 3.0
    min_range_m: float = 0.5              # drops returns off the sensor housing / vehicle
    # ground removal: RANSAC plane on the lowest points of a random sample, refined by least squares
    ground_sample_points: int = 6000      # random ROI points the plane is fitted on (speed)
    ground_candidate_quantile: float = 0.4  # RANSAC draws from the lowest 40 % of them (by z)
    ground_ransac_iterations: int = 60
    ground_distance_m: float = 0.15       # points closer than this to the plane are ground
    ground_max_tilt_deg: float = 15.0     # the plane's normal must be within this angle of +z
    ground_seed: int = 0                  # RANSAC RNG seed, for reproducible frames
    clip_above_ground_m: float = 2.6      # points higher than this (canopies, ceilings) are ignored
    # Euclidean clustering: KD-tree radius graph over occupied ground-plane (x, y) cells
    cell_size_m: float = 0.15
    cluster_radius_m: float = 0.35
    min_cluster_cells: int = 3
    # person gate. Heights are bounded by the beams: the object's top lies between its highest point
    # and where the next beam above (which passed over it) crosses its range; its bottom between its
    # lowest point and where the next beam below crosses (lower still where something in front hid it).
    min_height_m: float = 1.2             # the highest it can be (next beam above its top) reaches this
    # (min_height_m, continued) (people >= 1.2 m; a 1 m bollard seen by a dense sensor cannot)
    max_height_m: float = 2.2             # its highest point must not exceed this
    max_bottom_m: float = 0.35            # the lowest it can reach must be near the ground (people stand)
    occluded_bottom_min_points: int = 5   # points in front that hid a cluster's feet waive the bottom gate
    # (occluded_bottom_min_points, continued) (a person behind a low wall); 0 never waives it
    max_footprint_m: float = 1.3          # largest horizontal extent (a walking stride fits)
    max_person_range_m: float = 30.0      # farther clusters are too sparse for gait: not reported
    min_footprint_m: float = 0.22         # thinner than this is a pole, post or wall edge
    min_thickness_m: float = 0.08         # minor horizontal extent: flat facades/car sides are thinner
    max_aspect_footprint_over_height: float = 1.0  # people are taller than they are wide
    min_points: int = 15                  # original (not voxelised) points in the cluster
    # expected-density gate: a 1.7 x 0.5 m person at range r covers (1.7 / (r vres)) x (0.5 / (r hres))
    # beam x column cells; a cluster needs min_point_fraction of that many points. Set the sensor's
    # resolution: HDL-64E at 10 Hz (KITTI) 0.08 / 0.4 deg, at 20 Hz and the synthetic hdl64 0.173 / 0.4,
    # OS1-64 (2048 columns) 0.176 / 0.55, HDL-32E at 20 Hz (nuScenes) 0.33 / 1.33, VLP-16 0.2 / 2.0.
    # With a ``ring`` field (and sensor_from_ring) the beams' elevations and the column step are
    # measured from the cloud instead, so one config serves a VLP-16, an HDL-32E and an HDL-64E.
    sensor_hres_deg: float = 0.173        # horizontal angle between columns
    sensor_vres_deg: float = 0.4          # vertical angle between beams where people are (-15..0 deg)
    sensor_from_ring: bool = True         # measure beam elevations / column step from the ring field
    min_point_fraction: float = 0.25      # real people fill ~0.35 (KITTI, synthetic); 0 disables
    # static objects (bollards, posts): a candidate that stays within static_radius_m of where it was
    # first seen for static_after_frames frames is not a person, nor is one born at a remembered
    # static place until it has moved (see perception/static_objects.py)
    static_after_frames: int = 8          # 0 disables the static-object memory
    static_radius_m: float = 0.4          # a walker leaves this radius within ~3 frames at 10 Hz
    static_gate_m: float = 1.0            # frame-to-frame association distance of candidates
    static_forget_frames: int = 600       # a static place not confirmed for this many frames is forgotten
    static_cell_frames: int = 20          # pillar-cell occupancy time constant (frames); 0 disables
    # (static_cell_frames, continued) cells occupied ~always (walls, bollards) are left out before
    # (static_cell_frames, continued) clustering so passers-by do not merge with them
    static_max_cell_occupancy: float = 0.6  # clusters whose cells were occupied more are not walkers
    # (static_max_cell_occupancy, continued) (a car's remains, a learned bollard)
    # static background (fixed poles): voxels occupied in most of the first N frames are removed
    background_learning_frames: int = 0   # 0 disables background subtraction
    background_voxel_m: float = 0.25
    background_min_occupancy: float = 0.6  # fraction of learning frames a voxel must be occupied

    def validate(self) -> None:
        c = type(self).__name__
        _ordered(self, "roi_x_min_m", "roi_x_max_m")
        _ordered(self, "roi_y_min_m", "roi_y_max_m")
        _ordered(self, "roi_z_min_m", "roi_z_max_m")
        _ordered(self, "min_height_m", "max_height_m")
        _ordered(self, "min_footprint_m", "max_footprint_m")
        _positive(self, "cell_size_m", "ground_ransac_iterations", "ground_distance_m",
                  "ground_sample_points", "cluster_radius_m", "min_cluster_cells", "min_points",
                  "clip_above_ground_m",
                  "background_voxel_m", "max_aspect_footprint_over_height", "max_person_range_m",
                  "sensor_hres_deg", "sensor_vres_deg", "static_radius_m", "static_gate_m",
                  "static_forget_frames")
        _non_negative(self, "min_range_m", "background_learning_frames", "max_bottom_m",
                      "min_point_fraction", "min_thickness_m", "occluded_bottom_min_points",
                      "static_after_frames", "static_cell_frames")
        _require(0.0 < self.ground_max_tilt_deg < 90.0, c, "ground_max_tilt_deg",
                 self.ground_max_tilt_deg, "0 < value < 90")
        _require(0.0 < self.ground_candidate_quantile <= 1.0, c, "ground_candidate_quantile",
                 self.ground_candidate_quantile, "0 < value <= 1")
        _require(0.0 < self.static_max_cell_occupancy <= 1.0, c, "static_max_cell_occupancy",
                 self.static_max_cell_occupancy, "0 < value <= 1")
        _require(0.0 < self.background_min_occupancy <= 1.0, c, "background_min_occupancy",
                 self.background_min_occupancy, "0 < value <= 1")


@dataclass(frozen=True)
class TrackerConfig:
    """Constant-velocity Kalman + Hungarian tracker over 2-D positions.

    Units are those of the measurements: pixels for image-plane camera boxes, metres for ground-plane
    LiDAR positions; the defaults suit LiDAR in metres (``camera_tracker_config()`` gives pixels).
    """

    process_accel_std: float = 2.0        # white-noise acceleration, units/s^2
    measurement_std: float = 0.15         # position measurement noise, units
    initial_velocity_std: float = 2.0     # prior on a new track's velocity, units/s
    gate_mahalanobis2: float = 13.8       # chi^2(2 dof) 99.9 %: larger costs are never assigned
    max_gate_distance: float = 1.5        # and never farther than this (units) from the prediction
    min_hits: int = 3                     # updates before a track is confirmed (reported)
    max_missed_frames: int = 10           # updates without a measurement before a track dies
    max_age_s: float = 2.0                # seconds without a measurement before a track dies
    size_smoothing: float = 0.5           # exponential smoothing of box sizes (0: no memory)
    max_tracks: int = 256                 # hard cap on live tracks (bounded memory)

    def validate(self) -> None:
        _positive(self, "process_accel_std", "measurement_std", "initial_velocity_std",
                  "gate_mahalanobis2", "max_gate_distance", "min_hits", "max_age_s", "max_tracks")
        _non_negative(self, "max_missed_frames")
        _require(0.0 <= self.size_smoothing < 1.0, type(self).__name__, "size_smoothing",
                 self.size_smoothing, "0 <= value < 1")


def camera_tracker_config() -> TrackerConfig:
    """Defaults for image-plane tracking of box centres in pixels at ~15 Hz."""
    return TrackerConfig(process_accel_std=200.0, measurement_std=4.0, initial_velocity_std=80.0,
                         max_gate_distance=80.0)


@dataclass(frozen=True)
class TrackletConfig:
    """Per-track frame buffers: ``s`` frames taken every ``stride`` updates, emitted every ``hop``."""

    frames: int = 10                      # s, frames per tracklet (the model's sequence length)
    stride: int = 1                       # take every stride-th frame of a track
    hop: int = 5                          # emit a new tracklet after this many newly taken frames
    max_age_s: float = 2.0                # a track's buffer is dropped after this long unseen
    max_tracks: int = 64                  # at most this many buffers; the stalest is evicted

    def validate(self) -> None:
        _positive(self, "frames", "stride", "hop", "max_age_s", "max_tracks")


@dataclass(frozen=True)
class IdentityConfig:
    """Cross-sensor identity management (the recognizer's logic, see ``identity.py``)."""

    # for TRACK-level embeddings (tcfd_ros.distance.aggregate_track_embedding), see identity.py
    open_set_threshold: float | None = None  # None: model's open_set_threshold_track, else open_set_threshold
    track_evidence_tracklets: int = 8     # newest tracklet embeddings per track that form its evidence
    gait_min_tracklets: int = 2           # tracklets a track needs before gait may link it to an identity
    gait_same_modality: bool = False      # gait also compares camera-camera and LiDAR-LiDAR embeddings
    # (gait_same_modality, continued) off: the model's threshold is calibrated on camera-LiDAR pairs,
    # and same-modality distances are smaller, so that threshold would accept strangers
    switch_margin: float = 0.1            # another identity must be this much closer to take a track
    switch_patience: int = 3              # ... on this many consecutive tracklets
    max_embeddings_per_identity: int = 8  # per modality, oldest dropped (memory bound)
    track_timeout_s: float = 10.0         # a track unseen this long releases its identity binding
    concurrent_window_s: float = 1.5      # same-sensor tracks seen this close in time are two people
    use_geometry: bool = True             # fuse fixed-frame positions (tracks v2 ``ground``) where present
    geometry_history_s: float = 8.0       # per-track position history compared between sensors
    geometry_sync_s: float = 0.05         # two positions are simultaneous if stamped this close
    geometry_gate_sigmas: float = 3.0     # co-located: within this many combined sigmas ...
    geometry_gate_floor_m: float = 0.5    # ... or this many metres, whichever is larger
    geometry_veto_sigmas: float = 5.0     # apart: beyond this many combined sigmas ...
    geometry_veto_floor_m: float = 2.0    # ... and beyond this many metres
    geometry_veto_samples: int = 3        # simultaneous far-apart samples that veto a link
    geometry_link_samples: int = 10       # simultaneous co-located samples a geometric link needs ...
    geometry_link_span_s: float = 1.5     # ... spread over at least this long ...
    geometry_link_fraction: float = 0.8   # ... forming this share of the simultaneous samples
    transit_prior: bool = False           # gait links across sensors only after a plausible transit time
    transit_min_s: float = 0.0            # a person needs at least this long between the sensors' zones
    transit_max_s: float = 120.0          # ... and at most this long
    persist_unenrolled_embeddings: bool = True  # False: only enrolled identities' embeddings are saved
    # in memory; the least recently seen unbound, unenrolled ones go first. Memory bound:
    # max_identities * 2 * max_embeddings_per_identity * parts * dim * 4 B (1000: ~490 MB at 15x512)
    max_identities: int = 1000
    confidence_temperature: float = 0.05  # confidence = sigmoid((threshold - distance) / T)

    def validate(self) -> None:
        c = type(self).__name__
        if self.open_set_threshold is not None:
            _require(0.0 < self.open_set_threshold < 2.0, c, "open_set_threshold",
                     self.open_set_threshold, "0 < value < 2 (cross-modal distance range)")
        _non_negative(self, "switch_margin", "transit_min_s")
        _positive(self, "switch_patience", "max_embeddings_per_identity", "track_timeout_s", "max_identities",
                  "concurrent_window_s", "track_evidence_tracklets", "gait_min_tracklets",
                  "geometry_history_s", "geometry_sync_s", "geometry_gate_sigmas", "geometry_gate_floor_m",
                  "geometry_veto_sigmas", "geometry_veto_floor_m", "geometry_veto_samples",
                  "geometry_link_samples", "geometry_link_span_s", "confidence_temperature")
        _require(0.0 < self.geometry_link_fraction <= 1.0, c, "geometry_link_fraction",
                 self.geometry_link_fraction, "0 < value <= 1")
        _require(self.geometry_veto_floor_m > self.geometry_gate_floor_m, c, "geometry_veto_floor_m",
                 self.geometry_veto_floor_m, "more than geometry_gate_floor_m")
        _ordered(self, "transit_min_s", "transit_max_s")
