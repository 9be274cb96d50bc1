"""RViz markers of one sensor's tracks, coloured and labelled by global identity (ROS message building).

With fixed-frame positions (``tracks`` v2 ``ground``), every track of every sensor becomes a cylinder
standing at ``ground`` in the message's ``fixed_frame`` (diameter from its uncertainty), so a camera
track and a LiDAR track of one person appear as one column of one colour. Without them (v1 or an
uncalibrated sensor), LiDAR tracks fall back to their box in the sensor frame and camera tracks (pixel
positions) get no marker.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from builtin_interfaces.msg import Time
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from tcfd_ros.perception.annotate import id_colour_bgr
from tcfd_ros.track_messages import TrackState

LABEL_HEIGHT_M = 0.3             # text marker size
LABEL_ABOVE_BOX_M = 0.3          # text marker height above the box top
BOX_ALPHA = 0.4
MARKERS_PER_TRACK = 2            # body + label: marker ids 2k and 2k+1
PERSON_HEIGHT_M = 1.8            # height of the cylinder drawn at a fixed-frame position
MIN_DIAMETER_M = 0.5             # cylinder diameter: max(this, 2 sigma)


def _base(stamp: Time, frame: str, ns: str, mid: int, kind: int, lifetime_ns: int,
          rgb: tuple[int, int, int], alpha: float) -> Marker:
    m = Marker()
    m.header.stamp, m.header.frame_id = stamp, frame
    m.ns, m.id = ns, mid
    m.type, m.action = kind, Marker.ADD
    m.lifetime.sec, m.lifetime.nanosec = lifetime_ns // 10**9, lifetime_ns % 10**9
    m.pose.orientation.w = 1.0
    r, g, b = rgb
    m.color = ColorRGBA(r=r / 255.0, g=g / 255.0, b=b / 255.0, a=alpha)
    return m


def build_markers(head: dict[str, Any], tracks: Sequence[TrackState], binding: Callable[[int], int | None],
                  stamp: Time, lifetime_s: float, frame_override: str = "") -> MarkerArray:
    """Markers of one ``tracks`` message; ``binding(track_id)`` is the track's global id or None."""
    lifetime_ns = int(lifetime_s * 1e9)
    fixed = head.get("fixed_frame", "")
    out = MarkerArray()
    for t in tracks:
        gid = binding(t.track_id)
        b, g, r = id_colour_bgr(gid)
        text = f"G{gid} T{t.track_id}" if gid is not None else f"? T{t.track_id}"
        mid = MARKERS_PER_TRACK * t.track_id
        if fixed and t.ground is not None:
            frame = frame_override or fixed
            body = _base(stamp, frame, head["sensor"], mid, Marker.CYLINDER, lifetime_ns, (r, g, b),
                         BOX_ALPHA)
            x, y, z = (float(v) for v in t.ground)
            body.pose.position.x, body.pose.position.y, body.pose.position.z = x, y, z + PERSON_HEIGHT_M / 2
            diameter = max(MIN_DIAMETER_M, 2.0 * float(t.ground_sigma_m or 0.0))
            body.scale.x, body.scale.y, body.scale.z = diameter, diameter, PERSON_HEIGHT_M
            top = z + PERSON_HEIGHT_M
        elif head.get("modality") == "3d" and len(t.box) == 6:
            frame = frame_override or head["frame_id"]
            lo, hi = np.array(t.box[:3]), np.array(t.box[3:])
            x, y, _ = (float(v) for v in (lo + hi) / 2)
            body = _base(stamp, frame, head["sensor"], mid, Marker.CUBE, lifetime_ns, (r, g, b),
                         BOX_ALPHA)
            body.pose.position.x, body.pose.position.y, body.pose.position.z = (
                float(v) for v in (lo + hi) / 2)
            body.scale.x, body.scale.y, body.scale.z = (float(max(v, 0.01)) for v in hi - lo)
            top = float(hi[2])
        else:
            continue                      # a camera track without a fixed-frame position: pixels only
        label = _base(stamp, frame, head["sensor"], mid + 1, Marker.TEXT_VIEW_FACING, lifetime_ns,
                      (r, g, b), 1.0)
        label.pose.position.x, label.pose.position.y = x, y
        label.pose.position.z = top + LABEL_ABOVE_BOX_M
        label.scale.z = LABEL_HEIGHT_M
        label.text = text
        out.markers.extend([body, label])
    return out
