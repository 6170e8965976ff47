"""The analysis worker, mixed into :class:`kiosk.station.runtime.StationRuntime`: follows one
trial as it happens and chooses and poses its frames (:mod:`kiosk.station.frameplan`), then hands
the posed trial to the scoring (:mod:`kiosk.station.trial_scoring`)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from kiosk.errors import CameraError, KioskError, StationBusyError
from kiosk.keypoints import PoseFrame
from kiosk.matcsv import MatEdge
from kiosk.media import Frame
from kiosk.pose.base import PoseEstimator
from kiosk.pose.crop import CropRegion
from kiosk.station.camera import Camera
from kiosk.station.capture_loops import BUSY_PROMPT, CAMERA_SILENCE_S
from kiosk.station.frameplan import Budget, FramePlan
from kiosk.station.mat import MatEvent, events_to_edges
from kiosk.station.ringbuffer import RingBuffer
from kiosk.station.statemachine import AnalysisFailed, AnalysisStarted, State, StateMachine

log = logging.getLogger("kiosk.station.runtime")  # the runtime's one logger, wherever its code sits


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
    kept: dict[int, tuple[np.ndarray, int]] = field(default_factory=dict)  # ring time -> (RGB, index) copied out
    kept_to: int | None = None                             # every needed frame up to here is posed or kept


#: A landing frame the trial may still need is copied out of the ring once it is this close to
#: being overwritten (or five poses' time, if longer): the worker looks between poses, so none is
#: lost however late the verdict runs, and the ring need not be sized for the slowest plan.
KEEP_MARGIN_S = 1.0

#: States in which the worker keeps posing a trial that has not landed yet.
_POSING_STATES = (State.AWAITING_LANDING, State.CONTACT, State.FLIGHT, State.LANDED, State.ANALYSING)


class LandingWorker:
    """The analysis worker thread of a :class:`~kiosk.station.runtime.StationRuntime` (a mixin:
    it works on the runtime's own ring, state machine, job queue and lock)."""

    camera: Camera
    ring: RingBuffer
    sm: StateMachine
    plan: FramePlan
    fixed_plan: bool
    budget: Budget
    invoke_s: float | None
    min_score: float
    estimator_factory: Callable[[], PoseEstimator] | None
    _invoke_log: list[float]
    _clock: Callable[[], int]
    _lock: threading.RLock
    _jobs: queue.Queue
    _busy: threading.Event
    _gen: int
    _mat_events: list[MatEvent]
    _progress: tuple[int, int] | None

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
        if hi is not None and trial.wanted:
            # coarse frames chosen before take-off was known may lie in the flight: not needed
            trial.wanted = {v for v in trial.wanted if v <= hi}
        self._keep_at_risk(trial, plan, hi)
        self._check_not_lapped(trial, plan)
        lo = contact - int((plan.ic_before_s + 0.02) * 1e9)
        t = self.ring.times(lo, hi)
        if trial.kept:  # frames copied out of the ring are still there to choose
            t = np.union1d(t, [v for v in trial.kept if v >= lo and (hi is None or v <= hi)]).astype(np.int64)
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
            # what follows the last pose (probes, scoring, storing) is reserved first
            left = times["landing"] + int((self._target_s() - self.budget.reserve_s(self._invoke_s())) * 1e9) \
                - self._clock()
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
            if trial.kept_to is not None:  # those up to kept_to are posed or copied out
                takeoff = trial.times.get("takeoff")
                if takeoff is not None and trial.kept_to >= takeoff + int(plan.takeoff_pad_s * 1e9):
                    need = []  # the whole landing window is posed or copied out
                else:  # the first frame after kept_to is at most a period (and jitter) later
                    need = [max(v, trial.kept_to + period + period // 2) for v in need]
        else:
            need = list(trial.fine)
        need += trial.wanted
        need = [v for v in need if v not in trial.kept]
        if need and oldest > min(need):
            raise StationBusyError(BUSY_PROMPT)

    def _keep_at_risk(self, trial: _Trial, plan: FramePlan, hi: int | None) -> None:
        """Copy out of the ring the landing frames the trial may still pose that are within
        ``KEEP_MARGIN_S`` of being overwritten: before the fine frames are chosen, every frame
        from the dense window to take-off; after, only the chosen ones not posed yet. A slow
        plan (a Pi 4, a loaded box) then keeps what it needs however late it runs, and the
        ring's length is the camera's concern, not the plan's."""
        span = self.ring.time_span()
        if span is None:
            return
        lo = trial.times["contact"] - int((plan.ic_before_s + 0.02) * 1e9)
        period = self.ring.period_ns
        if chosen_none := trial.fine is None:
            covered = trial.kept_to if trial.kept_to is not None else lo
            if span[0] > covered + period + period // 2:
                return  # frames after the covered span are already gone: the lap check says so
        # a frame is overwritten about one ring length after it arrived (capacity frames later)
        # (a loaded CPU stretches the gap between two looks: the margin grows with the pose time)
        margin = max(KEEP_MARGIN_S, 5.0 * self._invoke_s())
        top = min(span[1] - self.ring.capacity * period + int(margin * 1e9), span[1])
        if hi is not None:
            top = min(top, hi)
        if top < lo:
            return
        chosen = None if chosen_none else set(trial.fine or ()) | trial.wanted

        def needed(ts: np.ndarray) -> np.ndarray:
            return np.array([int(v) not in trial.posed and int(v) not in trial.kept
                             and (chosen is None or int(v) in chosen) for v in ts], dtype=bool)

        got = self.ring.window(lo, top, keep=needed)
        for img, v, idx in zip(got.images, got.t_ns, got.indices, strict=True):
            trial.kept[int(v)] = (img, int(idx))
        if chosen is None:
            trial.kept_to = max(trial.kept_to or top, top)

    def _target_s(self) -> float:
        """Landing -> verdict target: the budget's, else DESIGN.md's by hardware class (a pose
        slower than 80 ms is Pi 4 class: 2.5 s; faster is Pi 5 class or better: 1 s)."""
        if self.budget.target_s is not None:
            return self.budget.target_s
        return 2.5 if self._invoke_s() > 0.08 else 1.0

    def _start_landing(self, trial: _Trial) -> None:
        """At contact: fix the plan from the budget, keep the last standing second."""
        from dataclasses import replace

        from kiosk.station.frameplan import choose_plan

        invoke = self._invoke_s()
        if self.fixed_plan:
            trial.plan = self.plan
        else:
            budget = replace(self.budget, target_s=self._target_s())
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
        kept = trial.kept.pop(t_ns, None)
        got = self.ring.window(t_ns, t_ns) if kept is None else None
        trial.posed.add(t_ns)
        trial.wanted.discard(t_ns)
        if "contact" not in trial.times:
            trial.last_baseline_ns = t_ns
        if got is not None and not len(got):  # overwritten meanwhile: the worker is a whole ring behind the camera
            if "contact" in trial.times:
                raise StationBusyError(BUSY_PROMPT)  # a landing frame lost: the trial cannot be trusted
            return  # a standing frame: the next one will do
        img, idx = kept if kept is not None else (got.images[0], int(got.indices[0]))
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
