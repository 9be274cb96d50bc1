"""CPU cost of ``tcfd-ros replay --video``, measured on a finished replay (no DDS, one thread).

Reads the replay's ``recording.jsonl`` and ``outputs.mcap`` (a replay run with ``--record``), caches the
annotated images as JPEG, writes one video frame per camera frame of the bag, and prints one JSON line.
Not collected by pytest.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/replay_video.py OUT_DIR BAG [--video out/video_cost.mp4]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tcfd_ros import graph as g
from tcfd_ros.replay import adapters
from tcfd_ros.replay.player import sensor_topics
from tcfd_ros.replay.reader import BagSource
from tcfd_ros.replay.recording import Recording
from tcfd_ros.replay.run import ReplayOptions, _pictures
from tcfd_ros.replay.video import camera_fps, write_video


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="report folder of a replay run with --record OUT/outputs.mcap")
    p.add_argument("bag", type=Path, help="the bag that was replayed")
    p.add_argument("--video", type=Path, default=Path("out/video_cost.mp4"))
    args = p.parse_args()
    rec = Recording.load(args.out / "recording.jsonl")
    spec = g.graph_from_config(g.default_config_path())
    trk = {s.sensor: adapters.track_frames(rec, s.sensor, s.tracks) for s in sensor_topics(spec)}
    matches = adapters.match_events(rec, "/matches")
    with BagSource(args.bag) as src:
        t0, fps = src.start_ns, camera_fps(src, "/camera/image_raw")
    c0 = time.process_time()
    pics = _pictures(ReplayOptions(args.bag, args.out, g.default_config_path()), spec, trk, matches,
                     args.out / "outputs.mcap", t0)
    c1 = time.process_time()
    frames = write_video(pics, args.video, fps)
    c2 = time.process_time()
    print(json.dumps({"annotated_images": len(pics.annotated), "annotated_cache_cpu_s": round(c1 - c0, 2),
                      "video_frames": frames, "video_cpu_s": round(c2 - c1, 2),
                      "video_ms_per_frame": round(1000 * (c2 - c1) / max(frames, 1), 1)}))


if __name__ == "__main__":
    main()
