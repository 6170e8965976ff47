"""Store upkeep, mixed into :class:`kiosk.store.db.Store`: what the station does to its store at
start and while it runs, so that nothing is deleted on doubt and no failure to store is silent.

- :meth:`UpkeepMixin.startup`: migrate, refuse an empty database beside existing media, close
  interrupted sessions, move orphan media to quarantine, apply retention on a plausible clock;
- :meth:`UpkeepMixin.probe_writable`: can a trial be stored now (free space, media folder,
  database), the station's check before every Start;
- the space reserve that a full disk releases, so a coach can still log in and prune;
- orphan sweep (to ``quarantine/``) and media retention counted from each trial's own time.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk.errors import DiskFullError, StoreError
from kiosk.store import media as media_files

if TYPE_CHECKING:
    from kiosk.store.db import Store

log = logging.getLogger("kiosk.store.db")

#: The space reserve: a file in the state folder freed when the disk fills (see Store.keep_reserve).
RESERVE_NAME = ".space-reserve"
RESERVE_BYTES = 2 * 1024 * 1024


class ClockError(StoreError):
    """The clock is implausible for the stored data (before the newest trial): nothing is pruned."""


#: How far the clock may sit behind the newest trial (two processes, NTP steps) before it counts
#: as wrong.
CLOCK_SLACK = timedelta(hours=1)


def _db() -> Any:
    from kiosk.store import db  # the Store module imports this one

    return db


class UpkeepMixin:
    """Start-up, write probe, space reserve, orphans and retention of a :class:`Store`."""

    # --- start-up: nothing is deleted on doubt -----------------------------------------------

    def startup(self: Store, config: Any = None, *, retention_days: int | None = None,
                accept_empty: bool = False) -> dict[str, Any]:
        """What the station does to its store at start, in the order that loses nothing.

        1. migrate;
        2. refuse (StoreError) a database without any trial beside a media folder holding files:
           a missing, zero-length or replaced database would otherwise make every clip look
           like an orphan. ``accept_empty`` is the admin saying the empty database is meant
           (``jumpkiosk serve --accept-empty-database``): the files then go to quarantine;
        3. close sessions a crash left open (INCOMPLETE);
        4. move orphan media to quarantine (never delete);
        5. prune media past the retention (``retention_days``, else the effective config's from
           ``config``), unless the clock is implausible (before the newest trial, or so far
           ahead that every trial's media would go).
        """
        fresh = not self.db_path.exists() or self.db_path.stat().st_size == 0
        self.migrate()
        files = media_files.count_files(self.media_root)
        trials = int(self.query("SELECT COUNT(*) FROM trials")[0][0])
        if files and not trials and not accept_empty:
            what = "is new" if fresh else "holds no trials"
            raise StoreError(
                f"{self.db_path}: the results database {what} but {self.media_root} holds {files} media files; "
                "refusing to start so nothing is lost: restore the database from a backup (docs/OPERATIONS.md), "
                "or start once with `jumpkiosk serve --accept-empty-database` to keep the empty one "
                "(the files then move to quarantine/)")
        if retention_days is None:
            retention_days = self.effective_config(config).store.media_retention_days if config is not None else 0
        self.keep_reserve()
        out: dict[str, Any] = {"closed_sessions": self.close_interrupted_sessions(),
                               "quarantined": self.sweep_orphans(), "pruned": 0}
        try:
            out["pruned"] = self.prune_media(retention_days, keep_newest=True)
        except ClockError as exc:
            log.warning("%s", exc)
            out["prune_refused"] = str(exc)
        return out

    # --- a space reserve, so that a full disk still lets a coach log in and prune -------------

    @property
    def reserve_path(self: Store) -> Path:
        return self.root / RESERVE_NAME

    def keep_reserve(self: Store) -> bool:
        """Hold :data:`RESERVE_BYTES` of disk in a file while there is room (True if held). A
        full disk releases it (:meth:`release_reserve`): logins, the coach's pruning and the
        outbox's drain then have room to write."""
        if self.reserve_path.exists():
            return True
        try:
            if shutil.disk_usage(self.root).free < self.min_free_mb * 1024 * 1024 + 2 * RESERVE_BYTES:
                return False
            tmp = self.reserve_path.with_name(RESERVE_NAME + ".tmp")
            with open(tmp, "wb") as fh:
                fh.write(bytes(RESERVE_BYTES))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.reserve_path)
        except OSError:
            return False
        return True

    def release_reserve(self: Store) -> bool:
        """Free the space reserve (True when there was one to free)."""
        try:
            self.reserve_path.unlink()
        except OSError:
            return False
        log.warning("the disk is full: released the %d MB space reserve", RESERVE_BYTES // (1024 * 1024))
        return True

    def close_interrupted_sessions(self: Store) -> int:
        """End sessions a crash or power cut left open as INCOMPLETE (``"interrupted": true`` in
        their summary). Run at start, before the station opens a session of its own."""
        with self.tx() as conn:
            cur = conn.execute("UPDATE sessions SET ended_at = ?, verdict = 'INCOMPLETE', summary = ? "
                               "WHERE ended_at IS NULL", (self.now_iso(), _db()._dumps({"interrupted": True})))
            return int(cur.rowcount)

    def probe_writable(self: Store, *, timeout_s: float = 1.0) -> str | None:
        """None when a trial can be stored now, else the cause in one line: too little free space,
        the media folder not writable, the database read-only, immutable, damaged or locked.

        The database is checked with a write that is rolled back, on a connection of its own
        with a short lock timeout, so a Start is never held up for the full busy timeout."""
        try:
            media_files.check_free_space(self.root, self.min_free_mb)
        except DiskFullError as exc:
            self.release_reserve()  # a coach must be able to log in and prune
            return str(exc).split(";")[0]
        self.keep_reserve()
        why = media_files.probe_writable(self.media_root)
        if why:
            return why
        try:
            conn = sqlite3.connect(self.db_path, timeout=timeout_s, isolation_level=None)
        except sqlite3.Error as exc:
            return str(self._error(exc))
        try:
            conn.execute("BEGIN IMMEDIATE")
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            conn.execute(f"PRAGMA user_version = {version}")  # a real write of page 1, rolled back
            conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            err = self._error(exc)
            if "busy" in str(err):
                return f"the results database is locked by another program ({exc})"
            return str(err)
        finally:
            conn.close()
        return None

    def integrity_problems(self: Store, *, quick: bool = False) -> list[str]:
        """``PRAGMA integrity_check`` (or ``quick_check``) lines other than "ok"."""
        pragma = "quick_check" if quick else "integrity_check"
        try:
            rows = self.query(f"PRAGMA {pragma}")
        except StoreError as exc:
            return [str(exc)]
        return [str(r[0]) for r in rows if str(r[0]) != "ok"]

    # --- media: orphans and retention ----------------------------------------------------------

    def referenced_media(self: Store) -> set[str]:
        out: set[str] = set()
        for (text,) in self.query("SELECT media FROM trials WHERE media != '{}'"):
            out.update(json.loads(text).values())
        return out

    @property
    def quarantine_root(self: Store) -> Path:
        return self.root / media_files.QUARANTINE

    def sweep_orphans(self: Store, *, grace_s: float = 600.0) -> int:
        """Move media files without a trial row (a crash between file and row, or a database
        restored from an older backup) to ``quarantine/``, if older than ``grace_s`` so that a
        trial being saved by another process right now is left alone. Returns files moved."""
        return media_files.sweep(self.media_root, self.referenced_media(), grace_s=grace_s,
                                 quarantine=self.quarantine_root)

    def retention_cutoff(self: Store, days: int, *, keep_newest: bool = False) -> str:
        """The recorded_at before which a trial's media are past ``days`` of retention.

        Retention counts from each trial's own recorded time (not file times). The clock must be
        plausible: a clock before the newest stored trial is refused (ClockError). With
        ``keep_newest`` (the automatic prune at start) a cutoff past the newest trial, which
        would delete every trial's media at once as a clock that jumped ahead does, is refused
        too; `jumpkiosk prune-media` run by a person applies it.
        """
        now = self.clock()
        cutoff = now - timedelta(days=days)
        newest_text = self.query("SELECT MAX(recorded_at) FROM trials")[0][0]
        if newest_text is None:
            return _db().iso_utc(cutoff)
        newest = _db().parse_iso(newest_text)
        if now < newest - CLOCK_SLACK:
            raise ClockError(f"the clock ({_db().iso_utc(now)}) is before the newest stored trial ({newest_text}); "
                             "media retention not applied until the clock is right")
        if keep_newest and cutoff > newest:
            raise ClockError(f"media retention of {days} days would delete the media of every trial (the newest "
                             f"is from {newest_text}, the clock says {_db().iso_utc(now)}); not done at start in case "
                             "the clock jumped ahead - check the date, then run `jumpkiosk prune-media`")
        return _db().iso_utc(cutoff)

    def prune_media(self: Store, days: int, *, keep_newest: bool = False) -> int:
        """Delete media of trials recorded more than ``days`` ago; the results stay. Returns trials
        pruned; ClockError when the clock is implausible (see :meth:`retention_cutoff`)."""
        if days <= 0:
            return 0
        cutoff = self.retention_cutoff(days, keep_newest=keep_newest)
        rows = self.query("SELECT id, media FROM trials WHERE recorded_at < ? AND media != '{}'", (cutoff,))
        if not rows:
            return 0
        now = self.now_iso()
        with self.tx() as conn:
            conn.executemany("UPDATE trials SET media = '{}', media_pruned_at = ? WHERE id = ?",
                             [(now, r["id"]) for r in rows])
        # Rows first: if deleting a file fails now, the orphan sweep removes it at the next start.
        for r in rows:
            media_files.remove(self.media_root, json.loads(r["media"]).values())
        return len(rows)
