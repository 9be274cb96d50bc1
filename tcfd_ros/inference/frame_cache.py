"""Per-frame features kept between a track's overlapping tracklets, so each frame is embedded once.

The recognizer embeds every tracklet a tracker emits; with ``tracklet.frames`` 10 and ``hop`` 5 each
frame arrives in two tracklets. With an embedder split at its temporal max pooling
(``onnx_split.py``) a tracklet's embedding is ``head(max_t f(frame_t))``: the per-frame features
``f`` of frames seen before are taken from here, only new frames go through the frame graph, and the
result is the same as embedding the whole tracklet (max pooling is exact; tested).

A cached frame is reused only when its track key, stamp and raw bytes (and the tracklet's 0/1 vs
0/255 silhouette scale, which ``frames_to_input`` decides per tracklet) all equal the new frame's, so a
tracker restart that reuses track ids and stamps cannot return another frame's features. Memory is
bounded: per track only the frames of its newest tracklet are kept, and at most ``max_tracks``
tracks (least recently used evicted): 128 tracks x 10 frames x ~16 KB (the shipped model) ~ 20 MB.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Hashable, Sequence

import numpy as np

from tcfd_ros.inference.batching import tracklet_to_input
from tcfd_ros.model.preprocess import modality_index

DEFAULT_MAX_TRACKS = 128

#: (frames [1, K, 3, 64, 64] float32, modality [1] int64) -> per-frame outputs, each [1, K, ...]
FrameFn = Callable[[np.ndarray, np.ndarray], list]
#: (pooled outputs, each [n, ...], modality [n] int64) -> embeddings [n, parts, dim]
HeadFn = Callable[[list, np.ndarray], np.ndarray]


@dataclass
class _Frame:
    raw: bytes                   # the frame as received (uint8)
    unit_scale: bool             # its tracklet was a {0, 1} silhouette (scaled differently)
    features: tuple              # one array per frame output, without the batch and frame axes


class FrameFeatureCache:
    """Embeds tracklets of one split model, reusing the features of frames already embedded."""

    def __init__(self, frame_fn: FrameFn, head_fn: HeadFn, max_tracks: int = DEFAULT_MAX_TRACKS) -> None:
        self.frame_fn, self.head_fn, self.max_tracks = frame_fn, head_fn, max_tracks
        self._tracks: OrderedDict[Hashable, dict[float, _Frame]] = OrderedDict()
        self.frames_computed = 0     # frames that went through the frame graph
        self.frames_reused = 0       # frames taken from the cache

    @property
    def frames_held(self) -> int:
        return sum(len(v) for v in self._tracks.values())

    def embed(self, tracklets: Sequence[np.ndarray], modality: str, tracks: Sequence[Hashable],
              stamps: Sequence[Sequence[float]]) -> np.ndarray:
        """(N, parts, dim) for N tracklets of one modality; ``tracks[i]`` names tracklet i's track
        (e.g. ``(sensor, track_id)``) and ``stamps[i]`` its frames' stamps, one per frame."""
        m = modality_index(modality)
        if not (len(tracklets) == len(tracks) == len(stamps)):
            raise ValueError(f"{len(tracklets)} tracklets, {len(tracks)} track keys, "
                             f"{len(stamps)} stamp lists")
        plans = []            # per tracklet: list of (cached _Frame or index into `todo`)
        todo: list[np.ndarray] = []
        todo_frames: list[tuple[Hashable, float, _Frame]] = []
        pending: dict[tuple[Hashable, float, bytes, bool], int] = {}   # a frame twice in this batch
        for frames, key, ts in zip(tracklets, tracks, stamps):
            frames = np.asarray(frames)
            if len(ts) != frames.shape[0]:
                raise ValueError(f"{len(ts)} stamps for {frames.shape[0]} frames")
            x = tracklet_to_input(frames, modality)
            unit = bool(frames.dtype == np.uint8 and frames.max() <= 1)
            held = self._tracks.get(key, {})
            plan = []
            for t, raw_frame, xf in zip(ts, frames, x):
                raw = raw_frame.tobytes()
                hit = held.get(float(t))
                if hit is not None and hit.raw == raw and hit.unit_scale == unit:
                    plan.append(hit)
                    self.frames_reused += 1
                    continue
                pk = (key, float(t), raw, unit)
                if pk in pending:     # in an earlier tracklet of this batch
                    self.frames_reused += 1
                else:
                    pending[pk] = len(todo)
                    todo.append(xf)
                    todo_frames.append((key, float(t), _Frame(raw, unit, ())))
                plan.append(pending[pk])
            plans.append(plan)
        if todo:
            outs = self.frame_fn(np.ascontiguousarray(np.stack(todo)[None]), np.full(1, m, dtype=np.int64))
            self.frames_computed += len(todo)
            for i, (_, _, fr) in enumerate(todo_frames):
                fr.features = tuple(o[0, i] for o in outs)
        frame_of = [fr for _, _, fr in todo_frames]
        resolved = [[p if isinstance(p, _Frame) else frame_of[p] for p in plan] for plan in plans]
        pooled_rows = [[np.max(np.stack([f.features[j] for f in feats]), axis=0)
                        for j in range(len(feats[0].features))] for feats in resolved]
        pooled = [np.ascontiguousarray(np.stack([row[j] for row in pooled_rows]))
                  for j in range(len(pooled_rows[0]))] if pooled_rows else []
        out = self.head_fn(pooled, np.full(len(plans), m, dtype=np.int64)) if plans else None
        for feats, key, ts in zip(resolved, tracks, stamps):   # keep each track's newest tracklet's frames
            self._tracks[key] = {float(t): f for t, f in zip(ts, feats)}
            self._tracks.move_to_end(key)
        while len(self._tracks) > self.max_tracks:
            self._tracks.popitem(last=False)
        return out

    def forget(self, key: Hashable) -> None:
        self._tracks.pop(key, None)
