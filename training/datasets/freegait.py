"""FreeGait after OpenGait's rearrange script: ``<root>/<id>/devid_<k>/seq_<xx>_new/{image,kp3d,lidar,
range_pkl,smpl}.pkl`` with a partition JSON holding TRAIN_SET, TEST_SET and PROBE_SET.

Files are chosen by name (``image`` = camera silhouettes, ``range_pkl`` = LiDAR range/depth images),
never by position. Protocol: probe = the sequences listed in PROBE_SET (keys
``<id>-devid_<k>-seq_<xx>_new``), gallery = every other test sequence; no view exclusion
(``training.retrieval_metrics.evaluate_open``). The device folder plays the role of the view.

The two FreeGait modalities are not frame-synchronised copies like SUSTech1K's ``sync`` files; when
their lengths differ, ``load_pair`` pairs each depth frame with the silhouette at the same relative
time (nearest index), our choice.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np

from tcfd_ros.errors import DatasetError
from training.datasets.common import GaitDataset, SequenceRecord, read_partition

log = logging.getLogger(__name__)

SIL_STEM = "image"
DEPTH_STEM = "range_pkl"
SPLITS = {"train": ("TRAIN_SET",), "test": ("TEST_SET",), "all": ("TRAIN_SET", "TEST_SET")}


def probe_key(rec: SequenceRecord) -> str:
    """The PROBE_SET key of a record: ``<id>-<device>-<sequence>``."""
    return f"{rec.subject}-{rec.view}-{rec.seq_type}"


def _select(folder: Path, stem: str) -> Path:
    hits = [p for p in folder.iterdir() if p.is_file() and p.suffix == ".pkl"
            and (p.stem == stem or p.stem.endswith(("-" + stem, "_" + stem)))]
    if len(hits) != 1:
        raise DatasetError(f"{folder}: expected exactly one file named {stem}.pkl, found "
                           f"{sorted(p.name for p in hits) or 'none'}")
    return hits[0]


class FreeGait(GaitDataset):
    """Sequences of one split; ``probe_mask()`` marks the PROBE_SET sequences of the test split."""

    def __init__(self, root: str | Path, partition: str | Path,
                 split: Literal["train", "test", "all"] = "test", cache_size: int = 0) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"FreeGait root {self.root} is not a directory")
        if split not in SPLITS:
            raise DatasetError(f"split {split!r} is not one of {list(SPLITS)}")
        part = read_partition(partition, ("TRAIN_SET", "TEST_SET", "PROBE_SET"))
        self.probe_keys = frozenset(part["PROBE_SET"])
        subjects = [s for key in SPLITS[split] for s in part[key]]
        missing = [s for s in subjects if not (self.root / s).is_dir()]
        if missing:
            raise DatasetError(f"{len(missing)} subject folder(s) of the {split} split are missing under "
                               f"{self.root}, e.g. {missing[:5]}")
        records = []
        for subj in sorted(subjects):
            for dev in sorted(p for p in (self.root / subj).iterdir() if p.is_dir()):
                for seq in sorted(p for p in dev.iterdir() if p.is_dir()):
                    records.append(SequenceRecord(subject=subj, seq_type=seq.name, view=dev.name,
                                                  sil_path=_select(seq, SIL_STEM),
                                                  depth_path=_select(seq, DEPTH_STEM)))
        if not records:
            raise DatasetError(f"no sequences found under {self.root} for the {split} split")
        unknown = self.probe_keys - {probe_key(r) for r in records}
        if split != "train" and unknown:
            log.warning("%d PROBE_SET keys have no sequence on disk, e.g. %s", len(unknown),
                        sorted(unknown)[:3])
        super().__init__(records, cache_size, subjects)
        self.split = split

    def probe_mask(self) -> np.ndarray:
        """True for records listed in PROBE_SET (the probes); the rest of the test split is the gallery."""
        return np.array([probe_key(r) in self.probe_keys for r in self.records], dtype=bool)

    def pair_length(self, index: int, n_sil: int, n_depth: int) -> int:
        """``load_pair`` pairs every depth frame with a silhouette: the depth file's length."""
        return n_depth

    def load_pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        sil = self.load_modality(index, "2d")
        dep = self.load_modality(index, "3d")
        if sil.shape[0] != dep.shape[0]:
            idx = np.rint(np.linspace(0, sil.shape[0] - 1, dep.shape[0])).astype(np.int64)
            sil = sil[idx]
        return sil, dep
