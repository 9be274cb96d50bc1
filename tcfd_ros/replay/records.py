"""Plain records a replay produces and scores: ground truth, per-frame outputs, matches, latencies.

Everything here is ROS-free and JSON-friendly, so a recording can be saved, reloaded and re-scored
without the graph. Sensors are named by their namespace (``camera``, ``lidar``); ``modality`` is
``"2d"`` for cameras and ``"3d"`` for LiDARs (``tcfd_ros.model.MODALITIES``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tcfd_ros.replay.losses import StageFlow

Box = tuple[float, float, float, float]     # image box x0, y0, x1, y1 in pixels
XY = tuple[float, float]                    # ground-plane position in the LiDAR frame, metres


@dataclass(frozen=True)
class GTPerson:
    person_id: int
    image_box: Box | None          # camera frames: where the person is in the image
    position: XY | None            # LiDAR frames: box centre on the ground plane, LiDAR frame
    detectable: bool               # docs/ground_truth.md's "should be detected" rule


@dataclass(frozen=True)
class GTFrame:
    sensor: str
    stamp_s: float
    people: tuple[GTPerson, ...]


@dataclass(frozen=True)
class Observation:
    """One detected or tracked person in one output frame (track_id -1 for a bare detection)."""

    track_id: int
    image_box: Box | None = None
    position: XY | None = None


@dataclass(frozen=True)
class OutputFrame:
    sensor: str
    stamp_s: float
    observations: tuple[Observation, ...]


@dataclass(frozen=True)
class MatchEvent:
    """One entry of the recognizer's ``matches`` output."""

    stamp_s: float
    sensor: str
    track_id: int
    global_id: int                 # the identity the recognizer gave the track (new ids for unknowns)
    distance: float                # NaN when there was nothing to compare with
    known: bool                    # matched an existing identity within the open-set threshold
    decided_by: str | None = None  # match v2: "geometry" | "gait" | "both" | None (v1: None)
    ground: tuple[float, float, float] | None = None   # match v2: fused position, metres
    fixed_frame: str = ""          # frame of ``ground``


@dataclass(frozen=True)
class StageLatency:
    stage: str                     # e.g. "camera/detections"
    latency_s: float               # output arrival - input publish, wall clock


@dataclass
class RunInfo:
    """How the replay went: what was read, published and received, and how fast."""

    bag: str
    bag_duration_s: float
    topics: dict[str, int] = field(default_factory=dict)        # bag topic -> messages in the bag
    published: dict[str, int] = field(default_factory=dict)     # bag topic -> messages published
    received: dict[str, int] = field(default_factory=dict)      # output topic -> messages received
    skipped_topics: dict[str, str] = field(default_factory=dict)  # bag topic -> why it was not published
    unacknowledged: dict[str, int] = field(default_factory=dict)  # sensor -> frames with no stage output
    unwaited: dict[str, int] = field(default_factory=dict)  # sensor -> frames --fast sent without waiting
    wall_s: float = 0.0
    mode: str = "rate 1.0"
    bag_error: str | None = None
    graph_log: str | None = None
    recorder_errors: dict[str, str] = field(default_factory=dict)  # output topic -> first conversion error
    stages: list[StageFlow] = field(default_factory=list)  # sent vs received per stage (replay/losses.py)
    ros_domain_id: int | None = None   # the domain the replay's graph ran on (replay/dds.py)

    @property
    def real_time_factor(self) -> float:
        return self.bag_duration_s / self.wall_s if self.wall_s > 0 else 0.0
