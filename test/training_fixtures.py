"""Tiny SUSTech1K / FreeGait trees in the real layouts, for the training tests."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np

# Every file of a SUSTech1K view folder (OpenGait's released names), and a 17th one a newer release may add.
SUSTECH_FILES = [
    "00-{v}-LiDAR-PCDs.pkl", "01-{v}-LiDAR-PCDs_depths.pkl", "02-{v}-LiDAR-PCDs_sils.pkl",
    "03-{v}-Camera-Pose.pkl", "04-{v}-Camera-Ratios-HW.pkl", "05-{v}-Camera-RGB_raw.pkl",
    "06-{v}-Camera-Sils_aligned.pkl", "07-{v}-Camera-Sils_raw.pkl",
    "08-sync-{v}-LiDAR-PCDs.pkl", "09-sync-{v}-LiDAR-PCDs_depths.pkl", "10-sync-{v}-LiDAR-PCDs_sils.pkl",
    "11-sync-{v}-Camera-Pose.pkl", "12-sync-{v}-Camera-Ratios-HW.pkl", "13-sync-{v}-Camera-RGB_raw.pkl",
    "14-sync-{v}-Camera-Sils_aligned.pkl", "15-sync-{v}-Camera-Sils_raw.pkl", "16-{v}-Extra-new.pkl",
]


def _frames(rng: np.random.Generator, t: int, subject: int, channels: int | None) -> np.ndarray:
    """Frames with an identity-dependent blob so that tiny models can learn something."""
    img = np.zeros((t, 64, 64), np.uint8)
    w = 8 + 3 * (subject % 6)
    for i in range(t):
        x0 = 20 + (i % 4)
        img[i, 8:56, x0:x0 + w] = 255
    img |= (rng.random(img.shape) < 0.02).astype(np.uint8) * 255
    if channels is None:
        return img
    return np.repeat(img[:, None], channels, axis=1)


def write_sustech(root: Path, subjects=("0000", "0001", "0002"), seq_types=("00-nm", "01-nm", "01-bg"),
                  views=("000", "090"), t_native=12, t_sync=9, seed=0, skip=()) -> Path:
    """Write a tree; ``skip`` lists file-name templates to leave out. Returns the partition path."""
    rng = np.random.default_rng(seed)
    for si, s in enumerate(subjects):
        for st in seq_types:
            for v in views:
                d = root / s / st / v
                d.mkdir(parents=True, exist_ok=True)
                for tmpl in SUSTECH_FILES:
                    if tmpl in skip:
                        continue
                    name = tmpl.format(v=v)
                    t = t_sync if "sync" in name else t_native
                    if name.endswith("PCDs_depths.pkl"):
                        data = _frames(rng, t, si, 3)
                    elif name.endswith("Sils_aligned.pkl"):
                        data = _frames(rng, t, si, None)
                    else:
                        data = np.zeros((t, 2), np.float32)
                    (d / name).write_bytes(pickle.dumps(data))
    part = root.parent / f"{root.name}_partition.json"
    part.write_text(json.dumps({"TRAIN_SET": list(subjects[:-1]), "TEST_SET": list(subjects[-1:])}))
    return part


def write_freegait(root: Path, subjects=("0001", "0002"), devices=("devid_1", "devid_3"),
                   seqs=("seq_01_new", "seq_02_new"), seed=0) -> Path:
    rng = np.random.default_rng(seed)
    for si, s in enumerate(subjects):
        for dv in devices:
            for sq in seqs:
                d = root / s / dv / sq
                d.mkdir(parents=True, exist_ok=True)
                (d / "image.pkl").write_bytes(pickle.dumps(_frames(rng, 15, si, None)))
                (d / "range_pkl.pkl").write_bytes(pickle.dumps(_frames(rng, 10, si, None)))
                for other in ("kp3d", "lidar", "smpl"):
                    (d / f"{other}.pkl").write_bytes(pickle.dumps([np.zeros(3, np.float32)]))
    part = root.parent / f"{root.name}_partition.json"
    part.write_text(json.dumps({"TRAIN_SET": [], "TEST_SET": list(subjects),
                                "PROBE_SET": [f"{subjects[0]}-devid_1-seq_01_new"]}))
    return part
