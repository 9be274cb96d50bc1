"""The SQLite gallery (WAL, schema version, retention, corruption handling) and `tcfd-ros gallery`."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tcfd_ros.cli import main as cli_main
from tcfd_ros.errors import GalleryError
from tcfd_ros.gallery import SCHEMA_VERSION, Gallery

REPO = Path(__file__).resolve().parents[1]

T0 = 1_700_000_000.0


def _emb(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(4, 8)).astype(np.float32)


def test_identities_and_embeddings_round_trip_in_wal_mode(tmp_path):
    path = tmp_path / "g.sqlite"
    with Gallery(path) as g:
        assert g.journal_mode == "wal"
        a = g.create_identity(T0)
        b = g.create_identity(T0 + 1, label="bob", enrolled=True)
        g.add_embedding(a, "2d", "camera", T0 + 2, _emb(0))
        g.add_embedding(a, "3d", "lidar", T0 + 3, _emb(1))
        g.add_embedding(b, "3d", "lidar", T0 + 4, _emb(2))
    with Gallery(path) as g:  # persisted
        recs = {r.identity_id: r for r in g.list_identities()}
        assert recs[a].num_embeddings == {"2d": 1, "3d": 1} and recs[a].sensors == ("camera", "lidar")
        assert recs[a].first_seen == T0 and recs[a].last_seen == T0 + 3
        assert recs[b].label == "bob" and recs[b].enrolled
        (e,) = g.embeddings(a, "3d")
        np.testing.assert_array_equal(e.vector, _emb(1))
        assert e.vector.dtype == np.float32 and e.sensor == "lidar"


def test_only_embeddings_are_stored_never_imagery(tmp_path):
    with Gallery(tmp_path / "g.sqlite") as g:
        cols = {t: [r[1] for r in g._conn.execute(f"PRAGMA table_info({t})")]
                for t in ("identities", "embeddings")}
        assert g._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        with pytest.raises(GalleryError, match="embedding shape"):
            g.add_embedding(g.create_identity(T0), "2d", "cam", T0, np.zeros((64, 64, 3)))
    assert cols["embeddings"] == ["id", "identity_id", "modality", "sensor", "stamp", "parts", "dim",
                                  "vector"]
    assert cols["identities"] == ["id", "label", "enrolled", "first_seen", "last_seen"]


def test_keep_last_bounds_embeddings_per_modality(tmp_path):
    with Gallery(tmp_path / "g.sqlite") as g:
        a = g.create_identity(T0)
        for k in range(10):
            g.add_embedding(a, "2d", "cam", T0 + k, _emb(k), keep_last=3)
        stamps = [e.stamp for e in g.embeddings(a)]
        assert stamps == [T0 + 7, T0 + 8, T0 + 9]


def test_erase_and_ids_are_never_reused(tmp_path):
    with Gallery(tmp_path / "g.sqlite") as g:
        a = g.create_identity(T0)
        g.add_embedding(a, "2d", "cam", T0, _emb(0))
        assert g.erase(a) and not g.erase(a)
        assert g.embeddings() == []                       # cascade
        assert g.create_identity(T0) > a


def test_retention_deletes_identities_unseen_for_too_long(tmp_path):
    path = tmp_path / "g.sqlite"
    with Gallery(path, retention_s=3600.0) as g:
        old = g.create_identity(T0)
        new = g.create_identity(T0 + 7200)
        g.add_embedding(old, "2d", "cam", T0, _emb(0))
        assert g.apply_retention() == [old]             # the gallery's clock: the newest stamp, T0 + 7200
        assert [r.identity_id for r in g.list_identities()] == [new]
        assert g.embeddings() == []
        g.create_identity(T0 + 5000)
        assert g.apply_retention(now_s=T0) == []        # a stamp behind the gallery's clock moves nothing
        assert g.apply_retention(now_s=T0 + 7200 + 3000) == [new + 1]  # a newer message stamp does
    with Gallery(path, retention_s=3600.0) as g:        # on open: the same clock, nothing more to delete
        assert [r.identity_id for r in g.list_identities()] == [new]


def test_retention_keeps_an_old_enrolled_identity_on_reopen(tmp_path):
    """Issue 15's repro: stamps from 2025, reopened with 30 days of retention, any time later."""
    path = tmp_path / "g.sqlite"
    stamp = 1.75e9
    with Gallery(path) as g:
        gid = g.create_identity(stamp, label="ann", enrolled=True)
        g.add_embedding(gid, "3d", "lidar", stamp, _emb(0))
    for _ in range(2):
        with Gallery(path, retention_s=30 * 86400) as g:
            assert [r.identity_id for r in g.list_identities()] == [gid]
            assert g.apply_retention() == [] and g.clock_s() == stamp
    with Gallery(path, retention_s=30 * 86400) as g:    # someone seen 31 days later on the same clock
        g.create_identity(stamp + 31 * 86400)
        assert g.apply_retention() == [gid]


@pytest.mark.parametrize("bad", [b"this is not a database at all" * 100, b"key: value\nother: 1\n", b""])
def test_a_file_that_is_not_a_gallery_is_refused_and_left_alone(tmp_path, bad):
    path = tmp_path / "config.yaml"
    path.write_bytes(bad)
    for mode in ("recover", "raise"):
        with pytest.raises(GalleryError, match="not a gallery|empty file"):
            Gallery(path, on_corrupt=mode)
    assert path.read_bytes() == bad and sorted(tmp_path.iterdir()) == [path]
    assert cli_main(["gallery", "--db", str(path), "list"]) == 2
    assert path.read_bytes() == bad and sorted(tmp_path.iterdir()) == [path]


def test_a_damaged_sqlite_file_is_kept_and_reported(tmp_path, caplog):
    bad = b"SQLite format 3\x00" + b"\xff" * 5000
    path = tmp_path / "g.sqlite"
    path.write_bytes(bad)
    with pytest.raises(GalleryError, match="left in place"):
        Gallery(path, on_corrupt="raise")
    assert path.read_bytes() == bad
    with Gallery(path) as g:
        assert g.moved_aside is not None and g.moved_aside.read_bytes() == bad
        assert g.recovery.identities == 0 and g.list_identities() == []
    assert "damaged" in caplog.text and str(g.moved_aside) in caplog.text


def _damage_pages(path, pages, page_size=4096):
    """Overwrite whole pages (1-based) with garbage, as a failing disk would."""
    with open(path, "r+b") as f:
        for p in pages:
            f.seek((p - 1) * page_size)
            f.write(b"\xa5" * page_size)


def _big_gallery(path, n=200):
    with Gallery(path) as g:
        for k in range(n):
            gid = g.create_identity(T0 + k, label=f"p{k}", enrolled=k % 2 == 0)
            for m in ("2d", "3d"):
                g.add_embedding(gid, m, "cam" if m == "2d" else "lidar", T0 + k, _emb(k).repeat(8, axis=1))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()


def test_readable_rows_of_a_damaged_gallery_are_recovered(tmp_path, caplog):
    path = tmp_path / "g.sqlite"
    _big_gallery(path)
    pages = path.stat().st_size // 4096
    _damage_pages(path, [pages - 3, pages // 2, pages // 3])   # embedding pages, mid-file
    with Gallery(path) as g:
        rec = g.recovery
        assert rec is not None and rec.damaged.exists() and path.exists()
        ids = g.list_identities()
        assert rec.identities == len(ids) == 200                 # identity pages were not hit
        assert 300 <= rec.embeddings == len(g.embeddings()) < 400
        for e in g.embeddings()[:5]:
            np.testing.assert_array_equal(e.vector, _emb(e.identity_id - 1).repeat(8, axis=1))
        assert {r.label for r in ids} == {f"p{k}" for k in range(200)}
    assert f"recovered 200 identities and {rec.embeddings} embeddings" in caplog.text
    with Gallery(path) as g:                                       # the recovered gallery is healthy
        assert g.recovery is None and len(g.list_identities()) == 200


def test_cli_recovers_and_reports_on_stderr_once(tmp_path):
    path = tmp_path / "g.sqlite"
    _big_gallery(path, n=50)
    pages = path.stat().st_size // 4096
    _damage_pages(path, [pages - 1])
    run = subprocess.run([sys.executable, "-m", "tcfd_ros", "gallery", "--db", str(path), "list"],
                         capture_output=True, text=True, timeout=120, cwd=REPO)
    assert run.returncode == 0, run.stderr
    assert "50 identities" in run.stdout
    said = [line for line in run.stderr.splitlines() if "was damaged" in line]
    assert len(said) == 1 and "recovered 50 identities" in said[0], run.stderr


def test_unknown_schema_version_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "g.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE identities (x)")
    conn.execute("PRAGMA user_version=99")
    conn.commit()
    conn.close()
    with pytest.raises(GalleryError, match="schema version 99"):
        Gallery(path)
    assert path.exists() and not list(tmp_path.glob("*.corrupt-*"))


@pytest.mark.parametrize("call,match", [
    (lambda g: g.add_embedding(12345, "2d", "cam", T0, _emb(0)), "no such identity"),
    (lambda g: g.add_embedding(g.create_identity(T0), "rgb", "cam", T0, _emb(0)), "modality"),
    (lambda g: g.add_embedding(g.create_identity(T0), "2d", "cam", T0, np.full((2, 2), np.nan)), "finite"),
    (lambda g: g.create_identity(float("nan")), "stamp_s"),
    (lambda g: g.enrol(999), "no such identity"),
])
def test_bad_calls_raise_gallery_errors(tmp_path, call, match):
    with Gallery(tmp_path / "g.sqlite") as g, pytest.raises(GalleryError, match=match):
        call(g)


def test_cli_list_export_erase(tmp_path, capsys):
    path = tmp_path / "g.sqlite"
    with Gallery(path) as g:
        a = g.create_identity(T0, label="alice", enrolled=True)
        b = g.create_identity(T0)
        g.add_embedding(a, "2d", "camera", T0, _emb(0))
    assert cli_main(["gallery", "--db", str(path), "list"]) == 0
    out = capsys.readouterr().out
    assert "alice" in out and "2 identities" in out
    assert cli_main(["gallery", "--db", str(path), "list", "--json"]) == 0
    assert [r["identity_id"] for r in json.loads(capsys.readouterr().out)] == [a, b]
    exp = tmp_path / "out" / "g.json"
    assert cli_main(["gallery", "--db", str(path), "export", "--out", str(exp)]) == 0
    data = json.loads(exp.read_text())
    assert data["schema"] == "tcfd_ros/gallery" and data["version"] == SCHEMA_VERSION
    np.testing.assert_allclose(data["identities"][0]["embeddings"][0]["vector"], _emb(0), rtol=1e-6)
    capsys.readouterr()
    assert cli_main(["gallery", "--db", str(path), "erase", str(b), "999"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no identity 999" in err and "nothing erased" in err
    with Gallery(path) as g:
        assert len(g.list_identities()) == 2
    assert cli_main(["gallery", "--db", str(path), "erase", str(b)]) == 0
    assert "erased 1 identity from" in capsys.readouterr().out
    assert cli_main(["gallery", "--db", str(path), "erase", "--all"]) == 0
    with Gallery(path) as g:
        assert g.list_identities() == []
    assert cli_main(["gallery", "--db", str(tmp_path / "missing.sqlite"), "list"]) == 2
    path.write_bytes(b"garbage" * 100)
    assert cli_main(["gallery", "--db", str(path), "list"]) == 2
    assert "not a gallery" in capsys.readouterr().err


def test_a_locked_gallery_is_reported_not_moved_aside(tmp_path):
    path = tmp_path / "g.sqlite"
    Gallery(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=DELETE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(GalleryError, match="cannot be opened"):
            Gallery(path, busy_timeout_s=0.05)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert path.exists() and not list(tmp_path.glob("*.corrupt-*"))
    with Gallery(path) as g:
        assert g.moved_aside is None and g.journal_mode == "wal"
