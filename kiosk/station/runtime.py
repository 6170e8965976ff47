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

from kiosk.errors import CameraError, KioskError, StationBusyError
from kiosk.keypoints import PoseFrame
from kiosk.matcsv import MatEdge
from kiosk.media import Frame
from kiosk.pose.base import PoseEstimator
from kiosk.pose.crop import CropRegion
from kiosk.station.camera import Camera
from kiosk.station.frameplan import Budget, FramePlan
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

#: analyzer(poses, mat_edges or None, frame_size=(w, h), sex=..., [source_fps=...]) -> object with
#: .verdict, .to_json(). ``source_fps`` (the camera's measured rate: the poses are only the frames
#: the plan chose) is passed when the analyzer takes it (``analyze_trial`` and ``score_trial`` do).
Analyzer = Callable[..., Any]


def _takes(fn: Callable[..., Any], name: str, *, by_name: bool = False) -> bool:
    """Whether ``fn`` accepts keyword ``name`` (by name, or also through ``**kwargs`` unless
    ``by_name``: a wrapper forwarding ``**kwargs`` to ``analyze_trial`` takes no ``landing``)."""
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or (not by_name and p.kind is inspect.Parameter.VAR_KEYWORD) for p in params)


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
    """One trial as the analysis worker follows it; only the worker thread touches it."""

    gen: int
    times: dict[str, int]
    t0_ns: int = 0
    poses: list[PoseFrame] = field(default_factory=list)   # in time order
    frames: list[Frame] = field(default_factory=list)      # same order as poses
    posed_ns: list[int] = field(default_factory=list)      # their ring timestamps
    posed: set[int] = field(default_factory=set)           # every ring timestamp tried
    plan: FramePlan | None = None                          # fixed at contact
    fine: list[int] | None = None                          # fine frames still to pose, most decisive first
    relocated: bool = False                                # peaks located again once the fine frames were in
    last_baseline_ns: int | None = None
    lead_done: bool = False                                # the standing frames from before "go" are posed
    final: bool = False                                    # the second landing (or the capture's end) is in
    invocations: int = 0
    baseline_invocations: int = 0                          # posed before contact (kept or not)
    baseline_count: int = 0                                # standing frames kept at contact
    after_landing_from: int | None = None
    planned: int = 0
    skipped: int = 0                                       # fine frames the deadline cut
    invoke_s_at_contact: float = 0.0
    landing: CropRegion | None = None                      # the one square the landing is posed on
    over_budget: int = 0                                   # frames posed past the deadline (minimum density)
    essential: set[int] = field(default_factory=set)       # fine frames never cut (around peak flexion)
    wanted: set[int] = field(default_factory=set)          # landing frames chosen (dense/coarse), not yet posed
    seen_to: int | None = None                             # newest ring time of the landing window looked at


#: States in which the worker keeps posing a trial that has not landed yet.
_POSING_STATES = (State.AWAITING_LANDING, State.CONTACT, State.FLIGHT, State.LANDED, State.ANALYSING)


class StationRuntime:
    def __init__(self, camera: Camera, mat: Mat, estimator_factory: Callable[[], PoseEstimator] | None,
                 analyzer: Analyzer, *, ring_seconds: float = 4.0, timing: Timing | None = None,
                 trials_total: int = 3, max_attempts: int = 6, plan: FramePlan | None = None,
                 preview_estimator_factory: Callable[[], PoseEstimator] | None = None, preview_fps: float = 10.0,
                 min_score: float = 0.3, on_trial_done: Callable[[TrialRecord], None] | None = None,
                 cues=None, clock: Callable[[], int] = time.monotonic_ns, budget: Budget | None = None,
                 invoke_s: float | None = None, refiner_factory: Callable[[], PoseEstimator] | None = None,
                 refine_invoke_s: float | None = None, analysis_timeout_s: float | None = None):
        self.camera = camera
        self.mat = mat
        self.estimator_factory = estimator_factory
        self.analyzer = analyzer
        # A plan given by the caller is used as is; otherwise each trial's plan is chosen at
        # contact from ``budget`` and the per-pose time (``invoke_s``, else measured here).
        self.plan = plan or FramePlan()
        self.fixed_plan = plan is not None
        self.budget = budget or Budget(target_s=None)
        self.invoke_s = invoke_s
        self.refiner_factory = refiner_factory
        self.refine_invoke_s = refine_invoke_s
        self._refiner: PoseEstimator | None = None
        self._invoke_log: list[float] = []
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
        #: Landing (or, without a mat, end of capture) -> verdict limit; None: by the work planned.
        self.analysis_timeout_s = analysis_timeout_s
        self._committed = -1   # the trial generation whose result is being stored and shown
        with self._lock:
            self._publish()

    # --- construction from the station config ----------------------------------------------
    @classmethod
    def from_config(cls, config, *, on_trial_done: Callable[[TrialRecord], None] | None = None,
                    estimator_factory: Callable[[], PoseEstimator] | None = None,
                    analyzer: Analyzer | None = None, clock: Callable[[], int] = time.monotonic_ns,
                    clock_speed: float = 1.0, ring_seconds: float | None = None, budget: Budget | None = None,
                    invoke_s: float | None = None, refine_invoke_s: float | None = None,
                    analysis_timeout_s: float | None = None) -> StationRuntime:
        """The station the config describes. The keywords after ``analyzer`` are for runs that
        change time (bench/soak.py): ``clock`` runs ``clock_speed`` times faster than real time
        and paces the replay camera and simulated mat too; ``ring_seconds`` overrides the
        config's ring (in clock seconds); ``budget``, ``invoke_s`` and ``refine_invoke_s`` (clock
        seconds per pose) are given to the frame plan instead of being measured."""
        from kiosk.station.camera import open_camera
        from kiosk.station.mat import Cues, GpioMat, NoMat, SimulatedMat, StartButton, make_pin_factory

        if clock_speed <= 0:
            raise ValueError("clock_speed must be positive")
        paced: dict[str, Any] = {}
        if clock is not time.monotonic_ns or clock_speed != 1.0:
            paced = {"clock": clock, "sleep": lambda s: time.sleep(max(0.0, s) / clock_speed)}
        camera = open_camera(config, **paced)
        m = config.mat
        factory = make_pin_factory(m.pin_factory) if m.kind == "gpio" else None
        mat: Mat
        if m.kind == "gpio":
            mat = GpioMat(m.pin, debounce_ms=m.debounce_ms, pin_factory=factory, sense_pin=m.sense_pin)
        elif m.kind == "simulated":
            mat = SimulatedMat(getattr(camera, "mat_edges", None) or [], clock=clock, speed=clock_speed)
        else:
            mat = NoMat()
        if estimator_factory is None:
            def estimator_factory() -> PoseEstimator:
                from kiosk.pose.movenet import create_estimator

                return create_estimator(config.pose.model, config.pose.threads, min_score=config.pose.min_score)
        if analyzer is None:  # THE scoring path (kiosk.pose.refine.score_trial), refinement within the budget
            from functools import partial

            from kiosk.pose.refine import score_trial

            analyzer = partial(score_trial, thresholds=config.scoring, min_score=config.pose.min_score)
        refiner_factory = None
        if config.pose.refine_model != "none":
            def refiner_factory() -> PoseEstimator:
                from kiosk.pose.movenet import create_estimator

                return create_estimator(config.pose.refine_model, config.pose.threads, min_score=config.pose.min_score)

        timing = Timing(countdown_s=m.countdown_s, drop_timeout_s=m.drop_timeout_s, stuck_s=m.stuck_s,
                        video_capture_s=min(config.camera.ring_seconds, 4.0))
        cues = Cues(m.led_pin, m.buzzer_pin, pin_factory=factory) if m.kind == "gpio" else None
        rt = cls(camera, mat, estimator_factory, analyzer, ring_seconds=ring_seconds or config.camera.ring_seconds,
                 timing=timing, trials_total=config.session.trials, max_attempts=config.session.max_attempts,
                 preview_estimator_factory=estimator_factory, min_score=config.pose.min_score,
                 on_trial_done=on_trial_done, cues=cues, refiner_factory=refiner_factory, clock=clock,
                 budget=budget, invoke_s=invoke_s, refine_invoke_s=refine_invoke_s,
                 analysis_timeout_s=analysis_timeout_s)
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

    def run_trial(self, athlete: dict, *, step_timeout: float = 60.0) -> dict:
        """Check ``athlete`` in, press Start and follow the trial to its result or back to ready
        (benchmarks, tests, doctor-style checks). Raises TimeoutError when no state change comes
        within ``step_timeout`` seconds: a stuck station, not a slow one."""
        self.check_in(athlete)
        snap = self.start()
        while snap["state"] not in ("result", "ready"):
            seq = snap["seq"]
            snap = self.wait_for_change(seq, timeout=step_timeout)
            if snap["seq"] == seq:
                raise TimeoutError(f"station stuck in {snap['state']} for {step_timeout:g} s")
        return snap

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
            if self.sm.state == State.CONTACT and before != State.CONTACT:
                self._jobs.put(("contact", self._gen, dict(self.sm.times)))  # start posing at the mat's contact
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
            self._jobs.put(("go", self._gen, dict(action.times)))  # standing frames while the athlete waits
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
            self._watchdog()

    def _analysis_limit_s(self) -> float:
        """How long after the second landing (or the end of a no-mat capture) a verdict may
        take before the trial is given up: ``analysis_timeout_s``, else ANALYSIS_TIMEOUT_S, plus
        without a mat twice the time to pose the whole capture (all posed after its end)."""
        limit = self.analysis_timeout_s if self.analysis_timeout_s is not None else ANALYSIS_TIMEOUT_S
        if not self.sm.has_mat:
            t = self.sm.timing
            limit += 2 * (t.video_capture_s + self.plan.pre_s) * self.plan.video_fps * self._invoke_s()
        return limit

    def _watchdog(self) -> None:
        """Give up a trial whose verdict is overdue, whatever the worker is stuck on (a pose
        call that never returns, frames that never come): the station goes back to ready with
        the busy prompt, and the worker's late result is dropped (its generation is cancelled),
        so nothing of the trial is stored. A result already being stored is let through."""
        with self._lock:
            if self.sm.state not in (State.LANDED, State.ANALYSING) or self._committed == self._gen:
                return
            anchor = self.sm.times.get("landing", self.sm.times.get("end"))
            if anchor is None or self._clock() - anchor < self._analysis_limit_s() * 1e9:
                return
            overdue = (self._clock() - anchor) / 1e9
            self._gen += 1  # the worker drops the trial when it looks again
            log.warning("analysis overdue (%.1f s after the landing): trial given up", overdue)
            self._dispatch(AnalysisFailed(f"analysis overdue after {overdue:.1f} s", prompt=BUSY_PROMPT))

    # --- analysis --------------------------------------------------------------------------
    # The worker follows the trial as it happens (kiosk.station.frameplan): standing frames
    # while the athlete waits on the box, coarse frames from the mat's contact edge as they
    # arrive, fine frames around contact and the peaks once take-off is known, and after the
    # second landing only what is left plus scoring, within the verdict budget.

    def _worker_loop(self) -> None:
        estimator: PoseEstimator | None = None
        trial: _Trial | None = None
        idle = 0.05
        while True:
            try:
                job = self._jobs.get(timeout=idle if trial is not None else None)
            except queue.Empty:
                job = ()
            if job is None:
                break
            gen = trial.gen if trial is not None else -1
            try:
                if job:
                    kind, gen, times = job
                    if gen != self._gen:
                        continue  # cancelled while queued
                    if estimator is None and self.estimator_factory is not None:
                        estimator = self.estimator_factory()
                    if trial is None or trial.gen != gen:
                        if estimator is not None:
                            estimator.reset()
                        go = times.get("go", times.get("contact", 0))
                        trial = _Trial(gen, dict(times), t0_ns=go - int(self.plan.pre_s * 1e9))
                        self._progress = None
                    trial.times.update(times)
                    if kind == "final":
                        trial.final = True
                        self._dispatch(AnalysisStarted())
                if trial is None:
                    continue
                if trial.gen != self._gen or (not trial.final and self.sm.state not in _POSING_STATES):
                    trial = None  # cancelled, or back to ready (no drop, no rebound)
                    continue
                idle = self._advance(trial, estimator)
                if idle is None:  # all posed: score
                    done, trial = trial, None
                    self._busy.set()
                    self._finish(done, estimator)
            except KioskError as exc:
                log.warning("analysis failed: %s", exc)
                trial = None
                if gen == self._gen:
                    # Before the second landing the machine ignores the failure; the "final" job
                    # then starts the trial again and finds the same frames gone.
                    busy = str(exc) if isinstance(exc, StationBusyError) else None
                    self._dispatch(AnalysisFailed(str(exc), prompt=busy))
            except Exception:  # a bug must not kill the station: show a retry prompt
                log.exception("analysis crashed")
                trial = None
                if gen == self._gen:
                    self._dispatch(AnalysisFailed("internal error"))
            finally:
                self._busy.clear()
        if estimator is not None:
            estimator.close()

    def _invoke_s(self) -> float:
        """Seconds per pose: fixed by the caller, else the median of this station's own runs."""
        if self.invoke_s is not None:
            return self.invoke_s
        return float(np.median(self._invoke_log)) if self._invoke_log else 0.0

    def _advance(self, trial: _Trial, estimator: PoseEstimator | None) -> float | None:
        """Pose frames while some are due and no new job waits; the seconds to wait before
        looking again when nothing is due yet, or None when the trial is ready to score."""
        while self._jobs.empty() and trial.gen == self._gen:
            want = self._next_frame(trial)
            if want is None:
                break
            if "contact" in trial.times:
                self._busy.set()  # the preview leaves the cores to the landing
            self._pose(trial, estimator, want)
        times = trial.times
        if not trial.final:
            # Look again soon: sleeping a whole standing period after a pose that itself took
            # about that long would halve the standing frames a Pi 4 gets.
            return max(0.01, min(0.05, self._invoke_s())) if "contact" in times else 0.01
        if "contact" not in times:  # no mat: the capture window, evenly
            self._pose_video(trial, estimator)
            return None
        if self._next_frame(trial) is not None:
            return 0.0
        if trial.fine is None and "takeoff" in times:
            return 0.01  # waiting for the frames up to take-off
        return None

    def _baseline_period(self) -> float:
        return self.plan.baseline_period(self._invoke_s())

    def _camera_fps(self, t_from: int, t_to: int) -> float:
        """The camera's real frame rate over [t_from, t_to], from the ring's timestamps (the
        nominal rate when too few are held): the analysis must judge the camera, not the plan."""
        t = self._ring_times(t_from, t_to)
        if len(t) >= 3:
            dt = float(np.median(np.diff(t)))
            if dt > 0:
                return 1e9 / dt
        return float(self.camera.fps)

    def _next_frame(self, trial: _Trial) -> int | None:
        """Ring timestamp of the next frame to pose, or None if none is due now."""
        times, plan = trial.times, trial.plan or self.plan
        if "contact" not in times:
            if "go" not in times or "end" in times:
                return None
            go = times["go"]
            if not trial.lead_done:  # standing through the countdown: frames already in the ring
                lead = plan.baseline_lead(self.ring.times(go - int((plan.baseline_lead_s + 0.05) * 1e9), go), go)
                todo = [v for v in lead if v not in trial.posed]
                if todo:
                    return todo[0]
                trial.lead_done = True
            t = self.ring.times(go)
            return plan.baseline_pick(t, trial.last_baseline_ns, self._baseline_period())
        contact, takeoff = times["contact"], times.get("takeoff")
        if trial.plan is None:
            self._start_landing(trial)
            plan = trial.plan
        assert plan is not None
        hi = takeoff + int(plan.takeoff_pad_s * 1e9) if takeoff is not None else None
        self._check_not_lapped(trial, plan)
        t = self.ring.times(contact - int((plan.ic_before_s + 0.02) * 1e9), hi)
        if len(t):
            trial.seen_to = max(trial.seen_to or int(t[-1]), int(t[-1]))
        # Every frame around the contact edge first (already in the ring), in time order, then
        # the coarse frames as they arrive.
        for mask in (plan.dense_mask(t, contact), plan.coarse_mask(t, contact, takeoff)):
            chosen = [int(v) for v in t[mask] if int(v) not in trial.posed]
            trial.wanted.update(chosen)
            if chosen:
                return chosen[0]
        if takeoff is None or hi is None or not len(t) or not self.ring.wait_for_time(hi, 0.0):
            return None
        if trial.fine is None or (not trial.fine and not trial.relocated):
            # The fine frames can move the peaks (a flat, noisy minimum of the hips sampled
            # sparsely): once they are in, locate once more and fill around where they are now,
            # so the values and the visibility check at peak flexion read dense frames.
            trial.relocated = trial.fine is not None
            peaks = self._locate(trial)
            trial.fine = plan.fine_order(t, contact, takeoff, peaks, trial.posed)
            trial.essential |= plan.essential(t, contact, takeoff, peaks[0] if peaks else None)
            trial.planned = len(trial.poses) + len(trial.fine)
        late = False
        if "landing" in times and trial.fine:
            # After the second landing the budget is a deadline: the fine frames are ranked most
            # decisive first, so the ones cut are the ones that matter least; those the analysis
            # cannot do without (around peak flexion) are posed late rather than cut.
            left = times["landing"] + int((self._target_s() - self.budget.score_s) * 1e9) - self._clock()
            n = max(int(left / 1e9 / max(self._invoke_s(), 1e-6)), 0)
            kept = [v for v in trial.fine[n:] if v in trial.essential]
            trial.skipped += len(trial.fine) - n - len(kept) if len(trial.fine) > n else 0
            late = n == 0 and bool(kept)
            trial.fine = trial.fine[:n] + kept
        if not trial.fine:
            return None
        trial.over_budget += late
        return trial.fine.pop(0)

    def _check_not_lapped(self, trial: _Trial, plan: FramePlan) -> None:
        """Raise StationBusyError when the ring has overwritten a landing frame the trial still
        needs: the worker fell a whole ring behind the camera (a loaded box, a slow pose), and
        waiting would wait for ever. Needed: the dense frames from ``ic_before_s`` before
        contact until first looked at, then every frame after the newest one looked at (the
        coarse and fine frames are chosen from them), the chosen ones not posed yet, and, once
        take-off is in, every frame from contact on until the fine frames are chosen."""
        span = self.ring.time_span()
        if span is None:
            return
        oldest, period = span[0], self.ring.period_ns
        contact = trial.times["contact"]
        if trial.fine is None:
            # the first frame not looked at yet is about one period after the newest looked at
            need = [contact - int(plan.ic_before_s * 1e9) + period if trial.seen_to is None
                    else trial.seen_to + period + period // 2]
            if "takeoff" in trial.times:
                need.append(contact + period)  # the fine frames are chosen from contact on
        else:
            need = list(trial.fine)
        need += trial.wanted
        if need and oldest > min(need):
            raise StationBusyError(BUSY_PROMPT)

    def _target_s(self) -> float:
        """Landing -> verdict target: the budget's, else DESIGN.md's by hardware class (a pose
        slower than 80 ms is Pi 4 class: 2.5 s; faster is Pi 5 class or better: 1 s)."""
        if self.budget.target_s is not None:
            return self.budget.target_s
        return 2.5 if self._invoke_s() > 0.08 else 1.0

    def _start_landing(self, trial: _Trial) -> None:
        """At contact: fix the plan from the budget, keep the last standing second."""
        from kiosk.station.frameplan import choose_plan

        invoke = self._invoke_s()
        if self.fixed_plan:
            trial.plan = self.plan
        else:
            budget = Budget(target_s=self._target_s(), overlap_s=self.budget.overlap_s, score_s=self.budget.score_s)
            trial.plan = choose_plan(invoke, self.camera.fps, budget, base=self.plan)
        keep = trial.plan.baseline_keep(trial.posed_ns, trial.times["contact"])
        if not keep.all():
            if len(trial.poses) == len(keep):  # (no estimator: frames only)
                trial.poses = [p for p, k in zip(trial.poses, keep, strict=True) if k]
            trial.frames = [f for f, k in zip(trial.frames, keep, strict=True) if k]
            trial.posed_ns = [v for v, k in zip(trial.posed_ns, keep, strict=True) if k]
            trial.posed = set(trial.posed_ns)
        trial.baseline_count = len(trial.poses)
        trial.baseline_invocations = trial.invocations
        trial.invoke_s_at_contact = invoke

    def _pose(self, trial: _Trial, estimator: PoseEstimator | None, t_ns: int) -> None:
        """Pose one ring frame. From contact on, every frame is posed on the trial's landing
        square (:mod:`kiosk.pose.landing`: fixed from the contact frame's whole-frame pose), so
        a frame's keypoints depend on its own pixels, not on which frames the plan posed before
        it, and ``score_trial`` re-posing a clip frame by frame reads the same ones."""
        got = self.ring.window(t_ns, t_ns)
        trial.posed.add(t_ns)
        trial.wanted.discard(t_ns)
        if "contact" not in trial.times:
            trial.last_baseline_ns = t_ns
        if not len(got):  # overwritten meanwhile: the worker is a whole ring behind the camera
            if "contact" in trial.times:
                raise StationBusyError(BUSY_PROMPT)  # a landing frame lost: the trial cannot be trusted
            return  # a standing frame: the next one will do
        img, idx = got.images[0], int(got.indices[0])
        t = (t_ns - trial.t0_ns) / 1e9
        if estimator is not None:
            started = time.perf_counter()
            infer = getattr(estimator, "infer_region", None)
            if "contact" in trial.times and infer is not None:
                from kiosk.pose.landing import pose_in_region

                n = 0
                if trial.landing is None:
                    n += self._find_landing(trial, estimator)
                assert trial.landing is not None
                kps, k = pose_in_region(estimator, img, trial.landing)
                n += k
            else:  # standing still on the box: the tracker's crop from the last standing frame
                kps, n = np.asarray(estimator.track(img), dtype=np.float32), 1
            self._invoke_log.append((time.perf_counter() - started) / n)
            del self._invoke_log[:-50]
            trial.invocations += n
            if "landing" in trial.times and trial.after_landing_from is None:
                trial.after_landing_from = trial.invocations - 1
            k = int(np.searchsorted([p.t for p in trial.poses], t))
            trial.poses.insert(k, PoseFrame(idx, t, kps))
        else:
            k = int(np.searchsorted([f.t for f in trial.frames], t))
        trial.frames.insert(k, Frame(idx, t, img))
        trial.posed_ns.insert(k, t_ns)
        if self._progress is not None or trial.final:
            self._progress = (len(trial.frames), max(trial.planned, len(trial.frames)))
            if len(trial.frames) % 8 == 0:  # a few UI updates per analysis, not one per frame
                with self._lock:
                    self._publish()

    def _find_landing(self, trial: _Trial, estimator: PoseEstimator) -> int:
        """Fix the trial's landing square from the camera frame nearest the mat's contact edge
        (the earlier one on a tie, as :func:`kiosk.pose.landing.contact_position`); returns the
        invocations it took (one, or none when that frame is gone: then the whole frame)."""
        from kiosk.pose.crop import full_frame_region
        from kiosk.pose.landing import find_landing_region

        contact = trial.times["contact"]
        period = int(1e9 / max(float(self.camera.fps), 1.0))
        self.ring.wait_for_time(contact + period, timeout=CAMERA_SILENCE_S)
        t = self._ring_times(contact - 2 * period, contact + 2 * period)
        if len(t):
            v = int(t[int(np.argmin(np.abs(t - contact)))])
            got = self.ring.window(v, v)
            if len(got):
                trial.landing, _ = find_landing_region(estimator, got.images[0])
                return 1
        trial.landing = full_frame_region(self.camera.width, self.camera.height)
        return 0

    def _pose_video(self, trial: _Trial, estimator: PoseEstimator | None) -> None:
        """No mat: the capture window at ``video_fps``, in time order with crop tracking."""
        end = trial.times["end"]
        if not self.ring.wait_for_time(end, timeout=CAMERA_SILENCE_S):
            raise CameraError("the camera stopped during the jump: please jump again")
        self._check_capture_gaps(trial.t0_ns, end)
        t = self.ring.times(trial.t0_ns, end)
        todo = [int(v) for v in t[self.plan.video_mask(t)] if int(v) not in trial.posed]
        trial.planned = len(trial.frames) + len(todo)
        for v in todo:
            if trial.gen != self._gen:
                return
            self._pose(trial, estimator, v)

    def _locate(self, trial: _Trial) -> list[int]:
        """Ring times of peak knee flexion and of each leg's peak FPPA, from the poses so far
        (the coarse pass): where the fine frames go. Empty when the coarse pass cannot tell."""
        from kiosk.analysis.trial import analyze_trial

        if len(trial.poses) < 4:
            return []
        try:
            fps = self._camera_fps(trial.times["contact"] - int(0.5e9), trial.times.get("takeoff", trial.times["contact"]))
            res = analyze_trial(trial.poses, self._edges(trial), min_score=self.min_score, source_fps=fps)
        except KioskError:
            return []
        found = [res.events.peak_flexion_s, res.metrics.left.peak_fppa_s, res.metrics.right.peak_fppa_s]
        return [trial.t0_ns + int(round(s * 1e9)) for s in found if s is not None]

    def _edges(self, trial: _Trial) -> list[MatEdge] | None:
        if not self.sm.has_mat:
            return None
        with self._lock:
            events = [e for e in self._mat_events if e.t_ns >= trial.times.get("go", 0)]
        return events_to_edges(events, trial.t0_ns)

    def _finish(self, trial: _Trial, estimator: PoseEstimator | None) -> None:
        times = trial.times
        if "contact" in times:
            # The frames this trial reads end just after take-off, but a camera that stalled at
            # any time up to the second landing (at most one frame to wait for) is not trusted:
            # a torn capture scored would store a wrong verdict.
            plan = trial.plan or self.plan
            end = max(times.get("takeoff", times["contact"]) + int(plan.takeoff_pad_s * 1e9), times.get("landing", 0))
            if not self.ring.wait_for_time(end, timeout=CAMERA_SILENCE_S):
                raise CameraError("the camera stopped during the jump: please jump again")
            after = self.ring.times(end)[:1]  # the first frame at or after the end closes the span
            self._check_capture_gaps(times["contact"] - int(plan.fall_s * 1e9), int(after[0]) if len(after) else end)
        if trial.gen != self._gen:
            return
        edges = self._edges(trial)
        athlete = self.sm.athlete or {}
        kwargs: dict[str, Any] = {"frame_size": (self.camera.width, self.camera.height), "sex": athlete.get("sex")}
        anchor = times.get("landing", times.get("end", 0))
        if "contact" in times and _takes(self.analyzer, "source_fps"):
            kwargs["source_fps"] = self._camera_fps(times["contact"] - int(0.5e9), anchor)
        if trial.landing is not None and _takes(self.analyzer, "landing", by_name=True):
            kwargs["landing"] = trial.landing  # the refiner poses the landing on it too
        if self.refiner_factory is not None:
            # Refine the decisive frames only if all of them fit before the deadline (Thunder is
            # ~3.2x Lightning: DESIGN.md's Pi 4 figures 594 / 186 ms).
            left = anchor + int((self._target_s() - 2 * self.budget.score_s) * 1e9) - self._clock()
            per = self.refine_invoke_s or 3.2 * max(self._invoke_s(), 1e-6)
            n = max(int(left / 1e9 / per), 0)
            if n > 0:
                from kiosk.pose.refine import images_from_list

                if self._refiner is None:
                    self._refiner = self.refiner_factory()
                kwargs.update(images=images_from_list([f.image for f in trial.frames]), refiner=self._refiner,
                              max_refined=n)
        if estimator is not None and _takes(self.analyzer, "tracker", by_name=True):
            # With the first-pass model and the frames, score_trial also poses a few frames with
            # the athlete masked out: the second-person check that does not rely on the model
            # jumping to the other person (a fixed landing square never does).
            from kiosk.pose.refine import images_from_list

            kwargs.setdefault("images", images_from_list([f.image for f in trial.frames]))
            kwargs["tracker"] = estimator
        out = self.analyzer(trial.poses, edges, **kwargs)
        result, poses, refinement = out if isinstance(out, tuple) else (out, trial.poses, None)
        verdict = str(getattr(result, "verdict", "RETAKE"))
        result_json = result.to_json() if hasattr(result, "to_json") else dict(result)
        after = trial.invocations - trial.after_landing_from if trial.after_landing_from is not None else 0
        plan = trial.plan or self.plan
        record = TrialRecord(athlete=self.sm.athlete, attempt=self.sm.attempts + 1, verdict=verdict, result=result_json,
                             mat_edges=edges, poses=list(poses), frames=trial.frames,
                             wall_time=time.time() - (self._clock() - anchor) / 1e9,
                             timings={"landing_to_verdict_ms": round((self._clock() - anchor) / 1e6, 1),
                                      # before the drop / contact..second landing / after it
                                      "invocations": trial.invocations,
                                      "invocations_baseline": trial.baseline_invocations,
                                      "invocations_before_landing": trial.invocations - trial.baseline_invocations - after,
                                      "invocations_after_landing": after,
                                      "standing_frames": trial.baseline_count,
                                      "fine_skipped": trial.skipped,
                                      # posed past the verdict deadline: the least the analysis needs
                                      "over_budget_frames": trial.over_budget,
                                      "stride": plan.stride,
                                      "invoke_ms": round(1e3 * trial.invoke_s_at_contact, 1),
                                      "refined": len(refinement.positions) if refinement is not None else 0,
                                      "frames": len(trial.frames)})
        with self._lock:  # from here the watchdog lets this trial finish: it is being stored
            if trial.gen != self._gen:
                return
            self._committed = trial.gen
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
#: Second landing -> verdict limit (runtime clock seconds) before the trial is given up: ~10x
#: DESIGN.md's Pi 4 target (2.5 s), so only a stuck analysis reaches it.
ANALYSIS_TIMEOUT_S = 25.0
#: The prompt when the station could not keep up with a trial (frames lost, analysis overdue).
BUSY_PROMPT = "The station was too busy to analyse this jump. Please jump again."
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

