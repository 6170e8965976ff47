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

The threads' code is mixed in from :mod:`kiosk.station.capture_loops` (capture, ticker and
watchdog, preview), :mod:`kiosk.station.landing_worker` (choosing and posing a trial's frames)
and :mod:`kiosk.station.trial_scoring` (the verdict and the stored record); this module is the
facade: construction, the web app's API, the state machine's dispatch and the threads' lives.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from kiosk.pose.base import PoseEstimator
from kiosk.station.camera import Camera
from kiosk.station.capture_loops import (
    ANALYSIS_TIMEOUT_S,
    BUSY_PROMPT,
    CAMERA_GAP_S,
    CAMERA_SILENCE_S,
    MOTION_FRACTION,
    VISIBLE_MARGIN,
    CaptureLoops,
)
from kiosk.station.frameplan import Budget, FramePlan
from kiosk.station.landing_worker import LandingWorker
from kiosk.station.mat import Mat, MatEvent
from kiosk.station.ringbuffer import RingBuffer
from kiosk.station.statemachine import (
    Action,
    Arm,
    Cancel,
    CheckIn,
    Fault,
    FaultCleared,
    MatChanged,
    Start,
    State,
    StateMachine,
    Timing,
)
from kiosk.station.trial_scoring import Analyzer, TrialRecord, TrialScoring

log = logging.getLogger(__name__)

__all__ = ["ANALYSIS_TIMEOUT_S", "BUSY_PROMPT", "CAMERA_GAP_S", "CAMERA_SILENCE_S", "MOTION_FRACTION", "VISIBLE_MARGIN",
           "Analyzer", "StationRuntime", "TrialRecord"]

class StationRuntime(CaptureLoops, LandingWorker, TrialScoring):
    def __init__(self, camera: Camera, mat: Mat, estimator_factory: Callable[[], PoseEstimator] | None,
                 analyzer: Analyzer, *, ring_seconds: float = 4.0, timing: Timing | None = None,
                 trials_total: int = 3, max_attempts: int = 6, plan: FramePlan | None = None,
                 preview_estimator_factory: Callable[[], PoseEstimator] | None = None, preview_fps: float = 10.0,
                 min_score: float = 0.3, on_trial_done: Callable[[TrialRecord], None] | None = None,
                 cues=None, clock: Callable[[], int] = time.monotonic_ns, budget: Budget | None = None,
                 invoke_s: float | None = None, refiner_factory: Callable[[], PoseEstimator] | None = None,
                 refine_invoke_s: float | None = None, analysis_timeout_s: float | None = None,
                 practice_jump: bool = False, still_s: float = 1.0, has_light: bool = False,
                 rearm_on_still: bool = True):
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
        self.sm = StateMachine(timing, has_mat=mat.has_mat, trials_total=trials_total, max_attempts=max_attempts,
                               practice_jump=practice_jump, has_light=has_light, rearm_on_still=rearm_on_still)
        self.still_s = still_s
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
        #: ``start_check() -> (fault source, message) | None`` run before Start and arm.
        self.start_check: Callable[[], tuple[str, str] | None] | None = None
        #: ``config_source() -> Config``, read at every check-in (see :meth:`check_in`); the
        #: visit's config is ``visit_config`` (None until the first check-in with a source).
        self.config_source: Callable[[], Any] | None = None
        self.visit_config: Any = None
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
                        video_capture_s=min(config.camera.ring_seconds, 4.0), arm_timeout_s=config.session.arm_timeout_s)
        cues = Cues(m.led_pin, m.buzzer_pin if m.buzzer_cues else -1, pin_factory=factory,
                    countdown_s=m.countdown_s) if m.kind == "gpio" else None
        rt = cls(camera, mat, estimator_factory, analyzer, ring_seconds=ring_seconds or config.camera.ring_seconds,
                 timing=timing, trials_total=config.session.trials, max_attempts=config.session.max_attempts,
                 preview_estimator_factory=estimator_factory, min_score=config.pose.min_score,
                 on_trial_done=on_trial_done, cues=cues, refiner_factory=refiner_factory, clock=clock,
                 budget=budget, invoke_s=invoke_s, refine_invoke_s=refine_invoke_s,
                 analysis_timeout_s=analysis_timeout_s, practice_jump=config.session.practice_jump,
                 still_s=config.session.still_s, has_light=m.kind == "gpio" and m.led_pin >= 0,
                 rearm_on_still=config.session.rearm_on_still)
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

    def check_in(self, athlete: dict, *, practice: bool | None = None) -> dict:
        """Check ``athlete`` in; ``practice`` overrides the configured practice jump. The coach's
        Settings take effect here: the visit is scored with the config read now."""
        self._load_visit_config()
        return self._dispatch(CheckIn(athlete, practice))

    def _load_visit_config(self) -> None:
        """Read ``config_source`` (the config file with the Settings page's overrides) for the
        visit starting now: thresholds for the analyzer, trials per session for the state machine."""
        if self.config_source is None:
            return
        try:
            cfg = self.config_source()
        except Exception as exc:  # noqa: BLE001 - a broken store keeps the last good settings
            log.warning("could not read the settings, keeping the last ones: %s", exc)
            return
        with self._lock:
            self.visit_config = cfg
            self.sm.trials_total = cfg.session.trials
            self.sm.max_attempts = cfg.session.max_attempts

    def run_trial(self, athlete: dict, *, step_timeout: float = 60.0) -> dict:
        """Check ``athlete`` in, press Start and follow the trial to its result or back to ready
        (benchmarks, tests, doctor-style checks). Raises TimeoutError when no state change comes
        within ``step_timeout`` seconds: a stuck station, not a slow one."""
        self.check_in(athlete, practice=False)
        snap = self.start()
        while snap["state"] not in ("result", "ready"):
            seq = snap["seq"]
            snap = self.wait_for_change(seq, timeout=step_timeout)
            if snap["seq"] == seq:
                raise TimeoutError(f"station stuck in {snap['state']} for {step_timeout:g} s")
        return snap

    def start(self) -> dict:
        """The start button at the box: the countdown begins now (benches and tests too)."""
        return self._refuse_start() or self._dispatch(Start())

    def arm(self) -> dict:
        """The on-screen Start: the countdown begins once the athlete stands still on the box."""
        return self._refuse_start() or self._dispatch(Arm())

    def _refuse_start(self) -> dict | None:
        """Ask ``start_check`` (the recorder: can a trial be stored now?) before a trial begins;
        a cause becomes the station's fault instead of a jump that could not be saved."""
        check = self.start_check
        if check is None or self.sm.state not in (State.READY, State.RESULT, State.ARMING):
            return None
        fault = check()
        return self._dispatch(Fault(*fault)) if fault else None

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
