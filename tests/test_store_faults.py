"""Store faults end to end: a full disk (below ``min_free_mb``, ENOSPC in a media write or its
fsync, SQLite's own "disk is full"), the station refusing trials while storage is full, and a
database write-locked by another process. Each time: a plain one-line error, nothing already
stored is lost or changed, no temp file or row is left behind, and it works again afterwards."""

from __future__ import annotations

import builtins
import errno
import hashlib
import os
import random
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections import namedtuple
from datetime import UTC, datetime
from pathlib import Path

import pytest

import kiosk.media
from kiosk.analysis.thresholds import Thresholds
from kiosk.errors import DiskFullError, StoreError
from kiosk.station.camera import SyntheticCamera
from kiosk.station.mat import SimulatedMat
from kiosk.station.runtime import StationRuntime, TrialRecord
from kiosk.store import Store
from kiosk.store import media as media_files
from kiosk.store.sample import result_json
from kiosk.web.station.recorder import STORAGE_FULL, NotSavedError, StationRecorder
from kiosk.web.station.view import station_view

MB = 1024 * 1024
T0 = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
Usage = namedtuple("Usage", "total used free")


@pytest.fixture()
def db(tmp_path: Path):
    s = Store(tmp_path / "state", min_free_mb=200)
    s.migrate()
    yield s
    s.close()


def _snapshot_of_store(s: Store) -> tuple[list[tuple], dict[str, str]]:
    """Every trial row and every file's sha256 under the media folder: what must not change."""
    rows = [tuple(r) for r in s.query("SELECT * FROM trials ORDER BY id")]
    files = {p.relative_to(s.media_root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(s.media_root.rglob("*")) if p.is_file()}
    return rows, files


def _first_trial(s: Store) -> int:
    sid = s.start_session(s.add_athlete("Kept Athlete"), "Gym", started_at=T0)
    s.save_trial(sid, result_json(random.Random(1)), {"replay.mp4": os.urandom(5000), "peak.jpg": os.urandom(700)},
                 recorded_at=T0)
    return sid


def _free(monkeypatch: pytest.MonkeyPatch, free_bytes: int) -> None:
    """The disk reports ``free_bytes`` free (the store's only free-space probe is shutil.disk_usage)."""
    monkeypatch.setattr(media_files.shutil, "disk_usage", lambda path: Usage(64_000 * MB, 0, free_bytes))


# --- full disk ------------------------------------------------------------------------------------

def test_below_min_free_is_refused_with_a_plain_message_and_nothing_lost(db: Store, monkeypatch) -> None:
    sid = _first_trial(db)
    before = _snapshot_of_store(db)
    media = {"replay.mp4": b"v" * 4000, "peak.jpg": b"j" * 1000}
    # Enough free space for the floor, but not for the floor plus this trial's media.
    _free(monkeypatch, 200 * MB + 4999)
    with pytest.raises(DiskFullError) as err:
        db.save_trial(sid, result_json(random.Random(2)), media)
    msg = str(err.value)
    assert "\n" not in msg and "200 MB" in msg and "not saved" in msg
    assert _snapshot_of_store(db) == before
    # One byte more and the same trial fits.
    _free(monkeypatch, 200 * MB + 5000)
    tid = db.save_trial(sid, result_json(random.Random(2)), media)
    assert {n: (db.media_root / r).read_bytes() for n, r in db.get_trial(tid)["media"].items()} == media


class _HalfThenFull:
    """A file object that writes half of what it is given, then fails as a full disk does."""

    def __init__(self, fh) -> None:
        self.fh = fh

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        self.fh.close()
        return False

    def write(self, data: bytes) -> int:
        self.fh.write(data[: len(data) // 2])
        self.fh.flush()
        assert Path(self.fh.name).stat().st_size == len(data) // 2  # a real half-written temp file
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str):
        return getattr(self.fh, name)


def test_enospc_in_the_middle_of_a_media_write_leaves_no_temp_file_and_no_row(db: Store, monkeypatch) -> None:
    sid = _first_trial(db)
    before = _snapshot_of_store(db)
    opened: list[str] = []

    def open_full_on_second(file, mode="r", *args, **kw):
        fh = builtins.open(file, mode, *args, **kw)  # noqa: SIM115 - returned to the caller, who closes it
        if "w" in mode:
            opened.append(str(file))
            if len(opened) == 2:  # the first media file is complete by now, the second fails half-way
                return _HalfThenFull(fh)
        return fh

    monkeypatch.setattr(kiosk.media, "open", open_full_on_second, raising=False)
    with pytest.raises(DiskFullError, match="disk is full") as err:
        db.save_trial(sid, result_json(random.Random(3)), {"replay.mp4": os.urandom(30_000), "peak.jpg": os.urandom(9000)})
    assert "\n" not in str(err.value)
    assert len(opened) == 2 and all(Path(p).name.startswith(".") for p in opened)  # the writes were to temp names
    assert _snapshot_of_store(db) == before  # no temp file, no first file, no row


def test_enospc_at_fsync_is_disk_full_too(db: Store, monkeypatch) -> None:
    """Delayed allocation reports a full disk at fsync, after every write() succeeded."""
    sid = _first_trial(db)
    before = _snapshot_of_store(db)
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if stat.S_ISREG(os.fstat(fd).st_mode):  # files fail, folders (after the rename) would not
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(DiskFullError):
        db.save_trial(sid, result_json(random.Random(4)), {"replay.mp4": os.urandom(20_000)})
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert _snapshot_of_store(db) == before


def test_sqlite_disk_full_removes_the_media_and_keeps_the_rest(db: Store) -> None:
    """SQLite's own SQLITE_FULL (here: the page limit reached) after the media were written."""
    sid = _first_trial(db)
    before = _snapshot_of_store(db)
    conn = db._conn()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    big = {**result_json(random.Random(5)), "notes": os.urandom(40_000).hex()}  # needs new pages
    with pytest.raises(DiskFullError, match="disk is full") as err:
        db.save_trial(sid, big, {"replay.mp4": os.urandom(10_000)})
    assert "\n" not in str(err.value)
    assert _snapshot_of_store(db) == before
    conn.execute("PRAGMA max_page_count = 1073741823")
    assert db.get_trial(db.save_trial(sid, big, {"replay.mp4": b"ok"}))["metrics"]["notes"] == big["notes"]


# --- the station while storage is full ---------------------------------------------------------------

def _record(athlete_id: int, attempt: int, seed: int) -> TrialRecord:
    res = result_json(random.Random(seed))
    return TrialRecord(athlete={"id": athlete_id, "display_name": "Kept Athlete", "sex": "female"}, attempt=attempt,
                       verdict=res["verdict"], result=res, mat_edges=None, poses=[], frames=[], wall_time=time.time())


def _wait_state(rt: StationRuntime, want: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    snap = rt.snapshot()
    while snap["state"] != want:
        left = deadline - time.monotonic()
        assert left > 0, f"station stayed in {snap['state']!r} (prompt {snap['prompt']!r}), expected {want!r}"
        snap = rt.wait_for_change(snap["seq"], timeout=left)
    return snap


def test_station_shows_storage_full_refuses_trials_and_recovers(db: Store, monkeypatch) -> None:
    from kiosk.config import config_from_dict

    cfg = config_from_dict({"station": {"name": "Gym"}})
    aid = db.add_athlete("Checked In", sex="female")
    rt = StationRuntime(SyntheticCamera(160, 120, 30, render=lambda seed: ([], [])), SimulatedMat([]), None,
                        lambda *a, **k: None)
    rec = StationRecorder(db, cfg, recheck_s=0.05)
    try:
        rec.attach(rt)
        assert rec.flush() and rt.snapshot()["state"] == "idle"  # plenty of space: no fault at start
        rt.check_in({"id": aid, "display_name": "Checked In", "sex": "female"})
        assert rt.snapshot()["state"] == "ready"
        rec.on_trial_done(_record(aid, 1, 1))
        assert rec.flush()
        before = _snapshot_of_store(db)
        assert len(before[0]) == 1

        _free(monkeypatch, 50 * MB)  # below min_free_mb = 200
        with pytest.raises(NotSavedError) as err:  # no verdict is shown for it: "not saved"
            rec.on_trial_done(_record(aid, 2, 2))
        assert err.value.fault_source == "storage"
        snap = _wait_state(rt, "fault")
        assert snap["fault"] == STORAGE_FULL and snap["prompt"] == STORAGE_FULL
        view = station_view(snap, thresholds=Thresholds(), trials_per_session=3)
        assert view["fault"]["kind"] == "disk" and "storage is full" in view["fault"]["title"]
        assert rt.start()["state"] == "fault"  # no new trial while results cannot be stored
        assert _snapshot_of_store(db) == before  # the refused trial is not in the store (yet); the stored one is intact
        assert rec.pending() == 1  # but kept in the outbox

        _free(monkeypatch, 5000 * MB)  # a coach pruned old media
        snap = _wait_state(rt, "ready")
        assert snap["fault"] is None and rec.storage_fault is None and rec.pending() == 0
        rec.on_trial_done(_record(aid, 3, 3))
        assert rec.flush()
        rows = db.query("SELECT trial_no, timings FROM trials ORDER BY id")
        assert [r[0] for r in rows] == [1, 2, 3]  # the kept trial was stored on recovery: none lost
    finally:
        rec.close()


def test_station_that_starts_with_a_full_disk_refuses_trials_at_once(db: Store, monkeypatch) -> None:
    from kiosk.config import config_from_dict

    _free(monkeypatch, 10 * MB)
    rt = StationRuntime(SyntheticCamera(160, 120, 30, render=lambda seed: ([], [])), SimulatedMat([]), None,
                        lambda *a, **k: None)
    rec = StationRecorder(db, config_from_dict({}), recheck_s=60)
    try:
        rec.attach(rt)
        snap = _wait_state(rt, "fault")
        assert snap["fault"] == STORAGE_FULL
        rt.check_in({"id": 1, "display_name": "A"})
        assert rt.start()["state"] == "fault"
    finally:
        rec.close()


# --- a database locked by another program ----------------------------------------------------------

HOLDER = r"""
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
conn.execute("BEGIN EXCLUSIVE")
conn.execute("INSERT INTO athletes (display_name, created_at) VALUES ('Held By Other', '2026-11-21T09:00:00.000000Z')")
print("locked", flush=True)
sys.stdin.readline()
conn.execute(sys.argv[2])
print("released", flush=True)
"""


def _hold_lock(db: Store, then: str) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(db.db_path), then], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "locked"
    return p


def _release(p: subprocess.Popen) -> None:
    assert p.stdin is not None and p.stdout is not None
    p.stdin.write("\n")
    p.stdin.flush()
    assert p.stdout.readline().strip() == "released"
    assert p.wait(timeout=10) == 0


def test_write_lock_held_past_the_busy_timeout_is_a_plain_store_error_then_retry_works(tmp_path: Path) -> None:
    s = Store(tmp_path / "state", min_free_mb=0, busy_timeout_ms=400)
    s.migrate()
    sid = _first_trial(s)
    before = _snapshot_of_store(s)
    holder = _hold_lock(s, "COMMIT")  # another process (an export, sqlite3 shell) holds the write lock
    try:
        media = {"replay.mp4": os.urandom(8000), "peak.jpg": os.urandom(900)}
        t = time.monotonic()
        with pytest.raises(StoreError, match="busy") as err:
            s.save_trial(sid, result_json(random.Random(6)), media)
        waited = time.monotonic() - t
        assert 0.35 < waited < 5.0  # it did wait for the lock, about the busy timeout
        assert "\n" not in str(err.value) and "0.4 s" in str(err.value)
        assert not isinstance(err.value, DiskFullError)
        assert _snapshot_of_store(s) == before  # media written before the lock was met are gone again
        assert len(s.query("SELECT id FROM trials")) == 1  # readers are not blocked (WAL)
    finally:
        _release(holder)
    # The lock holder's own work is intact, and the same save now goes through.
    assert [r[0] for r in s.query("SELECT display_name FROM athletes ORDER BY id")] == ["Kept Athlete", "Held By Other"]
    tid = s.save_trial(sid, result_json(random.Random(6)), media)
    t2 = s.get_trial(tid)
    assert t2["trial_no"] == 2 and {n: (s.media_root / r).read_bytes() for n, r in t2["media"].items()} == media
    s.close()


def test_a_lock_released_within_the_busy_timeout_is_waited_for(tmp_path: Path) -> None:
    s = Store(tmp_path / "state", min_free_mb=0, busy_timeout_ms=20_000)
    s.migrate()
    sid = _first_trial(s)
    holder = _hold_lock(s, "ROLLBACK")

    result: dict = {}
    saver = threading.Thread(target=lambda: result.update(
        tid=s.save_trial(sid, result_json(random.Random(7)), {"peak.jpg": b"\xff\xd8waited"})))
    saver.start()
    try:
        saver.join(timeout=0.5)
        assert saver.is_alive()  # still waiting on the lock, not failed
    finally:
        _release(holder)
    saver.join(timeout=20)
    assert not saver.is_alive() and "tid" in result
    assert [r[0] for r in s.query("SELECT display_name FROM athletes ORDER BY id")] == ["Kept Athlete"]  # rolled back
    assert s.get_trial(result["tid"])["trial_no"] == 2
    s.close()


def test_disk_usage_probe_failure_does_not_block_saving(db: Store, monkeypatch) -> None:
    """When free space cannot be measured the write itself is the judge (no false 'disk full')."""
    sid = _first_trial(db)

    def broken(path):
        raise PermissionError(errno.EACCES, "denied")

    monkeypatch.setattr(shutil, "disk_usage", broken)
    assert db.save_trial(sid, result_json(random.Random(8)), {"peak.jpg": b"x"})


def test_station_keeps_a_trial_that_met_a_locked_database_and_stores_it_once_released(tmp_path: Path) -> None:
    from kiosk.config import config_from_dict

    s = Store(tmp_path / "state", min_free_mb=0, busy_timeout_ms=300)
    s.migrate()
    aid = s.add_athlete("Waiting Athlete")
    rec = StationRecorder(s, config_from_dict({}), recheck_s=3600)
    try:
        holder = _hold_lock(s, "COMMIT")
        try:
            with pytest.raises(NotSavedError, match="Not saved: the results database is busy"):
                rec.on_trial_done(_record(aid, 1, 11))
            assert rec.pending() == 1 and rec.flush(30)
            assert rec.drain_now(30) and rec.pending() == 1  # still locked: kept, not lost
        finally:
            _release(holder)
        assert rec.drain_now(30) and rec.pending() == 0
        rows = s.query("SELECT trial_no FROM trials")
        assert [r[0] for r in rows] == [1]  # stored once
    finally:
        rec.close()
        s.close()
