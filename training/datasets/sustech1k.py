"""SUSTech1K as OpenGait consumes it: ``<root>/<ID>/<seq-type>/<view>/NN-*.pkl`` plus a partition JSON.

Files are chosen by the *suffix* of their name (never by their count or index in the sorted list, since
a newer release may add files): paired training and evaluation read the ``sync`` copies
``NN-sync-<view>-LiDAR-PCDs_depths.pkl`` and ``NN-sync-<view>-Camera-Sils_aligned.pkl``, in which every
LiDAR frame is paired with its nearest camera frame, so both have the same length. ``sync=False`` reads
the native-rate ``NN-<view>-LiDAR-PCDs_depths.pkl`` / ``NN-<view>-Camera-Sils_aligned.pkl`` instead
(unpaired lengths: evaluation only).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Literal

from tcfd_ros.errors import DatasetError
from training.datasets.common import GaitDataset, SequenceRecord, read_partition

log = logging.getLogger(__name__)

DEPTH_SUFFIX = "LiDAR-PCDs_depths.pkl"
SIL_SUFFIX = "Camera-Sils_aligned.pkl"
SPLITS = {"train": ("TRAIN_SET",), "test": ("TEST_SET",), "all": ("TRAIN_SET", "TEST_SET")}


def _file_pattern(suffix: str, sync: bool) -> re.Pattern[str]:
    sync_part = r"sync-" if sync else r"(?!sync-)"
    return re.compile(r"^\d+-" + sync_part + r".*-" + re.escape(suffix) + r"$")


def select_file(folder: Path, names: list[str], suffix: str, sync: bool) -> Path:
    """The one file in ``folder`` named ``NN-[sync-]<view>-<suffix>``; none or several raise DatasetError."""
    pat = _file_pattern(suffix, sync)
    hits = [n for n in names if pat.match(n)]
    want = f"NN-{'sync-' if sync else ''}<view>-{suffix}"
    if not hits:
        raise DatasetError(f"{folder}: missing file {want} (found {sorted(names)})")
    if len(hits) > 1:
        raise DatasetError(f"{folder}: several files match {want}: {sorted(hits)}")
    return folder / hits[0]


class SUSTech1K(GaitDataset):
    """Sequences of the subjects of one partition split, with conditions and views from folder names."""

    def __init__(self, root: str | Path, partition: str | Path,
                 split: Literal["train", "test", "all"] = "train", sync: bool = True,
                 cache_size: int = 0) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"SUSTech1K root {self.root} is not a directory")
        if split not in SPLITS:
            raise DatasetError(f"split {split!r} is not one of {list(SPLITS)}")
        part = read_partition(partition, ("TRAIN_SET", "TEST_SET"))
        subjects = [s for key in SPLITS[split] for s in part[key]]
        missing = [s for s in subjects if not (self.root / s).is_dir()]
        if missing:
            raise DatasetError(f"{len(missing)} subject folder(s) of the {split} split are missing under "
                               f"{self.root}, e.g. {missing[:5]}; check the partition file {partition}")
        records = []
        for subj in sorted(subjects):
            for seq_dir in sorted(p for p in (self.root / subj).iterdir() if p.is_dir()):
                for view_dir in sorted(p for p in seq_dir.iterdir() if p.is_dir()):
                    names = [p.name for p in view_dir.iterdir() if p.is_file()]
                    records.append(SequenceRecord(
                        subject=subj, seq_type=seq_dir.name, view=view_dir.name,
                        sil_path=select_file(view_dir, names, SIL_SUFFIX, sync),
                        depth_path=select_file(view_dir, names, DEPTH_SUFFIX, sync)))
        if not records:
            raise DatasetError(f"no sequences found under {self.root} for the {split} split")
        super().__init__(records, cache_size, subjects)
        self.split = split
        log.info("SUSTech1K %s: %d subjects, %d sequences from %s", split, len(subjects), len(records),
                 self.root)
