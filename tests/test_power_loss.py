"""Power loss: a real child process saving trials with media is SIGKILLed 200 times at random
points in every phase (imports, migrate, orphan sweep, media writes, transaction, commit) and
restarted through the store's start-up path; afterwards the state folder must be exactly
consistent and hold every trial the child acknowledged. The kill points come from a seed that is
printed (rerun one with ``POWER_LOSS_SEED=<seed>``); the outcome must not depend on it.

The harness is ``bench/power_loss.py`` (also a script printing the figures); the checks here
are written out independently of its own ``verify``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import random
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kiosk.store import Store
from kiosk.store import media as media_files

ROOT = Path(__file__).resolve().parent.parent
KILLS = 200
HISTORY = 1000


def _bench():
    spec = importlib.util.spec_from_file_location("power_loss_bench", ROOT / "bench" / "power_loss.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it is executed
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_two_hundred_kills_lose_nothing_acknowledged_and_leave_no_debris(tmp_path: Path) -> None:
    bench = _bench()
    seed = int(os.environ.get("POWER_LOSS_SEED") or random.SystemRandom().randrange(2**32))
    print(f"power-loss kill points: seed {seed} (rerun with POWER_LOSS_SEED={seed})")
    state = tmp_path / "state"
    report = bench.run(state, KILLS, seed, history=HISTORY)
    why = f"(seed {seed}; kills landed in {dict(report.kill_phases)})"

    # The kills did land everywhere that matters, and the crashes left work for the start-up.
    assert report.kills == KILLS
    for phase in ("media", "commit", "sweep"):
        assert report.kill_phases[phase] >= 1, f"no kill landed in {phase} {why}"
    assert report.temp_files_at_kill >= 1, f"no kill interrupted a media write half-way {why}"
    assert report.orphans_removed >= 1, f"the start-up sweeps never had an orphan to remove {why}"

    # The database itself.
    conn = sqlite3.connect(state / "jumpkiosk.sqlite3")
    try:
        assert [r[0] for r in conn.execute("PRAGMA integrity_check")] == ["ok"], why
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == [], why
        rows = conn.execute("SELECT id, quality, media FROM trials ORDER BY id").fetchall()
        dangling = conn.execute("SELECT COUNT(*) FROM trials t LEFT JOIN sessions s ON s.id = t.session_id "
                                "WHERE s.id IS NULL").fetchone()[0]
    finally:
        conn.close()
    assert dangling == 0

    # Every row complete, every file present with exactly the bytes its trial's key generates.
    media_root = state / "media"
    referenced: set[str] = set()
    keys: dict[int, int] = {}
    for tid, quality_text, media_text in rows:
        quality, media = json.loads(quality_text), json.loads(media_text)
        assert set(media) == {"replay.mp4", "peak.jpg"}, f"trial {tid} is missing media {why}"
        expected = bench.media_for(quality["power_loss_key"], small=quality["small"])
        for name, rel in media.items():
            data = (media_root / rel).read_bytes()
            assert data == expected[name], f"trial {tid}: {rel} has other content {why}"
            assert hashlib.sha256(data).hexdigest() == quality["sha256"][name]
            referenced.add(rel)
        keys[tid] = quality["power_loss_key"]

    # Nothing acknowledged is lost: the count, and each acknowledged trial by id and content key.
    assert len(rows) >= report.max_count, why
    assert len(rows) >= HISTORY + len(report.acknowledged)
    lost = [tid for tid, key in report.acknowledged.items() if keys.get(tid) != key]
    assert lost == [], f"acknowledged trials lost {why}"

    # No orphan and no temp file after the final clean start.
    on_disk = {p.relative_to(media_root).as_posix() for p in media_root.rglob("*") if p.is_file()}
    assert on_disk == referenced, f"orphans: {sorted(on_disk - referenced)[:5]} {why}"
    assert not [p for p in on_disk if Path(p).name.startswith(".")]
    assert not [p for p in media_root.rglob("*") if p.is_dir() and not any(p.iterdir())], "empty folders left"

    # And the store opens and works normally on what is left.
    store = Store(state, min_free_mb=0)
    try:
        assert store.migrate() == store.schema_version()
        assert store.sweep_orphans(grace_s=0) == 0
        sid = store.query("SELECT id FROM sessions ORDER BY id DESC LIMIT 1")[0][0]
        tid = store.save_trial(sid, {"verdict": "PASS"}, {"peak.jpg": b"after"})
        assert (media_root / store.get_trial(tid)["media"]["peak.jpg"]).read_bytes() == b"after"
    finally:
        store.close()


def test_new_media_folders_are_fsynced_into_their_parents(tmp_path: Path, monkeypatch) -> None:
    """A day folder created for a trial must survive a power cut with the row that points into
    it: each new folder's parent is fsynced (the file itself and its folder are fsynced by the
    atomic write)."""
    synced: list[Path] = []
    monkeypatch.setattr(media_files, "fsync_dir", lambda folder: synced.append(Path(folder)))
    root = tmp_path / "media"
    root.mkdir()
    when = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
    rel = media_files.write_media(root, when, "peak.jpg", b"one")
    assert (root / rel).read_bytes() == b"one"
    assert synced == [root, root / "2026", root / "2026" / "11"]  # parents of 2026/, 11/, 21/, outermost first
    synced.clear()
    media_files.write_media(root, when, "replay.mp4", b"two")
    assert synced == []  # the day folder exists already: nothing new to make durable
    media_files.write_media(root, datetime(2026, 11, 22, tzinfo=UTC), "peak.jpg", b"three")
    assert synced == [root / "2026" / "11"]


def _verdict_bench():
    spec = importlib.util.spec_from_file_location("verdict_kill_bench", ROOT / "bench" / "verdict_kill.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_sigkill_as_the_verdict_shows_loses_no_shown_verdict(tmp_path: Path) -> None:
    """The station is SIGKILLed 0-40 ms after each verdict is shown (while its clip is encoded):
    after the restarts every verdict that was shown is stored, once, and no session stays open."""
    bench = _verdict_bench()
    seed = int(os.environ.get("POWER_LOSS_SEED") or random.SystemRandom().randrange(2**32))
    state = tmp_path / "state"
    report = bench.run(state, 8, seed)
    keys, open_sessions = bench.stored_keys(state)
    why = f"(seed {seed})"
    assert report.kills == 8 and len(report.shown) >= 9, why
    assert report.shown <= set(keys), f"verdicts shown but not stored: {report.shown - set(keys)} {why}"
    assert len(keys) == len(set(keys)), f"a trial was stored twice {why}"
    assert open_sessions == 0, why
    assert not any((state / "outbox").iterdir()), why
