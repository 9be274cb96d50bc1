"""A bag recorded on a moving platform switches the graph to its moving-platform mode (no ROS).

When the bag's /tf moves the frame a camera and a LiDAR are mounted on (``tcfd_ros.replay.calibration``
found a moving parent for both), background subtraction cannot work, so ``tcfd-ros replay`` passes the
overrides of ``config/robot.yaml`` as ``--param``: the camera segmenter is guided by that LiDAR's
clusters, with ``camera <- LiDAR`` composed from the bag's /tf_static, the LiDAR static background
stays off, and the recognizer links by geometry after the platform's shorter co-located span. Every
LiDAR on a moving frame also gets its calibration in its segmenter, so that the segmenter keeps its
static memories (bollards, poles, walls) in the fixed frame from the platform pose. The user's own
``--param`` come later and still win; ``--param camera.camera_segmenter.guide.mode=segmenter`` keeps
background subtraction.
"""

from __future__ import annotations

from typing import Any, Sequence

from tcfd_ros import graph as g
from tcfd_ros.nodes.robot_config import MOVING_PLATFORM_LINK_SPAN_S, moving_platform_params


def _value(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(repr(float(x)) for x in v) + "]"
    return str(v)


def moving_platform_overrides(sensors: Sequence[Any], spec: g.GraphSpec, fixed_frame: str
                              ) -> tuple[list[str], list[str]]:
    """``--param`` texts and notes for every camera that shares a moving parent frame with a LiDAR.

    ``sensors``: ``tcfd_ros.replay.calibration.SensorCalibration`` items (sensor namespace, parent frame,
    parent <- sensor transform).
    """
    by_ns = {c.sensor: c for c in sensors}
    params: list[str] = []
    notes: list[str] = []
    for cam in spec.cameras:
        c = by_ns.get(cam)
        if c is None or not fixed_frame or c.parent == fixed_frame:
            continue
        lidar = next((by_ns[lid] for lid in spec.lidars if lid in by_ns and by_ns[lid].parent == c.parent),
                     None)
        if lidar is None:
            notes.append(f"{cam} moves with {c.parent} but no LiDAR shares that platform: its background "
                         "subtraction will see the whole image move")
            continue
        camera_from_lidar = c.transform.inverse().compose(lidar.transform)
        topic = "/" + "/".join(p for p in (spec.namespace, lidar.sensor, g.CLUSTERS) if p)
        for node, values in moving_platform_params(camera_from_lidar, topic).items():
            # the recognizer is the graph's one node outside the sensor namespaces
            ns = cam if node == g.CAMERA_SEGMENTER else lidar.sensor
            prefix = node if node == g.RECOGNIZER else f"{ns}.{node}"
            params += [f"{prefix}.{k}={_value(v)}" for k, v in values.items()]
        notes.append(f"{cam} and {lidar.sensor} ride {c.parent}: moving-platform mode (LiDAR-guided camera "
                     "segmentation, no LiDAR static background, geometric links after "
                     f"{MOVING_PLATFORM_LINK_SPAN_S:g} s)")
    for lid in spec.lidars:
        c = by_ns.get(lid)
        if c is None or not fixed_frame or c.parent == fixed_frame:
            continue
        params += c.params(fixed_frame, node=g.LIDAR_SEGMENTER)
        notes.append(f"{lid} rides {c.parent}: its segmenter keeps static objects in {fixed_frame}")
    return params, notes
