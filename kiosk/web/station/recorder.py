"""From the runtime's finished trials to the results store and to the result screen's pictures.

``StationRecorder.on_trial_done`` is the runtime's ``on_trial_done`` callback. It runs on the
analysis thread just before the verdict is published and commits the trial first: the trial is
journaled in the outbox (:mod:`kiosk.store.outbox`, fsynced), then its row is committed to the
database; only then is the verdict shown. The slow part (drawing, H.264 encoding, the media
files) follows on the recorder's own thread and is attached to the stored row. One store
session per athlete visit (check-in to Finish/idle/next check-in): opened at the visit's first
stored trial, ended with the analysis' session summary when the visit has enough valid trials
(or runs out of attempts), and ended INCOMPLETE when the athlete leaves early.

A failed save is never silent. If the row cannot be committed (full disk, database read-only,
immutable, damaged or locked, media folder not writable) ``on_trial_done`` raises
:class:`NotSavedError`: the runtime shows no verdict but the store fault ("not saved, tell a
coach"), and the trial stays in the outbox with its media. Before every Start the runtime asks
:meth:`StationRecorder.check_before_start`, which probes the store (free space, a write to the
media folder, a rolled-back database write), so a station that cannot store refuses the trial
up front with the cause on its fault screen and ``/healthz`` answering 503. The worker probes
again every ``recheck_s`` seconds, drains the outbox into the database once the store works,
and then clears the fault.

The result screen's freeze-frame and slow-motion frames come from the same record
(:mod:`kiosk.web.station.pictures`), made on first request and kept only for the trial on screen.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kiosk.errors import DiskFullError, KioskError, StoreError
from kiosk.store.media import check_free_space
from kiosk.store.outbox import Outbox, new_uid, outbox_dir
from kiosk.web.station import pictures
from kiosk.web.station.pictures import landing_frames, peak_frame  # noqa: F401 - their old home

log = logging.getLogger(__name__)


#: The state machine's fault sources: ``storage`` for a disk below ``[store] min_free_mb``
#: (the station view's "storage is full" screen), ``store`` for every other reason the store
#: cannot be written (the view's "not saved" screen). The text names the cause.
STORAGE = "storage"
STORE = "store"
STORAGE_FULL = "Storage full: the station's disk is too full to save results - a coach must prune old media"
NOT_SAVED = "Not saved: {cause}. Please tell a coach; the jump is kept and saved once storing works again"


class NotSavedError(StoreError):
    """The trial could not be committed; it is kept in the outbox. ``fault_source`` is the
    station fault the runtime raises instead of showing the verdict."""

    def __init__(self, message: str, fault_source: str) -> None:
        super().__init__(message)
        self.fault_source = fault_source


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


class StationRecorder:
    def __init__(self, store: Any, config: Any, *, recheck_s: float = 30.0, save_attempts: int = 3,
                 retry_pause_s: float = 1.0, outbox: Outbox | None = None) -> None:
        self.store = store
        self.config = config
        self.recheck_s = recheck_s
        self.save_attempts = save_attempts   # kept for callers; the outbox is the retry now
        self.retry_pause_s = retry_pause_s
        self.outbox = outbox or Outbox(outbox_dir(config, Path(store.root)))
        try:
            self.outbox.sweep()   # what a kill left half-removed; nothing is journaled yet
        except OSError as exc:
            log.warning("cannot tidy the outbox %s: %s", self.outbox.folder, exc)
        self.config_source: Any = None   # () -> Config, read at each visit (the Settings page's changes)
        self.faults: dict[str, str] = {}      # fault source -> message, while raised in the runtime
        self._report: Any = None               # runtime.report_fault, once attached
        self._lock = threading.Lock()          # the record on screen, the visit
        self._store_lock = threading.RLock()   # store writes and the session they go to
        self._session: dict | None = None      # {"id", "visit", "athlete_id", "sex", "results"}
        self._visit: str = new_uid(datetime.now(UTC))
        self._visit_athlete: Any = None
        self._memory: dict[str, tuple[dict, dict[str, bytes]]] = {}  # when even the outbox fails
        self._in_flight: set[str] = set()      # uids whose media job is still queued
        self._late: dict[int, Any] = {}        # sessions of earlier visits drained into: id -> sex
        self._record: Any = None
        self._ui: dict[str, Any] = {}
        self._jobs: queue.Queue = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="station-recorder", daemon=True)
        self._worker.start()

    @property
    def storage_fault(self) -> str | None:
        """The full-disk fault's message while it is raised."""
        return self.faults.get(STORAGE)

    def pending(self) -> int:
        """Trials kept in the outbox (or memory) that the database does not hold yet."""
        return len(self.outbox) + len(self._memory)

    def attach(self, runtime: Any) -> None:
        """Report store faults to ``runtime`` (a StationRuntime), check every Start with it, and
        probe the store now (and drain an outbox left by a crash), so a station that starts
        unable to store refuses trials before anyone jumps."""
        self._report = runtime.report_fault
        runtime.start_check = self.check_before_start
        self._jobs.put(("probe", None))

    # --- runtime callbacks --------------------------------------------------------------
    def check_before_start(self) -> tuple[str, str] | None:
        """(fault source, message) when a trial could not be stored now, else None."""
        cause = self._cause_now()
        if cause is not None:
            if cause[0] not in self.faults:
                log.warning("refusing Start: %s", cause[1])
            self.faults[cause[0]] = cause[1]
            self._jobs.put(("wake", None))
        return cause

    def on_trial_done(self, record: Any) -> None:
        """Commit the trial (outbox journal, then the database row) before its verdict is shown;
        raises NotSavedError when the row cannot be committed."""
        with self._lock:
            self._record = record
            self._ui = {}
        athlete = record.athlete or {}
        if athlete.get("id") is None:
            return  # nobody checked in (should not happen): nothing to attach it to
        entry = self._entry(record)
        # In flight until its media are stored or kept: the drain leaves it to this path, so a
        # trial is never stored by both.
        self._in_flight.add(entry["uid"])
        journaled = True
        try:
            self.outbox.put(entry)
        except StoreError as exc:
            journaled = False
            log.error("cannot journal the trial in the outbox (kept in memory only): %s", exc)
        try:
            with self._store_lock:
                tid = self._store_entry(entry, {}, fresh=True)
        except KioskError as exc:
            source, message = self._classify(exc)
            log.error("the trial was not saved (kept in the %s): %s", "outbox" if journaled else "memory", exc)
            if not journaled:
                self._memory[entry["uid"]] = (entry, {})
            self.faults[source] = message
            self._jobs.put(("keep", (record, entry)))
            raise NotSavedError(message, source) from None
        self._jobs.put(("media", (record, entry, tid, journaled)))

    def end_visit(self) -> None:
        """The athlete left (Finish, idle timeout, next check-in): close an unfinished session.
        The next visit's sessions are summarised with the config read now (``config_source``)."""
        if self.config_source is not None:
            try:
                self.config = self.config_source()
            except Exception as exc:  # noqa: BLE001 - a broken store keeps the last good settings
                log.warning("could not read the settings, keeping the last ones: %s", exc)
        with self._lock:
            self._record = None
            self._ui = {}
            visit, self._visit = self._visit, new_uid(datetime.now(UTC))
            self._visit_athlete = None
        self._jobs.put(("end", visit))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued save is done (tests, shutdown)."""
        done = threading.Event()
        self._jobs.put(("flush", done))
        return done.wait(timeout)

    def drain_now(self, timeout: float = 10.0) -> bool:
        """Probe and drain on the worker now, then wait for it (tests, admin)."""
        self._jobs.put(("probe", None))
        return self.flush(timeout)

    def close(self) -> None:
        self._jobs.put(None)
        self._worker.join(timeout=15.0)

    # --- pictures for the result screen -------------------------------------------------
    def ui_media(self, attempt: int) -> dict | None:
        """``{"freeze": jpeg, "replay": [jpeg...], "replay_fps": f}`` for the trial on screen."""
        with self._lock:
            rec = self._record
            if rec is None or rec.attempt != attempt:
                return None
            if not self._ui:
                self._ui = self._make_ui(rec)
            return self._ui

    def _make_ui(self, rec: Any) -> dict:
        return pictures.screen_pictures(rec, self.config.pose.min_score)

    # --- the entry and the store ----------------------------------------------------------
    def _entry(self, record: Any) -> dict:
        athlete = record.athlete or {}
        with self._lock:
            if self._visit_athlete not in (None, athlete.get("id")):
                self._visit = new_uid(datetime.now(UTC))   # another athlete without a check-in seen
            self._visit_athlete = athlete.get("id")
            visit = self._visit
        when = datetime.fromtimestamp(record.wall_time, UTC)
        from kiosk.store.db import clean_json

        return clean_json({"uid": new_uid(when), "visit": visit, "athlete_id": int(athlete["id"]),
                           "sex": athlete.get("sex"), "station": self.config.station.name, "attempt": record.attempt,
                           "recorded_at": when.isoformat(), "result": record.result, "timings": record.timings,
                           "trial_id": None})

    def _store_entry(self, entry: dict, files: dict[str, bytes], *, fresh: bool = False) -> int:
        """Store one entry, once (by its uid; ``fresh``: a uid made just now, nothing to look up);
        returns the trial id."""
        existing = None if fresh else self.store.trial_by_uid(entry["uid"])
        if existing is not None:
            return existing
        sid = self._session_for(entry)
        timings = {**(entry.get("timings") or {}), "outbox_uid": entry["uid"], "visit": entry["visit"]}
        tid = int(self.store.save_trial(sid, entry["result"], files, recorded_at=_when(entry["recorded_at"]),
                                        timings=timings))
        s = self._session
        if s is not None and s["id"] == sid:
            s["results"].append(entry["result"])
            valid = sum(1 for r in s["results"] if r.get("verdict") != "RETAKE")
            if valid >= self.config.session.trials or len(s["results"]) >= self.config.session.max_attempts:
                self._end_session(incomplete=False)
        elif sid not in self._late:
            self._late[sid] = entry.get("sex")
        return tid

    def _session_for(self, entry: dict) -> int:
        s = self._session
        if s is not None and s["visit"] == entry["visit"]:
            return int(s["id"])
        sid = self.store.session_of_visit(entry["visit"])
        if sid is not None:
            return sid
        when = _when(entry["recorded_at"])
        sid = int(self.store.start_session(entry["athlete_id"], entry.get("station") or "", started_at=when))
        with self._lock:
            current = entry["visit"] == self._visit
        if current:
            self._end_session(incomplete=True)
            self._session = {"id": sid, "visit": entry["visit"], "athlete_id": entry["athlete_id"],
                             "sex": entry.get("sex"), "results": []}
        return sid

    def _end_session(self, *, incomplete: bool) -> None:
        s = self._session
        if s is None:
            return
        self._session = None
        self._close(s["id"], s["results"], s["sex"])

    def _close(self, sid: int, results: list[dict], sex: Any) -> None:
        if not results:
            self.store.end_session(sid, "INCOMPLETE", {})
            return
        from kiosk.analysis.result import TrialResult
        from kiosk.analysis.session import summarize_session

        summary = summarize_session([TrialResult.from_json(r) for r in results], thresholds=self.config.scoring,
                                    sex=sex, trials_needed=self.config.session.trials).to_json()
        summary.pop("trials", None)  # the trials are rows of their own
        self.store.end_session(sid, summary["verdict"], summary)

    def _close_late_sessions(self) -> None:
        """Sessions of earlier visits that drained trials went into: summarised from their rows."""
        for sid, sex in list(self._late.items()):
            rows = self.store.query("SELECT metrics FROM trials WHERE session_id = ? ORDER BY trial_no", (sid,))
            self._close(sid, [json.loads(r[0]) for r in rows], sex)
            del self._late[sid]

    # --- faults -------------------------------------------------------------------------------
    def _classify(self, exc: BaseException) -> tuple[str, str]:
        if isinstance(exc, DiskFullError):
            return STORAGE, STORAGE_FULL
        return STORE, NOT_SAVED.format(cause=str(exc).rstrip(". ") or "the results store cannot be written")

    def _cause_now(self) -> tuple[str, str] | None:
        try:
            check_free_space(self.store.root, self.store.min_free_mb)
        except DiskFullError:
            self.store.release_reserve()  # so a coach can still log in and prune
            return STORAGE, STORAGE_FULL
        why = self.store.probe_writable()
        if why:
            return STORE, NOT_SAVED.format(cause=why)
        return None

    def _raise_faults(self) -> None:
        if self._report is not None:
            for source, message in list(self.faults.items()):
                self._report(source, message)

    def _clear_faults(self) -> None:
        for source in list(self.faults):
            del self.faults[source]
            if self._report is not None:
                self._report(source, None)

    # --- the worker -----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=self.recheck_s)
            except queue.Empty:
                job = ("probe", None)
            if job is None:
                try:
                    with self._store_lock:
                        self._end_session(incomplete=True)
                except KioskError as exc:
                    log.warning("could not close the session: %s", exc)
                return
            kind, arg = job
            try:
                if kind == "media":
                    self._save_media(*arg)
                elif kind == "keep":
                    self._keep_media(*arg)
                elif kind == "end":
                    with self._store_lock:
                        if self._session is not None and self._session["visit"] == arg:
                            self._end_session(incomplete=True)
                elif kind in ("probe", "wake"):
                    self._probe_and_drain()
                elif kind == "flush":
                    arg.set()
            except KioskError as exc:
                log.warning("storing failed: %s", exc)
                source, message = self._classify(exc)
                self.faults[source] = message
                self._raise_faults()
            except Exception:  # a bug here must not stop the worker
                log.exception("recording the trial failed")
                if kind in ("media", "keep"):
                    self._in_flight.discard(arg[1]["uid"])  # the outbox entry is the drain's now

    def _save_media(self, record: Any, entry: dict, tid: int, journaled: bool) -> None:
        files = self._media_files(record)
        try:
            with self._store_lock:
                self.store.attach_media(tid, files, recorded_at=_when(entry["recorded_at"]))
        except KioskError:
            entry = {**entry, "trial_id": tid}
            self._keep_media(record, entry, files=files)
            raise
        if journaled:
            self.outbox.remove(entry["uid"])
        self._in_flight.discard(entry["uid"])

    def _keep_media(self, record: Any, entry: dict, files: dict[str, bytes] | None = None) -> None:
        """The trial stays in the outbox: its media are made and kept beside its entry."""
        try:
            files = self._media_files(record) if files is None else files
            self._raise_faults()
            try:
                self.outbox.put(entry)
                self.outbox.add_media(entry["uid"], files)
                self._memory.pop(entry["uid"], None)
            except StoreError as exc:
                log.error("the outbox cannot be written either; the trial is kept in memory: %s", exc)
                self._memory[entry["uid"]] = (entry, files)
        finally:
            self._in_flight.discard(entry["uid"])

    def _probe_and_drain(self) -> None:
        cause = self._cause_now()
        if cause is not None:
            if cause[0] not in self.faults:
                log.warning("refusing trials: %s", cause[1])
            self.faults[cause[0]] = cause[1]
            self._raise_faults()
            return
        with self._store_lock:
            for uid, (entry, files) in list(self._memory.items()):
                if uid not in self._in_flight:
                    self._drain_one(entry, files)
                    del self._memory[uid]
            for entry in self.outbox.entries():
                if entry["uid"] not in self._in_flight:
                    self._drain_one(entry, self.outbox.media(entry["uid"]))
                    self.outbox.remove(entry["uid"])
            self._close_late_sessions()
        if self.faults:
            log.info("the store works again; the outbox is drained and the station accepts trials")
            self._clear_faults()

    def _drain_one(self, entry: dict, files: dict[str, bytes]) -> None:
        tid = entry.get("trial_id") or self.store.trial_by_uid(entry["uid"])
        if tid is not None:
            stored = self.store.get_trial(int(tid)) or {}
            missing = {n: b for n, b in files.items() if n not in (stored.get("media") or {})}
            self.store.attach_media(int(tid), missing, recorded_at=_when(entry["recorded_at"]))
        else:
            self._store_entry(entry, files)
            log.info("stored trial %s from the outbox", entry["uid"])

    def _media_files(self, rec: Any) -> dict[str, bytes]:
        return pictures.stored_media(rec, self.config.pose.min_score)
