"""Every reason the store cannot be written is seen, and no trial is lost (issue: "nothing lost,
nothing silent"). For each cause - database read-only, database immutable (chattr +i), media
folder not writable, write lock held by another process, free space under the minimum - with a
real SQLite file, the real recorder and outbox, the station runtime and the web app:

- Start is refused: the runtime parks in its fault state and ``/healthz`` answers 503 naming
  the cause;
- a trial finished while the cause lasts shows no verdict (NotSavedError -> the "not saved"
  fault), or, when only its media cannot be written, is stored and its media kept;
- once the cause is gone the outbox drains: every trial is in the database with its media,
  the fault clears and ``/healthz`` answers 200.

Permissions do not bind root, so when the tests run as root the station's side runs with the
effective uid of ``nobody`` (as the station runs as its own user) in a folder owned by it.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kiosk.config import config_from_dict
from kiosk.media import Frame
from kiosk.station.camera import SyntheticCamera
from kiosk.station.mat import SimulatedMat
from kiosk.station.runtime import StationRuntime, TrialRecord
from kiosk.store import Store
from kiosk.store.sample import result_json
from kiosk.web import create_app
from kiosk.web.station.recorder import NotSavedError, StationRecorder

NOBODY = 65534
PRELOAD = ("importlib.readers", "importlib.resources.readers", "av", "kiosk.overlay", "kiosk.analysis.result",
           "kiosk.analysis.session", "kiosk.web.station.media", "kiosk.analysis.guidance", "zoneinfo", "json",
           "kiosk.web.coach", "kiosk.web.api", "kiosk.web.station", "kiosk.web.station.view", "uuid", "hashlib",
           "encodings.idna", "stringprep", "encodings.punycode")
CAUSES = ("read-only database", "immutable database", "media folder not writable", "lock held by another process",
          "disk under the minimum")


def _chattr_works() -> bool:
    if shutil.which("chattr") is None or os.geteuid() != 0:
        return False
    with tempfile.NamedTemporaryFile(dir="/tmp") as fh:
        ok = subprocess.run(["chattr", "+i", fh.name], capture_output=True).returncode == 0
        subprocess.run(["chattr", "-i", fh.name], capture_output=True)
    return ok


CHATTR_WORKS = _chattr_works()  # asked as the test's own user, before any switch


class _AsRoot:
    """Root's rights back for a moment (chattr, starting another program), when the test has them."""

    def __enter__(self) -> None:
        if os.getuid() == 0:
            os.seteuid(0)

    def __exit__(self, *exc: object) -> None:
        if os.getuid() == 0:
            os.seteuid(NOBODY)


@pytest.fixture()
def as_station_user() -> Iterator[Path]:
    """A state folder the station's (non-root) user owns; as root, run as that user meanwhile."""
    folder = Path(tempfile.mkdtemp(prefix="jk-faults-", dir="/tmp"))
    root = os.geteuid() == 0
    if root:
        # Modules the station side imports lazily, loaded now: root's Python install may not be
        # readable by the other user.
        import importlib

        for name in PRELOAD:
            importlib.import_module(name)
        os.chown(folder, NOBODY, NOBODY)
        os.setegid(NOBODY)
        os.seteuid(NOBODY)
    try:
        yield folder / "state"
    finally:
        if root:
            os.seteuid(0)
            os.setegid(0)
            subprocess.run(["chattr", "-R", "-i", str(folder)], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def _record(athlete: dict, attempt: int, seed: int) -> TrialRecord:
    """A finished trial with real frames, so the recorder encodes a replay.mp4 for it."""
    res = result_json(random.Random(seed))
    rng = np.random.default_rng(seed)
    frames = [Frame(i, i / 30, rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)) for i in range(6)]
    return TrialRecord(athlete=athlete, attempt=attempt, verdict=res["verdict"], result=res, mat_edges=None,
                       poses=[], frames=frames, wall_time=time.time())


def _wait(predicate, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


HOLDER = r"""
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


class Cause:
    """Injects one cause into a store and takes it away again."""

    def __init__(self, name: str, store: Store) -> None:
        self.name, self.store = name, store
        self.holder: subprocess.Popen | None = None
        self.saved_min = store.min_free_mb

    def inject(self) -> None:
        s = self.store
        if self.name == "read-only database":
            for p in s.root.glob("jumpkiosk.sqlite3*"):
                p.chmod(0o400)
            s.root.chmod(0o500)  # SQLite's journal files cannot be made either
        elif self.name == "immutable database":
            with _AsRoot():  # the database file itself (its -shm is memory-mapped: SIGBUS, not a case)
                subprocess.run(["chattr", "+i", str(s.db_path)], check=True)
        elif self.name == "media folder not writable":
            for folder in [s.media_root, *[p for p in s.media_root.rglob("*") if p.is_dir()]]:
                folder.chmod(0o500)
        elif self.name == "lock held by another process":
            with _AsRoot():  # another program (a backup, an sqlite3 shell) holds the write lock
                self.holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(s.db_path)],
                                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert self.holder.stdout is not None and self.holder.stdout.readline().strip() == "locked"
        elif self.name == "disk under the minimum":
            free_mb = shutil.disk_usage(s.root).free // (1024 * 1024)
            s.min_free_mb = free_mb + 1000  # the configurable minimum, set above what is free
        s.close()  # connections opened from now on meet the cause (an open descriptor keeps its rights)

    def recover(self) -> None:
        s = self.store
        if self.name == "read-only database":
            s.root.chmod(0o700)
            for p in s.root.glob("jumpkiosk.sqlite3*"):
                p.chmod(0o600)
        elif self.name == "immutable database":
            with _AsRoot():
                subprocess.run(["chattr", "-i", str(s.db_path)], check=True)
        elif self.name == "media folder not writable":
            for folder in [s.media_root, *[p for p in s.media_root.rglob("*") if p.is_dir()]]:
                folder.chmod(0o700)
        elif self.name == "lock held by another process":
            assert self.holder is not None and self.holder.stdin is not None
            self.holder.stdin.write("\n")
            self.holder.stdin.flush()
            assert self.holder.wait(timeout=10) == 0
        elif self.name == "disk under the minimum":
            s.min_free_mb = self.saved_min


@pytest.mark.parametrize("cause_name", CAUSES)
def test_each_cause_refuses_start_keeps_the_trial_and_stores_it_after_recovery(as_station_user: Path,
                                                                                cause_name: str) -> None:
    if cause_name == "immutable database" and not CHATTR_WORKS:
        pytest.skip("chattr +i needs root (CAP_LINUX_IMMUTABLE) on a file system with the immutable flag")
    if cause_name in ("read-only database", "media folder not writable") and os.geteuid() == 0:
        pytest.fail("the station side must not run as root here (permissions would not bind)")
    root = as_station_user
    cfg = config_from_dict({"station": {"state_dir": str(root), "name": "Gym"}, "web": {"secret_key": "s" * 40},
                            "store": {"min_free_mb": 10}})
    store = Store(root, min_free_mb=10, busy_timeout_ms=300)
    store.migrate()
    athlete = store.get_athlete(store.add_athlete("Kept Athlete", sex="female"))
    rt = StationRuntime(SyntheticCamera(160, 120, 30, render=lambda seed: ([], [])), SimulatedMat([]), None,
                        lambda *a, **k: None)
    rec = StationRecorder(store, cfg, recheck_s=0.05)
    app = create_app(cfg, rt, store=store)
    app.extensions["station_recorder"] = rec
    client = app.test_client()
    cause = Cause(cause_name, store)
    try:
        rec.attach(rt)
        rt.check_in(athlete)
        _wait(lambda: rt.snapshot()["state"] == "ready", "ready")
        assert client.get("/healthz").status_code == 200
        rec.on_trial_done(_record(athlete, 1, 1))  # stored before the fault
        assert rec.flush(30) and rec.pending() == 0

        cause.inject()
        # Before a Start: refused, with the cause on the fault screen and in /healthz.
        snap = rt.start()
        assert snap["state"] == "fault", snap
        health = client.get("/healthz")
        assert health.status_code == 503
        body = health.get_json()
        assert body["status"] == "fault" and body["fault"] in ("store", "disk") and body["cause"]
        word = {"read-only database": "database", "immutable database": "database",
                "media folder not writable": "media folder", "lock held by another process": "locked",
                "disk under the minimum": "full"}[cause_name]
        assert word in body["cause"].lower(), body["cause"]

        # A trial that finishes while the cause lasts (the fault came after its Start).
        try:
            rec.on_trial_done(_record(athlete, 2, 2))
        except NotSavedError as exc:  # no verdict shown: "not saved, tell a coach"
            assert cause_name != "media folder not writable"
            assert exc.fault_source in ("store", "storage") and "\n" not in str(exc)
        else:  # only its media could not be written: the row is stored, the media are kept
            assert cause_name == "media folder not writable"
        _wait(lambda: rec.pending() == 1, "the trial kept in the outbox")
        assert rec.flush(30)
        assert client.get("/healthz").status_code == 503 and client.get("/healthz").get_json()["outbox"] == 1

        cause.recover()
        _wait(lambda: rt.snapshot()["state"] == "ready" and rec.pending() == 0, "recovery")
        assert client.get("/healthz").status_code == 200
        rows = store.query("SELECT trial_no, media, verdict FROM trials ORDER BY trial_no")
        assert [r[0] for r in rows] == [1, 2]  # 0 trials lost
        import json

        for r in rows:
            media = json.loads(r[1])
            assert set(media) == {"replay.mp4"} and (store.media_root / media["replay.mp4"]).stat().st_size > 0
    finally:
        if cause.holder is not None and cause.holder.poll() is None:
            cause.holder.kill()
        rec.close()
        store.close()
