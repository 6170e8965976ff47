"""StationRuntime: the one owner of camera, ring buffer, mat, state machine and analysis.

Threads, and why each exists:
- capture: camera -> ring buffer, nothing else, so 120 fps never waits on anything;
- ticker: feeds ``Tick(now)`` to the state machine every 20 ms (timeouts, countdown);
- analysis worker: poses frames and scores trials. It starts at take-off on the frames from
  standing to take-off (overlapping the flight), and after the second landing poses the rest
  and scores, so the verdict follows the landing quickly;
- preview: ~10 fps, the newest frame downscaled with a skeleton, as JPEG for the UI. It only
  ever copies one frame from the ring, so it never blocks capture.

The UI reads ``snapshot()`` and long-polls ``wait_for_change(seq)``; actions come in through
``check_in``, ``start`` (the on-screen Start, equal to the button) and ``cancel``. Camera, mat,
pose-estimator factory and analyzer are constructor arguments, so tests and the demo can stand
in their own; :meth:`StationRuntime.from_config` builds the real ones.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kiosk.errors import CameraError, KioskError
from kiosk.keypoints import PoseFrame
from kiosk.matcsv import MatEdge
from kiosk.media import Frame
from kiosk.pose.base import PoseEstimator
from kiosk.station.camera import Camera
from kiosk.station.mat import Mat, MatEvent, events_to_edges
from kiosk.station.ringbuffer import RingBuffer
from kiosk.station.statemachine import (
    Action,
    AnalysisDone,
    AnalysisFailed,
    AnalysisStarted,
    Cancel,
    CheckIn,
    Fault,
    FaultCleared,
    MatChanged,
    Motion,
    Start,
    State,
    StateMachine,
    Tick,
    Timing,
    Visibility,
)

log = logging.getLogger(__name__)

#: analyzer(poses, mat_edges or None, frame_size=(w, h), sex=...) -> object with .verdict, .to_json()
Analyzer = Callable[..., Any]


@dataclass(frozen=True)
class FramePlan:
    """Which frames get posed: pose cannot run at camera rate, so only the ones that matter.

    Standing still (baseline) sparsely, the fall and the landing up to take-off densely, the
    flight and second landing sparsely. Times in seconds relative to the mat events.
    """

    pre_s: float = 1.2          # from this long before contact (standing still on the box)
    dense_pre_s: float = 0.3    # dense from this long before contact (the fall, for the video's contact)
    dense_fps: float = 60.0
    sparse_fps: float = 15.0
    post_s: float = 0.1         # after the second landing
    video_fps: float = 30.0     # no-mat mode: the whole capture at this rate

    def mask(self, t_ns: np.ndarray, times: dict[str, int]) -> np.ndarray:
        """Frames to keep among ``t_ns`` (sorted), given the trial's event times so far."""
        if len(t_ns) == 0:
            return np.zeros(0, dtype=bool)
        keep = np.zeros(len(t_ns), dtype=bool)
        if "contact" not in times:  # no mat: even sampling of the whole capture
            return _every(t_ns, self.video_fps)
        dense_from = times["contact"] - int(self.dense_pre_s * 1e9)
        is_dense = t_ns >= dense_from
        if "takeoff" in times:
            is_dense &= t_ns <= times["takeoff"]
        keep[is_dense] = _every(t_ns[is_dense], self.dense_fps)
        keep[~is_dense] = _every(t_ns[~is_dense], self.sparse_fps)
        return keep


def _every(t_ns: np.ndarray, fps: float) -> np.ndarray:
    """Keep the first frame, then each frame at least 1/fps after the last kept one."""
    keep = np.zeros(len(t_ns), dtype=bool)
    step = int(1e9 / fps) - 1_000_000  # 1 ms slack for timestamp jitter
    last: int | None = None
    for i, t in enumerate(t_ns):
        if last is None or t - last >= step:
            keep[i] = True
            last = int(t)
    return keep


@dataclass
class TrialRecord:
    """What the results store receives for every analysed trial (``on_trial_done``)."""

    athlete: dict | None
    attempt: int
    verdict: str
    result: dict                     # TrialResult.to_json()
    mat_edges: list[MatEdge] | None  # seconds from t0 (None without a mat)
    poses: list[PoseFrame]           # t in seconds from t0
    frames: list[Frame]              # the posed frames (RGB), same t as poses
    wall_time: float                 # time.time() at the second landing (Pi 4 has no RTC: may be off)
    timings: dict = field(default_factory=dict)   # landing_to_verdict_ms, invocations, ...


@dataclass
class _Trial:
    gen: int
    times: dict[str, int]
    t0_ns: int = 0
    poses: list[PoseFrame] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    last_posed_ns: int | None = None
    invocations: int = 0


class StationRuntime:
    def __init__(self, camera: Camera, mat: Mat, estimator_factory: Callable[[], PoseEstimator] | None,
                 analyzer: Analyzer, *, ring_seconds: float = 4.0, timing: Timing | None = None,
                 trials_total: int = 3, max_attempts: int = 6, plan: FramePlan | None = None,
                 preview_estimator_factory: Callable[[], PoseEstimator] | None = None, preview_fps: float = 10.0,
                 min_score: float = 0.3, on_trial_done: Callable[[TrialRecord], None] | None = None,
                 cues=None, clock: Callable[[], int] = time.monotonic_ns):
        self.camera = camera
        self.mat = mat
        self.estimator_factory = estimator_factory
        self.analyzer = analyzer
        self.plan = plan or FramePlan()
        self.ring = RingBuffer(camera.fps, ring_seconds, camera.shape)
        self.sm = StateMachine(timing, has_mat=mat.has_mat, trials_total=trials_total, max_attempts=max_attempts)
        self.on_trial_done = on_trial_done
        self.cues = cues
        self.min_score = min_score
        self.preview_fps = preview_fps
        self._preview_factory = preview_estimator_factory
        self._clock = clock
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._seq = 0
        self._published: dict | None = None
        self._mat_events: list[MatEvent] = []
        self._gen = 0
        self._jobs: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._preview: bytes | None = None
        self._busy = threading.Event()
        self.last_record: TrialRecord | None = None
        self.camera_error: str | None = None
        self._progress: tuple[int, int] | None = None   # (frames posed, frames planned) while analysing
        with self._lock:
            self._publish()

    # --- construction from the station config ----------------------------------------------
    @classmethod
    def from_config(cls, config, *, on_trial_done: Callable[[TrialRecord], None] | None = None,
                    estimator_factory: Callable[[], PoseEstimator] | None = None,
                    analyzer: Analyzer | None = None) -> StationRuntime:
        from kiosk.station.camera import open_camera
        from kiosk.station.mat import Cues, GpioMat, NoMat, SimulatedMat, StartButton, make_pin_factory

        camera = open_camera(config)
        m = config.mat
        factory = make_pin_factory(m.pin_factory) if m.kind == "gpio" else None
        mat: Mat
        if m.kind == "gpio":
            mat = GpioMat(m.pin, debounce_ms=m.debounce_ms, pin_factory=factory, sense_pin=m.sense_pin)
        elif m.kind == "simulated":
            mat = SimulatedMat(getattr(camera, "mat_edges", None) or [])
        else:
            mat = NoMat()
        if estimator_factory is None:
            def estimator_factory() -> PoseEstimator:
                from kiosk.pose.movenet import create_estimator

                return create_estimator(config.pose.model, config.pose.threads, min_score=config.pose.min_score)
        if analyzer is None:
            from kiosk.analysis.trial import analyze_trial

            def analyzer(poses, edges, **kw):
                return analyze_trial(poses, edges, thresholds=config.scoring, min_score=config.pose.min_score, **kw)

        timing = Timing(countdown_s=m.countdown_s, drop_timeout_s=m.drop_timeout_s, stuck_s=m.stuck_s,
                        video_capture_s=min(config.camera.ring_seconds, 4.0))
        cues = Cues(m.led_pin, m.buzzer_pin, pin_factory=factory) if m.kind == "gpio" else None
        rt = cls(camera, mat, estimator_factory, analyzer, ring_seconds=config.camera.ring_seconds, timing=timing,
                 trials_total=config.session.trials, max_attempts=config.session.max_attempts,
                 preview_estimator_factory=estimator_factory, min_score=config.pose.min_score,
                 on_trial_done=on_trial_done, cues=cues)
        if m.kind == "gpio" and m.button_pin >= 0:
            rt._button = StartButton(m.button_pin, rt.start, pin_factory=factory)
        return rt

    # --- public API for the web app --------------------------------------------------------
    def snapshot(self) -> dict:
        with self._lock:
            return dict(self._published or {})

    def wait_for_change(self, seq: int, timeout: float = 25.0) -> dict:
        """The snapshot once its ``seq`` differs from ``seq`` (or after ``timeout`` seconds)."""
        with self._changed:
            self._changed.wait_for(lambda: self._seq != seq, timeout)
            return dict(self._published or {})

    def check_in(self, athlete: dict) -> dict:
        return self._dispatch(CheckIn(athlete))

    def start(self) -> dict:
        """The on-screen Start; the start button calls this too."""
        return self._dispatch(Start())

    def cancel(self) -> dict:
        return self._dispatch(Cancel())

    def preview_jpeg(self) -> bytes | None:
        return self._preview

    def report_fault(self, source: str, message: str | None) -> dict:
        """Raise (``message``) or clear (None) a fault from outside the runtime, e.g. ``model``
        when the pose model file is damaged at start: the station shows it full-screen."""
        return self._dispatch(Fault(source, message) if message else FaultCleared(source))

    # --- state machine plumbing ------------------------------------------------------------
    def _dispatch(self, ev) -> dict:
        with self._lock:
            before = self.sm.state
            actions = self.sm.handle(ev, self._clock())
            for a in actions:
                self._do(a)
            if self.sm.state != before and self.cues is not None:
                self.cues.on_state(self.sm.state.value)
            return self._publish()

    def _publish(self) -> dict:
        snap = self.sm.snapshot()
        snap["camera"] = self.camera.name
        snap["dropped_frames"] = self.ring.dropped
        progress = self._progress if self.sm.state.value == "analysing" else None
        snap["progress"] = None if not progress else round(min(1.0, progress[0] / max(1, progress[1])), 2)
        snap["frames_posed"], snap["frames_planned"] = progress or (None, None)
        if self._published is None or {k: v for k, v in snap.items() if k != "dropped_frames"} != \
                {k: v for k, v in self._published.items() if k not in ("seq", "dropped_frames")}:
            self._seq += 1
            snap["seq"] = self._seq
            self._published = snap
            self._changed.notify_all()
        return dict(self._published)

    def _do(self, action: Action) -> None:
        if action.kind == "go":
            self._gen += 1
            self._mat_events = []
            self.camera.trigger()
        elif action.kind == "analyse_early":
            self._jobs.put(("early", self._gen, dict(action.times)))
        elif action.kind == "analyse":
            self._jobs.put(("final", self._gen, dict(action.times)))
        elif action.kind == "cancel_analysis":
            self._gen += 1

    def _on_mat(self, ev: MatEvent) -> None:
        with self._lock:
            self._mat_events.append(ev)
        self._dispatch(MatChanged(ev.pressed, ev.t_ns))

    def _on_mat_fault(self, message: str | None) -> None:
        self._dispatch(Fault("mat", message) if message else FaultCleared("mat"))

    # --- threads -------------------------------------------------------------------------------
    def begin(self) -> None:
        """Start the camera, the mat and all threads."""
        self.mat.set_listener(self._on_mat)
        self.mat.set_fault_listener(self._on_mat_fault)
        if hasattr(self.mat, "play"):
            self.camera.on_play = lambda origin: self.mat.play(origin, self.camera.mat_edges)  # type: ignore[attr-defined]
        self.mat.start()
        if not self.mat.connected:
            self._on_mat_fault("The contact mat is unplugged: check its cable")
        for target, name in ((self._capture_loop, "capture"), (self._tick_loop, "ticker"),
                             (self._worker_loop, "analysis"), (self._preview_loop, "preview")):
            th = threading.Thread(target=target, name=f"station-{name}", daemon=True)
            th.start()
            self._threads.append(th)

    start_threads = begin  # the name the serve command uses

    def close(self) -> None:
        self._stop.set()
        self._jobs.put(None)
        for th in self._threads:
            th.join(timeout=3.0)
        self.mat.close()
        for extra in (getattr(self, "_button", None), self.cues):
            if extra is not None:
                extra.close()

    def __enter__(self) -> StationRuntime:
        self.begin()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _capture_loop(self) -> None:
        started = False
        last_frame = time.monotonic()
        while not self._stop.is_set():
            try:
                if not started:
                    self.camera.start()
                    started = True
                frame = self.camera.read(timeout=0.5)
            except KioskError as exc:
                self.camera_error = str(exc)
                self._dispatch(Fault("camera", str(exc)))
                started = False
                try:
                    self.camera.stop()
                except KioskError:
                    pass
                self._stop.wait(2.0)  # retry: a re-seated cable should recover by itself
                continue
            if frame is None:
                if time.monotonic() - last_frame > CAMERA_SILENCE_S and "camera" not in self.sm.faults:
                    self.camera_error = "The camera stopped sending frames: check its cable"
                    self._dispatch(Fault("camera", self.camera_error))
                continue
            last_frame = time.monotonic()
            self.ring.put(frame.image, frame.t_ns, frame.index)
            if "camera" in self.sm.faults:
                self.camera_error = None
                self._dispatch(FaultCleared("camera"))
        try:
            self.camera.stop()
        except CameraError:
            pass

    def _tick_loop(self) -> None:
        while not self._stop.wait(0.02):
            self._dispatch(Tick(self._clock()))

    # --- analysis --------------------------------------------------------------------------
    def _worker_loop(self) -> None:
        estimator: PoseEstimator | None = None
        trial: _Trial | None = None
        while True:
            job = self._jobs.get()
            if job is None:
                break
            kind, gen, times = job
            if gen != self._gen:
                continue  # cancelled while queued
            self._busy.set()
            try:
                if estimator is None and self.estimator_factory is not None:
                    estimator = self.estimator_factory()
                if trial is None or trial.gen != gen:
                    if estimator is not None:
                        estimator.reset()
                    start = times.get("contact", times.get("go", 0)) - int(self.plan.pre_s * 1e9)
                    trial = _Trial(gen, times, t0_ns=start)
                    self._progress = None
                trial.times = times
                if kind == "early":
                    self._pose_until(trial, estimator, times["takeoff"])
                else:
                    self._finish(trial, estimator)
            except KioskError as exc:
                log.warning("analysis failed: %s", exc)
                if gen == self._gen:
                    self._dispatch(AnalysisFailed(str(exc)))
            except Exception:  # a bug must not kill the station: show a retry prompt
                log.exception("analysis crashed")
                if gen == self._gen:
                    self._dispatch(AnalysisFailed("internal error"))
            finally:
                self._busy.clear()
        if estimator is not None:
            estimator.close()

    def _pose_until(self, trial: _Trial, estimator: PoseEstimator | None, t_end_ns: int) -> None:
        t_from = trial.t0_ns if trial.last_posed_ns is None else trial.last_posed_ns + 1
        window = self.ring.window(t_from, t_end_ns, keep=lambda t: self.plan.mask(t, trial.times))
        for img, t_ns, idx in zip(window.images, window.t_ns, window.indices, strict=True):
            if trial.gen != self._gen:
                return
            t = (int(t_ns) - trial.t0_ns) / 1e9
            if estimator is not None:
                kps = np.asarray(estimator.track(img), dtype=np.float32)
                trial.invocations += 1
                trial.poses.append(PoseFrame(int(idx), t, kps))
            trial.frames.append(Frame(int(idx), t, img))
            trial.last_posed_ns = int(t_ns)
            if self._progress is not None:
                self._progress = (len(trial.frames), self._progress[1])
                if len(trial.frames) % 8 == 0:  # a few UI updates per analysis, not one per frame
                    with self._lock:
                        self._publish()

    def _finish(self, trial: _Trial, estimator: PoseEstimator | None) -> None:
        times = trial.times
        self._dispatch(AnalysisStarted())
        end = times["landing"] + int(self.plan.post_s * 1e9) if "landing" in times else times["end"]
        if not self.ring.wait_for_time(end, timeout=CAMERA_SILENCE_S):
            # No frames up to the end of the jump: scoring a torn capture would store a wrong
            # verdict, so nothing is kept and the athlete is asked to jump again.
            raise CameraError("the camera stopped during the jump: please jump again")
        self._check_capture_gaps(trial.t0_ns, end)
        early = trial.invocations  # posed during the flight, before the second landing
        t_from = trial.t0_ns if trial.last_posed_ns is None else trial.last_posed_ns + 1
        planned = int(self.plan.mask(self._ring_times(t_from, end), trial.times).sum())
        self._progress = (len(trial.frames), len(trial.frames) + planned)
        self._pose_until(trial, estimator, end)
        if trial.gen != self._gen:
            return
        if self.sm.has_mat:
            with self._lock:
                events = [e for e in self._mat_events if e.t_ns >= times.get("go", 0)]
            edges: list[MatEdge] | None = events_to_edges(events, trial.t0_ns)
        else:
            edges = None
        athlete = self.sm.athlete or {}
        result = self.analyzer(trial.poses, edges, frame_size=(self.camera.width, self.camera.height),
                               sex=athlete.get("sex"))
        verdict = str(getattr(result, "verdict", "RETAKE"))
        result_json = result.to_json() if hasattr(result, "to_json") else dict(result)
        anchor = times.get("landing", times.get("end", 0))
        record = TrialRecord(athlete=self.sm.athlete, attempt=self.sm.attempts + 1, verdict=verdict, result=result_json,
                             mat_edges=edges, poses=trial.poses, frames=trial.frames,
                             wall_time=time.time() - (self._clock() - anchor) / 1e9,
                             timings={"landing_to_verdict_ms": round((self._clock() - anchor) / 1e6, 1),
                                      "invocations": trial.invocations, "invocations_after_landing": trial.invocations - early,
                                      "frames": len(trial.frames)})
        if trial.gen != self._gen:
            return
        self.last_record = record
        if self.on_trial_done is not None:
            try:
                self.on_trial_done(record)
            except KioskError as exc:  # e.g. disk full: show it, the verdict itself stands
                log.warning("storing the trial failed: %s", exc)
                result_json = {**result_json, "store_error": str(exc)}
        self._dispatch(AnalysisDone(verdict, result_json))

    def _ring_times(self, t_from: int, t_to: int) -> np.ndarray:
        """Timestamps held in [t_from, t_to], without copying a pixel (the keep callback sees
        the times and keeps nothing)."""
        seen: list[np.ndarray] = []

        def grab(t: np.ndarray) -> np.ndarray:
            seen.append(np.asarray(t, dtype=np.int64))
            return np.zeros(len(t), dtype=bool)

        self.ring.window(t_from, t_to, keep=grab)
        return seen[0] if seen else np.zeros(0, dtype=np.int64)

    def _check_capture_gaps(self, t_from: int, t_to: int) -> None:
        """Refuse a trial whose capture has a hole (the camera stalled mid-jump and came back):
        the events and angles of a landing with missing frames cannot be trusted."""
        t = self._ring_times(t_from, t_to)
        if len(t) >= 2 and int(np.diff(t).max()) > int(CAMERA_GAP_S * 1e9):
            raise CameraError(f"the camera missed {np.diff(t).max() / 1e9:.2f} s of the jump: please jump again")

    # --- preview ---------------------------------------------------------------------------
    def _preview_loop(self) -> None:
        from kiosk.media import encode_jpeg
        from kiosk.station.visibility import VisibilityWindow, motion_fraction, small_grey

        estimator = None
        period = 1.0 / self.preview_fps
        last_visible: tuple[bool, str | None] | None = None
        window = VisibilityWindow(max(0.05, self.min_score - VISIBLE_MARGIN))
        motion_ref: np.ndarray | None = None
        while not self._stop.wait(period):
            latest = self.ring.latest()
            if latest is None:
                continue
            image = latest[0]
            small = _downscale(image, 320)
            kps = None
            if self.sm.state == State.AWAITING_LANDING:
                # Video motion while no contact: tells "the mat missed the landing" from "no drop".
                grey = small_grey(image)
                if motion_ref is None or motion_ref.shape != grey.shape:
                    motion_ref = grey
                elif motion_fraction(motion_ref, grey) > MOTION_FRACTION:
                    self._dispatch(Motion(self._clock()))
            else:
                motion_ref = None
            # Pose for the preview only while nothing is being analysed: on a Pi the analysis
            # needs every core, and the preview is a convenience.
            if self._preview_factory is not None and not self._busy.is_set() and \
                    self.sm.state in (State.IDLE, State.READY, State.RESULT, State.COUNTDOWN):
                try:
                    if estimator is None:
                        estimator = self._preview_factory()
                    # The analysis' own view: the full analysis-size frame through the crop
                    # tracker (a 320 px whole-frame estimate scores a standing body's ankles
                    # ~0.2 lower); a lost track restarts from the whole frame.
                    kps = np.asarray(estimator.track(image), dtype=np.float32)
                    if float(kps[11:17, 2].mean()) < self.min_score:
                        estimator.reset()
                except KioskError as exc:
                    log.warning("preview pose disabled: %s", exc)
                    self._preview_factory = None
            if kps is not None:
                from kiosk.overlay import draw_pose

                scaled = kps.copy()
                scaled[:, :2] *= small.shape[1] / image.shape[1]
                small = draw_pose(small, scaled, min_score=self.min_score, copy=False)
                verdict = window.add(self._clock(), kps)
                if verdict != last_visible:
                    last_visible = verdict
                    self._dispatch(Visibility(*verdict))
            else:
                window.clear()
            self._preview = encode_jpeg(small, 70)
        if estimator is not None:
            estimator.close()


#: No camera frame for this long is a camera fault (and a trial waiting on frames gives up).
CAMERA_SILENCE_S = 1.0
#: A hole this long in a trial's capture makes the trial unusable.
CAMERA_GAP_S = 0.25
#: The visible check counts a joint as seen this much below the scoring threshold.
VISIBLE_MARGIN = 0.1
#: Share of a frame that must change to count as the athlete moving (the drop/landing).
MOTION_FRACTION = 0.03


def _downscale(image: np.ndarray, width: int) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    if w <= width:
        return image.copy()
    return cv2.resize(image, (width, int(round(h * width / w))), interpolation=cv2.INTER_AREA)

