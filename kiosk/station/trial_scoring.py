"""Scoring a posed trial, mixed into :class:`kiosk.station.runtime.StationRuntime`: the analyzer
call, the :class:`TrialRecord` handed to the results store, and the verdict to the state machine."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kiosk.errors import CameraError, KioskError
from kiosk.keypoints import PoseFrame
from kiosk.matcsv import MatEdge
from kiosk.media import Frame
from kiosk.pose.base import PoseEstimator
from kiosk.station.camera import Camera
from kiosk.station.capture_loops import CAMERA_SILENCE_S
from kiosk.station.frameplan import Budget, FramePlan
from kiosk.station.ringbuffer import RingBuffer
from kiosk.station.statemachine import AnalysisDone, Fault, StateMachine

if TYPE_CHECKING:
    from kiosk.station.landing_worker import _Trial

log = logging.getLogger("kiosk.station.runtime")  # the runtime's one logger, wherever its code sits


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


class TrialScoring:
    """The end of a trial in a :class:`~kiosk.station.runtime.StationRuntime` (a mixin: it works
    on the runtime's own analyzer, ring, state machine and lock)."""

    camera: Camera
    ring: RingBuffer
    sm: StateMachine
    plan: FramePlan
    budget: Budget
    analyzer: Analyzer
    refiner_factory: Callable[[], PoseEstimator] | None
    refine_invoke_s: float | None
    on_trial_done: Callable[[TrialRecord], None] | None
    last_record: TrialRecord | None
    _refiner: PoseEstimator | None
    _clock: Callable[[], int]
    _lock: threading.RLock
    _gen: int
    _committed: int

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
        if _takes(self.analyzer, "age"):
            # the limit that applies says "adult reference range: under 18" from the birth year
            from kiosk.analysis.limits import age_in_year

            kwargs["age"] = age_in_year(athlete.get("birth_year"), time.gmtime().tm_year)
            kwargs["trials_needed"] = self.sm.trials_total
        anchor = times.get("landing", times.get("end", 0))
        visit = getattr(self, "visit_config", None)
        if visit is not None and _takes(self.analyzer, "thresholds", by_name=True):
            kwargs["thresholds"] = visit.scoring  # the Settings as read at this visit's check-in
        if "contact" in times and _takes(self.analyzer, "source_fps"):
            kwargs["source_fps"] = self._camera_fps(times["contact"] - int(0.5e9), anchor)
        if trial.landing is not None and _takes(self.analyzer, "landing", by_name=True):
            kwargs["landing"] = trial.landing  # the refiner poses the landing on it too
        if self.refiner_factory is not None:
            # Refine the decisive frames only if all of them fit before the deadline (Thunder is
            # ~3.2x Lightning: DESIGN.md's Pi 4 figures 594 / 186 ms).
            # after the refiner: the probes, a second scoring and storing (Budget.reserve_s)
            reserve = self.budget.reserve_s(self._invoke_s()) + self.budget.score_s
            left = anchor + int((self._target_s() - reserve) * 1e9) - self._clock()
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
        # The practice jump counts for nothing: it is shown, never stored.
        if self.on_trial_done is not None and not self.sm.practice_pending:
            # The store commits the trial before its verdict is shown. When it cannot, no verdict
            # is shown (it would look stored): the store's fault screen says "not saved, tell a
            # coach"; the recorder keeps the trial in its outbox and stores it on recovery.
            try:
                self.on_trial_done(record)
            except KioskError as exc:
                log.warning("the trial was not saved: %s", exc)
                self._dispatch(Fault(getattr(exc, "fault_source", "store"), str(exc)))
                return
        self._dispatch(AnalysisDone(verdict, result_json))
