"""Schema 4 rebuilds the athletes table so ``sex`` can keep "prefer_not_to_say": on a real SQLite
file with rows in every related table, nothing is lost, the CHECK still refuses junk, and a
migration killed mid-way leaves schema 3 exactly as it was."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import kiosk.store
from kiosk.errors import InputError, StoreError
from kiosk.store import Store
from kiosk.store import db as db_module
from kiosk.store.db import DB_NAME, _migrations


def _schema3(root: Path) -> Path:
    """A schema-3 database with athletes (one with an alias), sessions and trials."""
    path = root / DB_NAME
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    for number, _name, sql in _migrations()[:3]:
        conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
    conn.executescript("""
        INSERT INTO athletes (id, display_name, athlete_number, team, sex, birth_year, notes, active, created_at)
            VALUES (1, 'Zoë', '17', 'U16', 'female', 2011, 'knee op', 1, '2026-11-21T09:00:00.000000Z'),
                   (5, 'Sam', NULL, '', NULL, NULL, '', 0, '2026-11-21T09:01:00.000000Z'),
                   (9, 'Max', '19', 'U18', 'male', 2009, '', 1, '2026-11-21T09:02:00.000000Z');
        INSERT INTO athlete_aliases (uid, athlete_id) VALUES ('merged-away', 9);
        INSERT INTO sessions (id, athlete_id, started_at, verdict) VALUES (3, 1, '2026-11-21T09:30:00.000000Z', 'PASS');
        INSERT INTO trials (session_id, athlete_id, trial_no, recorded_at, verdict)
            VALUES (3, 1, 1, '2026-11-21T09:31:00.000000Z', 'PASS');
    """)
    conn.close()
    return path


def _dump(path: Path) -> tuple[list, list, list, list, int]:
    conn = sqlite3.connect(path)
    try:
        return (conn.execute("SELECT * FROM athletes ORDER BY id").fetchall(),
                conn.execute("SELECT * FROM athlete_aliases").fetchall(),
                conn.execute("SELECT * FROM sessions").fetchall() + conn.execute("SELECT * FROM trials").fetchall(),
                conn.execute("SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
                             "ORDER BY type, name").fetchall(),
                conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def test_migration_keeps_every_row_index_trigger_and_foreign_key(tmp_path: Path) -> None:
    path = _schema3(tmp_path)
    athletes, aliases, rest, objects, version = _dump(path)
    assert version == 3 and len(athletes) == 3 and aliases == [("merged-away", 9)]
    store = Store(tmp_path)
    try:
        assert store.migrate() == 4
        after = _dump(path)
        assert after[:4] == (athletes, aliases, rest, objects)   # rows, uids and every object kept
        assert store.query("PRAGMA foreign_keys")[0][0] == 1
        assert store.query("PRAGMA foreign_key_check") == []
        assert store.query("PRAGMA integrity_check")[0][0] == "ok"
        fks = {(r["table"], r["from"]) for r in store.query("PRAGMA foreign_key_list(sessions)")}
        assert fks == {("athletes", "athlete_id")}
        assert {r["name"] for r in store.query("PRAGMA index_list(athletes)")} >= {"athletes_uid", "athletes_team"}

        new = store.add_athlete("Ada", sex="prefer not to say")
        row = store.get_athlete(new)
        assert row["sex"] == "prefer_not_to_say" and len(row["uid"]) == 32   # the uid trigger still fires
        store.update_athlete(1, sex="prefer_not_to_say")
        assert store.get_athlete(1)["sex"] == "prefer_not_to_say"
        with pytest.raises(InputError, match="sex must be"):
            store.update_athlete(1, sex="other")
        # the CHECK itself, below the validation
        with pytest.raises(InputError, match="out of range"), store.tx() as conn:
            conn.execute("UPDATE athletes SET sex = 'unknown' WHERE id = 1")
        with pytest.raises(InputError, match="does not exist"):  # foreign keys are enforced again
            store.start_session(12345)
    finally:
        store.close()


KILL = """
import os, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA foreign_keys = OFF")
conn.executescript("BEGIN IMMEDIATE;\\n" + open(sys.argv[2], encoding="utf-8").read())
print("rebuilt, not committed", flush=True)
os._exit(9)   # killed before COMMIT, as a power cut would
"""


def test_migration_killed_before_commit_leaves_schema_3(tmp_path: Path) -> None:
    path = _schema3(tmp_path)
    before = _dump(path)
    script = Path(kiosk.store.__file__).parent / "migrations" / _migrations()[3][1]
    run = subprocess.run([sys.executable, "-c", KILL, str(path), str(script)], capture_output=True, text=True)
    assert run.returncode == 9 and "rebuilt" in run.stdout, run.stderr
    assert _dump(path) == before                       # user_version 3, the old table, every row
    conn = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        conn.execute("UPDATE athletes SET sex = 'prefer_not_to_say' WHERE id = 1")
    conn.close()
    store = Store(tmp_path)
    try:
        assert store.migrate() == 4 and _dump(path)[:3] == before[:3]
    finally:
        store.close()


def test_a_migration_that_breaks_a_foreign_key_is_rolled_back(tmp_path: Path, monkeypatch) -> None:
    store = Store(tmp_path)
    try:
        assert store.migrate() == 4
        aid = store.add_athlete("Kept")
        broken = (5, "0005_broken.sql", "DELETE FROM athletes;\nCREATE TABLE extra (x INTEGER);")
        store.start_session(aid)
        monkeypatch.setattr(db_module, "_migrations", lambda: [*_migrations(), broken])
        with pytest.raises(StoreError, match="0005_broken.sql failed: .*refer to nothing"):
            store.migrate()
        assert store.schema_version() == 4 and store.get_athlete(aid)["display_name"] == "Kept"
        assert not store.query("SELECT name FROM sqlite_master WHERE name = 'extra'")
        assert store.query("PRAGMA foreign_keys")[0][0] == 1
    finally:
        store.close()
