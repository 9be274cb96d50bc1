"""Each node's parameters as one frozen dataclass (node settings + the library config it wraps).

These are the single definition of every ROS parameter: each field is declared with
``config_io.param(default, description, lo=, hi=, read_only=)``, ``params.ParameterBinding`` declares
the parameters with descriptors built from that, ``config/crossmodal.yaml`` is rendered from it, and
``tcfd-ros bringup`` validates that file against them before starting anything. Fields marked
``read_only`` fix the node's wiring or its loaded model and cannot change at run time; everything
else (thresholds, gates) can, with ``ros2 param set`` or ``SetParameters``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from tcfd_ros.config_io import param
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


def _positive(obj: object, *names: str) -> None:
    for n in names:
        v = getattr(obj, n)
        if not v > 0:
            raise ConfigError(f"{type(obj).__name__}.{n} = {v!r}: expected a value > 0")


INPUT_RELIABILITY = ("sensor input QoS: best_effort (live sensors) or reliable (bag replay of large "
                     "messages)")


@dataclass(frozen=True)
class CameraSegmenterNodeConfig:
    """camera_segmenter: Image (+ CameraInfo) -> ``detections`` (mono16 labels) and ``annotated``."""

    frame_id: str = param("", "overrides the image's frame_id when not empty", read_only=True)
    queue_size: int = param(4, "images waiting for the segmenter; the oldest is dropped beyond (4: a "
                            "0.13 s stall at 2x real time costs no image)", lo=1, hi=1000, read_only=True)
    input_reliability: Literal["best_effort", "reliable"] = param("best_effort", INPUT_RELIABILITY,
                                                                  read_only=True)
    publish_annotated: bool = param(True, "draw masks, tracks, global ids on ``annotated`` (while "
                                    "subscribed)")
    annotation_cache_frames: int = param(30, "images kept until their tracks arrive", lo=1, hi=1000)
    require_camera_info: bool = param(False, "drop images until a CameraInfo of the same size arrived")
    segmenter: CameraSegmenterConfig = field(default_factory=CameraSegmenterConfig)
    guide: GuidedSegmenterConfig = field(default_factory=GuidedSegmenterConfig)

    def validate(self) -> None:
        _positive(self, "queue_size", "annotation_cache_frames")
        self.guide.validate()


@dataclass(frozen=True)
class LidarSegmenterNodeConfig:
    """lidar_segmenter: PointCloud2 -> ``clusters`` (person points with a ``cluster`` field)."""

    frame_id: str = param("", "overrides the cloud's frame_id when not empty", read_only=True)
    queue_size: int = param(4, "clouds waiting for the segmenter; the oldest is dropped beyond (4: a "
                            "0.2 s stall at 2x real time costs no cloud)", lo=1, hi=1000, read_only=True)
    input_reliability: Literal["best_effort", "reliable"] = param("best_effort", INPUT_RELIABILITY,
                                                                  read_only=True)
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

    modality: Literal["2d", "3d"] = param("3d", "2d: camera detections (pixels), 3d: LiDAR clusters (metres)",
                                          read_only=True)
    sensor: str = param("", "sensor name in tracklets and matches; empty = the node's namespace",
                        read_only=True)
    queue_size: int = param(4, "inputs waiting for the tracker", lo=1, hi=1000, read_only=True)
    input_reliability: Literal["best_effort", "reliable"] = param(
        "best_effort", "camera tracker: QoS of the image it reads clothing colours from "
        "(tracker.appearance_cost) and of camera_info; " + INPUT_RELIABILITY, read_only=True)
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

    backend: Literal["torch", "onnx", "tensorrt"] = param("onnx", "embedding runtime", read_only=True)
    model_path: str = param("models/tcfd_sim.onnx", "exported model (tcfd-ros export); default: the shipped "
                            "reference model; a relative path is looked up in the working dir, the source "
                            "tree, the share dir", read_only=True)
    threads: int = param(2, "CPU threads of the runtime", lo=1, hi=256, read_only=True)
    camera_namespaces: tuple[str, ...] = param(("camera",), "one camera pipeline (segmenter + tracker) per "
                                               "namespace", read_only=True)
    lidar_namespaces: tuple[str, ...] = param(("lidar",), "one LiDAR pipeline (segmenter + tracker) per "
                                              "namespace", read_only=True)
    batch_size: int = param(8, "tracklets embedded in one call", lo=1, hi=1024)
    queue_size: int = param(64, "tracklets waiting; oldest dropped", lo=1, hi=100000, read_only=True)
    reorder_window_s: float = param(1.0, "stamp order: a sensor whose newest tracks are this far (s) "
                                    "behind the newest input is not waited for", lo=0.0, hi=60.0,
                                    read_only=True)
    reorder_max_wait_s: float = param(0.5, "stamp order: longest wall time (s) a tracklet or a frame of "
                                      "positions waits for the other sensors to reach its stamp; 0 = "
                                      "decide as inputs arrive", lo=0.0, hi=10.0, read_only=True)
    gallery_path: str = param("", "SQLite gallery file; empty = identities in memory only, nothing kept",
                              read_only=True)
    gallery_retention_days: float = param(30.0, "identities unseen this long before the newest stamp go; 0 = "
                                          "keep forever", lo=0.0, hi=36500.0)
    marker_lifetime_s: float = param(1.0, "markers vanish unless refreshed", lo=0.0, hi=3600.0)
    marker_frame_id: str = param("", "frame of markers; empty = the fixed frame (else the LiDAR frame)")
    enrol_target: str = param("", "~/enrol: 'sensor:track_id' to enrol; empty = the latest match")
    enrol_label: str = param("", "~/enrol: name of the enrolled identity; empty = none")
    erase_global_id: int = param(0, "~/erase: the identity to erase", lo=0)
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
