"""What a replay captured from the graph, as plain JSON-friendly data, and how messages become it.

The converters take any object with the ROS message's attributes (no ROS import here), so they are
tested without DDS; the player calls them in its subscription callbacks. Heavy payloads are reduced
on arrival: a label image becomes one box per label, a cluster cloud one centroid per cluster, a
tracklet loses its base64 frames.
"""

from __future__ import annotations

import json
import logging
import struct
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tcfd_ros.errors import BagError, MessageFormatError
from tcfd_ros.replay.losses import StageFlow
from tcfd_ros.replay.records import RunInfo

log = logging.getLogger(__name__)

NS_PER_S = 1_000_000_000
# CDR encapsulation ids (first two bytes of a serialized ROS 2 message): plain CDR, big/little endian.
_CDR_BE, _CDR_LE = b"\x00\x00", b"\x00\x01"
_ENCAPSULATION_BYTES = 4
# Keys of a tcfd_ros/tracklet JSON that carry imagery; dropped on record (only sizes are kept).
_TRACKLET_IMAGERY_KEYS = ("frames",)


def header_stamp_ns(cdr: bytes, topic: str = "?") -> int:
    """The ``header.stamp`` of a serialized message whose first field is a std_msgs/Header.

    Reads the two leading CDR fields (int32 sec, uint32 nanosec) after the encapsulation header.
    """
    if len(cdr) < _ENCAPSULATION_BYTES + 8 or cdr[:2] not in (_CDR_BE, _CDR_LE):
        raise BagError(f"message on {topic} is not CDR with a header: first bytes {cdr[:4].hex()} "
                       f"(length {len(cdr)})")
    fmt = "<iI" if cdr[:2] == _CDR_LE else ">iI"
    sec, nsec = struct.unpack_from(fmt, cdr, _ENCAPSULATION_BYTES)
    return sec * NS_PER_S + nsec


def stamp_ns(stamp: Any) -> int:
    """builtin_interfaces/Time -> integer nanoseconds."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def label_image_boxes(labels: np.ndarray) -> list[dict[str, Any]]:
    """(H, W) instance-label image (0 = background) -> per label its box x0, y0, x1, y1 and pixel count."""
    if labels.ndim != 2:
        raise MessageFormatError(f"detections: label image must be 2-D, got shape {labels.shape}")
    out = []
    for k in np.unique(labels):
        if k == 0:
            continue
        ys, xs = np.nonzero(labels == k)
        box = [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]
        out.append({"label": int(k), "box": box, "pixels": int(xs.size)})
    return out


def cluster_centroids(xyz: np.ndarray, cluster: np.ndarray) -> list[dict[str, Any]]:
    """Points (N, 3) with cluster ids (N,) -> per cluster its centroid and point count."""
    out = []
    for k in np.unique(cluster):
        if k == 0:
            continue
        pts = xyz[cluster == k]
        c = pts.mean(axis=0)
        out.append({"label": int(k), "position": [float(c[0]), float(c[1]), float(c[2])],
                    "points": int(len(pts))})
    return out


def convert_detections(msg: Any) -> dict[str, Any]:
    from tcfd_ros.image_conversions import imgmsg_to_cv2
    return {"objects": label_image_boxes(np.asarray(imgmsg_to_cv2(msg)))}


def convert_clusters(msg: Any) -> dict[str, Any]:
    from tcfd_ros.point_cloud2 import read_points_numpy
    if msg.width * msg.height == 0:
        return {"objects": []}
    xyz = read_points_numpy(msg, field_names=("x", "y", "z"))
    cl = read_points_numpy(msg, field_names=("cluster",)).reshape(-1)
    return {"objects": cluster_centroids(np.asarray(xyz, dtype=np.float64), cl)}


def convert_string(msg: Any) -> dict[str, Any]:
    """JSON payload of a std_msgs/String; imagery of tracklets is replaced by its length."""
    try:
        data = json.loads(msg.data)
    except json.JSONDecodeError as e:
        return {"invalid_json": str(e), "raw": msg.data[:200]}
    if isinstance(data, dict):
        for k in _TRACKLET_IMAGERY_KEYS:
            if k in data:
                data[k] = {"omitted": True, "count": len(data[k]) if hasattr(data[k], "__len__") else None}
    return {"json": data}


def convert_markers(msg: Any) -> dict[str, Any]:
    out = []
    for m in msg.markers:
        p = m.pose.position
        out.append({"ns": m.ns, "id": int(m.id), "type": int(m.type), "action": int(m.action),
                    "frame_id": m.header.frame_id, "stamp_ns": stamp_ns(m.header.stamp),
                    "position": [float(p.x), float(p.y), float(p.z)],
                    "scale": [float(m.scale.x), float(m.scale.y), float(m.scale.z)], "text": m.text})
    return {"markers": out}


def convert_diagnostics(msg: Any) -> dict[str, Any]:
    return {"status": [{"name": s.name,
                        "level": (int.from_bytes(s.level, "little") if isinstance(s.level, bytes)
                                  else int(s.level)),
                        "message": s.message,
                        "values": {kv.key: kv.value for kv in s.values}} for s in msg.status]}


@dataclass
class Received:
    topic: str
    kind: str             # detections | clusters | string | markers | diagnostics
    wall_s: float         # arrival, time.monotonic()
    stamp_ns: int | None  # header stamp (the input's, copied through the graph), when the message has one
    payload: dict[str, Any]


@dataclass
class Recording:
    """Everything a replay saw: published input stamps, received outputs, ground truth, run info."""

    info: RunInfo
    published: list[tuple[str, int, float]] = field(default_factory=list)   # (sensor, header stamp ns, wall)
    received: list[Received] = field(default_factory=list)
    ground_truth: list[dict[str, Any]] = field(default_factory=list)        # parsed /ground_truth JSON
    sensors: dict[str, str] = field(default_factory=dict)                   # sensor namespace -> "2d"/"3d"
    # the newest ``tracklets_kept`` tracklet JSONs (with frames) per (sensor, track id), oldest first, for
    # the CMC (the recognizer's track evidence); kept in memory, not saved
    tracklets: dict[tuple[str, int], deque[str]] = field(default_factory=dict)
    tracklets_kept: int = 1

    def keep_tracklet(self, key: tuple[str, int], text: str) -> None:
        if key not in self.tracklets:
            self.tracklets[key] = deque(maxlen=max(1, self.tracklets_kept))
        self.tracklets[key].append(text)

    def save(self, path: Path) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(json.dumps({"info": asdict(self.info), "sensors": self.sensors}) + "\n")
            f.write(json.dumps({"published": self.published}) + "\n")
            f.write(json.dumps({"ground_truth": self.ground_truth}) + "\n")
            for r in self.received:
                f.write(json.dumps(asdict(r)) + "\n")

    @classmethod
    def load(cls, path: Path) -> "Recording":
        with open(path, encoding="utf-8") as f:
            head = json.loads(f.readline())
            pub = json.loads(f.readline())["published"]
            gt = json.loads(f.readline())["ground_truth"]
            rec = [Received(**json.loads(line)) for line in f if line.strip()]
        info = dict(head["info"])
        info["stages"] = [StageFlow(**f) for f in info.get("stages", [])]
        return cls(RunInfo(**info), [tuple(p) for p in pub], rec, gt, head["sensors"])
