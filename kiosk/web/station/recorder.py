"""From the runtime's finished trials to the results store and to the result screen's pictures.

``StationRecorder.on_trial_done`` is the runtime's ``on_trial_done`` callback. It runs on the
analysis thread just before the verdict is published, so it only keeps the record and queues
the slow part (drawing, H.264 encoding, the SQLite write) for its own worker thread: the verdict
reaches the screen without waiting for the disk. One store session per athlete visit: opened at
the visit's first trial, ended with the analysis' session summary when the visit has enough
valid trials (or runs out of attempts), and ended INCOMPLETE when the athlete leaves early.

The result screen's freeze-frame and slow-motion frames come from the same record, made on
first request and kept only for the trial on screen.

A full disk must not fail silently: once attached to the runtime (:meth:`StationRecorder.attach`),
the recorder raises a ``storage`` fault in the runtime's state machine when free space is below
``[store] min_free_mb`` (checked when attached, and whenever a save fails with DiskFullError).
The fault parks the station on the fault screen, so no new trial starts that could not be stored;
the worker re-checks free space every ``recheck_s`` seconds and clears the fault once a coach has
made room. A database busy past its timeout is tried again (``save_attempts``) before the trial
is given up and logged: the station keeps running either way.
"""

from __future__ import annotations

import logging
import queue
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from kiosk.errors import DiskFullError, KioskError, StoreError
from kiosk.store.media import check_free_space
from kiosk.web.station import media

log = logging.getLogger(__name__)


def peak_frame(record: Any) -> tuple[int, dict[str, float | None]] | None:
    """Index into ``record.poses`` of the peak-valgus frame (the worse leg's), and both legs' peaks."""
    if not record.poses:
        return None
    legs = record.result.get("legs") or {}
    angles = {side: (legs.get(side) or {}).get("fppa_peak") for side in ("left", "right")}
    known = {s: a for s, a in angles.items() if a is not None}
    if known:
        worse = max(known, key=lambda s: known[s])
        t_peak = (legs.get(worse) or {}).get("peak_fppa_s")
    else:
        t_peak = None
    if t_peak is None:
        t_peak = (record.result.get("events") or {}).get("peak_flexion_s")
    if t_peak is None:
        return None
    times = np.array([p.t for p in record.poses])
    return int(np.argmin(np.abs(times - float(t_peak)))), angles


def landing_frames(record: Any) -> list[int]:
    """Indices into ``record.frames`` from just before contact to take-off: the replayed landing."""
    events = record.result.get("events") or {}
    ic, off = events.get("initial_contact_s"), events.get("takeoff_s")
    times = [f.t for f in record.frames]
    if ic is None:
        return list(range(len(times)))[-media.REPLAY_MAX_FRAMES:]
    lo, hi = float(ic) - 0.25, float(off) + 0.05 if off is not None else float(ic) + 0.5
    picked = [i for i, t in enumerate(times) if lo <= t <= hi]
    return picked[: media.REPLAY_MAX_FRAMES]


#: The state machine's fault source for a full disk, and the text the station shows ("disk" in it
#: is what the station view keys its "storage is full" screen on; the details go to the log).
STORAGE = "storage"
STORAGE_FULL = "Storage full: the station's disk is too full to save results - a coach must prune old media"


class StationRecorder:
    def __init__(self, store: Any, config: Any, *, recheck_s: float = 30.0, save_attempts: int = 3,
                 retry_pause_s: float = 1.0) -> None:
        self.store = store
        self.config = config
        self.recheck_s = recheck_s
        self.save_attempts = save_attempts
        self.retry_pause_s = retry_pause_s
        self.storage_fault: str | None = None   # the message while the disk is too full
        self._report: Any = None                 # raises or clears the runtime's storage fault, once attached
        self._lock = threading.Lock()
        self._session: dict | None = None   # {"id", "athlete_id", "results": [...]}
        self._record: Any = None
        self._ui: dict[str, Any] = {}
        self._jobs: queue.Queue = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="station-recorder", daemon=True)
        self._worker.start()

    def attach(self, runtime: Any) -> None:
        """Report storage faults to ``runtime`` (a StationRuntime) and check free space now, so a
        station that starts with a full disk refuses trials before anyone jumps."""
        self._report = lambda message: runtime.report_fault(STORAGE, message)
        self._jobs.put(("probe", None))

    # --- runtime callback ---------------------------------------------------------------
    def on_trial_done(self, record: Any) -> None:
        with self._lock:
            self._record = record
            self._ui = {}
        self._jobs.put(("trial", record))

    def end_visit(self) -> None:
        """The athlete left (Finish, idle timeout, next check-in): close an unfinished session."""
        with self._lock:
            self._record = None
            self._ui = {}
        self._jobs.put(("end", None))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued save is done (tests, shutdown)."""
        done = threading.Event()
        self._jobs.put(("flush", done))
        return done.wait(timeout)

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
        from kiosk.media import encode_jpeg
        from kiosk.overlay import draw_pose

        out: dict[str, Any] = {"freeze": None, "replay": [], "replay_fps": 0.0}
        pk = peak_frame(rec)
        min_score = self.config.pose.min_score
        if pk is not None:
            i, angles = pk
            pose = rec.poses[i]
            frame = next((f for f in rec.frames if f.index == pose.index), None)
            if frame is not None:
                out["freeze"] = encode_jpeg(media.annotate_peak(frame.image, pose.keypoints, angles, min_score=min_score), 82)
        by_index = {p.index: p for p in rec.poses}
        picked = landing_frames(rec)
        for i in picked:
            f = rec.frames[i]
            pose = by_index.get(f.index)
            img = draw_pose(f.image, pose.keypoints, min_score=min_score) if pose is not None else f.image
            out["replay"].append(encode_jpeg(media.downscale(img, media.REPLAY_MAX_SIDE), 72))
        if len(picked) > 1:
            dt = float(np.median(np.diff([rec.frames[i].t for i in picked])))
            out["replay_fps"] = (1.0 / dt) / media.SLOWMO if dt > 0 else 8.0
        return out

    # --- the store, on the worker thread -------------------------------------------------
    def _run(self) -> None:
        while True:
            try:
                # While the disk is full, wake up now and then to see whether space was freed.
                job = self._jobs.get(timeout=self.recheck_s if self.storage_fault else None)
            except queue.Empty:
                job = ("probe", None)
            if job is None:
                self._end_session(incomplete=True)
                return
            kind, arg = job
            try:
                if kind == "trial":
                    self._save(arg)
                elif kind == "end":
                    self._end_session(incomplete=True)
                elif kind == "probe":
                    self._probe()
                elif kind == "flush":
                    arg.set()
            except DiskFullError as exc:
                log.warning("could not store the trial: %s", exc)
                self._set_storage_fault()
            except KioskError as exc:  # a locked database: the station keeps running
                log.warning("could not store the trial: %s", exc)
            except Exception:  # a bug here must not stop the worker
                log.exception("recording the trial failed")

    def _probe(self) -> None:
        """Raise or clear the storage fault from the free space now."""
        try:
            check_free_space(self.store.root, self.store.min_free_mb)
        except DiskFullError as exc:
            if self.storage_fault is None:
                log.warning("refusing trials: %s", exc)
            self._set_storage_fault()
            return
        if self.storage_fault is not None:
            log.info("storage space is back; the station accepts trials again")
            self.storage_fault = None
            if self._report is not None:
                self._report(None)

    def _set_storage_fault(self) -> None:
        self.storage_fault = STORAGE_FULL
        if self._report is not None:
            self._report(STORAGE_FULL)

    def _save(self, rec: Any) -> None:
        athlete = rec.athlete or {}
        if athlete.get("id") is None:
            return  # nobody checked in (should not happen): nothing to attach it to
        if self._session is None or self._session["athlete_id"] != athlete["id"] or rec.attempt == 1:
            self._end_session(incomplete=True)
            sid = self._retrying(self.store.start_session, int(athlete["id"]), self.config.station.name)
            self._session = {"id": sid, "athlete_id": athlete["id"], "results": [], "sex": athlete.get("sex")}
        files = self._media_files(rec)
        self._retrying(self.store.save_trial, self._session["id"], rec.result, files, timings=rec.timings,
                       trial_no=rec.attempt)
        self._session["results"].append(rec.result)
        valid = sum(1 for r in self._session["results"] if r.get("verdict") != "RETAKE")
        if valid >= self.config.session.trials or len(self._session["results"]) >= self.config.session.max_attempts:
            self._end_session(incomplete=False)

    def _retrying(self, write: Any, *args: Any, **kw: Any) -> Any:
        """One store write, tried again when the database was busy past its timeout (a backup
        or an sqlite3 shell holding the write lock is usually over soon, and the trial exists
        only in memory). A full disk or bad input is not retried."""
        for attempt in range(1, self.save_attempts + 1):
            try:
                return write(*args, **kw)
            except DiskFullError:
                raise
            except StoreError as exc:
                if attempt == self.save_attempts:
                    raise
                log.warning("saving failed (try %d of %d), trying again: %s", attempt, self.save_attempts, exc)
                time.sleep(self.retry_pause_s)
        return None

    def _end_session(self, *, incomplete: bool) -> None:
        s = self._session
        if s is None:
            return
        self._session = None
        if not s["results"]:
            self._retrying(self.store.end_session, s["id"], "INCOMPLETE", {})
            return
        from kiosk.analysis.result import TrialResult
        from kiosk.analysis.session import summarize_session

        summary = summarize_session([TrialResult.from_json(r) for r in s["results"]], thresholds=self.config.scoring,
                                    sex=s["sex"], trials_needed=self.config.session.trials).to_json()
        summary.pop("trials", None)  # the trials are rows of their own
        self._retrying(self.store.end_session, s["id"], summary["verdict"], summary)

    def _media_files(self, rec: Any) -> dict[str, bytes]:
        """``peak.jpg`` (annotated) and ``replay.mp4`` (the landing with the skeleton) for the coach."""
        from kiosk.media import VideoWriter, encode_jpeg
        from kiosk.overlay import draw_pose

        files: dict[str, bytes] = {}
        min_score = self.config.pose.min_score
        pk = peak_frame(rec)
        if pk is not None:
            pose = rec.poses[pk[0]]
            frame = next((f for f in rec.frames if f.index == pose.index), None)
            if frame is not None:
                files["peak.jpg"] = encode_jpeg(media.annotate_peak(frame.image, pose.keypoints, pk[1], min_score=min_score), 85)
        picked = landing_frames(rec)
        if len(picked) >= 2:
            by_index = {p.index: p for p in rec.poses}
            h, w = rec.frames[picked[0]].image.shape[:2]
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "replay.mp4"
                # Written at a quarter of the real rate: the file itself is the slow-motion replay.
                fps = max(1.0, 1.0 / max(1e-3, float(np.median(np.diff([rec.frames[i].t for i in picked])))) / media.SLOWMO)
                with VideoWriter(path, fps, w, h) as vw:
                    for i in picked:
                        f = rec.frames[i]
                        pose = by_index.get(f.index)
                        vw.write(draw_pose(f.image, pose.keypoints, min_score=min_score) if pose is not None else f.image)
                files["replay.mp4"] = path.read_bytes()
        return files
