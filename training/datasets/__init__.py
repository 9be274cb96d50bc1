"""Gait data sets in their real on-disk layouts (``shared/docs/DATASETS.md``).

Both loaders expose the same small interface used by the sampler, trainer and evaluator:
``records`` (one ``SequenceRecord`` per sequence), ``load_pair(i)`` (equal-length paired silhouettes
and depth maps for training) and ``load_modality(i, modality)`` (one modality for evaluation).
"""

from training.datasets.common import GaitDataset, SequenceRecord
from training.datasets.freegait import FreeGait
from training.datasets.sustech1k import SUSTech1K

__all__ = ["FreeGait", "GaitDataset", "SequenceRecord", "SUSTech1K"]
