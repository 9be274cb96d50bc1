"""The camera segmenter and tracker on the real videos: detections per frame, track lengths, a sheet.

    python -m tcfd_ros.perception.real_video --out out/real_video [--real-data ../shared/data/real]
        [--frames N]

For each video in ``<real-data>/video`` (``vtest_480x360.avi``, a static courtyard camera;
``mmpose_demo_street.mp4``, a street scene) every frame goes through ``CameraSegmenter`` and the
camera ``MultiTargetTracker`` with the shipped configs, as the nodes run them. Written to ``--out``:
``<video>.json`` (detections per frame: mean, percentiles, frames with none; confirmed tracks: how
many, how long they last in frames and seconds; segmenter CPU ms per frame) and ``<video>.png``, a
contact sheet of evenly spaced frames with masks, track boxes and ids. A change that helps the
synthetic world but hurts real input shows here: fewer detections, shorter or more fragmented tracks.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from tcfd_ros.perception.annotate import Annotation, draw_annotations
from tcfd_ros.perception.config import CameraSegmenterConfig, camera_tracker_config
from tcfd_ros.perception.segment_camera import CameraSegmenter
from tcfd_ros.perception.track import Measurement, MultiTargetTracker

log = logging.getLogger(__name__)

DEFAULT_REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"
VIDEOS = ("vtest_480x360.avi", "mmpose_demo_street.mp4")
SHEET_FRAMES = 6            # frames on a contact sheet (2 rows of 3)
SHEET_TILE_WIDTH = 480      # pixels per tile on the sheet
FALLBACK_FPS = 15.0         # when the container does not say


@dataclass
class VideoStats:
    """What the segmenter and tracker made of one video (see module docstring)."""

    video: str
    frames: int = 0
    fps: float = FALLBACK_FPS
    size_wh: tuple[int, int] = (0, 0)
    detections_per_frame: list[int] = field(default_factory=list)
    track_frames: dict[int, int] = field(default_factory=dict)   # confirmed track id -> frames measured
    segment_cpu_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict:
        d = np.asarray(self.detections_per_frame[self.warmup:], dtype=float)
        lengths = np.asarray(sorted(self.track_frames.values()), dtype=float)
        cpu = np.asarray(self.segment_cpu_ms[self.warmup:], dtype=float)

        def pct(a: np.ndarray, q: float) -> float:
            return round(float(np.percentile(a, q)), 2) if a.size else 0.0

        return {
            "video": self.video, "frames": self.frames, "fps": round(self.fps, 2), "size_wh": self.size_wh,
            "detections_per_frame": {"mean": round(float(d.mean()), 2) if d.size else 0.0,
                                     "p10": pct(d, 10), "p50": pct(d, 50), "p90": pct(d, 90),
                                     "max": int(d.max()) if d.size else 0,
                                     "frames_with_none": int((d == 0).sum())},
            "tracks": {"confirmed": int(lengths.size),
                       "frames_p50": pct(lengths, 50), "frames_p90": pct(lengths, 90),
                       "frames_max": int(lengths.max()) if lengths.size else 0,
                       "seconds_p50": round(pct(lengths, 50) / self.fps, 2),
                       "seconds_p90": round(pct(lengths, 90) / self.fps, 2),
                       "lasting_2s_or_more": int((lengths >= 2.0 * self.fps).sum())},
            "segment_cpu_ms": {"mean": round(float(cpu.mean()), 2) if cpu.size else 0.0,
                               "p90": pct(cpu, 90)},
        }

    warmup: int = CameraSegmenterConfig().warmup_frames


def run_video(path: Path, max_frames: int | None = None, sheet: Path | None = None,
              cfg: CameraSegmenterConfig = CameraSegmenterConfig()) -> VideoStats:
    """Segment and track every frame of ``path`` (the first ``max_frames``); optionally draw a sheet."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise FileNotFoundError(f"cannot open video {path}")
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 0
    n = total if max_frames is None or total == 0 else min(total, max_frames)
    fps = float(cap.get(cv2.CAP_PROP_FPS)) or FALLBACK_FPS
    stats = VideoStats(path.name, fps=fps, warmup=cfg.warmup_frames)
    seg = CameraSegmenter(cfg)
    trk = MultiTargetTracker(camera_tracker_config())
    first = cfg.warmup_frames + 1
    show = set(np.linspace(first, max(n - 1, first), SHEET_FRAMES).astype(int))
    tiles = []
    i = 0
    try:
        while max_frames is None or i < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            stats.size_wh = (int(frame.shape[1]), int(frame.shape[0]))
            t0 = time.process_time()
            dets = seg.segment(frame)
            stats.segment_cpu_ms.append((time.process_time() - t0) * 1000.0)
            stats.detections_per_frame.append(len(dets))
            tracks = trk.update(i / fps, [Measurement(d.centre_xy, d.size_wh) for d in dets])
            for t in tracks:
                if t.measurement_index >= 0:
                    stats.track_frames[t.track_id] = stats.track_frames.get(t.track_id, 0) + 1
            if sheet is not None and i in show:
                notes = [Annotation(dets[t.measurement_index].bbox_xyxy, dets[t.measurement_index].mask,
                                    track_id=t.track_id) for t in tracks if t.measurement_index >= 0]
                img = draw_annotations(frame, notes)
                cv2.putText(img, f"{path.name} frame {i}: {len(dets)} detections, {len(notes)} tracks",
                            (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
                tiles.append(cv2.resize(img, (SHEET_TILE_WIDTH,
                                              int(img.shape[0] * SHEET_TILE_WIDTH / img.shape[1]))))
            i += 1
    finally:
        cap.release()
    stats.frames = i
    if sheet is not None and tiles:
        while len(tiles) % 3:
            tiles.append(np.zeros_like(tiles[0]))
        rows = [np.hstack(tiles[r:r + 3]) for r in range(0, len(tiles), 3)]
        sheet.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(sheet), np.vstack(rows))
    return stats


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tcfd_ros.perception.real_video", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("out/real_video"))
    p.add_argument("--real-data", type=Path, default=DEFAULT_REAL)
    p.add_argument("--frames", type=int, default=None, help="only the first N frames of each video")
    args = p.parse_args(argv)
    cv2.setNumThreads(1)
    video_dir = args.real_data / "video"
    if not video_dir.is_dir():
        print(f"real videos not found at {video_dir}; pass --real-data", file=sys.stderr)
        return 2
    for name in VIDEOS:
        path = video_dir / name
        if not path.is_file():
            print(f"{path}: missing, skipped", file=sys.stderr)
            continue
        stats = run_video(path, args.frames, sheet=args.out / f"{path.stem}.png")
        summary = stats.summary()
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{path.stem}.json").write_text(json.dumps(
            {**summary, "per_frame": asdict(stats)["detections_per_frame"]}, indent=1))
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
