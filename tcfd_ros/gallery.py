"""The persistent gallery: identities and their gait embeddings in SQLite (WAL mode).

Only embeddings are stored, never images, silhouettes or point clouds. API::

    g = Gallery(path, retention_s=None, on_corrupt="recover")  # or use as a context manager
    gid = g.create_identity(stamp_s, label=None, enrolled=False)
    g.add_embedding(gid, "2d" | "3d", sensor, stamp_s, emb (p, d) float32, keep_last=None)
    g.enrol(gid, label)                 # mark an identity as enrolled (a named, kept person)
    g.erase(gid) -> bool                # delete an identity and all its embeddings
    g.list_identities() -> list[IdentityRecord]
    g.embeddings(identity_id=None, modality=None) -> list[EmbeddingRecord]
    g.touch(gid, stamp_s)               # update last_seen
    g.apply_retention(now_s=None) -> list[int]   # delete identities unseen for retention_s
    g.clock_s() -> float | None         # the gallery's clock: the newest stamp it holds
    g.export_dict() -> dict             # JSON-ready (schema ``tcfd_ros/gallery`` v1)
    g.close()

Schema version: ``PRAGMA user_version`` = ``SCHEMA_VERSION``. A file written by another schema
version raises ``GalleryError`` and is left untouched.

Files that are not galleries are refused and never touched: a file that is not an SQLite database
(no SQLite header, e.g. a YAML file passed by mistake) and a zero-length file raise ``GalleryError``.

A damaged gallery (an SQLite file that fails to open or ``PRAGMA quick_check``) is never silently
reset: it is renamed to ``<name>.corrupt-<UTC time>`` (with its -wal/-shm files) and kept; then
``on_corrupt="recover"`` copies every row that is still readable into a fresh gallery at the original
path (a full scan of each table, else a row-by-row copy that skips unreadable pages; the sqlite3
shell's ``.recover`` is not used: the 3.40 shell of Debian 12 fails on every file with "SQL logic
error"), logs one ERROR line and records it in ``recovery`` (a ``Recovery``: where the damaged file
went, how many identities and embeddings were recovered). ``on_corrupt="raise"``
leaves the damaged file in place and raises ``GalleryError``. ``"recreate"`` is the old name of
``"recover"``.

A file that cannot be opened for other reasons (locked by another writer for longer than
``busy_timeout_s``, permissions, disk) raises ``GalleryError`` and is left in place.

Retention runs on ONE clock, the gallery's own: the message stamps it stores. ``last_seen`` is the
newest stamp (sensor time) of an identity, and "now" for retention is ``clock_s()``, the newest
``last_seen`` in the gallery, i.e. the newest stamp any identity was seen at. With ``retention_s``
set, identities (enrolled or not) whose ``last_seen`` is more than ``retention_s`` older than that are
deleted on open and on every ``apply_retention()`` call. Neither the wall clock nor a node's clock is
ever compared with a stamp, so a bag stamped in 2025 replayed in 2026, a restart months later, or a
sensor whose clock is years off keep their identities until people seen LATER on the same clock
outdate them. ``apply_retention(now_s)`` accepts a stamp on that clock (e.g. the newest message stamp
the caller has processed); it only moves "now" forward of the gallery's clock, never back. A sensor
whose stamps jump far into the future advances the clock too: that is the one case in which
retention deletes earlier identities "early", and it is logged with the clock value.

Thread-safe: one connection guarded by a lock (the recognizer's services run on other threads).
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tcfd_ros.errors import GalleryError
from tcfd_ros.modalities import MODALITIES

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
EXPORT_SCHEMA = "tcfd_ros/gallery"
SQLITE_MAGIC = b"SQLite format 3\x00"   # the first 16 bytes of every SQLite 3 database file
MAX_ROWID_GAP = 100_000                 # recovery stops probing after this many missing rowids in a row

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


@dataclass(frozen=True)
class Recovery:
    """What happened to a damaged gallery: where it went, and what was copied back out of it."""
    damaged: Path            # the damaged file, moved aside and kept
    error: str               # why it was judged damaged
    identities: int          # identities recovered into the fresh gallery
    embeddings: int          # embeddings recovered

    def line(self, path: Path) -> str:
        return (f"gallery {path} was damaged ({self.error}): kept it as {self.damaged} and recovered "
                f"{self.identities} identities and {self.embeddings} embeddings")


def _utc_tag() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


class Gallery:
    """SQLite gallery of identities and embeddings (see module docstring)."""

    def __init__(self, path: str | Path, retention_s: float | None = None,
                 on_corrupt: Literal["recover", "recreate", "raise"] = "recover",
                 busy_timeout_s: float = 5.0) -> None:
        if retention_s is not None and not (math.isfinite(retention_s) and retention_s > 0):
            raise GalleryError(f"retention_s = {retention_s!r}: expected seconds > 0 or None (keep forever)")
        if on_corrupt not in ("recover", "recreate", "raise"):
            raise GalleryError(f"on_corrupt = {on_corrupt!r}: expected 'recover' or 'raise'")
        self.path = Path(path)
        self.retention_s = retention_s
        self.recovery: Recovery | None = None
        self.busy_timeout_s = float(busy_timeout_s)
        self._lock = threading.RLock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._refuse_non_gallery()
        try:
            self._conn = self._open()
        except sqlite3.OperationalError as e:  # locked, unreadable, disk full: not corruption
            raise GalleryError(f"gallery {self.path} cannot be opened: {e}. Check the path, its "
                               f"permissions, and that no other process holds a write lock.") from e
        except sqlite3.DatabaseError as e:
            if on_corrupt == "raise":
                raise GalleryError(
                    f"gallery {self.path} is damaged ({e}); left in place. Open it with "
                    f"`tcfd-ros gallery --db {self.path} list` to recover what is readable.") from e
            self.recovery = self._recover(e)
        if self.retention_s is not None:
            self.apply_retention()

    @property
    def moved_aside(self) -> Path | None:
        """Where a damaged gallery was moved (None if it opened cleanly)."""
        return None if self.recovery is None else self.recovery.damaged

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

    def _refuse_non_gallery(self) -> None:
        """Refuse, without touching it, a file that cannot be a gallery (empty, or not SQLite)."""
        if not self.path.exists():
            return
        if not self.path.is_file():
            raise GalleryError(f"gallery {self.path} is not a regular file")
        wal = self.path.with_name(self.path.name + "-wal")
        with open(self.path, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
        if not head and not (wal.exists() and wal.stat().st_size > 0):
            raise GalleryError(f"gallery {self.path} is an empty file (0 bytes), not a gallery; left it "
                               f"in place. Delete it, or choose another path.")
        if head and head != SQLITE_MAGIC:
            raise GalleryError(f"{self.path} is not a gallery (not an SQLite database: it starts with "
                               f"{head[:8]!r}); left it untouched. Check the path.")

    def _move_aside(self) -> Path:
        target = self.path.with_name(f"{self.path.name}.corrupt-{_utc_tag()}")
        self.path.rename(target)
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                side.rename(target.with_name(target.name + suffix))
        return target

    def _recover(self, err: Exception) -> Recovery:
        """Move the damaged file aside, copy what is readable into a fresh gallery at ``path``."""
        damaged = self._move_aside()
        self._conn = self._open()
        src = sqlite3.connect(f"file:{damaged}?mode=ro", uri=True)
        try:
            n_ids, n_embs = self._copy_rows(src)
        finally:
            src.close()
        rec = Recovery(damaged, str(err), n_ids, n_embs)
        log.error("%s", rec.line(self.path))
        return rec

    def _copy_rows(self, src: sqlite3.Connection) -> tuple[int, int]:
        """Copy every readable, valid identity and embedding row of ``src`` into this gallery."""
        ids = 0
        known: set[int] = set()
        for row in _readable_rows(src, "identities", "id, label, enrolled, first_seen, last_seen"):
            iid, label, enrolled, first, last = row
            if not (isinstance(iid, int) and _finite(first) and _finite(last)):
                continue
            self._conn.execute("INSERT OR IGNORE INTO identities(id, label, enrolled, first_seen, last_seen) "
                               "VALUES (?, ?, ?, ?, ?)", (iid, label if isinstance(label, str) else None,
                                                          int(bool(enrolled)), float(first), float(last)))
            known.add(iid)
            ids += 1
        embs = 0
        cols = "id, identity_id, modality, sensor, stamp, parts, dim, vector"
        for eid, iid, mod, sensor, stamp, p, d, blob in _readable_rows(src, "embeddings", cols):
            if (iid not in known or mod not in MODALITIES or not _finite(stamp) or not isinstance(blob, bytes)
                    or not isinstance(p, int) or not isinstance(d, int) or p <= 0 or d <= 0
                    or len(blob) != 4 * p * d):
                continue
            self._conn.execute("INSERT OR IGNORE INTO embeddings(id, identity_id, modality, sensor, stamp, "
                               "parts, dim, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               (eid, iid, mod, str(sensor), float(stamp), p, d, blob))
            embs += 1
        return ids, embs

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

    def clock_s(self) -> float | None:
        """The gallery's clock: the newest ``last_seen`` stamp it holds (None when it is empty)."""
        with self._lock:
            row = self._conn.execute("SELECT max(last_seen) FROM identities").fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def apply_retention(self, now_s: float | None = None) -> list[int]:
        """Delete identities unseen for ``retention_s`` on the gallery's clock; return their ids.

        ``now_s``, if given, is a stamp on the same clock (message stamps); it can only move "now"
        past the newest stamp in the gallery, never before it.
        """
        if self.retention_s is None:
            return []
        with self._lock:
            clock = self.clock_s()
            if now_s is not None and math.isfinite(now_s):
                clock = float(now_s) if clock is None else max(clock, float(now_s))
            if clock is None:
                return []
            cutoff = clock - self.retention_s
            rows = self._conn.execute("SELECT id FROM identities WHERE last_seen < ?", (cutoff,))
            ids = [r[0] for r in rows]
            if ids:
                self._conn.executemany("DELETE FROM identities WHERE id=?", [(i,) for i in ids])
                log.info("retention: deleted %d identities unseen for %.0f s before stamp %.3f (the "
                         "gallery's clock)", len(ids), self.retention_s, clock)
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


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _readable_rows(src: sqlite3.Connection, table: str, cols: str) -> list[tuple[Any, ...]]:
    """All rows of ``table`` that can still be read: a full scan, else one rowid at a time.

    The row-by-row probe goes up to the table's largest rowid (its b-tree's right edge, or the
    AUTOINCREMENT counter in ``sqlite_sequence``); only where both are unreadable, it stops after
    ``MAX_ROWID_GAP`` rowids in a row that do not exist or cannot be read.
    """
    try:
        return src.execute(f"SELECT {cols} FROM {table} ORDER BY rowid").fetchall()
    except sqlite3.DatabaseError:
        pass
    try:
        src.execute(f"SELECT {cols} FROM {table} LIMIT 0").fetchall()
    except sqlite3.DatabaseError:
        return []                      # the schema itself is unreadable: nothing can be found by rowid
    top = 0
    for q, args in ((f"SELECT max(rowid) FROM {table}", ()),
                    ("SELECT seq FROM sqlite_sequence WHERE name=?", (table,))):
        try:
            row = src.execute(q, args).fetchone()
            top = max(top, int(row[0])) if row and isinstance(row[0], int) else top
        except sqlite3.DatabaseError:
            continue
    rows = []
    rowid = gap = 0
    while rowid < top or (top == 0 and gap < MAX_ROWID_GAP):
        rowid += 1
        try:
            row = src.execute(f"SELECT {cols} FROM {table} WHERE rowid=?", (rowid,)).fetchone()
        except sqlite3.DatabaseError:
            row = None
        if row is None:
            gap += 1
            continue
        rows.append(row)
        gap = 0
    return rows
