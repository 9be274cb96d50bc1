"""CPU of the recognizer's work per tracklet, offline, on the tracklets and tracks a replay recorded.

Reads ``tcfd-ros replay --record OUT.mcap``'s ``tracklets`` and ``tracks`` messages in bag order and
runs what the recognizer node's handlers run, without DDS: rclpy deserialisation, tracklet decoding
(``TrackletMsg.from_json``), embedding (``embed_tracks``: with the frame cache where the backend has
one, or ``--whole`` for whole tracklets as before), ``IdentityManager.update`` and, per tracks message,
decoding and ``observe_positions``. Thread CPU time on one thread, so it holds on a loaded machine.

    .venv/bin/python benchmarks/recognizer_cpu.py OUT.mcap [--model models/tcfd_sim.onnx] [--whole]

Prints one JSON object: CPU ms per tracklet per step, totals, and frames embedded / reused.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recording", type=Path)
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "tcfd_sim.onnx")
    ap.add_argument("--whole", action="store_true", help="embed whole tracklets (no frame cache)")
    ap.add_argument("--batch", type=int, default=1, help="tracklets per embedding call (the node batches "
                                                         "what queued up; 1 when it keeps up)")
    args = ap.parse_args()

    from rclpy.serialization import deserialize_message
    from std_msgs.msg import String

    from tcfd_ros.inference.embedder import make_embedder
    try:
        from tcfd_ros.inference.embedder import embed_tracks
    except ImportError:   # a tree from before the frame cache (for before / after comparisons)
        embed_tracks, args.whole = None, True
    from tcfd_ros.messages import stamp_to_seconds
    from tcfd_ros.nodes.node_configs import RecognizerNodeConfig
    from tcfd_ros.perception.identity import IdentityManager, TrackObservation
    from tcfd_ros.replay.reader import BagSource
    from tcfd_ros.track_messages import TrackletMsg, tracks_from_json

    c0 = time.process_time()
    embedder = make_embedder("onnx", args.model, threads=1)
    load_cpu = time.process_time() - c0
    identity = IdentityManager(RecognizerNodeConfig().identity, None, embedder.metadata)  # the node's default
    ms: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)

    def timed(step: str, fn, *a):
        t = time.thread_time()
        out = fn(*a)
        ms[step] += (time.thread_time() - t) * 1e3
        return out

    def recognize(batch: list[TrackletMsg]) -> None:
        obs = []
        for modality in ("2d", "3d"):
            group = [t for t in batch if t.modality == modality]
            if not group:
                continue
            frames = [t.frames for t in group]
            if args.whole:
                emb = timed("embed", embedder.embed, frames, modality)
            else:
                emb = timed("embed", embed_tracks, embedder, frames, modality,
                            [(t.sensor, t.track_id) for t in group], [t.frame_stamps for t in group])
            for t, e in zip(group, emb):
                ground = None if t.ground is None or not t.fixed_frame else np.asarray(t.ground)
                obs.append(TrackObservation(stamp_to_seconds(t.stamp), t.sensor, modality, t.track_id, e,
                                            ground, t.ground_sigma_m, t.fixed_frame, t.frame_stamps,
                                            t.frames))
        obs.sort(key=lambda o: o.stamp_s)
        for r in timed("identity_update", identity.update, obs):
            decisions.append((r.sensor, r.track_id, r.global_id, r.known, r.switched, r.decided_by))

    pending: list[TrackletMsg] = []
    decisions: list[tuple] = []   # what each tracklet decided, to compare runs (e.g. --whole vs cached)
    with BagSource(args.recording) as bag:
        topics = [t for t in bag.topics if t.endswith("/tracklets") or t.endswith("/tracks")]
        for m in bag.messages(topics):
            msg = timed("deserialize", deserialize_message, bytes(m.data), String)
            if m.topic.endswith("/tracklets"):
                counts["tracklets"] += 1
                pending.append(timed("decode_tracklet", TrackletMsg.from_json, msg.data))
                if len(pending) >= args.batch:
                    recognize(pending)
                    pending = []
            else:
                counts["tracks_msgs"] += 1
                head, tracks = timed("decode_tracks", tracks_from_json, msg.data)
                timed("observe_positions", identity.observe_positions, head["sensor"],
                      stamp_to_seconds(head["stamp"]), head["fixed_frame"],
                      [(t.track_id, t.ground, t.ground_sigma_m, t.detection >= 0, t.stature_m)
                       for t in tracks])
    if pending:
        recognize(pending)
    n = max(counts["tracklets"], 1)
    cache = getattr(embedder, "frame_cache", None)
    print(json.dumps({
        "benchmark": "recognizer_cpu", "recording": str(args.recording), "model": str(args.model),
        "frame_cache": None if args.whole or cache is None else {
            "frames_embedded": cache.frames_computed, "frames_reused": cache.frames_reused},
        "load_avg": os.getloadavg(), "model_load_cpu_s": round(load_cpu, 2), **counts,
        "cpu_ms_total": {k: round(v, 1) for k, v in ms.items()},
        "cpu_ms_per_tracklet": {k: round(v / n, 3) for k, v in ms.items()
                                if k in ("deserialize", "decode_tracklet", "embed", "identity_update")},
        "identities": len(identity.identities()),
        "decisions_sha1": hashlib.sha1(repr(decisions).encode()).hexdigest(),
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
