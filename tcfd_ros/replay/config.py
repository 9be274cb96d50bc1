"""Settings of a replay run: bag topics, flow control and scoring thresholds.

Sensor and output topics are not here: they follow the node graph (``tcfd_ros.graph``) built from the
same params file the graph runs with, so replay and graph cannot disagree.

Defaults live here (one place); ``tcfd-ros replay --replay-config FILE`` overrides them from a YAML
file with a top-level ``replay:`` section, loaded strictly through ``tcfd_ros.config_io`` (unknown
keys raise with their dotted path).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tcfd_ros.config_io import load_dataclass
from tcfd_ros.errors import ConfigError


@dataclass(frozen=True)
class BagTopics:
    """Bag topics that are not sensor inputs (those follow the graph's sensor namespaces)."""

    ground_truth: str = "/ground_truth"   # std_msgs/String, schema tcfd_ros/ground_truth v1
    tf_static: str = "/tf_static"         # published when rclpy has tf2_msgs; read into the calibration
    tf: str = "/tf"                       # the platform's pose: republished as PoseStamped (pose_topic)
    calibration_from_tf: bool = True      # pass the bag's extrinsics to the trackers as --param overrides


@dataclass(frozen=True)
class FlowConfig:
    """Pacing and shutdown of the graph during a replay."""

    # wait for the graph's input subscriptions to appear: ~15 s on 2 quiet cores, but 80 s and more on a
    # loaded 2-core host (five processes importing torch and ONNX Runtime at once); only failures wait it out
    graph_ready_timeout_s: float = 240.0
    # then until every publisher of the graph and of the replay has matched every subscriber discovered on its
    # topic: a reliable volatile sample sent before its reader matched is lost uncounted (the first 1-11
    # frames in 10 of 128 replays under a fixed 1 s settle; RESULTS.md, "A replay that waits until its
    # graph has matched"); past this, one warning names what is unmatched and the replay goes on
    match_timeout_s: float = 10.0
    fast_ack_timeout_s: float = 3.0          # --fast: longest wait for a frame's first-stage output
    # --fast: frames of one sensor in a row whose first-stage output timed out, after which its frames go out
    # without waiting until its stage answers again (a topic DDS never delivered, at 3 s a frame, made a 40 s
    # bag take 20 minutes)
    fast_ack_patience: int = 5
    fast_max_backlog: int = 8                # --fast: tracklets the recognizer may have left unanswered
    fast_backlog_timeout_s: float = 30.0     # --fast: longest wait for the recognizer to catch up
    drain_quiet_s: float = 3.0               # after the last message: stop once outputs are quiet this long
    drain_timeout_s: float = 60.0            # ... or after this long whatever happens
    shutdown_timeout_s: float = 10.0         # SIGINT -> wait -> SIGTERM -> wait -> SIGKILL
    # Ask for reliable input QoS (graph.REPLAY_OVERRIDES: the segmenters' and the camera tracker's
    # `input_reliability`, as `bringup --use-sim-time` does): a best-effort
    # sample split into UDP fragments (1 MB image, 2.5 MB cloud) is lost whole when one fragment is,
    # which on a loaded host is most of them; a bag player can afford retransmission.
    reliable_inputs: bool = True
    # Heartbeat of reliable DDS writers (Fast DDS profile, see tcfd_ros/replay/dds.py); 0 keeps the RMW's.
    dds_heartbeat_ms: float = 50.0

    def validate(self) -> None:
        for name in ("graph_ready_timeout_s", "match_timeout_s", "fast_ack_timeout_s",
                     "fast_backlog_timeout_s", "drain_quiet_s",
                     "drain_timeout_s",
                     "shutdown_timeout_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"flow.{name} must be > 0, got {getattr(self, name)}")
        if self.dds_heartbeat_ms < 0 or self.dds_heartbeat_ms >= 1000:
            raise ConfigError(f"flow.dds_heartbeat_ms must be in [0, 1000), got {self.dds_heartbeat_ms}")
        if self.fast_ack_patience < 1:
            raise ConfigError(f"flow.fast_ack_patience must be >= 1, got {self.fast_ack_patience}")
        if self.fast_max_backlog < 0:
            raise ConfigError(f"flow.fast_max_backlog must be >= 0, got {self.fast_max_backlog}")


@dataclass(frozen=True)
class ScoringConfig:
    """What counts as a correct detection (defaults: docs/ground_truth.md's scoring rule).

    Which people should be detected is the ground truth's own ``detectable`` flag.
    """

    camera_iou_min: float = 0.5              # image-box IoU for a camera detection to match a person
    lidar_distance_max_m: float = 0.5        # x-y distance, cluster centroid to box centre, LiDAR frame
    stamp_tolerance_s: float = 0.001         # an output belongs to the ground-truth frame within this
    cmc_max_rank: int = 10

    def validate(self) -> None:
        if not 0.0 < self.camera_iou_min <= 1.0:
            raise ConfigError(f"scoring.camera_iou_min must be in (0, 1], got {self.camera_iou_min}")
        if self.lidar_distance_max_m <= 0 or self.stamp_tolerance_s <= 0:
            raise ConfigError("scoring.lidar_distance_max_m and scoring.stamp_tolerance_s must be > 0, got "
                              f"{self.lidar_distance_max_m}, {self.stamp_tolerance_s}")
        if self.cmc_max_rank < 1:
            raise ConfigError(f"scoring.cmc_max_rank must be >= 1, got {self.cmc_max_rank}")


@dataclass(frozen=True)
class TargetConfig:
    """What a replay must reach to pass: the verdict table at the top of the report.

    Defaults are the project's acceptance bars for a disjoint or overlapping bag (issues 12 and 13:
    hand-off >= 67 % with at most one false link, camera precision >= 0.8, CMC rank-1 >= 60 %).
    """

    handoff_accuracy_min: float = 0.67       # people seen by both sensors who share one global id
    false_links_max: int = 1                 # cross-sensor links between different people, whole bag
    cmc_rank1_min: float = 0.60              # camera tracks whose person is the nearest LiDAR track
    detection_precision_min: float = 0.80    # per sensor
    detection_recall_min: float = 0.70       # per sensor
    idf1_min: float = 0.60                   # per sensor
    real_time_factor_min: float = 1.0        # bag seconds per wall second: keeps up with the sensors

    def validate(self) -> None:
        for name in ("handoff_accuracy_min", "cmc_rank1_min", "detection_precision_min",
                     "detection_recall_min", "idf1_min"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"targets.{name} must be in [0, 1], got {getattr(self, name)}")
        if self.false_links_max < 0 or self.real_time_factor_min < 0:
            raise ConfigError("targets.false_links_max and targets.real_time_factor_min must be >= 0, got "
                              f"{self.false_links_max}, {self.real_time_factor_min}")


@dataclass(frozen=True)
class ReplayConfig:
    bag: BagTopics = field(default_factory=BagTopics)
    flow: FlowConfig = field(default_factory=FlowConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    targets: TargetConfig = field(default_factory=TargetConfig)


def load_replay_config(path: str | Path | None) -> ReplayConfig:
    """The defaults, or ``path`` (a YAML file with a top-level ``replay`` section) loaded strictly."""
    if path is None:
        return ReplayConfig()
    return load_dataclass(ReplayConfig, path, section="replay")
