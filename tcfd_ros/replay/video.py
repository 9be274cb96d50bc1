"""Pictures of a replay: the annotated camera image beside a top-down LiDAR view, global ids in the
same colours in both (``tcfd_ros.perception.annotate.id_colour_bgr``, as the markers use).

``write_video`` (``tcfd-ros replay --video OUT.mp4``) writes one video frame per camera frame of the
bag; ``write_key_frames`` writes one PNG per hand-off for the HTML report. The camera side is the
graph's own ``annotated`` image where the replay recorded it (``--record``/``--video``), else the
bag's image with the recorded camera tracks drawn on it (and says so on the frame). The LiDAR side is
the latest cloud of the bag, seen from above, with the recorded LiDAR tracks.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from tcfd_ros.errors import ConfigError
from tcfd_ros.perception.annotate import Annotation, draw_annotations, id_colour_bgr
from tcfd_ros.replay.reader import BagSource
from tcfd_ros.replay.recording import NS_PER_S, header_stamp_ns
from tcfd_ros.replay.records import MatchEvent, OutputFrame

log = logging.getLogger(__name__)

# OpenCV's pip wheel has no H.264 encoder (avc1 fails to open); MPEG-4 Part 2 decodes everywhere
# OpenCV, ffmpeg and VLC do.
VIDEO_FOURCC = "mp4v"
HEADER_PX = 26                    # strip above both panels: bag time and what is shown
GRID_STEP_M = 5.0                 # top-down grid spacing, labelled in metres
TOPDOWN_MARGIN_M = 3.0            # around the tracks' extent
TOPDOWN_MIN_SPAN_M = 12.0
DEFAULT_SPAN_M = 30.0             # when no LiDAR track was recorded
MAX_DRAWN_POINTS = 40000
POINT_Z_BAND_M = (-3.0, 3.0)      # points drawn (sensor frame), drops far-below/above clutter
TRACK_MATCH_TOLERANCE_S = 0.15    # a track frame belongs to a camera/LiDAR frame within this
TRACK_RADIUS_PX = 9
FONT = cv2.FONT_HERSHEY_SIMPLEX
BACKGROUND_BGR = (30, 30, 30)
GRID_BGR = (70, 70, 70)
POINT_BGR = (150, 150, 150)
TEXT_BGR = (235, 235, 235)
KEY_FRAME_JPEG_QUALITY = 85
# A key frame is taken this long after the link formed: the annotated image carries the ids the camera
# segmenter knew when that frame's tracks arrived, so the new id shows a few frames later.
KEY_FRAME_DELAY_S = 0.5


class TrackHistory:
    """One sensor's recorded tracks over time, with the global id each track carried at a time."""

    def __init__(self, frames: Sequence[OutputFrame], matches: Sequence[MatchEvent], sensor: str) -> None:
        self.frames = sorted(frames, key=lambda f: f.stamp_s)
        self.stamps = [f.stamp_s for f in self.frames]
        self.ids: dict[int, tuple[list[float], list[int]]] = {}
        for m in sorted(matches, key=lambda m: m.stamp_s):
            if m.sensor == sensor:
                st, gids = self.ids.setdefault(m.track_id, ([], []))
                st.append(m.stamp_s)
                gids.append(m.global_id)

    def at(self, stamp_s: float, tolerance_s: float = TRACK_MATCH_TOLERANCE_S) -> OutputFrame | None:
        """The track frame nearest ``stamp_s`` within the tolerance."""
        i = bisect.bisect_left(self.stamps, stamp_s)
        best = None
        for j in (i - 1, i):
            if 0 <= j < len(self.frames) and abs(self.stamps[j] - stamp_s) <= tolerance_s:
                if best is None or abs(self.stamps[j] - stamp_s) < abs(best.stamp_s - stamp_s):
                    best = self.frames[j]
        return best

    def global_id(self, track_id: int, stamp_s: float) -> int | None:
        """The id the recognizer had given the track at ``stamp_s`` (None before its first match)."""
        st, gids = self.ids.get(track_id, ([], []))
        i = bisect.bisect_right(st, stamp_s)
        return gids[i - 1] if i else None

    def extent(self) -> tuple[float, float, float, float] | None:
        xy = [o.position for f in self.frames for o in f.observations if o.position is not None]
        if not xy:
            return None
        a = np.asarray(xy, dtype=float)
        return float(a[:, 0].min()), float(a[:, 0].max()), float(a[:, 1].min()), float(a[:, 1].max())


@dataclass(frozen=True)
class TopDownView:
    """A square metric window of the LiDAR's x-y plane (x forward = up in the picture, y left = left)."""

    cx: float
    cy: float
    span_m: float
    size_px: int

    @classmethod
    def around(cls, extent: tuple[float, float, float, float] | None, size_px: int) -> "TopDownView":
        if extent is None:
            return cls(DEFAULT_SPAN_M / 2 - 1.0, 0.0, DEFAULT_SPAN_M, size_px)
        x0, x1, y0, y1 = extent
        # include the sensor itself, so the view shows where the people are relative to it
        x0, x1, y0, y1 = min(x0, 0.0), max(x1, 0.0), min(y0, 0.0), max(y1, 0.0)
        span = max(x1 - x0, y1 - y0) + 2 * TOPDOWN_MARGIN_M
        return cls((x0 + x1) / 2, (y0 + y1) / 2, max(span, TOPDOWN_MIN_SPAN_M), size_px)

    def pixels(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) metres -> (N, 2) integer pixel (col, row)."""
        scale = self.size_px / self.span_m
        col = (self.size_px / 2 - (xy[:, 1] - self.cy) * scale)
        row = (self.size_px / 2 - (xy[:, 0] - self.cx) * scale)
        return np.stack([col, row], axis=1).round().astype(np.int32)

    def draw(self, xyz: np.ndarray | None, tracks: Sequence[tuple[int, tuple[float, float], int | None]],
             frame_id: str) -> np.ndarray:
        n = self.size_px
        img = np.full((n, n, 3), BACKGROUND_BGR, np.uint8)
        half = self.span_m / 2
        for axis, centre in ((0, self.cx), (1, self.cy)):
            first = np.ceil((centre - half) / GRID_STEP_M) * GRID_STEP_M
            for v in np.arange(first, centre + half + 1e-6, GRID_STEP_M):
                a = np.array([[v, self.cy]]) if axis == 0 else np.array([[self.cx, v]])
                c, r = self.pixels(a)[0]
                if axis == 0:
                    cv2.line(img, (0, int(r)), (n - 1, int(r)), GRID_BGR, 1)
                    cv2.putText(img, f"x {v:.0f} m", (3, int(r) - 3), FONT, 0.35, TEXT_BGR, 1, cv2.LINE_AA)
                else:
                    cv2.line(img, (int(c), 0), (int(c), n - 1), GRID_BGR, 1)
                    cv2.putText(img, f"y {v:.0f}", (int(c) + 2, n - 5), FONT, 0.35, TEXT_BGR, 1, cv2.LINE_AA)
        if xyz is not None and len(xyz):
            keep = (xyz[:, 2] > POINT_Z_BAND_M[0]) & (xyz[:, 2] < POINT_Z_BAND_M[1])
            pts = xyz[keep]
            if len(pts) > MAX_DRAWN_POINTS:
                pts = pts[:: int(np.ceil(len(pts) / MAX_DRAWN_POINTS))]
            px = self.pixels(pts[:, :2].astype(float))
            ok = (px[:, 0] >= 0) & (px[:, 0] < n) & (px[:, 1] >= 0) & (px[:, 1] < n)
            img[px[ok, 1], px[ok, 0]] = POINT_BGR
        origin = self.pixels(np.zeros((1, 2)))[0]
        cv2.drawMarker(img, (int(origin[0]), int(origin[1])), TEXT_BGR, cv2.MARKER_TRIANGLE_UP, 12, 2)
        for tid, (x, y), gid in tracks:
            c, r = self.pixels(np.array([[x, y]]))[0]
            colour = id_colour_bgr(gid)
            cv2.circle(img, (int(c), int(r)), TRACK_RADIUS_PX, colour, -1, cv2.LINE_AA)
            label = f"G{gid} T{tid}" if gid is not None else f"T{tid}"
            cv2.putText(img, label, (int(c) + TRACK_RADIUS_PX + 2, int(r) + 4), FONT, 0.45, colour, 1,
                        cv2.LINE_AA)
        cv2.putText(img, f"LiDAR from above, frame '{frame_id}', grid {GRID_STEP_M:g} m", (5, 15), FONT, 0.42,
                    TEXT_BGR, 1, cv2.LINE_AA)
        return img


def _with_header(panel: np.ndarray, text: str) -> np.ndarray:
    head = np.full((HEADER_PX, panel.shape[1], 3), BACKGROUND_BGR, np.uint8)
    cv2.putText(head, text, (6, HEADER_PX - 8), FONT, 0.5, TEXT_BGR, 1, cv2.LINE_AA)
    return np.vstack([head, panel])


@dataclass
class ReplayPictures:
    """Everything needed to draw a replay moment; built once per report from the recording."""

    bag: Path
    image_topic: str
    points_topic: str | None
    camera: TrackHistory
    lidar: TrackHistory | None
    annotated: dict[int, bytes]          # header stamp ns -> JPEG of the graph's annotated image
    t0_ns: int = 0                       # bag start: frames show bag time from here

    def view(self, height: int) -> TopDownView:
        return TopDownView.around(self.lidar.extent() if self.lidar else None, height)

    def camera_panel(self, image_msg: object, stamp_ns: int) -> tuple[np.ndarray, str]:
        from tcfd_ros.image_conversions import imgmsg_to_cv2

        jpg = self.annotated.get(stamp_ns)
        if jpg is not None:
            return cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR), "graph's annotated image"
        bgr = np.ascontiguousarray(imgmsg_to_cv2(image_msg, "bgr8"))
        t = stamp_ns / NS_PER_S
        frame = self.camera.at(t)
        notes = [] if frame is None else [
            Annotation(o.image_box, track_id=o.track_id, global_id=self.camera.global_id(o.track_id, t))
            for o in frame.observations if o.image_box is not None]
        return draw_annotations(bgr, notes), "bag image + recorded tracks"

    def lidar_panel(self, cloud_msg: object | None, view: TopDownView) -> np.ndarray:
        from tcfd_ros.point_cloud2 import read_xyz

        xyz, frame_id, tracks = None, "?", []
        if cloud_msg is not None:
            xyz = np.asarray(read_xyz(cloud_msg, nonfinite="drop"), dtype=np.float32)
            frame_id = cloud_msg.header.frame_id
            t = (cloud_msg.header.stamp.sec * NS_PER_S + cloud_msg.header.stamp.nanosec) / NS_PER_S
            frame = self.lidar.at(t) if self.lidar else None
            if frame is not None:
                tracks = [(o.track_id, o.position, self.lidar.global_id(o.track_id, t))
                          for o in frame.observations if o.position is not None]
        return view.draw(xyz, tracks, frame_id)

    def frames(self, source: BagSource, wanted: set[int] | None = None
               ) -> Iterator[tuple[int, object, object | None]]:
        """(camera stamp ns, image message, latest cloud message) per camera frame in bag order;
        with ``wanted`` only those camera stamps are decoded and yielded."""
        topics = [self.image_topic] + ([self.points_topic] if self.points_topic else [])
        last_raw = None
        cloud = None
        for m in source.messages(topics=topics):
            if m.topic == self.points_topic:
                last_raw, cloud = m, None
                continue
            st = header_stamp_ns(m.data, m.topic)
            if wanted is not None and st not in wanted:
                continue
            if cloud is None and last_raw is not None:
                cloud = source.deserialize(last_raw)      # once per cloud, however many camera frames
            yield st, source.deserialize(m), cloud

    def compose(self, stamp_ns: int, image_msg: object, cloud_msg: object | None, view: TopDownView | None,
                title: str = "") -> np.ndarray:
        cam, what = self.camera_panel(image_msg, stamp_ns)
        view = view or self.view(cam.shape[0])
        lid = self.lidar_panel(cloud_msg, view)
        t = (stamp_ns - self.t0_ns) / NS_PER_S
        left = _with_header(cam, f"camera  t={t:.2f} s  ({what})" + (f"  {title}" if title else ""))
        right = _with_header(lid, "G<global id> T<track id>: same colour = same person in both views")
        return np.hstack([left, right])


def write_video(pictures: ReplayPictures, out: Path, fps: float) -> int:
    """One frame per camera frame of the bag; returns the number of frames written."""
    if out.suffix != ".mp4":
        raise ConfigError(f"--video {out}: expected a file name ending in .mp4")
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    n = 0
    view = None
    try:
        with BagSource(pictures.bag) as source:
            for st, img, cloud in pictures.frames(source):
                if view is None:
                    view = pictures.view(int(img.height))
                frame = pictures.compose(st, img, cloud, view)
                if writer is None:
                    h, w = frame.shape[:2]
                    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*VIDEO_FOURCC), fps, (w, h))
                    if not writer.isOpened():
                        raise ConfigError(f"--video {out}: OpenCV cannot open a '{VIDEO_FOURCC}' writer "
                                          "there")
                writer.write(frame)
                n += 1
    finally:
        if writer is not None:
            writer.release()
    log.info("wrote %d video frames to %s", n, out)
    return n


def write_key_frames(pictures: ReplayPictures, moments: Sequence[tuple[float, str]], out_dir: Path,
                     prefix: str = "handoff", delay_s: float = KEY_FRAME_DELAY_S) -> list[Path]:
    """One JPEG per (bag time s, title): the first camera frame ``delay_s`` after that time (or the
    last camera frame of the bag)."""
    if not moments:
        return []
    stamps: list[int] = []
    with BagSource(pictures.bag) as source:
        for m in source.messages(topics=[pictures.image_topic]):
            stamps.append(header_stamp_ns(m.data, m.topic))
    stamps.sort()
    if not stamps:
        return []
    chosen = []
    for t, _ in moments:
        i = min(bisect.bisect_left(stamps, int(round((t + delay_s) * NS_PER_S))), len(stamps) - 1)
        chosen.append(stamps[i])
    paths: list[Path] = [out_dir / f"{prefix}_{k + 1}.jpg" for k in range(len(moments))]
    by_stamp: dict[int, list[int]] = {}
    for k, st in enumerate(chosen):
        by_stamp.setdefault(st, []).append(k)
    view = None
    with BagSource(pictures.bag) as source:
        for st, img, cloud in pictures.frames(source, wanted=set(chosen)):
            for k in by_stamp.pop(st, []):
                view = view or pictures.view(int(img.height))
                frame = pictures.compose(st, img, cloud, view, moments[k][1])
                cv2.imwrite(str(paths[k]), _half(frame), [cv2.IMWRITE_JPEG_QUALITY, KEY_FRAME_JPEG_QUALITY])
    return [p for p in paths if p.exists()]


def _half(img: np.ndarray) -> np.ndarray:
    """Key frames at a size that keeps the HTML page light."""
    return cv2.resize(img, (img.shape[1] * 3 // 4, img.shape[0] * 3 // 4), interpolation=cv2.INTER_AREA)


def annotated_jpegs(mcap: Path, topic: str, quality: int = 90) -> dict[int, bytes]:
    """Header stamp ns -> JPEG of every annotated image recorded on ``topic`` in ``mcap``."""
    from tcfd_ros.image_conversions import imgmsg_to_cv2

    out: dict[int, bytes] = {}
    with BagSource(mcap) as src:
        if topic not in src.topics:
            return out
        for m in src.messages(topics=[topic]):
            msg = src.deserialize(m)
            ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(imgmsg_to_cv2(msg, "bgr8")),
                                   [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok:
                out[header_stamp_ns(m.data, m.topic)] = buf.tobytes()
    return out


def camera_fps(source: BagSource, topic: str) -> float:
    """Mean frame rate of ``topic`` over the bag (what the video plays at)."""
    n = source.topics[topic].count if topic in source.topics else 0
    return (n - 1) / source.duration_s if n > 1 and source.duration_s > 0 else 10.0
