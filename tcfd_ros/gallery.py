"""The persistent gallery: identities and their gait embeddings in SQLite (WAL mode).

Only embeddings are stored, never images, silhouettes or point clouds. API::

    g = Gallery(path, retention_s=None, on_corrupt="recreate")  # or use as a context manager
    gid = g.create_identity(stamp_s, label=None, enrolled=False)
    g.add_embedding(gid, "2d" | "3d", sensor, stamp_s, emb (p, d) float32, keep_last=None)
    g.enrol(gid, label)                 # mark an identity as enrolled (a named, kept person)
    g.erase(gid) -> bool                # delete an identity and all its embeddings
    g.list_identities() -> list[IdentityRecord]
    g.embeddings(identity_id=None, modality=None) -> list[EmbeddingRecord]
    g.touch(gid, stamp_s)               # update last_seen
    g.apply_retention(now_s=None) -> list[int]   # delete identities unseen for retention_s
    g.export_dict() -> dict             # JSON-ready (schema ``tcfd_ros/gallery`` v1)
    g.close()

Schema version: ``PRAGMA user_version`` = ``SCHEMA_VERSION``. A file written by another schema
version raises ``GalleryError`` and is left untouched. A corrupt file (not a database, or failing
``PRAGMA quick_check``) is never silently reset: it is renamed to ``<name>.corrupt-<UTC time>``
(with its -wal/-shm files), logged at ERROR and recorded in ``moved_aside``; then
``on_corrupt="recreate"`` starts an empty gallery (nodes keep running and report it in diagnostics)
and ``on_corrupt="raise"`` raises ``GalleryError`` naming both paths (the CLI).

A file that cannot be opened for other reasons (locked by another writer for longer than
``busy_timeout_s``, permissions, disk) raises ``GalleryError`` and is left in place.

Retention: with ``retention_s`` set, identities (enrolled or not) whose ``last_seen`` is older than
``now - retention_s`` are deleted on open (``now`` = the wall clock) and on every
``apply_retention(now_s)`` call (the caller's clock, e.g. ROS time under ``use_sim_time``).
Thread-safe: one connection guarded by a lock (the recognizer's services run on other threads).
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tcfd_ros.errors import GalleryError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
EXPORT_SCHEMA = "tcfd_ros/gallery"
MODALITIES = ("2d", "3d")

_DDL = """
CREATE TABLE IF NOT EXISTS identities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    label TEXT,
    enrolled INTEGER NOT NULL DEFAULT 0,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS embeddings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    modality TEXT NOT NULL CHECK (modality IN ('2d', '3d')),
    sensor TEXT NOT NULL,
    stamp REAL NOT NULL,
    parts INTEGER NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS embeddings_identity ON embeddings(identity_id, modality);
"""


@dataclass(frozen=True)
class IdentityRecord:
    identity_id: int
    label: str | None
    enrolled: bool
    first_seen: float
    last_seen: float
    num_embeddings: dict[str, int]   # modality -> count
    sensors: tuple[str, ...]


@dataclass(frozen=True)
class EmbeddingRecord:
    embedding_id: int
    identity_id: int
    modality: str
    sensor: str
    stamp: float
    vector: np.ndarray               # (p, d) float32


def _utc_tag() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


class Gallery:
    """SQLite gallery of identities and embeddings (see module docstring)."""

    def __init__(self, path: str | Path, retention_s: float | None = None,
                 on_corrupt: Literal["recreate", "raise"] = "recreate", busy_timeout_s: float = 5.0) -> None:
        if retention_s is not None and not (math.isfinite(retention_s) and retention_s > 0):
            raise GalleryError(f"retention_s = {retention_s!r}: expected seconds > 0 or None (keep forever)")
        if on_corrupt not in ("recreate", "raise"):
            raise GalleryError(f"on_corrupt = {on_corrupt!r}: expected 'recreate' or 'raise'")
        self.path = Path(path)
        self.retention_s = retention_s
        self.moved_aside: Path | None = None
        self.busy_timeout_s = float(busy_timeout_s)
        self._lock = threading.RLock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = self._open()
        except sqlite3.OperationalError as e:  # locked, unreadable, disk full: not corruption
            raise GalleryError(f"gallery {self.path} cannot be opened: {e}. Check the path, its "
                               f"permissions, and that no other process holds a write lock.") from e
        except sqlite3.DatabaseError as e:
            self.moved_aside = self._move_aside(e)
            if on_corrupt == "raise":
                raise GalleryError(
                    f"gallery {self.path} is corrupt ({e}); it was moved to {self.moved_aside}. "
                    f"Restore a backup there or start with an empty gallery.") from e
            self._conn = self._open()
        if self.retention_s is not None:
            self.apply_retention()

    # ---- opening, schema, corruption ------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), timeout=self.busy_timeout_s, check_same_thread=False,
                               isolation_level=None)
        try:
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {check}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if version not in (0, SCHEMA_VERSION) or (version == 0 and tables):
                conn.close()
                raise GalleryError(
                    f"gallery {self.path} has schema version {version} with tables {sorted(tables)}; "
                    f"this tcfd_ros reads version {SCHEMA_VERSION}. Export it with the tcfd-ros version "
                    f"that wrote it, or use another path.")
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise GalleryError(f"gallery {self.path}: could not enable WAL mode (got {mode!r})")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")
            if version == 0:
                conn.executescript(_DDL)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError:
            conn.close()
            raise
        return conn

    def _move_aside(self, err: Exception) -> Path:
        target = self.path.with_name(f"{self.path.name}.corrupt-{_utc_tag()}")
        self.path.rename(target)
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                side.rename(target.with_name(target.name + suffix))
        log.error("gallery %s is corrupt (%s): moved aside to %s", self.path, err, target)
        return target

    @property
    def journal_mode(self) -> str:
        with self._lock:
            return str(self._conn.execute("PRAGMA journal_mode").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "Gallery":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- writing --------------------------------------------------------------------------
    def create_identity(self, stamp_s: float, label: str | None = None, enrolled: bool = False) -> int:
        _check_stamp(stamp_s)
        with self._lock:
            cur = self._conn.execute(
                "INSERT INTO identities(label, enrolled, first_seen, last_seen) VALUES (?, ?, ?, ?)",
                (label, int(enrolled), float(stamp_s), float(stamp_s)))
            return int(cur.lastrowid)

    def _require(self, identity_id: int) -> None:
        row = self._conn.execute("SELECT 1 FROM identities WHERE id=?", (int(identity_id),)).fetchone()
        if row is None:
            raise GalleryError(f"identity_id = {identity_id}: no such identity in {self.path}")

    def add_embedding(self, identity_id: int, modality: str, sensor: str, stamp_s: float,
                      embedding: np.ndarray, keep_last: int | None = None) -> int:
        """Store one (p, d) embedding; with ``keep_last`` only the newest that many per modality stay."""
        if modality not in MODALITIES:
            raise GalleryError(f"modality = {modality!r}: expected one of {MODALITIES}")
        _check_stamp(stamp_s)
        e = np.asarray(embedding, dtype=np.float32)
        if e.ndim != 2 or e.size == 0 or not np.isfinite(e).all():
            raise GalleryError(f"embedding shape {e.shape}: expected a finite (parts, dim) array")
        with self._lock:
            self._require(identity_id)
            self._conn.execute("BEGIN")
            try:
                cur = self._conn.execute(
                    "INSERT INTO embeddings(identity_id, modality, sensor, stamp, parts, dim, vector) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (int(identity_id), modality, str(sensor), float(stamp_s), e.shape[0], e.shape[1],
                     np.ascontiguousarray(e).tobytes()))
                self._conn.execute("UPDATE identities SET last_seen=max(last_seen, ?) WHERE id=?",
                                   (float(stamp_s), int(identity_id)))
                if keep_last is not None:
                    self._conn.execute(
                        "DELETE FROM embeddings WHERE identity_id=? AND modality=? AND id NOT IN "
                        "(SELECT id FROM embeddings WHERE identity_id=? AND modality=? "
                        "ORDER BY stamp DESC, id DESC LIMIT ?)",
                        (int(identity_id), modality, int(identity_id), modality, int(keep_last)))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            return int(cur.lastrowid)

    def touch(self, identity_id: int, stamp_s: float) -> None:
        _check_stamp(stamp_s)
        with self._lock:
            self._conn.execute("UPDATE identities SET last_seen=max(last_seen, ?) WHERE id=?",
                               (float(stamp_s), int(identity_id)))

    def enrol(self, identity_id: int, label: str | None = None) -> None:
        """Mark an identity as enrolled (and optionally name it)."""
        with self._lock:
            self._require(identity_id)
            self._conn.execute("UPDATE identities SET enrolled=1, label=coalesce(?, label) WHERE id=?",
                               (label, int(identity_id)))

    def erase(self, identity_id: int) -> bool:
        """Delete an identity and its embeddings; False if it did not exist."""
        with self._lock:
            cur = self._conn.execute("DELETE FROM identities WHERE id=?", (int(identity_id),))
            return cur.rowcount > 0

    def erase_all(self) -> int:
        with self._lock:
            return int(self._conn.execute("DELETE FROM identities").rowcount)

    def apply_retention(self, now_s: float | None = None) -> list[int]:
        """Delete identities unseen for ``retention_s``; return their ids (none without retention)."""
        if self.retention_s is None:
            return []
        cutoff = (time.time() if now_s is None else float(now_s)) - self.retention_s
        with self._lock:
            rows = self._conn.execute("SELECT id FROM identities WHERE last_seen < ?", (cutoff,))
            ids = [r[0] for r in rows]
            if ids:
                self._conn.executemany("DELETE FROM identities WHERE id=?", [(i,) for i in ids])
                log.info("retention: deleted %d identities unseen for %.0f s", len(ids), self.retention_s)
        return ids

    # ---- reading --------------------------------------------------------------------------
    def list_identities(self) -> list[IdentityRecord]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, label, enrolled, first_seen, last_seen FROM identities ORDER BY id").fetchall()
            counts = self._conn.execute(
                "SELECT identity_id, modality, count(*), group_concat(DISTINCT sensor) FROM embeddings "
                "GROUP BY identity_id, modality").fetchall()
        per: dict[int, dict[str, int]] = {}
        sensors: dict[int, set[str]] = {}
        for iid, mod, n, sens in counts:
            per.setdefault(iid, {})[mod] = n
            sensors.setdefault(iid, set()).update((sens or "").split(","))
        return [IdentityRecord(r[0], r[1], bool(r[2]), r[3], r[4], per.get(r[0], {}),
                               tuple(sorted(s for s in sensors.get(r[0], ()) if s))) for r in rows]

    def embeddings(self, identity_id: int | None = None,
                   modality: str | None = None) -> list[EmbeddingRecord]:
        q = "SELECT id, identity_id, modality, sensor, stamp, parts, dim, vector FROM embeddings WHERE 1=1"
        args: list[Any] = []
        if identity_id is not None:
            q += " AND identity_id=?"
            args.append(int(identity_id))
        if modality is not None:
            q += " AND modality=?"
            args.append(modality)
        with self._lock:
            rows = self._conn.execute(q + " ORDER BY id", args).fetchall()
        out = []
        for eid, iid, mod, sensor, stamp, p, d, blob in rows:
            vec = np.frombuffer(blob, dtype=np.float32)
            if vec.size != p * d:
                raise GalleryError(f"embedding {eid} of identity {iid}: {vec.size} floats stored, "
                                   f"expected {p}x{d}; the gallery {self.path} is damaged")
            out.append(EmbeddingRecord(eid, iid, mod, sensor, stamp, vec.reshape(p, d).copy()))
        return out

    def export_dict(self) -> dict[str, Any]:
        """JSON-ready export (embeddings as nested lists)."""
        ids = self.list_identities()
        embs = self.embeddings()
        return {
            "schema": EXPORT_SCHEMA, "version": SCHEMA_VERSION, "path": str(self.path),
            "identities": [
                {"identity_id": r.identity_id, "label": r.label, "enrolled": r.enrolled,
                 "first_seen": r.first_seen, "last_seen": r.last_seen,
                 "num_embeddings": r.num_embeddings, "sensors": list(r.sensors),
                 "embeddings": [{"modality": e.modality, "sensor": e.sensor, "stamp": e.stamp,
                                 "vector": e.vector.tolist()}
                                for e in embs if e.identity_id == r.identity_id]}
                for r in ids],
        }


def _check_stamp(stamp_s: float) -> None:
    if not isinstance(stamp_s, (int, float)) or not math.isfinite(stamp_s):
        raise GalleryError(f"stamp_s = {stamp_s!r}: expected a finite number of seconds")
