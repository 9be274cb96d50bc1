"""Frozen configuration dataclasses of the perception classes (loaded strictly via ``config_io``).

Every threshold the segmenters, tracker, tracklet buffers and identity manager use is a named field
here, with its unit in the name. ``validate()`` is called by ``config_io.from_dict`` and by the
classes' constructors, so a bad value raises ``ConfigError`` naming the field and value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from tcfd_ros.config_io import param
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

    backend: Literal["background", "yolo"] = param(
        "background", "person segmentation: background (OpenCV background subtraction, no weights) or yolo "
        "(a local YOLO segmentation model)")
    # background subtraction
    bg_method: Literal["mog2", "knn"] = param(
        "mog2", "background subtraction algorithm: OpenCV's MOG2 or KNN")
    bg_history_frames: int = param(300, "frames the background model remembers")
    bg_var_threshold: float = param(16.0, "MOG2: squared Mahalanobis distance to call a pixel foreground")
    bg_knn_dist2_threshold: float = param(400.0, "KNN: squared distance to call a pixel foreground")
    bg_detect_shadows: bool = param(True, "shadows are labelled 127 and dropped from the mask")
    bg_shadow_threshold: float = param(
        0.7, "a pixel darker than the background but keeping at least this share of its brightness (and "
        "its colour) is shadow (OpenCV's tau, its default 0.5); higher keeps more dark clothing over grey "
        "ground as a person and drops fewer deep shadows", lo=0.0, hi=1.0)
    bg_learning_rate: float = param(-1.0, "-1: OpenCV's automatic rate (1 / history)", lo=-1.0, hi=1.0)
    warmup_frames: int = param(20, "frames fed to the model before detections are reported")
    bg_scale: float = param(1.0, "background model at this fraction of the resolution (speed); the mask is "
                                 "scaled back (nearest) before components")
    bg_blur_px: int = param(0, "Gaussian pre-blur (odd kernel, pixels of the modelled image) against sensor "
                               "noise in low light; 0 or 1 disables")
    bg_gain_compensation: bool = param(True, "scale each frame to the mean brightness the model learnt "
                                             "(dusk, automatic gain, IR level changes)")
    bg_reset_foreground_fraction: float = param(
        0.5, "more foreground than this share of the image at once (IR switching on, lights, camera moved): "
        "restart the model")
    morph_open_px: int = param(3, "opening kernel (removes speckle); 0 disables")
    morph_close_px: int = param(7, "closing kernel (joins limbs to torso); 0 disables")
    # joining a person's pieces: components stacked vertically (head / torso / legs cut apart where
    # they match the background) are one person (background backend)
    stack_max_gap_fraction: float = param(
        0.3, "largest vertical gap, as a fraction of the joint height; 0 off")
    stack_min_overlap: float = param(0.5, "columns shared, as a fraction of the narrower component")
    # splitting side-by-side people merged into one foreground blob (background backend)
    split_groups: bool = param(
        True, "split side-by-side people merged into one foreground blob (background backend)")
    split_min_width_over_height: float = param(0.55, "only blobs at least this wide are candidates")
    split_valley_ratio: float = param(0.5, "split where the upper body's column profile drops below this "
                                           "fraction of the smaller of the two peaks")
    split_stack_height_ratio: float = param(
        1.45, "a blob taller than this many times the person height learnt for its foot row is split into "
        "stacked people; 0 off")
    # person-size gate (both backends)
    min_height_px: int = param(24, "person-size gate (both backends): smallest box height, pixels")
    max_height_px: int = param(2000, "person-size gate: largest box height, pixels")
    min_area_px: int = param(120, "foreground pixels in the component")
    min_aspect_h_over_w: float = param(1.0, "people stand: taller than wide")
    max_aspect_h_over_w: float = param(5.0, "person-size gate: largest box height / width")
    min_fill_ratio: float = param(0.2, "mask pixels / bbox area", lo=0.0, hi=1.0)
    max_detections: int = param(32, "at most this many detections per image, the largest masks kept")
    # YOLO segmentation
    yolo_weights: str = param("", "local .pt, .onnx or .engine file; nothing is downloaded")
    yolo_person_class: int = param(0, "COCO 'person'")
    yolo_conf: float = param(0.35, "YOLO: smallest confidence of a person", lo=0.0, hi=1.0)
    yolo_iou: float = param(0.5, "YOLO: IoU of non-maximum suppression", lo=0.0, hi=1.0)
    yolo_imgsz: int = param(640, "YOLO: inference image size, pixels")
    yolo_device: str = param("cpu", "YOLO: torch device (cpu, cuda, cuda:0)")

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
        _require(0.0 < self.bg_shadow_threshold < 1.0, c, "bg_shadow_threshold", self.bg_shadow_threshold,
                 "0 < value < 1")
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
    roi_x_min_m: float = param(-40.0, "region of interest in the sensor frame: smallest x, metres")
    roi_x_max_m: float = param(40.0, "region of interest: largest x, metres")
    roi_y_min_m: float = param(-40.0, "region of interest: smallest y, metres")
    roi_y_max_m: float = param(40.0, "region of interest: largest y, metres")
    roi_z_min_m: float = param(-5.0, "region of interest: smallest z, metres")
    roi_z_max_m: float = param(3.0, "region of interest: largest z, metres")
    min_range_m: float = param(0.5, "drops returns off the sensor housing / vehicle")
    # ground removal: RANSAC plane on the lowest points of a random sample, refined by least squares
    ground_sample_points: int = param(6000, "random ROI points the plane is fitted on (speed)")
    ground_candidate_quantile: float = param(
        0.4, "RANSAC draws from the lowest 40 % of them (by z)", lo=0.0, hi=1.0)
    ground_ransac_iterations: int = param(60, "RANSAC ground-plane hypotheses per frame")
    ground_distance_m: float = param(0.15, "points closer than this to the plane are ground")
    ground_max_tilt_deg: float = param(
        15.0, "the plane's normal must be within this angle of +z", lo=0.0, hi=90.0)
    ground_seed: int = param(0, "RANSAC RNG seed, for reproducible frames")
    clip_above_ground_m: float = param(2.6, "points higher than this (canopies, ceilings) are ignored")
    # Euclidean clustering: KD-tree radius graph over occupied ground-plane (x, y) cells
    cell_size_m: float = param(0.15, "clustering: side of the ground-plane (x, y) cells, metres")
    cluster_radius_m: float = param(0.35, "clustering: occupied cells this close are connected, metres")
    min_cluster_cells: int = param(3, "clustering: smallest cluster, in occupied cells")
    # person gate. Heights are bounded by the beams: the object's top lies between its highest point
    # and where the next beam above (which passed over it) crosses its range; its bottom between its
    # lowest point and where the next beam below crosses (lower still where something in front hid it).
    min_height_m: float = param(1.2, "the highest it can be (next beam above its top) reaches this (people "
                                     ">= 1.2 m; a 1 m bollard seen by a dense sensor cannot)")
    max_height_m: float = param(2.2, "its highest point must not exceed this")
    max_bottom_m: float = param(0.35, "the lowest it can reach must be near the ground (people stand)")
    occluded_bottom_min_points: int = param(5, "points in front that hid a cluster's feet waive the bottom "
                                               "gate (a person behind a low wall); 0 never waives it")
    max_footprint_m: float = param(1.3, "largest horizontal extent (a walking stride fits)")
    max_person_range_m: float = param(30.0, "farther clusters are too sparse for gait: not reported")
    min_footprint_m: float = param(0.22, "thinner than this is a pole, post or wall edge")
    min_thickness_m: float = param(0.08, "minor horizontal extent: flat facades/car sides are thinner")
    max_aspect_footprint_over_height: float = param(1.0, "people are taller than they are wide")
    min_points: int = param(15, "original (not voxelised) points in the cluster")
    # expected-density gate: a 1.7 x 0.5 m person at range r covers (1.7 / (r vres)) x (0.5 / (r hres))
    # beam x column cells; a cluster needs min_point_fraction of that many points. Set the sensor's
    # resolution: HDL-64E at 10 Hz (KITTI) 0.08 / 0.4 deg, at 20 Hz and the synthetic hdl64 0.173 / 0.4,
    # OS1-64 (2048 columns) 0.176 / 0.55, HDL-32E at 20 Hz (nuScenes) 0.33 / 1.33, VLP-16 0.2 / 2.0.
    # With a ``ring`` field (and sensor_from_ring) the beams' elevations and the column step are
    # measured from the cloud instead, so one config serves a VLP-16, an HDL-32E and an HDL-64E.
    sensor_hres_deg: float = param(0.173, "horizontal angle between columns")
    sensor_vres_deg: float = param(0.4, "vertical angle between beams where people are (-15..0 deg)")
    sensor_from_ring: bool = param(True, "measure beam elevations / column step from the ring field")
    min_point_fraction: float = param(0.25, "real people fill ~0.35 (KITTI, synthetic); 0 disables")
    # static objects (bollards, posts): a candidate that stays within static_radius_m of where it was
    # first seen for static_after_frames frames is not a person, nor is one born at a remembered
    # static place until it has moved (see perception/static_objects.py)
    static_after_frames: int = param(8, "0 disables the static-object memory")
    static_radius_m: float = param(0.4, "a walker leaves this radius within ~3 frames at 10 Hz")
    static_gate_m: float = param(1.0, "frame-to-frame association distance of candidates")
    static_forget_frames: int = param(600, "a static place not confirmed for this many frames is forgotten")
    static_cell_frames: int = param(
        20, "pillar-cell occupancy time constant (frames): cells occupied ~always (walls, bollards) are left "
        "out before clustering so passers-by do not merge with them; 0 disables")
    static_max_cell_occupancy: float = param(
        0.6, "clusters whose cells were occupied more are not walkers (a car's remains, a learned bollard)")
    # static background (fixed poles): voxels occupied in most of the first N frames are removed
    background_learning_frames: int = param(0, "0 disables background subtraction")
    background_voxel_m: float = param(0.25, "static background: voxel side, metres")
    background_min_occupancy: float = param(
        0.6, "fraction of learning frames a voxel must be occupied", lo=0.0, hi=1.0)

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


#: The LiDAR tracker's ``body_height_gate_m``: one person's cluster tops scatter 0.03-0.09 m around their
#: median (p50-p90; p99 0.16), two people's medians differ by 0.02-0.21 m on the pole bags, so height
#: only catches gross mismatches (RESULTS.md, "LiDAR tracker re-acquisition (issue 12)").
LIDAR_BODY_HEIGHT_GATE_M = 0.3
#: The LiDAR tracker's ``body_intensity_gate``: one person's torso / leg mean intensity scatters 2-4 units
#: around its median (p50; p90 4-8, p99 6-18), two people differ by 13-58 in at least one part.
LIDAR_BODY_INTENSITY_GATE = 20.0
#: The LiDAR tracker's ``reacquire_window_s``: a walker the segmenter lost (merged with a neighbour, hidden
#: behind one, thinned out at range) was found again 1-7 s later on the disjoint bags; 8 s stays under the
#: recognizer's ``track_timeout_s`` (10 s), so the binding waits for them (RESULTS.md, "Re-acquiring a
#: person the LiDAR tracker lost").
LIDAR_REACQUIRE_WINDOW_S = 8.0
#: ``reacquire_cue_fraction``: on 13 disjoint bags, 0.4 of the body gates (0.12 m of height, 8 intensity
#: units) gave 27 right re-acquisitions and 1 wrong; 0.5 gave 29 and 4, the full gates 11 and 8 of 19.
REACQUIRE_CUE_FRACTION = 0.4
#: A measurement box shorter than this share of a track's predicted box, and lying inside it
#: (``part_rescue_coverage``), is a part of the track's person: a person's box height changes by a few per
#: cent a frame, a segmenter that lost the legs halves it (a width swings with the arms).
PART_SIZE_SHARE = 0.8


@dataclass(frozen=True)
class TrackerConfig:
    """Constant-velocity Kalman + Hungarian tracker over 2-D positions.

    Units are those of the measurements: pixels for image-plane camera boxes, metres for ground-plane
    LiDAR positions; the defaults suit LiDAR in metres (``camera_tracker_config()`` gives pixels).
    """

    process_accel_std: float = param(2.0, "white-noise acceleration, units/s^2")
    measurement_std: float = param(0.15, "position measurement noise, units")
    initial_velocity_std: float = param(2.0, "prior on a new track's velocity, units/s")
    gate_mahalanobis2: float = param(13.8, "chi^2(2 dof) 99.9 %: larger costs are never assigned")
    max_gate_distance: float = param(1.5, "nor is one farther than this (units) from the prediction")
    min_hits: int = param(3, "updates before a track is confirmed (reported)", lo=1, hi=1000)
    max_missed_frames: int = param(10, "updates without a measurement before a track dies")
    max_age_s: float = param(2.0, "seconds without a measurement before a track dies")
    publish_coasting_frames: int = param(
        -1, "a track is published (``tracks``) while it has coasted at most this many consecutive frames; "
            "it lives on for re-association either way (0: only tracks measured this frame, as SORT "
            "does; -1: while it lives)", lo=-1, hi=100000)
    size_smoothing: float = param(0.5, "exponential smoothing of box sizes (0: no memory)", lo=0.0, hi=1.0)
    max_tracks: int = param(256, "hard cap on live tracks (bounded memory)")
    box_point_y: float = param(
        0.5, "the point of a measurement's box the filter tracks, as a fraction of its height (size[1]) "
             "from the top: 0.5 the centre; 1.0 the foot point, which stays on the person in front when two "
             "people at different depths merge into one blob, but jumps when a segmenter loses the legs "
             "(positions in and out stay box centres)",
        lo=0.0, hi=1.0)
    occlusion_coverage: float = param(
        0.0, "a track that gets no measurement while at least this fraction of its predicted box lies inside "
             "a box assigned to another track is hidden behind that person: it coasts until max_age_s "
             "instead of dying after max_missed_frames (0: off)", lo=0.0, hi=1.0)
    likelihood_cost: bool = param(
        False, "assignment cost is the Gaussian negative log-likelihood (squared Mahalanobis distance + "
               "ln det S) instead of the bare Mahalanobis distance, so a coasting track, whose grown "
               "uncertainty makes every measurement look close, does not win a detection from a track seen "
               "a frame ago")
    overlap_rescue_iou: float = param(
        0.0, "after the assignment, a confirmed track left without a measurement takes a measurement no "
             "track took whose box overlaps its predicted box by at least this IoU, rather than a new track "
             "being born on it: a near person's box (hundreds of pixels, e.g. passed by a robot) moves more "
             "between frames than the pixel noise model allows (0: off)", lo=0.0, hi=1.0)
    part_rescue_coverage: float = param(
        0.0, "after the assignment and overlap_rescue_iou, a confirmed track left without a measurement "
             f"takes one no track took that is a part of its person: shorter than {PART_SIZE_SHARE:g} of its "
             "predicted box and at least this fraction inside it (a segmenter that lost the legs for a few "
             "frames), whose centre jumps beyond the gate; a track born on the part would take turns with "
             "the person's own. A part, however assigned, moves the filter with its centre's noise grown by "
             "half the missing extent, keeps the track's size for a few frames running, and gives no gait "
             "frame and no stature (0: off)", lo=0.0, hi=1.0)
    appearance_cost: float = param(
        0.0, "camera: assignment cost added for clothing colour that differs completely (Bhattacharyya "
             "distance 1 of the torso and leg colour histograms) at full colour weight, so two people who "
             "part after crossing in the image keep their own tracks; scaled by the distance (counted from "
             "a same-person distance of 0.15) and by how informative the colour is (saturation, "
             "brightness, pixels: low light weighs little, a monochrome image nothing) (0: off)",
        lo=0.0, hi=1000.0)
    appearance_reacquire_gate: float = param(
        1.0, "camera: a track that got no measurement in the previous update (coasting, or hidden behind "
             "another person) does not take back a measurement whose colour distance times colour weight "
             "exceeds this: after an occlusion or a merged blob, a person in other clothes is someone else "
             "(a new track is born on it instead of a swap) (1: off)", lo=0.0, hi=1.0)
    appearance_memory: float = param(
        0.9, "camera: share of a track's colour kept at each update that refreshes it (exponential moving "
             "average; 0.9 at 15 Hz forgets in ~0.7 s)", lo=0.0, hi=0.99)
    appearance_update_overlap: float = param(
        0.1, "camera: a track's colour is refreshed only from a measurement whose box shares at most this "
             "fraction of its area with another track's predicted box (a blob of two people, or a person "
             "partly in front of another, mixes their colours)", lo=0.0, hi=1.0)
    body_height_gate_m: float = param(
        LIDAR_BODY_HEIGHT_GATE_M,
        "LiDAR: a track that got no measurement in the previous update (its person merged into another's "
        "cluster) does not take back a cluster whose top height (95 % z quantile) differs from the track's "
        "by more than this, m: after two people part, someone else is not taken for the lost person (a new "
        "track is born instead of a swap); a track whose last cluster may have held two people keeps to a "
        "matching cluster where one is in its gate; learned only from clusters clear of other tracks whose "
        "cue matches (0: off)",
        lo=0.0, hi=10.0)
    body_intensity_gate: float = param(
        LIDAR_BODY_INTENSITY_GATE,
        "LiDAR: the same for the mean intensity of the cluster's torso or leg points (the clothes' "
        "reflectivity), in the cloud's intensity units (0: off; a cloud without intensity is never gated)",
        lo=0.0, hi=1e6)
    reacquire_window_s: float = param(
        LIDAR_REACQUIRE_WINDOW_S,
        "a confirmed track that died (its person lost behind others or out of the segmenter's reach) is "
        "remembered this long, s: a new track that starts within reach of where it was last measured "
        "(reacquire_radius + reacquire_speed x the gap), whose clothing colour (camera) or body cue (LiDAR) "
        "matches it (reacquire_cue_fraction) and no other remembered track, takes its id when confirmed, so "
        "the person keeps one track (0: off; a tracker with no colour or body cue never re-acquires)",
        lo=0.0, hi=60.0)
    reacquire_speed: float = param(
        2.0, "how fast a lost person may have moved meanwhile, units/s (box heights/s with "
             "reacquire_in_box_heights)", lo=0.0, hi=1e4)
    reacquire_radius: float = param(
        1.0, "plus this distance, units (box heights with reacquire_in_box_heights)", lo=0.0, hi=1e4)
    reacquire_cue_fraction: float = param(
        REACQUIRE_CUE_FRACTION,
        "a re-acquired track's cue must match the lost one's within this fraction of the gates "
        "(appearance_reacquire_gate, body_*_gate): stricter than taking back a person a frame after a miss, "
        "since seconds and other walkers have passed", lo=0.0, hi=1.0)
    reacquire_in_box_heights: bool = param(
        False, "reacquire_speed and reacquire_radius are in heights of the lost track's box (a camera's "
               "pixels per metre change with a person's distance), not in the tracker's units")

    def validate(self) -> None:
        _positive(self, "process_accel_std", "measurement_std", "initial_velocity_std",
                  "gate_mahalanobis2", "max_gate_distance", "min_hits", "max_age_s", "max_tracks")
        _non_negative(self, "max_missed_frames")
        _require(self.publish_coasting_frames >= -1, type(self).__name__, "publish_coasting_frames",
                 self.publish_coasting_frames, "-1 (while it lives) or >= 0")
        for name in ("size_smoothing", "appearance_memory"):          # shares of memory: 1 never forgets
            v = getattr(self, name)
            _require(0.0 <= v < 1.0, type(self).__name__, name, v, "0 <= value < 1")
        for name in ("box_point_y", "occlusion_coverage", "overlap_rescue_iou", "part_rescue_coverage",
                     "appearance_reacquire_gate",
                     "appearance_update_overlap", "reacquire_cue_fraction"):
            v = getattr(self, name)
            _require(0.0 <= v <= 1.0, type(self).__name__, name, v, "0 <= value <= 1")
        _non_negative(self, "appearance_cost", "body_height_gate_m", "body_intensity_gate",
                      "reacquire_window_s", "reacquire_speed", "reacquire_radius")

    @property
    def uses_appearance(self) -> bool:
        """Whether a colour term is on; when none is, measurements need no colours (no image to decode)."""
        return self.appearance_cost > 0 or self.appearance_reacquire_gate < 1.0


#: The camera tracker's ``overlap_rescue_iou``: boxes of one person in consecutive frames at 15 Hz.
OVERLAP_RESCUE_IOU = 0.5
#: ``part_rescue_coverage`` for a camera whose segmenter loses walkers' legs: such a box lies wholly inside
#: the person's predicted box, a neighbour's blob that only touches it does not. Off in the camera defaults:
#: on twelve fresh disjoint bags it kept one track per walker where the legs came and went, yet made fewer
#: hand-offs (65 vs 67 of 72; RESULTS.md, "A part of a person is the person's").
PART_RESCUE_COVERAGE = 0.8
#: The camera tracker's ``publish_coasting_frames``: a coasting image-plane prediction is a guess (on the
#: robot bags 6-34 coasting outputs were on their person against 68-168 off it; RESULTS.md, "Robot patrol
#: hand-off, more seeds").
CAMERA_PUBLISH_COASTING_FRAMES = 0
#: The camera tracker's ``appearance_cost``: clothes of different colours (distance ~0.5 at weight ~0.7)
#: cost about as much as a 2-sigma position error, so colour decides between people who part after
#: crossing in the image but not against a clear motion prediction (RESULTS.md, "Camera tracker
#: appearance").
CAMERA_APPEARANCE_COST = 16.0
#: The camera tracker's ``appearance_reacquire_gate``: one person's colour distance is ~0.15 (up to ~0.3
#: when partly hidden), two people's 0.4-0.9, at weights 0.4-0.9 (RESULTS.md, "Camera tracker appearance").
CAMERA_APPEARANCE_REACQUIRE_GATE = 0.25
#: The camera tracker's re-acquisition is off (``reacquire_window_s`` 0): on 13 disjoint bags the colour of
#: a person found again 2-5 s later (distance x weight ~0.23) did not separate them from others (~0.29),
#: and the one re-acquisition it made was wrong (RESULTS.md, "Re-acquiring a person the LiDAR tracker
#: lost"). Turned on, a lost person may have walked 1 box height (~1.7 m) a second.
CAMERA_REACQUIRE_SPEED_HEIGHTS = 1.0


def camera_tracker_config() -> TrackerConfig:
    """Defaults for image-plane tracking of person boxes in pixels at ~15 Hz.

    Weighs clothing colour (``appearance_cost``) and does not let a track that lost its person take back
    someone in other clothes (``appearance_reacquire_gate``): people who part after crossing in the image
    swapped tracks by motion alone. Keeps a person hidden behind another alive while inside that
    person's blob, and assigns by
    likelihood (a long-coasting track does not win by its own uncertainty): people crossing in the image
    at different depths kept swapping identities (RESULTS.md, "Camera tracker identity swaps"). The
    filtered point stays the box centre (``box_point_y`` 0.5): the foot point helped the overlap bags but
    broke tracks in the disjoint one, where the segmenter sometimes loses a person's legs and the box
    bottom jumps by more than the gate. A track that lost its measurement to the gate keeps a measurement
    that plainly overlaps its predicted box (``overlap_rescue_iou``): a person the robot passes at 2-3 m
    spans half the image and moves tens of pixels a frame. Taking a part of the person too
    (``part_rescue_coverage``, ``PART_RESCUE_COVERAGE``) is off: it kept one track per walker where the
    segmenter lost the legs but made fewer hand-offs on fresh bags.
    """
    return TrackerConfig(process_accel_std=60.0, measurement_std=4.0, initial_velocity_std=80.0,
                         max_gate_distance=80.0, box_point_y=0.5, occlusion_coverage=0.5,
                         likelihood_cost=True, overlap_rescue_iou=OVERLAP_RESCUE_IOU,
                         publish_coasting_frames=CAMERA_PUBLISH_COASTING_FRAMES,
                         appearance_cost=CAMERA_APPEARANCE_COST,
                         appearance_reacquire_gate=CAMERA_APPEARANCE_REACQUIRE_GATE,
                         body_height_gate_m=0.0, body_intensity_gate=0.0,
                         reacquire_window_s=0.0, reacquire_speed=CAMERA_REACQUIRE_SPEED_HEIGHTS,
                         reacquire_radius=1.0, reacquire_in_box_heights=True)


@dataclass(frozen=True)
class TrackletConfig:
    """Per-track frame buffers: ``s`` frames taken every ``stride`` updates, emitted every ``hop``."""

    frames: int = param(10, "s, frames per tracklet (the model's sequence length)", lo=1, hi=1000)
    stride: int = param(1, "take every stride-th frame of a track", lo=1, hi=1000)
    hop: int = param(5, "emit a new tracklet after this many newly taken frames", lo=1, hi=1000)
    max_age_s: float = param(2.0, "a track's buffer is dropped after this long unseen")
    max_tracks: int = param(64, "at most this many buffers; the stalest is evicted")
    min_lidar_points: int = param(
        80, "a LiDAR cluster with fewer points gives its track no tracklet frame (a far person's few rings "
            "make a depth map the model cannot read; 80 points is ~17 m for an HDL-64E 2.2 m up, the "
            "reference model saw 6-13 m); 0 = every cluster", lo=0, hi=100000)

    def validate(self) -> None:
        _positive(self, "frames", "stride", "hop", "max_age_s", "max_tracks")
        _non_negative(self, "min_lidar_points")


#: The window over which ``IdentityConfig.split_speed_mps`` reads a track's speed, s: long enough that a far
#: camera foot point's noise (sigma ~0.3 m, less 2 combined sigmas of each distance) stays under a walking
#: pace, short enough to see a swap as a jump.
SPLIT_WINDOW_S = 1.0


@dataclass(frozen=True)
class IdentityConfig:
    """Cross-sensor identity management (the recognizer's logic, see ``identity.py``)."""

    # for TRACK-level embeddings (tcfd_ros.distance.aggregate_track_embedding), see identity.py
    open_set_threshold: float | None = param(
        None, "None: model's open_set_threshold_track, else open_set_threshold")
    track_evidence_tracklets: int = param(
        16, "newest tracklet embeddings per track that form its evidence (16: 5-8 s of a walk at the default "
            "hop; RESULTS.md, \"Track evidence over 16 tracklets\")")
    track_evidence_trim: float = param(
        0.0, "share of a track's evidence tracklets left out of its aggregate, per embedding part those "
             "least like the track's mean (a trimmed mean; tracks of fewer than 4 tracklets are never "
             "trimmed); 0: the plain mean. 0.125 raised gait alone's genuine accepts at 1 % FMR by 3-5 "
             "points on 36 fresh replays but handed off one more person of 216 (RESULTS.md, \"A trimmed "
             "track aggregate\")",
        lo=0.0, hi=0.5)
    gait_min_tracklets: int = param(
        4, "tracklets a track needs before gait may link it to an identity, and that another track's stored "
           "evidence needs before gait compares with it (1.3 s of camera, 2 s of LiDAR walk at the default "
           "hop: earlier links rest on too little; RESULTS.md, 'Stature beside gait and walking speed', "
           "'Gait evidence on both sides')")
    gait_same_modality: bool = param(False, "gait also compares camera-camera and LiDAR-LiDAR embeddings; "
                                            "off: the model's threshold is calibrated on camera-LiDAR pairs, "
                                            "and same-modality distances are smaller, so that threshold "
                                            "would accept strangers")
    switch_margin: float = param(
        0.1, "gait distance by which another identity must be closer to take a track nothing supports "
             "(models without a cue exponent, or gait_revision_nats 0; else gait_revision_nats)",
        lo=0.0, hi=2.0)
    switch_patience: int = param(3, "another identity must be switch_margin (or gait_revision_nats) better "
                                    "on this many consecutive tracklets to take a track", lo=1, hi=1000)
    gait_revision_nats: float = param(
        0.05, "a binding gait alone or nothing holds moves to another identity gait accepts when that one "
              "scores this many nats of the cues' ratio better on switch_patience consecutive tracklets "
              "(models with a cue exponent; RESULTS.md, 'A first gait link that later evidence overturns', "
              "'An unsupported binding that never moved', 'A track that leaves an identity'); 0 = gait-held "
              "bindings never move and unsupported ones move by switch_margin", lo=0.0, hi=100.0)
    relative_accept_factor: float = param(
        1000.0, "a track's best identity that misses the open-set threshold by at most this factor is "
                "accepted when every other candidate identity scores relative_accept_margin_nats worse (at "
                "least one must) and it holds no other track of this track's sensor: a clear first in a "
                "field of strangers (models with a cue exponent, cues on; RESULTS.md, 'The recognizer's own "
                "operating curve': more hand-offs, and where many people are seen by one sensor only, more "
                "false links); 0 or 1 = off", lo=0.0, hi=1.0e6)
    relative_accept_margin_nats: float = param(
        2.0, "with relative_accept_factor: the nats of the cues' likelihood ratio by which the best identity "
             "must beat the runner-up (log of the runner-up's decision score over the best's, divided by the "
             "model's cue exponent k, as gait_revision_nats, so that a recalibration does not move the rule; "
             "RESULTS.md, 'A rival that has somewhere to go')", lo=0.0, hi=100.0)
    max_embeddings_per_identity: int = param(8, "per modality, oldest dropped (memory bound)")
    track_timeout_s: float = param(
        10.0, "a track without a tracklet this long releases its identity binding; one that delivers again "
              "after that is a new track to the recognizer")
    concurrent_window_s: float = param(1.5, "same-sensor tracks seen this close in time are two people")
    concurrent_overlap_s: float = param(
        1.0, "two tracks of one sensor seen at the same time for this long are two people, while both "
             "deliver and after one has ended: gait joins an identity to at most one of them, the one whose "
             "gait fits its other sensors' evidence better (the other is moved to an identity of its own; "
             "one the identity holds by geometry stays); a geometric link is exempt; 0: off",
        lo=0.0, hi=60.0)
    rival_fit_margin: float = param(
        0.1, "with concurrent_overlap_s: a track takes an identity from a track of its sensor seen beside it "
             "only when its gait fits the identity's other sensors' evidence this share better (its distance "
             "times 1 + margin below the other's): two walkers who fit alike do not take the identity from "
             "each other at every tracklet (RESULTS.md, 'Two walkers who fit alike'); 0: any better fit "
             "takes it", lo=0.0, hi=10.0)
    rival_fit_cues: bool = param(
        True, "with concurrent_overlap_s: the two tracks' fits above are their decision scores (gait with "
              "the cues each measured against the identity's other sensors', as a link is decided) where "
              "both measured the same cues, not their gait alone: of two walkers of one sensor whose gait "
              "fits alike, the one whose stature and pace agree takes the identity (RESULTS.md, 'A rival's "
              "cues')")
    rival_fit_own: bool = param(
        True, "with rival_fit_cues: a track that gait holds in another identity it passes there (its score "
              "under the threshold) weighs what it leaves: it takes the identity from a rival only when its "
              "score there times threshold / its score in its own identity beats the rival's (the rival "
              "moves to an identity of its own, at the threshold at best): two look-alike walkers do not "
              "trade a pair of good links for one better and one lost (RESULTS.md, 'Two look-alikes who "
              "would trade two links for one')")
    rival_alternative: bool = param(
        True, "with concurrent_overlap_s: a rival that holds an identity a track of its sensor contests "
              "weighs where else it would go: the best other identity it passes (score under the threshold; "
              "one that holds no track of its sensor, that geometry does not veto and the walking-pace rule "
              "allows). The contesting track takes the identity when its score there, times what it leaves "
              "(as rival_fit_own, whatever cues the two measured), beats the rival's times threshold / the "
              "rival's score in that other identity, and the rival moves there instead of to an identity of "
              "its own: the two bindings are weighed as one, and of two walkers who took each other's place "
              "both links are made (RESULTS.md, 'A rival that has somewhere to go')")
    successive_fit_ratio: float = param(
        3.5, "an identity holding two tracks of one sensor seen one after the other (not together), both "
             "held by gait: when one's gait fits the identity's other sensors' evidence over this many times "
             "better than the other's, the worse leaves for an identity of its own as the better joins or "
             "delivers (a stranger's track that joined first), and gait joins no track to an identity that "
             "it fits that much worse than one it holds; a geometric link is exempt (RESULTS.md, 'Of two "
             "successive tracks of one sensor, the far worse fit leaves': on 116 development replays 4 of 23 "
             "false links gone, 1 more person handed off, 1 fewer genuine gait pair; on 48 held-out ones 1 "
             "false link fewer and 1 genuine pair fewer); 0: off",
        lo=0.0, hi=1000.0)
    split_speed_mps: float = param(
        2.5, f"a track whose fixed-frame position moved faster than this over {SPLIT_WINDOW_S:g} s (each "
             "distance less 2 combined sigmas of its two positions) followed someone else from there (a "
             "camera tracker's swap): what it delivered before is set apart as an ended track, as after "
             "track_timeout_s, and it goes on as a new track (RESULTS.md, 'Camera tracks that jump'); 0: off",
        lo=0.0, hi=20.0)
    max_walking_speed_mps: float = param(
        3.0, "gait joins no identity holding a track that this track's person could only have come from (or "
             "gone to) faster than this: the straight line between the earlier track's last tracklet and the "
             "later's first, less 2 combined sigmas, over the time between (tracks seen at overlapping "
             "times: the most any of their first and newest tracklets 2 s or more apart ask); a geometric "
             "link is exempt; 0: off", lo=0.0, hi=20.0)
    fragment_max_gap_s: float = param(
        15.0, "an identity one track of a sensor founded and alone holds joins the identity of a person "
              "another sensor's track holds by gait or geometry when it continues, within this many seconds "
              "and at a walking pace, a track of its sensor that identity holds, and its gait passes against "
              "that track and fits that identity best (a tracker that lost and re-acquired one walker; "
              "perception.fragments; RESULTS.md, 'Fragments of one walk, on by default': on 24 fresh bags "
              "2 more of 157 genuine track pairs linked and 1 more of 786 impostor pairs); 0: off",
        lo=0.0, hi=600.0)
    fragment_continuation_m: float = param(
        0.0, "with fragment_max_gap_s: a fragment joins only where it goes on from its neighbour's walk: "
             "the later of the two tracks began within this many metres (plus 2 combined sigmas of the two "
             "places) of where either track's own mean velocity carries the earlier one's end across the gap "
             "(a track placed over less than 1 s has no velocity; neither: no check). A tracker that lost "
             "and found one walker finds them on their way; a walker who stopped or turned back in the gap "
             "is not gathered. At 2.5 m on 108 development re-runs it removed 3 of 8 wrong joins and lost 1 "
             "of 16 right ones, but another wrong join took the place of one: 24 false links against 25, "
             "the same hand-offs, one bag fewer on the line; on 16 held-out ones no change (RESULTS.md, "
             "'A fragment its own person claims'); 0: off", lo=0.0, hi=100.0)
    fragment_release: bool = param(
        True, "with fragment_max_gap_s: a gathered fragment leaves for an identity of its own when a live "
              "track of the holding track's modality, outside the fragment's identity, passes against the "
              "fragment and fits it gait_revision_nats better than the track that gathered it, on "
              "switch_patience consecutive tracklets (gait chose "
              "among the tracks seen by then; the fragment's own person may come later), and is never "
              "gathered into that identity again (perception.fragments; RESULTS.md, 'A fragment its own "
              "person claims')")
    use_geometry: bool = param(True, "fuse fixed-frame positions (tracks v2 ``ground``) where present")
    geometry_history_s: float = param(8.0, "per-track position history compared between sensors")
    geometry_sync_s: float = param(0.05, "two positions are simultaneous if stamped this close")
    geometry_gate_sigmas: float = param(
        3.0, "co-located: within this many combined sigmas (or geometry_gate_floor_m)")
    geometry_gate_floor_m: float = param(
        0.75, "co-located: within geometry_gate_sigmas combined sigmas or this many metres, whichever is "
              "larger (a camera foot point is the box's bottom centre, not the body centre a LiDAR cluster "
              "gives; on robot bags 80-94 % of one person's measured camera samples lie within 0.5 m of "
              "its LiDAR track, 88-99 % within 0.75 m)")
    geometry_gate_max_m: float = param(
        3.0, "a simultaneous sample whose co-location radius (geometry_gate_sigmas combined sigmas) "
             "exceeds this is no evidence either way unless apart (a far camera foot point: its metres of "
             "uncertainty would make every track nearby co-located)")
    geometry_veto_sigmas: float = param(
        5.0, "apart: beyond this many combined sigmas (and geometry_veto_floor_m)")
    geometry_veto_floor_m: float = param(
        2.0, "apart: beyond geometry_veto_sigmas combined sigmas and beyond this many metres")
    geometry_veto_samples: int = param(3, "consecutive simultaneous far-apart samples that veto a link")
    geometry_veto_span_s: float = param(
        0.5, "the far-apart samples of a veto span at least this long (a shorter run is a bad measurement)",
        lo=0.0, hi=10.0)
    geometry_link_samples: int = param(10, "simultaneous co-located samples a geometric link needs")
    geometry_link_span_s: float = param(
        1.2, "a geometric link's co-located samples span at least this long (a robot's camera sees a "
             "person for 1-2 s; RESULTS.md, 'Gait evidence on both sides')")
    geometry_ambiguous_s: float = param(
        1.0, "another track co-located with either of a pair over this last stretch makes their link "
             "ambiguous (no new link now)", lo=0.0, hi=10.0)
    geometry_link_fraction: float = param(
        0.8, "a geometric link's co-located samples form at least this share of the simultaneous samples")
    transit_prior: bool = param(False, "gait links across sensors only after a plausible transit time")
    transit_min_s: float = param(0.0, "a person needs at least this long between the sensors' zones")
    transit_max_s: float = param(120.0, "a person needs at most this long between the sensors' zones")
    speed_evidence: bool = param(
        True, "walking speed measured by both sensors (fixed-frame positions) weighs in beside gait as a "
              "likelihood ratio: by the model's open_set_cue_exponent_track, else along its false-match-rate "
              "curve (perception.walking_speed, cue_combination; unused by a model with neither)")
    speed_within_sd_mps: float = param(
        0.08, "SD of one person's speed difference between two sensors' tracks (change of pace plus "
              "measurement), m/s", lo=0.01, hi=1.0)
    speed_between_sd_mps: float = param(0.15, "SD of comfortable walking speed between people, m/s", lo=0.01,
                                        hi=2.0)
    speed_min_walking_mps: float = param(
        0.5, "speed counts only while both tracks walk at least this fast (people standing or loitering all "
             "share a speed near 0, which says nothing of who they are), m/s", lo=0.0, hi=2.0)
    speed_baseline_s: float = param(1.0, "a track's speed is the median of its displacements this far apart, "
                                         "s", lo=0.1, hi=10.0)
    speed_min_span_s: float = param(2.0, "a track's positions span at least this long before its speed "
                                         "counts, s", lo=0.1, hi=60.0)
    speed_max_se_mps: float = param(
        0.2, "a track's speed whose standard error (robust SD of its displacement speeds over the square "
             "root of the baselines it spans) exceeds this is withheld: it cannot tell people apart "
             "(strangers' speeds differ by ~0.2 m/s); 0 = never withheld, m/s", lo=0.0, hi=10.0)
    stature_evidence: bool = param(
        True, "stature measured by both sensors (camera box top through the calibration, LiDAR cluster top) "
              "weighs in beside gait with walking speed, as speed_evidence says (perception.stature)")
    stature_within_sd_m: float = param(
        0.05, "SD of one person's stature difference between two sensors' tracks (both measurements' error, "
              "posture), m", lo=0.005, hi=0.5)
    stature_between_sd_m: float = param(0.09, "SD of stature between people (adults, men and women), m",
                                        lo=0.01, hi=0.5)
    stature_outlier_share: float = param(
        0.1, "share of one person's track pairs whose statures disagree as strangers' do (a merged pair, "
             "something carried on the head): the stature likelihood ratio never falls below it", lo=0.0,
        hi=1.0)
    stature_min_samples: int = param(10, "a track's stature counts once this many frames measured it", lo=1,
                                     hi=10000)
    stature_max_spread_m: float = param(
        0.07, "a track whose per-frame statures spread more than this (robust SD, 1.4826 x MAD), m, measured "
              "no one person's stature (two people merged in one camera blob, one behind the other, make it "
              "drift): it gives the median of its tightest half of frames if that half spreads no more, else "
              "none (0: no limit; RESULTS.md, 'A stature that drifts', 'The tight half of a drifting "
              "stature')", lo=0.0, hi=1.0)
    step_frequency_evidence: bool = param(
        False, "step frequency (how fast the legs alternate, from the lower body's width in each tracklet "
               "frame) measured by both sensors weighs in beside gait with walking speed and stature, as "
               "speed_evidence says (perception.step_frequency). Off: the shipped model was calibrated "
               "without it; turn it on with a model calibrated with it (tcfd-ros calibrate --config; "
               "RESULTS.md, 'Step frequency beside gait, speed and stature')")
    step_frequency_within_sd_hz: float = param(
        0.05, "SD of one person's step-frequency difference between two sensors' tracks (change of pace "
              "between the zones plus measurement; ~3 % of a 1.8 Hz step rate), Hz", lo=0.001, hi=1.0)
    step_frequency_between_sd_hz: float = param(
        0.12, "SD of comfortable step frequency between people (~7 steps/min), Hz", lo=0.01, hi=1.0)
    step_frequency_outlier_share: float = param(
        0.1, "share of one person's track pairs whose step frequencies disagree as strangers' do (a "
             "harmonic picked on one side, a pace changed): the likelihood ratio never falls below it",
        lo=0.0, hi=1.0)
    step_frequency_min_span_s: float = param(
        4.0, "a track's frames span at least this long before its step frequency counts, s", lo=1.0, hi=60.0)
    step_frequency_min_power: float = param(
        0.1, "a track's step frequency counts once its periodogram's peak reaches this normalised power "
             "(a person walking head-on swings no width: no clear peak)", lo=0.0, hi=1.0)
    stature_open_set_fmr: float | None = param(
        0.01, "for a model without open_set_cue_exponent_track (calibrated before it existed): where both "
              "sensors measured the person's stature, the gait threshold is read off the model's "
              "false-match-rate curve at this rate (times the cues' likelihood ratios) instead of at the "
              "threshold's own rate (the model's 0.1 %): stature rejects most strangers a looser gait bar "
              "lets in. 1 % with the 8-view reference model, whose calibration holds on the pipeline's "
              "tracks (RESULTS.md, 'An eight-view reference model'; 0.3 % suited the 4-view model before "
              "it, whose curve understated the pipeline's false matches); None: no change", lo=1e-6,
        hi=0.5)
    gait_alone_bar: bool = param(
        False, "with a model whose cues are fitted (open_set_cue_exponent_track), a pair of tracks that "
               "shares no cue beside gait (a camera with no ground calibration, a stature withheld for its "
               "spread, every cue off) is decided by gait alone at the model's gait-alone track threshold "
               "(open_set_threshold_track_gait_alone, the same false-match rate), read on the combined "
               "score's scale; off: such a pair faces the combined bar, which gait alone never meets, so "
               "with no cue measured nothing links by gait. Turn it on where no cue can be measured; off "
               "by default: with the cues measured it gained nothing on fresh disjoint bags (RESULTS.md, "
               "'Gait alone where no cue is measured')")
    missing_cue_factor: float = param(
        8.0, "with a model whose cues are fitted (open_set_cue_exponent_track): a pair of tracks that "
             "shares some but not all of the cues that are on (a camera track whose stature was withheld "
             "for its spread: two walkers merged in one blob) has its score divided by this factor per cue "
             "it lacks. Such a pair lacks the agreement a genuine pair's missing cue would usually add, so "
             "the combined bar holds it to a far lower false-match rate than pairs that share every cue "
             "(0 % against 3.8 % of impostor pairs on 42 development replays; 2.0 % at 8). Calibration "
             "sets the threshold on the plain combined score; this applies in the recognizer (RESULTS.md, "
             "'A pair that lacks a cue'); 1: no change", lo=1.0, hi=1e6)
    persist_unenrolled_embeddings: bool = param(True, "False: only enrolled identities' embeddings are saved")
    max_identities: int = param(
        1000, "identities kept in memory; the least recently seen unbound, unenrolled ones go first (memory: "
        "max_identities x 2 x max_embeddings_per_identity x parts x dim x 4 B, ~490 MB for 1000 at 15 x 512)")
    confidence_temperature: float = param(
        0.05, "confidence = sigmoid((threshold - score) / T) for a model without open_set_cue_exponent_track "
              "(with it: sigmoid(log(threshold / score) / k))")

    @property
    def cues_on(self) -> bool:
        """Some cue beside gait (walking speed, stature, step frequency) is measured."""
        return self.cues_enabled() > 0

    def cues_enabled(self) -> int:
        """How many cues beside gait are on."""
        return int(self.speed_evidence) + int(self.stature_evidence) + int(self.step_frequency_evidence)

    def validate(self) -> None:
        c = type(self).__name__
        if self.open_set_threshold is not None:
            _require(0.0 < self.open_set_threshold < 2.0, c, "open_set_threshold",
                     self.open_set_threshold, "0 < value < 2 (cross-modal distance range)")
        _require(math.isfinite(self.missing_cue_factor) and self.missing_cue_factor >= 1.0, c,
                 "missing_cue_factor", self.missing_cue_factor, "a finite value >= 1 (1: no change)")
        _non_negative(self, "switch_margin", "gait_revision_nats", "relative_accept_factor",
                      "relative_accept_margin_nats",
                      "transit_min_s", "speed_min_walking_mps", "concurrent_overlap_s",
                      "max_walking_speed_mps", "fragment_max_gap_s", "fragment_continuation_m",
                      "successive_fit_ratio",
                      "rival_fit_margin", "split_speed_mps")
        _positive(self, "switch_patience", "max_embeddings_per_identity", "track_timeout_s", "max_identities",
                  "concurrent_window_s", "track_evidence_tracklets", "gait_min_tracklets",
                  "geometry_history_s", "geometry_sync_s", "geometry_gate_sigmas", "geometry_gate_floor_m",
                  "geometry_gate_max_m", "geometry_veto_sigmas", "geometry_veto_floor_m",
                  "geometry_veto_samples", "geometry_link_samples", "geometry_link_span_s",
                  "confidence_temperature", "speed_within_sd_mps", "speed_between_sd_mps", "speed_baseline_s",
                  "speed_min_span_s", "stature_within_sd_m", "stature_between_sd_m", "stature_min_samples",
                  "step_frequency_within_sd_hz", "step_frequency_between_sd_hz", "step_frequency_min_span_s")
        _require(0.0 <= self.track_evidence_trim <= 0.5, c, "track_evidence_trim", self.track_evidence_trim,
                 "0 <= value <= 0.5 (a trimmed mean keeps most of the track)")
        ratio = self.successive_fit_ratio
        _require(ratio == 0.0 or ratio > 1.0, c, "successive_fit_ratio", ratio, "0 (off) or more than 1")
        _require(0.0 < self.geometry_link_fraction <= 1.0, c, "geometry_link_fraction",
                 self.geometry_link_fraction, "0 < value <= 1")
        _require(self.geometry_veto_floor_m > self.geometry_gate_floor_m, c, "geometry_veto_floor_m",
                 self.geometry_veto_floor_m, "more than geometry_gate_floor_m")
        _require(self.geometry_gate_max_m >= self.geometry_gate_floor_m, c, "geometry_gate_max_m",
                 self.geometry_gate_max_m, "at least geometry_gate_floor_m")
        _ordered(self, "transit_min_s", "transit_max_s")
        _require(self.speed_between_sd_mps * math.sqrt(2.0) > self.speed_within_sd_mps, c,
                 "speed_within_sd_mps", self.speed_within_sd_mps,
                 "below sqrt(2) x speed_between_sd_mps (else agreeing speeds would count against a match)")
        _require(self.stature_between_sd_m * math.sqrt(2.0) > self.stature_within_sd_m, c,
                 "stature_within_sd_m", self.stature_within_sd_m,
                 "below sqrt(2) x stature_between_sd_m (else agreeing statures would count against a match)")
        _require(0.0 < self.stature_outlier_share < 1.0, c, "stature_outlier_share",
                 self.stature_outlier_share, "0 < value < 1")
        _require(self.step_frequency_between_sd_hz * math.sqrt(2.0) > self.step_frequency_within_sd_hz, c,
                 "step_frequency_within_sd_hz", self.step_frequency_within_sd_hz,
                 "below sqrt(2) x step_frequency_between_sd_hz (else agreeing rates would count against a "
                 "match)")
        _require(0.0 < self.step_frequency_outlier_share < 1.0, c, "step_frequency_outlier_share",
                 self.step_frequency_outlier_share, "0 < value < 1")
        if self.stature_open_set_fmr is not None:
            _require(0.0 < self.stature_open_set_fmr < 1.0, c, "stature_open_set_fmr",
                     self.stature_open_set_fmr, "0 < value < 1")
