"""The results store on a real SQLite file: schema, all-or-nothing trials, full disk, locks,
orphans, retention, settings and coach accounts."""

from __future__ import annotations

import errno
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kiosk.config import config_from_dict
from kiosk.errors import ConfigError, DiskFullError, InputError, MediaError, StoreError
from kiosk.store import Store
from kiosk.store import media as media_files
from kiosk.store.db import _migrations
from kiosk.store.sample import result_json

T0 = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture()
def db(tmp_path: Path) -> Store:
    s = Store(tmp_path, min_free_mb=10)
    s.migrate()
    yield s
    s.close()


def _session(db: Store) -> int:
    return db.start_session(db.add_athlete("Zoë O'Brien", sex="female"), "Gym A", started_at=T0)


def _files(db: Store) -> list[Path]:
    return sorted(p for p in db.media_root.rglob("*") if p.is_file())


def test_migrate_sets_wal_full_sync_foreign_keys_and_is_idempotent(db: Store) -> None:
    latest = len(_migrations())
    assert db.schema_version() == latest
    assert db.migrate() == latest
    assert db.query("PRAGMA journal_mode")[0][0] == "wal"
    assert db.query("PRAGMA synchronous")[0][0] == 2  # FULL
    assert db.query("PRAGMA foreign_keys")[0][0] == 1
    tables = {r[0] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"athletes", "sessions", "trials", "coaches", "login_attempts", "settings"} <= tables


def test_newer_database_is_refused(db: Store) -> None:
    db.query("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer than this software"):
        db.migrate()


def test_save_trial_writes_media_then_row(db: Store) -> None:
    sid = _session(db)
    res = result_json(__import__("random").Random(3))
    tid = db.save_trial(sid, res, {"replay.mp4": b"\x00video", "peak.jpg": b"\xff\xd8jpeg"}, recorded_at=T0,
                        timings={"analysis_s": 0.61}, quality={"keypoint_score": 0.8})
    t = db.get_trial(tid)
    assert t["trial_no"] == 1 and t["verdict"] == res["verdict"] and t["metrics"] == res
    assert t["quality"] == {"keypoint_score": 0.8} and t["timings"] == {"analysis_s": 0.61}
    assert t["recorded_at"] == "2026-11-21T09:30:00.000000Z"
    assert set(t["media"]) == {"replay.mp4", "peak.jpg"}
    for name, rel in t["media"].items():
        assert rel.startswith("2026/11/21/")
        assert (db.media_root / rel).read_bytes() == {"replay.mp4": b"\x00video", "peak.jpg": b"\xff\xd8jpeg"}[name]
    assert db.save_trial(sid, res, recorded_at=T0) and db.athlete_trials(t["athlete_id"])[-1]["trial_no"] == 2


def test_nan_metrics_are_stored_as_null(db: Store) -> None:
    sid = _session(db)
    res = {**result_json(__import__("random").Random(1)), "kasr_peak": float("nan")}
    assert db.get_trial(db.save_trial(sid, res))["metrics"]["kasr_peak"] is None


def test_failed_row_removes_the_media_it_wrote(db: Store) -> None:
    res = result_json(__import__("random").Random(2))
    with pytest.raises(InputError, match="no session"):
        db.save_trial(12345, res, {"replay.mp4": b"x" * 1000})
    assert _files(db) == []
    with pytest.raises(InputError, match="verdict"):
        db.save_trial(_session(db), {**res, "verdict": "MAYBE"}, {"replay.mp4": b"x"})
    with pytest.raises(InputError, match="not allowed"):
        db.save_trial(_session(db), res, {"../../evil.mp4": b"x"})
    assert _files(db) == [] and db.query("SELECT COUNT(*) FROM trials")[0][0] == 0


def test_full_disk_refused_before_writing_and_nothing_lost(tmp_path: Path) -> None:
    ok = Store(tmp_path, min_free_mb=10)
    ok.migrate()
    sid = _session(ok)
    ok.save_trial(sid, result_json(__import__("random").Random(1)), {"replay.mp4": b"keep"})
    before = _files(ok)
    full = Store(tmp_path, min_free_mb=100_000_000)  # more than any disk here has free
    with pytest.raises(DiskFullError, match="MB free"):
        full.save_trial(sid, result_json(__import__("random").Random(2)), {"replay.mp4": b"new"})
    assert _files(ok) == before and ok.query("SELECT COUNT(*) FROM trials")[0][0] == 1
    assert before[0].read_bytes() == b"keep"


def test_enospc_mid_write_is_disk_full_and_cleans_up(db: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    real = media_files.atomic_write_bytes
    calls = []

    def failing(path: Path, data: bytes, **kw) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise MediaError(f"{path}: cannot write (No space left on device)") from OSError(errno.ENOSPC, "full")
        real(path, data, **kw)

    monkeypatch.setattr(media_files, "atomic_write_bytes", failing)
    with pytest.raises(DiskFullError):
        db.save_trial(_session(db), result_json(__import__("random").Random(1)), {"a.jpg": b"1", "b.jpg": b"2"})
    assert _files(db) == [] and db.query("SELECT COUNT(*) FROM trials")[0][0] == 0


def test_locked_database_is_a_plain_store_error(tmp_path: Path) -> None:
    s = Store(tmp_path, busy_timeout_ms=200)
    s.migrate()
    sid = _session(s)
    other = sqlite3.connect(s.db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        t = time.monotonic()
        with pytest.raises(StoreError, match="busy") as err:
            s.save_trial(sid, result_json(__import__("random").Random(1)), {"replay.mp4": b"x"})
        assert 0.15 < time.monotonic() - t < 5
        assert "\n" not in str(err.value)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert _files(s) == []  # the media written before the lock was met are gone again
    s.close()


def test_orphan_sweep_quarantines_files_without_rows_only(db: Store) -> None:
    sid = _session(db)
    tid = db.save_trial(sid, result_json(__import__("random").Random(1)), {"replay.mp4": b"kept"}, recorded_at=T0)
    kept = db.media_root / db.get_trial(tid)["media"]["replay.mp4"]
    orphan = db.media_root / "2026/11/21/aaaaaaaaaaaa-replay.mp4"   # as if power failed before the row
    orphan.write_bytes(b"orphan")
    temp = db.media_root / "2026/11/21/.x.tmp123"
    temp.write_bytes(b"half")
    assert db.sweep_orphans(grace_s=3600) == 0  # young files may belong to a save in progress
    assert db.sweep_orphans(grace_s=0) == 1
    assert kept.exists() and not orphan.exists() and not temp.exists()  # a half-written temp file is no media
    moved = db.quarantine_root / "2026/11/21/aaaaaaaaaaaa-replay.mp4"
    assert moved.read_bytes() == b"orphan"  # moved aside, never deleted


def test_prune_media_keeps_results(tmp_path: Path) -> None:
    clock = Clock(T0)
    s = Store(tmp_path, clock=clock)
    s.migrate()
    sid = _session(s)
    res = result_json(__import__("random").Random(4))
    old = s.save_trial(sid, res, {"replay.mp4": b"old"}, recorded_at=T0 - timedelta(days=40))
    new = s.save_trial(sid, res, {"replay.mp4": b"new"}, recorded_at=T0 - timedelta(days=5))
    old_file = s.media_root / s.get_trial(old)["media"]["replay.mp4"]
    assert s.prune_media(30) == 1
    assert not old_file.exists() and not old_file.parent.exists()  # empty day folders go too
    t = s.get_trial(old)
    assert t["media"] == {} and t["media_pruned_at"] and t["metrics"] == res
    assert s.get_trial(new)["media"] and s.prune_media(0) == 0
    s.close()


def test_athlete_validation_messages(db: Store) -> None:
    a = db.add_athlete("  李小龍  ", athlete_number="7", sex="F", birth_year="2009")
    row = db.get_athlete(a)
    assert (row["display_name"], row["sex"], row["birth_year"]) == ("李小龍", "female", 2009)
    for fields, msg in [({"display_name": " "}, "needs a name"), ({"display_name": "x", "sex": "other"}, "sex"),
                        ({"display_name": "x", "birth_year": "20o9"}, "birth year"),
                        ({"display_name": "x", "athlete_number": "7"}, "athlete number")]:
        with pytest.raises(InputError, match=msg):
            db.add_athlete(**fields)
    db.update_athlete(a, team="U16", active=False)
    assert db.get_athlete(a)["team"] == "U16" and db.list_athletes(active_only=True) == []


def test_settings_override_validate_and_reset(db: Store) -> None:
    base = config_from_dict({"scoring": {"kasr_peak_min": 0.6}})
    eff = db.set_settings(base, {"scoring.valgus_displacement_deg": 12.0, "session.trials": 4}, by="anna")
    assert eff.scoring.valgus_displacement_deg == 12.0 and eff.session.trials == 4
    assert db.effective_config(base) == eff
    with pytest.raises(ConfigError, match="above the maximum"):
        db.set_settings(base, {"session.trials": 99})
    with pytest.raises(ConfigError, match="cannot be changed"):
        db.set_settings(base, {"web.host": "0.0.0.0"})
    assert db.effective_config(base).session.trials == 4  # a refused change stores nothing
    db.set_settings(base, {"session.trials": base.session.trials})  # back to the file's value
    assert "session.trials" not in db.get_settings()
    db.clear_settings()
    assert db.effective_config(base) == base


def test_coach_accounts_hash_passwords_and_tokens(db: Store) -> None:
    db.create_coach("anna", "correct horse")
    stored = db.query("SELECT password_hash FROM coaches")[0][0]
    assert stored.startswith("scrypt$") and "correct horse" not in stored
    assert db.authenticate("anna", "correct horse")["username"] == "anna"
    assert db.authenticate("ANNA", "correct horse") is not None  # names are case-insensitive
    assert db.authenticate("anna", "wrong horse") is None and db.authenticate("nobody", "x") is None
    with pytest.raises(InputError, match="already exists"):
        db.create_coach("Anna", "another password")
    with pytest.raises(InputError, match="at least 8"):
        db.create_coach("ben", "short")
    token = db.new_token("anna")
    assert token not in str([tuple(r) for r in db.query("SELECT * FROM coaches")])
    assert db.coach_for_token(token)["username"] == "anna"
    token2 = db.new_token("anna")
    assert db.coach_for_token(token) is None and db.coach_for_token(token2)


def test_lockout_after_five_failures_for_fifteen_minutes(tmp_path: Path) -> None:
    clock = Clock(T0)
    s = Store(tmp_path, clock=clock)
    s.migrate()
    for i in range(4):
        clock.now = T0 + timedelta(minutes=i)
        s.record_login("anna", "10.0.0.5", False)
        assert s.locked_until("anna", "10.0.0.5") is None
    clock.now = T0 + timedelta(minutes=10)
    s.record_login("Anna", "10.0.0.5", False)
    assert s.locked_until("anna", "10.0.0.5") == T0 + timedelta(minutes=25)
    assert s.locked_until("anna", "10.0.0.6") is None  # another address is not locked
    clock.now = T0 + timedelta(minutes=24)
    assert s.locked_until("anna", "10.0.0.5") is not None
    clock.now = T0 + timedelta(minutes=25, seconds=1)
    assert s.locked_until("anna", "10.0.0.5") is None
    s.close()
