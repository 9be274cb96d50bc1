"""The one description of the tcfd_ros node graph, shared by the launch file and ``tcfd-ros bringup``.

No ROS imports: ``launch/crossmodal.launch.py`` turns a :class:`GraphSpec` into launch_ros ``Node``
actions, ``tcfd_ros.nodes.bringup`` turns the same spec into rclpy nodes in one process, so the two
cannot drift. The sensors (one namespace per camera and per LiDAR) come from the recognizer's
``camera_namespaces`` / ``lidar_namespaces`` parameters in ``config/crossmodal.yaml``, the single source
of configuration.

Topics, all relative so that a top-level namespace moves the whole graph:

=====================  ==============================  ==========================================
node (namespace)       subscribes                      publishes
=====================  ==============================  ==========================================
camera_segmenter (c)   image_raw, camera_info,         detections (mono16 labels), annotated
                       tracks, /matches
camera_tracker (c)     detections, camera_info         tracks, tracklets
lidar_segmenter (l)    points                          clusters
lidar_tracker (l)      clusters                        tracks, tracklets
(trackers, lidar_seg.)  /platform_pose (moving base)
recognizer (top)       <c>/tracklets, <l>/tracklets,   matches, markers
                       <l>/tracks
=====================  ==============================  ==========================================
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from tcfd_ros.config_io import load_yaml
from tcfd_ros.errors import ConfigError

PACKAGE = "tcfd_ros"
# Executable names, identical to the keys of setup.py's NODE_EXECUTABLES (a test checks it).
EXECUTABLES = ("camera_segmenter", "lidar_segmenter", "tracker", "recognizer")
# Node names; the params file addresses each as ``/**/<name>`` so any namespace prefix matches.
CAMERA_SEGMENTER = "camera_segmenter"
LIDAR_SEGMENTER = "lidar_segmenter"
CAMERA_TRACKER = "camera_tracker"
LIDAR_TRACKER = "lidar_tracker"
RECOGNIZER = "recognizer"
NODE_NAMES = (CAMERA_SEGMENTER, CAMERA_TRACKER, LIDAR_SEGMENTER, LIDAR_TRACKER, RECOGNIZER)

# Inter-node topic names (relative); inputs can be remapped through TopicNames.
DETECTIONS = "detections"
ANNOTATED = "annotated"
CLUSTERS = "clusters"
TRACKS = "tracks"
TRACKLETS = "tracklets"
MATCHES = "matches"
MARKERS = "markers"
DIAGNOSTICS = "/diagnostics"

#: how long a node of a replayed graph waits for the platform pose or the guiding clusters of a message's
#: moment (calibration.pose_wait_s, guide.wait_s), s: a bag player sends them whatever the load, so the
#: pairing is the one the stamps say on any machine; the bound only ends a stall (the bag's last images)
REPLAY_STREAM_WAIT_S = 1.0
# Parameters implied by bag replay (use_sim_time), for launch, bringup and replay alike: the segmenters'
# and the camera tracker's sensor inputs become reliable, because best-effort samples of 1-2.5 MB
# (images, 64-beam clouds) are split into UDP fragments and lost whole when one fragment is; a bag
# player can afford retransmission. And the waits for another stream of the same moment are longer
# (REPLAY_STREAM_WAIT_S).
REPLAY_OVERRIDES: dict[str, dict[str, Any]] = {
    CAMERA_SEGMENTER: {"input_reliability": "reliable", "guide.wait_s": REPLAY_STREAM_WAIT_S},
    CAMERA_TRACKER: {"input_reliability": "reliable", "calibration.pose_wait_s": REPLAY_STREAM_WAIT_S},
    LIDAR_SEGMENTER: {"input_reliability": "reliable", "calibration.pose_wait_s": REPLAY_STREAM_WAIT_S},
    LIDAR_TRACKER: {"calibration.pose_wait_s": REPLAY_STREAM_WAIT_S},
}


def replay_override_params() -> list[str]:
    """``REPLAY_OVERRIDES`` as ``--param`` texts (``node.key=value``), for bringup and replay."""
    return [f"{node}.{key}={value}"
            for node, params in REPLAY_OVERRIDES.items() for key, value in params.items()]


_NAMESPACE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(/[A-Za-z][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class TopicNames:
    """External topic names; sensor inputs are relative to each sensor namespace."""

    image: str = "image_raw"              # camera image, sensor_msgs/Image
    camera_info: str = "camera_info"      # sensor_msgs/CameraInfo beside the image
    points: str = "points"                # LiDAR cloud, sensor_msgs/PointCloud2
    matches: str = MATCHES                # recognizer output, std_msgs/String JSON tcfd_ros/match v1
    markers: str = MARKERS                # recognizer output, visualization_msgs/MarkerArray


@dataclass(frozen=True)
class NodeSpec:
    """One node of the graph: what to run, where, and with which remappings."""

    name: str                             # node name (params-file key ``/**/<name>``)
    executable: str                       # key of setup.py NODE_EXECUTABLES
    namespace: str                        # absolute namespace, "/" for the top level
    remappings: tuple[tuple[str, str], ...] = ()
    sensor: str = ""                      # sensor namespace it serves ("" for the recognizer)

    @property
    def fully_qualified_name(self) -> str:
        return f"{self.namespace.rstrip('/')}/{self.name}"


@dataclass(frozen=True)
class GraphSpec:
    """The whole graph: nodes plus the sensor lists they were built from."""

    nodes: tuple[NodeSpec, ...]
    cameras: tuple[str, ...]
    lidars: tuple[str, ...]
    namespace: str = ""

    def node_names(self) -> list[str]:
        return [n.fully_qualified_name for n in self.nodes]


def _check_namespace(ns: str, what: str) -> str:
    ns = ns.strip("/")
    if ns and not _NAMESPACE_RE.match(ns):
        raise ConfigError(
            f"{what}: {ns!r} is not a valid ROS namespace (letters, digits, '_', '/'-separated, "
            "each part starting with a letter)"
        )
    return ns


def _join(*parts: str) -> str:
    inner = "/".join(p.strip("/") for p in parts if p.strip("/"))
    return "/" + inner if inner else "/"


def build_graph(
    cameras: tuple[str, ...] | list[str] = ("camera",),
    lidars: tuple[str, ...] | list[str] = ("lidar",),
    namespace: str = "",
    topics: TopicNames = TopicNames(),
) -> GraphSpec:
    """Build the node graph for the given sensor namespaces under an optional top-level namespace."""
    ns = _check_namespace(namespace, "namespace")
    cams = tuple(_check_namespace(c, "camera_namespaces") for c in cameras)
    lids = tuple(_check_namespace(lid, "lidar_namespaces") for lid in lidars)
    if not cams and not lids:
        raise ConfigError("camera_namespaces and lidar_namespaces are both empty: the graph needs a sensor")
    every = [s for s in cams + lids]
    dupes = sorted({s for s in every if every.count(s) > 1 or not s})
    if dupes:
        raise ConfigError(f"sensor namespaces must be unique and non-empty, got duplicates/empties {dupes}")
    nodes: list[NodeSpec] = []
    for cam in cams:
        sns = _join(ns, cam)
        nodes.append(NodeSpec(
            CAMERA_SEGMENTER, "camera_segmenter", sns,
            (("image_raw", topics.image), ("camera_info", topics.camera_info),
             (MATCHES, _join(ns, topics.matches) if not topics.matches.startswith("/") else topics.matches)),
            sensor=cam,
        ))
        nodes.append(NodeSpec(CAMERA_TRACKER, "tracker", sns,
                              (("image_raw", topics.image), ("camera_info", topics.camera_info)), sensor=cam))
    for lid in lids:
        sns = _join(ns, lid)
        nodes.append(NodeSpec(LIDAR_SEGMENTER, "lidar_segmenter", sns, (("points", topics.points),),
                              sensor=lid))
        nodes.append(NodeSpec(LIDAR_TRACKER, "tracker", sns, (), sensor=lid))
    nodes.append(NodeSpec(
        RECOGNIZER, "recognizer", _join(ns),
        ((MATCHES, topics.matches), (MARKERS, topics.markers)),
    ))
    return GraphSpec(tuple(nodes), cams, lids, ns)


def _find_section(data: Mapping[str, Any], node: str) -> Mapping[str, Any] | None:
    """The ``ros__parameters`` of the params-file entry addressing ``node`` (``/**/node`` or ``node``)."""
    for key in (f"/**/{node}", f"/{node}", node):
        if key in data:
            entry = data[key]
            if not isinstance(entry, Mapping) or not isinstance(entry.get("ros__parameters"), Mapping):
                raise ConfigError(f"params file entry {key!r} must be a mapping with 'ros__parameters'")
            return entry["ros__parameters"]
    return None


def sensors_from_config(path: str | Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Read (camera_namespaces, lidar_namespaces) from the recognizer entry of a ROS params file."""
    data = load_yaml(path)
    params = _find_section(data, RECOGNIZER)
    if params is None:
        raise ConfigError(f"{path}: no '/**/{RECOGNIZER}' entry; it lists the sensor namespaces")
    out = []
    for key in ("camera_namespaces", "lidar_namespaces"):
        value = params.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path}: /**/{RECOGNIZER}.ros__parameters.{key} must be a list of strings, "
                              f"got {value!r}")
        out.append(tuple(value))
    return out[0], out[1]


def graph_from_config(path: str | Path, namespace: str = "", topics: TopicNames = TopicNames()) -> GraphSpec:
    """The graph that ``config/crossmodal.yaml`` (or another params file) describes."""
    cams, lids = sensors_from_config(path)
    return build_graph(cams, lids, namespace, topics)


def node_parameters_from_config(path: str | Path, node: str) -> dict[str, Any]:
    """Flattened parameters (dotted names) the params file gives ``node`` (its ``/**`` entry first)."""
    data = load_yaml(path)
    merged: dict[str, Any] = {}
    for key in ("/**",):
        if key in data:
            merged.update(_flatten(data[key].get("ros__parameters", {})))
    section = _find_section(data, node)
    if section is not None:
        merged.update(_flatten(section))
    return merged


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def default_config_path() -> Path:
    """``config/crossmodal.yaml`` of the source tree, else of the installed share directory."""
    here = Path(__file__).resolve().parents[1] / "config" / "crossmodal.yaml"
    if here.is_file():
        return here
    try:
        from ament_index_python.packages import get_package_share_directory
    except ImportError as e:
        raise ConfigError(f"config/crossmodal.yaml not found at {here} and ament_index is unavailable") from e
    return Path(get_package_share_directory(PACKAGE)) / "config" / "crossmodal.yaml"


def as_dict(graph: GraphSpec) -> dict[str, Any]:
    """Plain view for JSON/printing (``tcfd-ros bringup --print-graph``)."""
    return dataclasses.asdict(graph)
