"""Each node's parameters as one frozen dataclass (node settings + the library config it wraps).

These are the single definition of every ROS parameter: ``params.ParameterBinding`` declares them with
descriptors (the trailing comment is the description), ``config/crossmodal.yaml`` sets them, and
``tcfd-ros bringup`` validates that file against them before starting anything. Fields marked
``read_only`` fix the node's wiring or its loaded model and cannot change at run time; everything
else (thresholds, gates) can, with ``ros2 param set`` or ``SetParameters``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from tcfd_ros.errors import ConfigError
from tcfd_ros.perception.calibration_config import CalibrationConfig
from tcfd_ros.perception.guided_config import GuidedSegmenterConfig
from tcfd_ros.perception.config import (
    CameraSegmenterConfig,
    IdentityConfig,
    LidarSegmenterConfig,
    TrackerConfig,
    TrackletConfig,
    camera_tracker_config,
)

# Ranges (inclusive) of library config fields, by dotted parameter name, for their ROS descriptors;
# the dataclasses' own validate() still decides (strict bounds, cross-field rules).
PARAM_RANGES: dict[str, tuple[float, float]] = {
    "segmenter.yolo_conf": (0.0, 1.0),
    "segmenter.yolo_iou": (0.0, 1.0),
    "segmenter.min_fill_ratio": (0.0, 1.0),
    "segmenter.bg_learning_rate": (-1.0, 1.0),
    "segmenter.ground_max_tilt_deg": (0.0, 90.0),
    "segmenter.ground_candidate_quantile": (0.0, 1.0),
    "segmenter.background_min_occupancy": (0.0, 1.0),
    "tracker.size_smoothing": (0.0, 1.0),
    "tracker.min_hits": (1, 1000),
    "tracklet.frames": (1, 1000),
    "tracklet.stride": (1, 1000),
    "tracklet.hop": (1, 1000),
    "identity.switch_margin": (0.0, 2.0),
    "identity.switch_patience": (1, 1000),
    "calibration.pixel_sigma_px": (0.0, 1000.0),
    "calibration.lidar_sigma_m": (0.0, 100.0),
    "calibration.max_ground_range_m": (0.0, 10000.0),
}


def _positive(obj: object, *names: str) -> None:
    for n in names:
        v = getattr(obj, n)
        if not v > 0:
            raise ConfigError(f"{type(obj).__name__}.{n} = {v!r}: expected a value > 0")


def meta(description: str, read_only: bool = False, lo: float | None = None,
         hi: float | None = None) -> dict:
    """Field metadata read by ``params.param_specs``: description, read-only, inclusive range."""
    out: dict = {"description": description, "read_only": read_only}
    if lo is not None:
        out["min"] = lo
    if hi is not None:
        out["max"] = hi
    return out


INPUT_RELIABILITY = meta("sensor input QoS: best_effort (live sensors) or reliable (bag replay of "
                         "large messages)", read_only=True)


@dataclass(frozen=True)
class CameraSegmenterNodeConfig:
    """camera_segmenter: Image (+ CameraInfo) -> ``detections`` (mono16 labels) and ``annotated``."""

    frame_id: str = field(default="", metadata=meta("overrides the image's frame_id when not empty", True))
    queue_size: int = field(default=2, metadata=meta("images waiting for the segmenter", True, 1, 1000))
    input_reliability: Literal["best_effort", "reliable"] = field(
        default="best_effort", metadata=INPUT_RELIABILITY)
    publish_annotated: bool = True        # draw masks, tracks, global ids on ``annotated`` (while subscribed)
    annotation_cache_frames: int = field(default=30, metadata=meta("images kept until their tracks arrive",
                                                                   lo=1, hi=1000))
    require_camera_info: bool = False     # drop images until a CameraInfo of the same size arrived
    segmenter: CameraSegmenterConfig = field(default_factory=CameraSegmenterConfig)
    guide: GuidedSegmenterConfig = field(default_factory=GuidedSegmenterConfig)

    def validate(self) -> None:
        _positive(self, "queue_size", "annotation_cache_frames")
        self.guide.validate()


@dataclass(frozen=True)
class LidarSegmenterNodeConfig:
    """lidar_segmenter: PointCloud2 -> ``clusters`` (person points with a ``cluster`` field)."""

    frame_id: str = field(default="", metadata=meta("overrides the cloud's frame_id when not empty", True))
    queue_size: int = field(default=2, metadata=meta("clouds waiting for the segmenter", True, 1, 1000))
    input_reliability: Literal["best_effort", "reliable"] = field(
        default="best_effort", metadata=INPUT_RELIABILITY)
    segmenter: LidarSegmenterConfig = field(default_factory=LidarSegmenterConfig)
    # where the LiDAR sits; on a moving platform (parent_frame = base_frame, or tf2) the static memories
    # (bollards, walls) are kept in the fixed frame from the pose at each cloud's stamp; a fixed sensor
    # (no extrinsics, or extrinsics to the fixed frame itself) keeps them in the sensor frame
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)

    def validate(self) -> None:
        _positive(self, "queue_size")
        self.calibration.validate()


@dataclass(frozen=True)
class TrackerNodeConfig:
    """tracker (one per sensor): detections/clusters -> Kalman tracks -> ``tracks`` and ``tracklets``."""

    modality: Literal["2d", "3d"] = field(default="3d", metadata=meta(
        "2d: camera detections (pixels), 3d: LiDAR clusters (metres)", True))
    sensor: str = field(default="", metadata=meta(
        "sensor name in tracklets and matches; empty = the node's namespace", True))
    queue_size: int = field(default=4, metadata=meta("inputs waiting for the tracker", True, 1, 1000))
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    tracklet: TrackletConfig = field(default_factory=TrackletConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)

    def validate(self) -> None:
        _positive(self, "queue_size")


def camera_tracker_node_config() -> TrackerNodeConfig:
    """Defaults of the camera tracker: image-plane positions in pixels."""
    return TrackerNodeConfig(modality="2d", tracker=camera_tracker_config())


@dataclass(frozen=True)
class RecognizerNodeConfig:
    """recognizer: every sensor's tracklets -> embeddings -> global identities -> ``matches``, ``markers``."""

    backend: Literal["torch", "onnx", "tensorrt"] = field(default="onnx",
                                                          metadata=meta("embedding runtime", True))
    model_path: str = field(default="models/tcfd_sim.onnx", metadata=meta(
        "exported model (tcfd-ros export); default: the shipped reference model; a relative path is "
        "looked up in the working dir, the source tree, the share dir", True))
    threads: int = field(default=2, metadata=meta("CPU threads of the runtime", True, 1, 256))
    camera_namespaces: tuple[str, ...] = field(default=("camera",), metadata=meta(
        "one camera pipeline (segmenter + tracker) per namespace", True))
    lidar_namespaces: tuple[str, ...] = field(default=("lidar",), metadata=meta(
        "one LiDAR pipeline (segmenter + tracker) per namespace", True))
    batch_size: int = field(default=8, metadata=meta("tracklets embedded in one call", lo=1, hi=1024))
    queue_size: int = field(default=64, metadata=meta("tracklets waiting; oldest dropped", True, 1, 100000))
    gallery_path: str = field(default="", metadata=meta(
        "SQLite gallery file; empty = identities in memory only, nothing kept", True))
    gallery_retention_days: float = field(default=30.0, metadata=meta(
        "identities unseen this long before the newest stamp go; 0 = keep forever", lo=0.0, hi=36500.0))
    marker_lifetime_s: float = field(default=1.0, metadata=meta("markers vanish unless refreshed",
                                                                lo=0.0, hi=3600.0))
    marker_frame_id: str = ""             # frame of markers; empty = the fixed frame (else the LiDAR frame)
    enrol_target: str = ""                # ~/enrol: 'sensor:track_id' to enrol; empty = the latest match
    enrol_label: str = ""                 # ~/enrol: name of the enrolled identity; empty = none
    erase_global_id: int = field(default=0, metadata=meta("~/erase: the identity to erase", lo=0))
    identity: IdentityConfig = field(default_factory=IdentityConfig)

    def validate(self) -> None:
        _positive(self, "threads", "batch_size", "queue_size")
        if self.gallery_retention_days < 0:
            raise ConfigError(f"RecognizerNodeConfig.gallery_retention_days = {self.gallery_retention_days}: "
                              "expected >= 0 (0 keeps identities forever)")


def node_defaults() -> dict[str, object]:
    """Default config of every node name in the graph (``tcfd_ros.graph.NODE_NAMES``)."""
    return {
        "camera_segmenter": CameraSegmenterNodeConfig(),
        "camera_tracker": camera_tracker_node_config(),
        "lidar_segmenter": LidarSegmenterNodeConfig(),
        "lidar_tracker": TrackerNodeConfig(),
        "recognizer": RecognizerNodeConfig(),
    }
