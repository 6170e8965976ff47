"""The results store: one SQLite file plus media files under the station's state folder.

Power is pulled from a kiosk without warning, so the database runs in WAL mode with
``synchronous=FULL`` and every trial is one transaction: its media are written atomically first,
then its row; if the row cannot be written the media are removed again, and an orphan sweep at
start moves files a crash left without a row to ``quarantine/`` (start-up never deletes: see
:meth:`Store.startup`). Rows carry wall-clock UTC times (the Pi has no
RTC, durations come from the monotonic clock and are stored apart). Errors reach people as
:class:`~kiosk.errors.StoreError` with a plain message.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from kiosk.analysis.rescore import scoring_snapshot
from kiosk.errors import DiskFullError, InputError, MediaError, StoreError
from kiosk.store import media as media_files
from kiosk.store.accounts import AccountsMixin
from kiosk.store.settings import SettingsMixin
from kiosk.store.upkeep import CLOCK_SLACK, RESERVE_BYTES, RESERVE_NAME, ClockError, UpkeepMixin

log = logging.getLogger(__name__)
__all__ = ["CLOCK_SLACK", "RESERVE_BYTES", "RESERVE_NAME", "ClockError", "Store"]

DB_NAME = "jumpkiosk.sqlite3"
TRIAL_VERDICTS = ("PASS", "FLAG", "RETAKE")
SESSION_VERDICTS = ("PASS", "FLAG", "RETAKE", "INCOMPLETE")
ATHLETE_FIELDS = ("display_name", "athlete_number", "team", "sex", "birth_year", "notes", "active")
OUT_OF_RANGE = "a number is out of range (ids and counts are at most 19 digits)"
_JSON_COLUMNS = ("timings", "reasons", "metrics", "quality", "media", "summary", "scoring")


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(when: datetime) -> str:
    """Fixed-width UTC ISO time, so text order is time order in SQL."""
    if when.tzinfo is None:
        raise ValueError("naive datetime: pass an aware time (UTC)")
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def state_dir(config: Any) -> Path:
    """Where the database and media live: ``[station] state_dir``, else systemd's
    ``$STATE_DIRECTORY`` (first entry), else ``./instance``."""
    configured = config.station.state_dir
    if configured:
        return Path(configured).expanduser().absolute()
    env = os.environ.get("STATE_DIRECTORY", "")
    if env:
        return Path(env.split(":")[0]).absolute()
    return Path("instance").absolute()


def clean_json(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf become null (strict JSON has neither), numpy scalars become Python."""
    if isinstance(obj, dict):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and not isinstance(obj, (str, bytes)):
        try:
            obj = obj.item()
        except (TypeError, ValueError):
            pass
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _dumps(obj: Any) -> str:
    return json.dumps(clean_json(obj), ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _row(row: sqlite3.Row | None) -> dict | None:
    if row is None:
        return None
    out = dict(row)
    for key in _JSON_COLUMNS:
        if key in out and isinstance(out[key], str):
            out[key] = json.loads(out[key])
    return out


def _migrations() -> list[tuple[int, str, str]]:
    found = []
    for entry in resources.files("kiosk.store").joinpath("migrations").iterdir():
        m = re.match(r"^(\d{4})_[a-z0-9_]+\.sql$", entry.name)
        if m:
            found.append((int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    if [n for n, _, _ in found] != list(range(1, len(found) + 1)):
        raise StoreError("store migrations are not numbered 0001, 0002, ... without gaps")
    return found



def _athlete_filter(alias: str, athlete_id: int | None, team: str | None) -> tuple[str, list[Any]]:
    """The conditions (and their parameters) that narrow a date-range query on table ``alias``
    (joined with athletes as ``a``) to one athlete and/or one team."""
    sql, params = "", []
    if athlete_id is not None:
        sql += f" AND {alias}.athlete_id = ?"
        params.append(athlete_id)
    if team:
        sql += " AND a.team = ?"
        params.append(team)
    return sql, params

class Store(AccountsMixin, SettingsMixin, UpkeepMixin):
    """The results store at ``root`` (``root/jumpkiosk.sqlite3``, ``root/media/YYYY/MM/DD/``).

    Safe to share between threads: each thread gets its own connection.
    """

    def __init__(self, root: str | Path, *, min_free_mb: int = 200, busy_timeout_ms: int = 5000,
                 clock: Callable[[], datetime] = utc_now):
        self.root = Path(root)
        self.db_path = self.root / DB_NAME
        self.media_root = self.root / "media"
        self.min_free_mb = min_free_mb
        self.busy_timeout_ms = busy_timeout_ms
        self.clock = clock
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._gen = 0   # bumped when every connection must be reopened
        self._lock = threading.Lock()
        try:
            self.root.mkdir(mode=media_files.FOLDER_MODE, parents=True, exist_ok=True)
            self.media_root.mkdir(mode=media_files.FOLDER_MODE, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.root}: cannot create the state folder ({exc.strerror or exc})") from None
        _not_world_readable(self.root)
        _not_world_readable(self.media_root)

    @classmethod
    def for_config(cls, config: Any, **kw: Any) -> Store:
        return cls(state_dir(config), min_free_mb=config.store.min_free_mb, **kw)

    # --- connections and transactions ------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "gen", 0) != self._gen:
            conn = None  # closed by _reset_connections after a read-only or I/O error
        if conn is None:
            try:
                conn = sqlite3.connect(self.db_path, timeout=self.busy_timeout_ms / 1000, isolation_level=None,
                                       check_same_thread=False)
                conn.row_factory = sqlite3.Row
                conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
                conn.execute("PRAGMA foreign_keys = ON")
                conn.execute("PRAGMA synchronous = FULL")
            except sqlite3.Error as exc:
                raise self._error(exc) from None
            _not_world_readable(self.db_path, 0o600)
            self._local.conn = conn
            with self._lock:
                self._local.gen = self._gen
                self._all.append(conn)
        return conn

    def _reset_connections(self) -> None:
        """Close every connection so the next use opens a new one. SQLite opens a database it
        cannot write read-only and keeps it so; such a connection (in any thread) also keeps
        the others from writing after the cause is gone. Called on read-only and I/O errors."""
        with self._lock:
            self._gen += 1
            stale, self._all = self._all, []
        for conn in stale:
            try:
                conn.close()
            except sqlite3.Error:
                pass

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    def _error(self, exc: BaseException) -> StoreError:
        msg = str(exc).lower()
        if any(k in msg for k in ("readonly", "read-only", "unable to open", "disk i/o", "malformed",
                                  "not a database")):
            self._reset_connections()
        if "locked" in msg or "busy" in msg:
            return StoreError(f"the results database is busy (locked by another program for over "
                              f"{self.busy_timeout_ms / 1000:g} s); nothing was saved, try again")
        if "disk is full" in msg or "disk full" in msg:
            if self.release_reserve():
                return DiskFullError("the disk is full; nothing was saved - the space reserve is released, "
                                     "so a coach can log in and prune old media; try again")
            return DiskFullError("the disk is full; nothing was saved - free space or prune old media")
        if "not a database" in msg or "malformed" in msg:
            return StoreError(f"{self.db_path}: the results database is damaged ({exc})")
        if "readonly" in msg or "read-only" in msg or "unable to open" in msg:
            return StoreError(f"{self.db_path}: cannot open the results database for writing ({exc})")
        return StoreError(f"results database error: {exc}")

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE, so a busy database fails up front)."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self._error(exc) from None
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.IntegrityError):
                raise InputError(_integrity_message(exc)) from None
            if isinstance(exc, OverflowError):
                raise InputError(OUT_OF_RANGE) from None
            if isinstance(exc, sqlite3.Error):
                raise self._error(exc) from None
            raise

    def query(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        try:
            return self._conn().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        except OverflowError:  # an id of 30 digits from a URL or a form: SQLite integers are 64-bit
            raise InputError(OUT_OF_RANGE) from None

    def now_iso(self) -> str:
        return iso_utc(self.clock())

    # --- schema -----------------------------------------------------------------------------

    def schema_version(self) -> int:
        return int(self.query("PRAGMA user_version")[0][0])

    def migrate(self) -> int:
        """Apply the numbered migrations not yet applied; returns the schema version."""
        conn = self._conn()
        try:
            conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        steps = _migrations()
        current = self.schema_version()
        if current > len(steps):
            raise StoreError(f"{self.db_path}: database schema {current} is newer than this software "
                             f"({len(steps)}); update the kiosk")
        for number, name, sql in steps[current:]:
            # Foreign keys are off while a migration runs (the pragma is a no-op inside a
            # transaction, so it is set first): a table rebuild drops the old table, which with
            # them on would delete through ON DELETE CASCADE. They are checked before the commit.
            conn.execute("PRAGMA foreign_keys = OFF")
            try:
                # executescript commits any open transaction first, so the BEGIN lives in the script;
                # the commit comes after the check: a failing migration rolls back whole,
                # user_version included.
                conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\n")
                broken = conn.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise sqlite3.IntegrityError(f"{len(broken)} row(s) would refer to nothing "
                                                 f"(first in table {broken[0][0]})")
                conn.execute(f"PRAGMA user_version = {number}")
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StoreError(f"migration {name} failed: {exc}") from None
            finally:
                try:
                    conn.execute("PRAGMA foreign_keys = ON")
                except sqlite3.Error:
                    self._reset_connections()   # never keep a connection without foreign keys
        return self.schema_version()

    # --- athletes ---------------------------------------------------------------------------

    def add_athlete(self, display_name: str, **fields: Any) -> int:
        values = _athlete_values({"display_name": display_name, **fields}, partial=False)
        values["created_at"] = self.now_iso()
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self.tx() as conn:
            return int(conn.execute(f"INSERT INTO athletes ({cols}) VALUES ({marks})", list(values.values())).lastrowid)

    def update_athlete(self, athlete_id: int, **fields: Any) -> None:
        values = _athlete_values(fields, partial=True)
        if not values:
            return
        sets = ", ".join(f"{k} = ?" for k in values)
        with self.tx() as conn:
            cur = conn.execute(f"UPDATE athletes SET {sets} WHERE id = ?", [*values.values(), athlete_id])
            if cur.rowcount == 0:
                raise InputError(f"no athlete with id {athlete_id}")

    def get_athlete(self, athlete_id: int) -> dict | None:
        return _row(next(iter(self.query("SELECT * FROM athletes WHERE id = ?", (athlete_id,))), None))

    def athlete_by_number(self, number: str) -> dict | None:
        return _row(next(iter(self.query("SELECT * FROM athletes WHERE athlete_number = ?", (number,))), None))

    def list_athletes(self, *, active_only: bool = False, team: str | None = None) -> list[dict]:
        sql, params = "SELECT * FROM athletes WHERE 1 = 1", []
        if active_only:
            sql += " AND active = 1"
        if team is not None:
            sql += " AND team = ?"
            params.append(team)
        return [_row(r) for r in self.query(sql + " ORDER BY display_name COLLATE NOCASE, id", params)]

    def teams(self) -> list[str]:
        return [r[0] for r in self.query("SELECT DISTINCT team FROM athletes WHERE team != '' ORDER BY team")]

    # --- sessions ---------------------------------------------------------------------------

    def start_session(self, athlete_id: int, station_name: str = "", *, started_at: datetime | None = None) -> int:
        when = iso_utc(started_at) if started_at else self.now_iso()
        with self.tx() as conn:
            return int(conn.execute("INSERT INTO sessions (athlete_id, started_at, station_name) VALUES (?, ?, ?)",
                                    (athlete_id, when, station_name)).lastrowid)

    def end_session(self, session_id: int, verdict: str, summary: dict | None = None, *,
                    ended_at: datetime | None = None) -> None:
        verdict = str(verdict).upper()
        if verdict not in SESSION_VERDICTS:
            raise InputError(f"session verdict must be one of {', '.join(SESSION_VERDICTS)}, not {verdict!r}")
        when = iso_utc(ended_at) if ended_at else self.now_iso()
        with self.tx() as conn:
            snap = scoring_snapshot(summary or {})
            cur = conn.execute("UPDATE sessions SET ended_at = ?, verdict = ?, summary = ?, scoring = ?, "
                               "scoring_version = ? WHERE id = ?",
                               (when, verdict, _dumps(summary or {}), _dumps(snap), snap["version"], session_id))
            if cur.rowcount == 0:
                raise InputError(f"no session with id {session_id}")

    def get_session(self, session_id: int) -> dict | None:
        return _row(next(iter(self.query("SELECT * FROM sessions WHERE id = ?", (session_id,))), None))

    def sessions_between(self, start: str, end: str, *, athlete_id: int | None = None,
                         team: str | None = None) -> list[dict]:
        """Sessions started in [start, end) (UTC ISO), joined with their athlete."""
        sql = ("SELECT s.*, a.display_name, a.athlete_number, a.team, a.sex, a.birth_year FROM sessions s "
               "JOIN athletes a ON a.id = s.athlete_id WHERE s.started_at >= ? AND s.started_at < ?")
        where, params = _athlete_filter("s", athlete_id, team)
        return [_row(r) for r in self.query(sql + where + " ORDER BY s.started_at, s.id", [start, end, *params])]

    # --- trials -----------------------------------------------------------------------------

    def save_trial(self, session_id: int, result_json: dict, media: dict[str, bytes] | None = None, *,
                   recorded_at: datetime | None = None, timings: dict | None = None,
                   quality: dict | None = None, trial_no: int | None = None) -> int:
        """Store one analysed trial: media files first (atomic), then the row, all or nothing.

        ``result_json`` is the analysis' ``TrialResult.to_json()``; ``media`` maps names such as
        ``replay.mp4`` or ``peak.jpg`` to their bytes. Raises DiskFullError before writing when
        free space is below ``min_free_mb``; nothing already stored is touched.
        """
        media = media or {}
        verdict = str(result_json.get("verdict", "")).upper()
        if verdict not in TRIAL_VERDICTS:
            raise InputError(f"trial verdict must be one of {', '.join(TRIAL_VERDICTS)}, not {verdict!r}")
        when = recorded_at or self.clock()
        written = self._write_media_files(when, media, "the trial was not saved - free space or prune old media")
        try:
            with self.tx() as conn:
                sess = conn.execute("SELECT athlete_id FROM sessions WHERE id = ?", (session_id,)).fetchone()
                if sess is None:
                    raise InputError(f"no session with id {session_id}")
                if trial_no is None:
                    trial_no = int(conn.execute("SELECT COALESCE(MAX(trial_no), 0) + 1 FROM trials WHERE session_id = ?",
                                                (session_id,)).fetchone()[0])
                reasons = result_json.get("reasons") or []
                cur = conn.execute(
                    "INSERT INTO trials (session_id, athlete_id, trial_no, recorded_at, timings, verdict, reasons, "
                    "metrics, quality, scoring_version, media, scoring) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (session_id, sess[0], trial_no, iso_utc(when), _dumps(timings or {}), verdict, _dumps(reasons),
                     _dumps(result_json), _dumps(quality if quality is not None else result_json.get("quality") or {}),
                     str(result_json.get("scoring_version") or ""), _dumps(written),
                     _dumps(scoring_snapshot(result_json))))
                return int(cur.lastrowid)
        except BaseException:
            media_files.remove(self.media_root, written.values())
            raise

    def _write_media_files(self, when: datetime, media: dict[str, bytes], not_saved: str) -> dict[str, str]:
        """Write all of a trial's files or none (the space checked first); name -> stored path."""
        media_files.check_free_space(self.root, self.min_free_mb, sum(len(b) for b in media.values()))
        written: dict[str, str] = {}
        try:
            for name, data in media.items():
                written[name] = media_files.write_media(self.media_root, when, name, data)
        except MediaError as exc:
            media_files.remove(self.media_root, written.values())
            if isinstance(exc.__cause__, OSError) and exc.__cause__.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFullError(f"the disk is full; {not_saved}") from None
            raise StoreError(f"cannot save the trial's media: {exc}") from None
        return written

    def attach_media(self, trial_id: int, media: dict[str, bytes], *, recorded_at: datetime | None = None) -> None:
        """Add media files to a stored trial (its row was committed first, so the verdict could
        be shown without waiting for the video encoding). All files or none, like save_trial."""
        if not media:
            return
        when = recorded_at or self.clock()
        written = self._write_media_files(when, media, "the trial's media were not saved")
        try:
            with self.tx() as conn:
                row = conn.execute("SELECT media FROM trials WHERE id = ?", (trial_id,)).fetchone()
                if row is None:
                    raise InputError(f"no trial with id {trial_id}")
                merged = {**json.loads(row[0]), **written}
                conn.execute("UPDATE trials SET media = ? WHERE id = ?", (_dumps(merged), trial_id))
        except BaseException:
            media_files.remove(self.media_root, written.values())
            raise

    def trial_by_uid(self, uid: str) -> int | None:
        """The trial stored from outbox entry ``uid`` (kept in its timings), if any."""
        rows = self.query("SELECT id FROM trials WHERE json_extract(timings, '$.outbox_uid') = ?", (uid,))
        return int(rows[0][0]) if rows else None

    def session_of_visit(self, visit: str) -> int | None:
        """The session holding a trial of station visit ``visit`` (kept in the trials' timings)."""
        rows = self.query("SELECT session_id FROM trials WHERE json_extract(timings, '$.visit') = ? LIMIT 1", (visit,))
        return int(rows[0][0]) if rows else None

    def get_trial(self, trial_id: int) -> dict | None:
        rows = self.query(_TRIAL_SELECT + " WHERE t.id = ?", (trial_id,))
        return _row(rows[0]) if rows else None

    def trials_between(self, start: str, end: str, *, athlete_id: int | None = None, team: str | None = None,
                       verdict: str | None = None, decode: bool = True) -> list[dict]:
        """Trials recorded in [start, end) (UTC ISO), joined with athlete and session, oldest first."""
        where, filters = _athlete_filter("t", athlete_id, team)
        sql = _TRIAL_SELECT + " WHERE t.recorded_at >= ? AND t.recorded_at < ?" + where
        params: list[Any] = [start, end, *filters]
        if verdict:
            sql += " AND t.verdict = ?"
            params.append(verdict.upper())
        rows = self.query(sql + " ORDER BY t.recorded_at, t.id", params)
        return [_row(r) for r in rows] if decode else [dict(r) for r in rows]

    def athlete_trials(self, athlete_id: int) -> list[dict]:
        return self.trials_between("0000", "9999", athlete_id=athlete_id)



_TRIAL_SELECT = (
    "SELECT t.*, a.display_name, a.athlete_number, a.team, a.sex, a.birth_year, "
    "s.station_name, s.started_at AS session_started_at, s.verdict AS session_verdict "
    "FROM trials t JOIN athletes a ON a.id = t.athlete_id JOIN sessions s ON s.id = t.session_id")


def _not_world_readable(path: Path, mode: int | None = None) -> None:
    """Take other users' access away from a file or folder this process owns (athletes' data)."""
    try:
        st = path.stat()
        if st.st_uid != os.geteuid():
            return
        want = mode if mode is not None else st.st_mode & 0o7770
        if (st.st_mode & 0o7777) != want and st.st_mode & 0o007:
            os.chmod(path, want)
    except OSError:
        pass


def _integrity_message(exc: sqlite3.IntegrityError) -> str:
    msg = str(exc)
    if "athletes.athlete_number" in msg:
        return "another athlete already has that athlete number"
    if "coaches.username" in msg:
        return "a coach with that name already exists"
    if "FOREIGN KEY" in msg:
        return "the athlete or session referred to does not exist"
    if "CHECK" in msg:
        return f"a value is out of range ({msg})"
    return f"the change conflicts with stored data ({msg})"


def _athlete_values(fields: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Validate athlete fields into column values, with plain messages for a person."""
    unknown = set(fields) - set(ATHLETE_FIELDS)
    if unknown:
        raise InputError(f"unknown athlete field(s): {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "display_name":
            value = str(value or "").strip()
            if not value:
                raise InputError("the athlete needs a name")
            if len(value) > 120:
                raise InputError("the name is longer than 120 characters")
        elif key == "athlete_number":
            value = str(value).strip() if value is not None else ""
            value = value or None
            if value and len(value) > 40:
                raise InputError("the athlete number is longer than 40 characters")
        elif key in ("team", "notes"):
            value = str(value or "").strip()
            if len(value) > (80 if key == "team" else 2000):
                raise InputError(f"the {key} is too long")
        elif key == "sex":
            value = (str(value).strip().lower() if value is not None else "") or None
            if value in ("f", "w"):
                value = "female"
            elif value == "m":
                value = "male"
            elif value in ("prefer not to say", "prefer-not-to-say"):
                value = "prefer_not_to_say"
            if value not in (None, "female", "male", "prefer_not_to_say"):
                raise InputError("sex must be female, male, prefer_not_to_say or left empty")
        elif key == "birth_year":
            if value in (None, ""):
                value = None
            else:
                try:
                    value = int(str(value).strip())
                except ValueError:
                    raise InputError(f"birth year must be a year like 2008, not {value!r}") from None
                if not 1900 <= value <= 2100:
                    raise InputError(f"birth year {value} is out of range")
        elif key == "active":
            if isinstance(value, str):
                value = value.strip().lower() not in ("0", "no", "false", "n", "")
            value = 1 if value else 0
        out[key] = value
    if not partial and "display_name" not in out:
        raise InputError("the athlete needs a name")
    return out
