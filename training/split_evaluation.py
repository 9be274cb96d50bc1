"""Evaluate a trained network on a data set's test split in one or both cross-modal directions.

SUSTech1K layout (and the synthetic set): probes are the sequences whose seq-type is not ``00-nm``,
the gallery is ``00-nm`` (DATASETS.md); cross-view protocol of ``training.retrieval_metrics``. FreeGait:
probes are PROBE_SET, gallery the rest of the test split; open protocol. Direction ``2d3d`` embeds
probes as camera silhouettes and the gallery as LiDAR depth maps, ``3d2d`` the reverse.
"""

from __future__ import annotations

from typing import Any, Literal, Sequence

import numpy as np
import torch
from torch import nn

from tcfd_ros.errors import DatasetError
from training.datasets import FreeGait, GaitDataset
from training.calibrate import calibrate_levels, rates_at_thresholds
from training.embed import embed_pair_tracklets, embed_sequences
from training.retrieval_metrics import (DIRECTIONS, SUSTECH1K_CONDITIONS, SUSTECH1K_GALLERY_TYPE,
                                        evaluate_cross_modal, evaluate_open, needed_modalities)


def _side(ds: GaitDataset, idx: np.ndarray, feats: np.ndarray) -> dict[str, Any]:
    recs = [ds.records[i] for i in idx]
    return {"features": feats[idx], "labels": [r.subject for r in recs],
            "conditions": [r.seq_type for r in recs], "views": [r.view for r in recs]}


def probe_gallery_split(ds: GaitDataset) -> tuple[np.ndarray, np.ndarray]:
    """Indices of probe and gallery records of a test split (protocol by loader type, not by name)."""
    if isinstance(ds, FreeGait):
        mask = ds.probe_mask()
    else:
        mask = np.array([r.seq_type != SUSTECH1K_GALLERY_TYPE for r in ds.records])
    probe, gallery = np.flatnonzero(mask), np.flatnonzero(~mask)
    if probe.size == 0 or gallery.size == 0:
        raise DatasetError(f"test split has {probe.size} probe and {gallery.size} gallery sequences; both "
                           f"are needed (gallery seq-type '{SUSTECH1K_GALLERY_TYPE}' for SUSTech1K layouts)")
    return probe, gallery


def evaluate_model(model: nn.Module, ds: GaitDataset, directions: Sequence[Literal["2d3d", "3d2d"]],
                   max_frames: int = 0, batch_sequences: int = 16, device: str | torch.device = "cpu",
                   counts: dict[str, list[int]] | None = None) -> dict[str, Any]:
    """Embed every test sequence in the modalities needed and score each direction.

    ``counts``: frame counts per modality from ``ds.frame_counts`` where the caller checked the files
    first (``tcfd-ros evaluate`` does, before it loads the model)."""
    probe, gallery = probe_gallery_split(ds)
    counts = counts or {}
    feats = {m: embed_sequences(model, ds, range(len(ds)), m, max_frames, batch_sequences, device,
                                lengths=counts.get(m))
             for m in needed_modalities(directions)}
    results: dict[str, Any] = {"num_probe_sequences": int(probe.size),
                               "num_gallery_sequences": int(gallery.size), "directions": {}}
    for d in directions:
        pm, gm = DIRECTIONS[d]
        p_side, g_side = _side(ds, probe, feats[pm]), _side(ds, gallery, feats[gm])
        if isinstance(ds, FreeGait):
            results["directions"][d] = evaluate_open(p_side, g_side)
        else:
            results["directions"][d] = evaluate_cross_modal(p_side, g_side, exclude_same_view=True,
                                                            condition_groups=SUSTECH1K_CONDITIONS)
    return results


def evaluate_open_set(model: nn.Module, ds: GaitDataset, thresholds: dict[str, float | None],
                      target_fmr: float = 0.01, tracklet_frames: int = 10, tracklet_hop: int = 5,
                      batch_sequences: int = 16, device: str | torch.device = "cpu",
                      counts: dict[str, list[int]] | None = None, track_tracklets: int = 0
                      ) -> dict[str, Any]:
    """Open-set rates on a test split, tracklets and tracks formed as in ``training.calibrate``:
    ``at_target_fmr`` = threshold and genuine accept rate at ``target_fmr`` measured on these
    identities; ``at_checkpoint_thresholds`` = FMR and genuine accept rate of the checkpoint's own
    calibrated thresholds (how the calibration on validation identities transfers). ``counts``: frame
    counts of both modalities from ``ds.frame_counts`` where known (spares reading every file once);
    ``track_tracklets``: a track is the newest N tracklets of a sequence (0 = all)."""
    f2, f3, labels, seq_of = embed_pair_tracklets(model, ds, list(range(len(ds))), tracklet_frames,
                                                  tracklet_hop, 0, batch_sequences, device, counts)
    return {"at_target_fmr": calibrate_levels(f2, f3, labels, seq_of, target_fmr, track_tracklets),
            "at_checkpoint_thresholds": rates_at_thresholds(f2, f3, labels, seq_of, thresholds,
                                                            track_tracklets),
            "tracklet_frames": tracklet_frames, "tracklet_hop": tracklet_hop,
            "track_tracklets": track_tracklets}
