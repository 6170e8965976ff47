"""Start-up never deletes on doubt: an empty or missing database beside existing media refuses
to start (every file stays), orphans go to quarantine, sessions a crash left open are closed
INCOMPLETE, retention refuses an implausible clock, and the station's files are private."""

from __future__ import annotations

import hashlib
import os
import random
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kiosk.config import config_from_dict
from kiosk.errors import StoreError
from kiosk.store import Store
from kiosk.store.db import ClockError
from kiosk.store.sample import result_json
from kiosk.web import create_app

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _fill(root: Path, trials: int = 4, *, clock: Clock | None = None) -> Store:
    s = Store(root, min_free_mb=0, clock=clock or Clock(NOW))
    s.migrate()
    aid = s.add_athlete("Kept")
    sid = s.start_session(aid, "Gym", started_at=NOW - timedelta(days=3))
    for i in range(trials):
        s.save_trial(sid, result_json(random.Random(i)), {"replay.mp4": os.urandom(3000), "peak.jpg": os.urandom(300)},
                     recorded_at=NOW - timedelta(days=3, minutes=-i))
    s.end_session(sid, "PASS", {})
    return s


def _files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "sqlite3" not in p.name}


def _age(root: Path) -> None:
    then = NOW.timestamp() - 86400
    for p in root.rglob("*"):
        os.utime(p, (then, then))


@pytest.mark.parametrize("how", ["deleted", "zero-length", "replaced"])
def test_empty_database_beside_media_refuses_to_start_and_keeps_every_file(tmp_path: Path, how: str) -> None:
    root = tmp_path / "state"
    _fill(root).close()
    _age(root / "media")  # old enough for the orphan sweep: only the refusal protects them
    media_before = _files(root / "media")
    assert len(media_before) == 8
    db = root / "jumpkiosk.sqlite3"
    for extra in (db, root / "jumpkiosk.sqlite3-wal", root / "jumpkiosk.sqlite3-shm"):
        extra.unlink(missing_ok=True)
    if how == "zero-length":
        db.write_bytes(b"")
    elif how == "replaced":
        Store(root, min_free_mb=0).migrate()
    cfg = config_from_dict({"station": {"state_dir": str(root)}, "web": {"secret_key": "s" * 40}})
    with pytest.raises(StoreError) as err:
        create_app(cfg)
    msg = str(err.value)
    assert "refusing to start" in msg and "8 media files" in msg and "--accept-empty-database" in msg
    assert "\n" not in msg
    assert _files(root / "media") == media_before  # every clip and freeze frame still there
    assert not (root / "quarantine").exists()

    # The admin says the empty database is meant: the files move to quarantine, none is deleted.
    app = create_app(cfg, accept_empty_database=True)
    app.extensions["kiosk_store"].close()
    assert _files(root / "media") == {}
    assert {k.removeprefix("quarantine/"): v for k, v in _files(root).items() if k.startswith("quarantine/")} \
        == media_before


def test_serve_has_the_explicit_flag() -> None:
    from kiosk.cli import build_parser

    args = build_parser().parse_args(["serve", "--accept-empty-database"])
    assert args.accept_empty_database is True


def test_interrupted_sessions_are_closed_incomplete_at_start(tmp_path: Path) -> None:
    s = _fill(tmp_path / "state")
    open_sid = s.start_session(s.add_athlete("Crashed"), "Gym")
    s.close()
    cfg = config_from_dict({"station": {"state_dir": str(tmp_path / "state")}, "web": {"secret_key": "s" * 40}})
    app = create_app(cfg)
    store = app.extensions["kiosk_store"]
    sess = store.get_session(open_sid)
    assert sess["verdict"] == "INCOMPLETE" and sess["ended_at"] and sess["summary"] == {"interrupted": True}
    assert store.query("SELECT COUNT(*) FROM sessions WHERE ended_at IS NULL")[0][0] == 0
    assert store.query("SELECT verdict FROM sessions WHERE id != ?", (open_sid,))[0][0] == "PASS"  # closed ones kept
    store.close()


def test_retention_refuses_a_clock_before_the_newest_trial(tmp_path: Path) -> None:
    clock = Clock(NOW)
    s = _fill(tmp_path / "state", clock=clock)
    before = _files(s.media_root)
    clock.now = NOW - timedelta(days=400)  # a Pi without RTC that lost its saved time
    with pytest.raises(ClockError, match="before the newest stored trial"):
        s.prune_media(30)
    out = s.startup(retention_days=30)
    assert out["pruned"] == 0 and "before the newest" in out["prune_refused"]
    assert _files(s.media_root) == before
    s.close()


def test_a_clock_91_days_ahead_does_not_prune_everything_at_start(tmp_path: Path) -> None:
    clock = Clock(NOW)
    s = _fill(tmp_path / "state", clock=clock)
    before = _files(s.media_root)
    clock.now = NOW + timedelta(days=91)
    out = s.startup(retention_days=90)
    assert out["pruned"] == 0 and "every trial" in out["prune_refused"]
    assert _files(s.media_root) == before
    # A person who checked the date applies it on purpose; retention counts from each trial's time.
    assert s.prune_media(90) == 4
    s.close()


def test_retention_counts_from_each_trials_own_time(tmp_path: Path) -> None:
    clock = Clock(NOW)
    s = _fill(tmp_path / "state", trials=1, clock=clock)
    sid = s.start_session(s.add_athlete("New"), "Gym")
    fresh = s.save_trial(sid, result_json(random.Random(9)), {"peak.jpg": b"new"}, recorded_at=NOW)
    old_file = next(iter(s.get_trial(1)["media"].values()))
    os.utime(s.media_root / old_file, (NOW.timestamp(), NOW.timestamp()))  # file time says "new": not used
    assert s.startup(retention_days=2)["pruned"] == 1
    assert s.get_trial(1)["media"] == {} and s.get_trial(fresh)["media"]
    s.close()


def test_state_files_are_not_world_readable(tmp_path: Path) -> None:
    root = tmp_path / "state"
    root.mkdir(mode=0o755)
    os.chmod(root, 0o755)
    s = _fill(root)
    for p in [root, s.db_path, *root.rglob("*")]:
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode & 0o007 == 0, f"{p} is {oct(mode)}"
    assert stat.S_IMODE(s.db_path.stat().st_mode) == 0o600
    media = [p for p in s.media_root.rglob("*") if p.is_file()]
    assert media and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in media)
    s.close()
