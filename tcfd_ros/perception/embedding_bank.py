"""A compact, growable array of the identity manager's stored embeddings.

All embeddings live in one (capacity, parts, dim) float32 array whose first ``size`` rows are used
(removal moves the last row into the hole), so the distance from a tracklet to every stored embedding
is one ``cross_modal_distance`` call on a view, with no per-identity Python loop. Each row records
its owner (global id), modality, source track and how many tracklets its embedding aggregates.
Memory: ``size * parts * dim * 4`` bytes, bounded
by the identity manager's ``max_identities * 2 * max_embeddings_per_identity`` rows.
"""

from __future__ import annotations

import numpy as np

from tcfd_ros.distance import cross_modal_distance
from tcfd_ros.errors import MessageFormatError

INITIAL_CAPACITY = 64
Source = tuple[str, int] | tuple[str, int, int] | None   # a track, a track's past (PastKey), None


class EmbeddingBank:
    """Rows of (owner, modality, source, embedding); row ids change on removal (use ``rows_of``)."""

    def __init__(self, shape: tuple[int, int] | None = None) -> None:
        self.shape = shape
        self.size = 0
        self._vecs = np.zeros((0, 0, 0), np.float32)
        self.owner = np.zeros(0, np.int64)
        self.modality: list[str] = []
        self.source: list[Source] = []
        self.stamp: list[float] = []
        self.tracklets: list[int | None] = []   # tracklets behind each row (None: unknown, e.g. a gallery's)

    def _ensure(self, shape: tuple[int, int]) -> None:
        if self.shape is None:
            self.shape = shape
        if shape != self.shape:
            raise MessageFormatError(f"embedding shape {shape} != {self.shape} of the stored embeddings "
                                     f"(a different model?); use a gallery made with this model")
        if self._vecs.shape[0] == 0:
            self._vecs = np.zeros((INITIAL_CAPACITY, *shape), np.float32)
            self.owner = np.full(INITIAL_CAPACITY, -1, np.int64)
        if self.size == self._vecs.shape[0]:
            cap = 2 * self.size
            self._vecs = np.concatenate([self._vecs, np.zeros_like(self._vecs)])[:cap]
            self.owner = np.concatenate([self.owner, np.full(self.size, -1, np.int64)])

    def add(self, owner: int, modality: str, source: Source, emb: np.ndarray, stamp: float,
            tracklets: int | None = None) -> None:
        e = np.asarray(emb, dtype=np.float32)
        self._ensure(tuple(e.shape))
        i = self.size
        self._vecs[i] = e
        self.owner[i] = owner
        self.modality.append(modality)
        self.source.append(source)
        self.stamp.append(float(stamp))
        self.tracklets.append(tracklets)
        self.size += 1

    def remove(self, row: int) -> None:
        last = self.size - 1
        if row != last:
            self._vecs[row] = self._vecs[last]
            self.owner[row] = self.owner[last]
            self.modality[row] = self.modality[last]
            self.source[row] = self.source[last]
            self.stamp[row] = self.stamp[last]
            self.tracklets[row] = self.tracklets[last]
        self.modality.pop()
        self.source.pop()
        self.stamp.pop()
        self.tracklets.pop()
        self.owner[last] = -1
        self.size = last

    def rows_of(self, owner: int, modality: str | None = None) -> list[int]:
        rows = np.flatnonzero(self.owner[: self.size] == owner)
        return [int(r) for r in rows if modality is None or self.modality[r] == modality]

    def remove_owner(self, owner: int) -> None:
        for r in sorted(self.rows_of(owner), reverse=True):
            self.remove(r)

    def trim(self, owner: int, modality: str, keep: int) -> None:
        """Keep only the newest ``keep`` rows of ``owner`` in ``modality``."""
        rows = self.rows_of(owner, modality)
        if len(rows) <= keep:
            return
        rows.sort(key=lambda r: self.stamp[r])
        for r in sorted(rows[: len(rows) - keep], reverse=True):
            self.remove(r)

    def vector(self, row: int) -> np.ndarray:
        return self._vecs[row].copy()

    def distances(self, emb: np.ndarray) -> np.ndarray:
        """(size,) cross-modal distance from one (parts, dim) embedding to every stored row."""
        if self.size == 0:
            return np.zeros(0, np.float32)
        e = np.asarray(emb, dtype=np.float32)
        self._ensure(tuple(e.shape))
        return cross_modal_distance(e[None], self._vecs[: self.size])[0]
