"""Cross-modal P x K batch sampling with paired frames and exactly resumable state.

A batch is P identities x K sequences; every sequence contributes *both* modalities, cut at the same
frame indices from its frame-synchronised files, so the batch holds 2 x P x K clips of ``frames``
frames. Everything random about batch ``i`` (identities, sequences, frame indices, augmentation) is
drawn from a generator seeded with ``(seed, i)``, so the sampler state is just ``(seed, iteration)``
and resuming at iteration ``i`` reproduces the batches of an uninterrupted run exactly.

Distributed: all ranks draw the same global batch and rank ``r`` keeps identities
``[r P/W, (r+1) P/W)`` with all their K sequences, so every rank has complete positive groups for the
triplet loss (P must be divisible by the world size). No process-group calls are needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Literal, Sequence

import numpy as np

from tcfd_ros.errors import ConfigError


@dataclass(frozen=True)
class SamplerConfig:
    """P x K batch layout and temporal sampling."""

    p: int = 8  # identities per (global) batch
    k: int = 8  # sequences per identity
    frames: int = 10  # frames per clip (the paper: 10)
    order: Literal["ordered", "unordered"] = "ordered"  # contiguous clip / random frames

    def validate(self) -> None:
        if self.p < 2:
            raise ConfigError(f"sampler.p = {self.p}: the triplet loss needs at least 2 identities per batch")
        if self.k < 1 or self.frames < 1:
            raise ConfigError(f"sampler.k = {self.k}, sampler.frames = {self.frames}: both must be >= 1")


@dataclass(frozen=True)
class BatchPlan:
    """What one rank loads for one iteration: record indices and, per record, its frame indices."""

    iteration: int
    records: tuple[int, ...]  # [p_local * k]
    labels: tuple[int, ...]  # class index of each record's identity
    rng_seed: tuple[int, int, int]  # seeds the generator for frame choice and augmentation


def frame_indices(length: int, frames: int, order: str, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``frames`` frames out of ``length``: a contiguous clip (ordered) or a random subset.

    Shorter sequences are sampled with repetition (sorted, so order is kept for ``ordered``).
    """
    if length < 1:
        raise ConfigError(f"cannot sample frames from a sequence of length {length}")
    if order == "ordered":
        if length >= frames:
            start = int(rng.integers(0, length - frames + 1))
            return np.arange(start, start + frames)
        return np.sort(rng.integers(0, length, size=frames))
    if order == "unordered":
        return rng.choice(length, size=frames, replace=length < frames)
    raise ConfigError(f"sampler.order = {order!r} is not one of ['ordered', 'unordered']")


class CrossModalPKSampler:
    """Infinite iterator of ``BatchPlan``s over records labelled by identity."""

    def __init__(self, labels: Sequence[str], cfg: SamplerConfig, seed: int = 0, rank: int = 0,
                 world_size: int = 1) -> None:
        self.cfg = cfg
        self.seed = int(seed)
        self.rank, self.world_size = rank, world_size
        self.classes = sorted(set(labels))
        self.class_index = {c: i for i, c in enumerate(self.classes)}
        self.by_class = [np.array([i for i, lab in enumerate(labels) if lab == c]) for c in self.classes]
        if cfg.p > len(self.classes):
            raise ConfigError(f"sampler.p = {cfg.p} identities per batch but the training set has only "
                              f"{len(self.classes)}: lower sampler.p")
        if cfg.p % world_size:
            raise ConfigError(f"sampler.p = {cfg.p} is not divisible by the world size {world_size}: each "
                              "rank needs whole identities")
        self.iteration = 0

    def plan(self, iteration: int) -> BatchPlan:
        """The batch of ``iteration`` for this rank (a pure function of seed, iteration and rank)."""
        rng = np.random.default_rng([self.seed, iteration])
        ids = rng.choice(len(self.classes), size=self.cfg.p, replace=False)
        per_rank = self.cfg.p // self.world_size
        records: list[int] = []
        labels: list[int] = []
        for j, c in enumerate(ids):
            pool = self.by_class[c]
            chosen = rng.choice(pool, size=self.cfg.k, replace=pool.size < self.cfg.k)
            if self.rank * per_rank <= j < (self.rank + 1) * per_rank:
                records.extend(int(x) for x in chosen)
                labels.extend([int(c)] * self.cfg.k)
        return BatchPlan(iteration, tuple(records), tuple(labels), (self.seed, iteration, self.rank))

    def __iter__(self) -> Iterator[BatchPlan]:
        while True:
            plan = self.plan(self.iteration)
            self.iteration += 1
            yield plan

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "iteration": self.iteration}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seed = int(state["seed"])
        self.iteration = int(state["iteration"])
