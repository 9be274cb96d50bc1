"""Persistence and retention of global identities: who exists, what they look like, the gallery.

The identity manager decides; this store remembers. It holds the identities (id, label, enrolled,
last seen per sensor), their embeddings in one ``EmbeddingBank`` (one row per (identity, source
track, modality): a track's row is its *track-level* embedding, replaced as the track delivers more
tracklets; gallery rows have no source), and mirrors them into an optional SQLite ``Gallery``
(global ids are gallery ids there, persistent and never reused). Memory is bounded by
``max_embeddings_per_identity`` rows per modality per identity and ``max_identities`` identities
(the least recently seen, unbound, unenrolled go first). Retention is the gallery's
(``Gallery.apply_retention``); the store forgets what the gallery deleted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from tcfd_ros.gallery import Gallery
from tcfd_ros.perception.config import IdentityConfig
from tcfd_ros.perception.embedding_bank import EmbeddingBank
from tcfd_ros.perception.identity_types import PastKey, TrackKey

log = logging.getLogger(__name__)


@dataclass
class StoredIdentity:
    gid: int
    last_seen_s: float
    label: str | None = None
    enrolled: bool = False
    founder: TrackKey | PastKey | None = None  # the track that created it (None: from the gallery)
    last_seen_by: dict[str, float] = field(default_factory=dict)   # sensor -> newest stamp


class IdentityStore:
    """Identities, their embeddings and the gallery mirror (see module docstring). One caller."""

    def __init__(self, cfg: IdentityConfig, gallery: Gallery | None, shape: tuple[int, int] | None) -> None:
        self.cfg = cfg
        self.gallery = gallery
        self.ids: dict[int, StoredIdentity] = {}
        self.bank = EmbeddingBank(shape)
        self._next_gid = 1
        if gallery is not None:
            self._load(gallery)

    def _load(self, gallery: Gallery) -> None:
        for rec in gallery.list_identities():
            self.ids[rec.identity_id] = StoredIdentity(rec.identity_id, rec.last_seen, rec.label,
                                                       rec.enrolled)
        skipped = 0
        for e in gallery.embeddings():
            if e.identity_id not in self.ids:
                continue
            if self.bank.shape is not None and e.vector.shape != self.bank.shape:
                skipped += 1
                continue
            self.bank.add(e.identity_id, e.modality, None, e.vector, e.stamp)
            self.bank.trim(e.identity_id, e.modality, self.cfg.max_embeddings_per_identity)
        if skipped:
            log.warning("%d gallery embeddings have another shape than the model's %s and were not loaded",
                        skipped, self.bank.shape)
        if self.ids:
            self._next_gid = max(self.ids) + 1
        log.info("identity store: %d identities loaded from %s", len(self.ids), gallery.path)

    # ---- identities ------------------------------------------------------------------------
    def create(self, stamp_s: float, founder: TrackKey, bound: set[int]) -> StoredIdentity:
        gid = self.gallery.create_identity(stamp_s) if self.gallery is not None else self._next_gid
        self._next_gid = max(self._next_gid, gid + 1)
        ident = StoredIdentity(gid, stamp_s, founder=founder)
        self.ids[gid] = ident
        self._evict(bound | {gid})
        return ident

    def _evict(self, protected: set[int]) -> None:
        excess = len(self.ids) - self.cfg.max_identities
        for ident in sorted(self.ids.values(), key=lambda i: i.last_seen_s):
            if excess <= 0:
                break
            if ident.gid in protected or ident.enrolled:
                continue
            self.forget(ident.gid)
            excess -= 1

    def forget(self, gid: int) -> None:
        self.ids.pop(gid, None)
        self.bank.remove_owner(gid)

    def erase(self, gid: int) -> bool:
        found = gid in self.ids
        self.forget(gid)
        if self.gallery is not None:
            found = self.gallery.erase(gid) or found
        return found

    def split_off(self, gid: int, source: TrackKey, stamp_s: float, bound: set[int]) -> StoredIdentity:
        """Move ``source``'s embeddings out of identity ``gid`` into a new identity that ``source`` founds
        (a track shown to be someone else than the identity's person)."""
        ident = self.create(stamp_s, source, bound | {gid})
        bank = self.bank
        for r in bank.rows_of(gid):
            if bank.source[r] == source:
                bank.owner[r] = ident.gid
                ident.last_seen_s = max(ident.last_seen_s, bank.stamp[r])
                ident.last_seen_by[source[0]] = max(ident.last_seen_by.get(source[0], bank.stamp[r]),
                                                    bank.stamp[r])
        return ident

    def release(self, gid: int, source: TrackKey) -> None:
        """``source``'s embeddings leave identity ``gid``: its track left that identity for another, and
        what it showed is not that person's (else the identity would go on holding the track, and compare
        the next track against it). The gallery keeps what it saved of an enrolled identity."""
        bank = self.bank
        for r in sorted((r for r in bank.rows_of(gid) if bank.source[r] == source), reverse=True):
            bank.remove(r)

    def absorb(self, gid: int, into: int) -> None:
        """Identity ``gid`` becomes part of identity ``into`` (a fragment of its person's walk,
        ``fragments.py``): its embeddings move there (and into the gallery where ``into``'s are kept),
        the newest ``max_embeddings_per_identity`` per modality stay, and ``gid`` is forgotten."""
        src, dst, bank = self.ids[gid], self.ids[into], self.bank
        keep = self.cfg.max_embeddings_per_identity
        for r in bank.rows_of(gid):
            bank.owner[r] = into
            if self.gallery is not None and bank.source[r] is not None and (
                    dst.enrolled or self.cfg.persist_unenrolled_embeddings):
                self.gallery.add_embedding(into, bank.modality[r], bank.source[r][0], bank.stamp[r],
                                           bank.vector(r), keep_last=keep)
        for modality in set(bank.modality[r] for r in bank.rows_of(into)):
            bank.trim(into, modality, keep)
        dst.last_seen_s = max(dst.last_seen_s, src.last_seen_s)
        for sensor, stamp in src.last_seen_by.items():
            dst.last_seen_by[sensor] = max(dst.last_seen_by.get(sensor, stamp), stamp)
        del self.ids[gid]
        if self.gallery is not None:
            self.gallery.erase(gid)

    def rename_source(self, source: TrackKey, new: PastKey) -> None:
        """Let what ``source`` stored and founded so far count as track ``new``'s (a track's past the
        identity manager set apart: ``identity_types.PastKey``)."""
        bank = self.bank
        for r in range(bank.size):
            if bank.source[r] == source:
                bank.source[r] = new
        for ident in self.ids.values():
            if ident.founder == source:
                ident.founder = new

    def own_rows(self, gid: int, sensor: str) -> dict[TrackKey, int]:
        """The tracks of ``sensor`` whose evidence identity ``gid`` stores, each with one of its rows."""
        bank = self.bank
        return {bank.source[r]: r for r in bank.rows_of(gid)
                if bank.source[r] is not None and bank.source[r][0] == sensor}

    def only_from(self, gid: int, source: TrackKey) -> bool:
        """True if ``gid`` is an unnamed identity created by ``source`` that holds nothing else."""
        ident = self.ids.get(gid)
        if ident is None or ident.enrolled or ident.label is not None or ident.founder != source:
            return False
        return all(self.bank.source[r] == source for r in self.bank.rows_of(gid))

    # ---- embeddings ------------------------------------------------------------------------
    def record(self, ident: StoredIdentity, modality: str, source: TrackKey, emb: np.ndarray,
               stamp_s: float, tracklets: int | None = None) -> None:
        """Make ``emb`` (aggregating ``tracklets`` tracklets) the track-level embedding of ``source`` under
        ``ident`` (and mirror it)."""
        bank = self.bank
        rows = [r for r in bank.rows_of(ident.gid, modality) if bank.source[r] == source]
        for r in sorted(rows, reverse=True):
            bank.remove(r)
        bank.add(ident.gid, modality, source, emb, stamp_s, tracklets)
        bank.trim(ident.gid, modality, self.cfg.max_embeddings_per_identity)
        ident.last_seen_s = max(ident.last_seen_s, stamp_s)
        ident.last_seen_by[source[0]] = max(ident.last_seen_by.get(source[0], stamp_s), stamp_s)
        if self.gallery is not None:
            if ident.enrolled or self.cfg.persist_unenrolled_embeddings:
                self.gallery.add_embedding(ident.gid, modality, source[0], stamp_s, emb,
                                           keep_last=self.cfg.max_embeddings_per_identity)
            else:
                self.gallery.touch(ident.gid, stamp_s)

    def distances(self, emb: np.ndarray, own: TrackKey, gids: list[int], exclude_modality: str | None = None,
                  min_tracklets: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(distance to each identity using other tracks' embeddings, distance using own only).

        ``exclude_modality``: other tracks' embeddings of that modality are not compared (the
        recognizer passes the track's own modality unless ``gait_same_modality``). ``min_tracklets``:
        nor are other tracks' embeddings of fewer tracklets (a gallery's, of unknown count, are).
        """
        other = np.full(len(gids), np.inf)
        mine = np.full(len(gids), np.inf)
        bank = self.bank
        if bank.size == 0 or not gids:
            return other, mine
        d = bank.distances(emb)
        order = np.argsort(np.asarray(gids))
        sorted_gids = np.asarray(gids)[order]
        pos = np.minimum(np.searchsorted(sorted_gids, bank.owner[: bank.size]), len(gids) - 1)
        known = sorted_gids[pos] == bank.owner[: bank.size]
        col = order[pos]
        is_own = np.fromiter((src == own for src in bank.source), dtype=bool, count=bank.size)
        sel = known & ~is_own
        if exclude_modality is not None:
            sel &= np.fromiter((m != exclude_modality for m in bank.modality), dtype=bool, count=bank.size)
        if min_tracklets > 0:
            sel &= np.fromiter((n is None or n >= min_tracklets for n in bank.tracklets), dtype=bool,
                               count=bank.size)
        np.minimum.at(other, col[sel], d[sel])
        sel = known & is_own
        np.minimum.at(mine, col[sel], d[sel])
        return other, mine

    # ---- services --------------------------------------------------------------------------
    def enrol(self, gid: int, label: str | None) -> None:
        """Enrol ``gid`` (named ``label``); its embeddings are saved in the gallery."""
        ident = self.ids[gid]
        ident.enrolled = True
        ident.label = label if label is not None else ident.label
        if self.gallery is None:
            return
        if not self.cfg.persist_unenrolled_embeddings:
            bank = self.bank
            for r in bank.rows_of(gid):
                src = bank.source[r]
                if src is not None:
                    self.gallery.add_embedding(gid, bank.modality[r], src[0], bank.stamp[r], bank.vector(r),
                                               keep_last=self.cfg.max_embeddings_per_identity)
        self.gallery.enrol(gid, label)

    def apply_retention(self, now_s: float | None = None) -> list[int]:
        """Apply the gallery's retention and forget the deleted identities."""
        if self.gallery is None:
            return []
        gone = self.gallery.apply_retention(now_s)
        for gid in gone:
            self.forget(gid)
        return gone

    def embedding_counts(self) -> dict[int, dict[str, int]]:
        counts: dict[int, dict[str, int]] = {}
        for gid, mod in zip(self.bank.owner[: self.bank.size].tolist(), self.bank.modality):
            counts.setdefault(gid, {}).setdefault(mod, 0)
            counts[gid][mod] += 1
        return counts
