"""Pieces shared by the SUSTech1K and FreeGait loaders: the sequence record, array checks, partitions."""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from tcfd_ros.errors import DatasetError
from tcfd_ros.modalities import FRAME_SIZE, MODALITIES
from tcfd_ros.safe_pickle import safe_load

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SequenceRecord:
    """One sequence on disk: who, under which condition, from which view, and its two modality files."""

    subject: str
    seq_type: str  # condition folder (SUSTech1K '01-bg') or the FreeGait sequence folder
    view: str  # view folder (SUSTech1K '090') or the FreeGait device ('devid_3')
    sil_path: Path  # camera silhouettes, uint8 (T, 64, 64)
    depth_path: Path  # LiDAR depth maps, uint8 (T, 3, 64, 64)


def _array(arr: Any, path: Path) -> np.ndarray:
    """The file's array itself: never ``np.asarray`` of a container from outside (a list of 100k
    references to one array in a 200 kB file would become gigabytes)."""
    if not isinstance(arr, np.ndarray):
        raise DatasetError(f"{path}: expected a numpy array, got {type(arr).__name__}")
    return arr


def check_silhouettes(arr: Any, path: Path) -> np.ndarray:
    """A silhouette file must hold uint8 (T, 64, 64) with T >= 1."""
    a = _array(arr, path)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[1:] != (FRAME_SIZE, FRAME_SIZE) or a.shape[0] < 1:
        raise DatasetError(f"{path}: expected silhouettes uint8 (T, 64, 64), got {a.dtype} {a.shape}")
    return a


def check_depth(arr: Any, path: Path) -> np.ndarray:
    """A depth file must hold uint8 (T, 3, 64, 64) jet RGB; single-channel (T, 64, 64) is replicated."""
    a = _array(arr, path)
    if a.dtype == np.uint8 and a.ndim == 3 and a.shape[1:] == (FRAME_SIZE, FRAME_SIZE) and a.shape[0] >= 1:
        return np.repeat(a[:, None], 3, axis=1)
    if a.dtype != np.uint8 or a.ndim != 4 or a.shape[1:] != (3, FRAME_SIZE, FRAME_SIZE) or a.shape[0] < 1:
        raise DatasetError(f"{path}: expected depth maps uint8 (T, 3, 64, 64), got {a.dtype} {a.shape}")
    return a


def read_partition(path: str | Path, keys: tuple[str, ...]) -> dict[str, list[str]]:
    """Read a partition JSON and return the requested lists as strings; a missing key raises."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise DatasetError(f"cannot read partition file {p}: {e}") from e
    except json.JSONDecodeError as e:
        raise DatasetError(f"partition file {p} is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise DatasetError(f"partition file {p}: top level must be an object with {list(keys)}")
    out = {}
    for k in keys:
        if k not in data or not isinstance(data[k], list):
            raise DatasetError(f"partition file {p}: missing list '{k}' (has {sorted(data)})")
        out[k] = [str(v) for v in data[k]]
    return out


class GaitDataset:
    """Common behaviour: a list of records and cached, checked loading of their arrays."""

    def __init__(self, records: list[SequenceRecord], cache_size: int = 0,
                 subjects: Sequence[str] | None = None) -> None:
        self.records = records
        # the split's subjects in the partition file's order (the last are held out; records are sorted)
        self.subjects = list(dict.fromkeys(subjects if subjects is not None
                                           else (r.subject for r in records)))
        self._cache: OrderedDict[Path, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    def __len__(self) -> int:
        return len(self.records)

    def _load(self, path: Path, check: Callable[[Any, Path], np.ndarray]) -> np.ndarray:
        if path in self._cache:
            self._cache.move_to_end(path)
            return self._cache[path]
        arr = check(safe_load(path), path)
        if self._cache_size > 0:
            self._cache[path] = arr
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return arr

    def load_modality(self, index: int, modality: str) -> np.ndarray:
        """Frames of one modality: ``'2d'`` -> (T, 64, 64) uint8, ``'3d'`` -> (T, 3, 64, 64) uint8."""
        rec = self.records[index]
        if modality == "2d":
            return self._load(rec.sil_path, check_silhouettes)
        if modality == "3d":
            return self._load(rec.depth_path, check_depth)
        raise DatasetError(f"modality {modality!r} is not one of {list(MODALITIES)}")

    def frame_counts(self, modalities: Sequence[str]) -> dict[str, list[int]]:
        """Read and check every file of ``modalities`` once; each record's frame count per modality.

        Evaluation calls this before it imports torch and loads a model: a hostile or broken file
        anywhere in the split then ends the command in well under a second instead of after minutes
        of embedding, and the counts spare the embedding the read it would otherwise make of every
        file to plan its batches (so the data are still read twice in all, as before).
        """
        return {m: [self.load_modality(i, m).shape[0] for i in range(len(self.records))]
                for m in dict.fromkeys(modalities)}

    def pair_length(self, index: int, n_sil: int, n_depth: int) -> int:
        """Frames of ``load_pair(index)`` given the two files' frame counts (equal, or an error)."""
        if n_sil != n_depth:
            rec = self.records[index]
            raise DatasetError(
                f"{rec.sil_path} has {n_sil} frames but {rec.depth_path} has {n_depth}: "
                "paired training needs frame-synchronised files of equal length")
        return n_sil

    def load_pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Equal-length (silhouettes, depth maps) of one sequence for paired training."""
        sil = self.load_modality(index, "2d")
        dep = self.load_modality(index, "3d")
        self.pair_length(index, sil.shape[0], dep.shape[0])
        return sil, dep
