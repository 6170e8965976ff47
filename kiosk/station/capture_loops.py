"""The station's capture side, mixed into :class:`kiosk.station.runtime.StationRuntime`: the
capture, ticker (with the analysis watchdog) and preview threads, and the ring queries that
judge a trial's capture (gaps, the camera's measured frame rate)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from kiosk.errors import CameraError, KioskError
from kiosk.pose.base import PoseEstimator
from kiosk.station.camera import Camera
from kiosk.station.frameplan import FramePlan
from kiosk.station.ringbuffer import RingBuffer
from kiosk.station.statemachine import (
    AnalysisFailed,
    Fault,
    FaultCleared,
    Motion,
    State,
    StateMachine,
    Still,
    Tick,
    Visibility,
)

log = logging.getLogger("kiosk.station.runtime")  # the runtime's one logger, wherever its code sits

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


class CaptureLoops:
    """The capture, ticker and preview threads of a :class:`~kiosk.station.runtime.StationRuntime`
    (a mixin: it works on the runtime's own camera, ring, state machine and lock)."""

    camera: Camera
    ring: RingBuffer
    sm: StateMachine
    plan: FramePlan
    min_score: float
    preview_fps: float
    still_s: float
    analysis_timeout_s: float | None
    camera_error: str | None
    _preview_factory: Callable[[], PoseEstimator] | None
    _clock: Callable[[], int]
    _lock: threading.RLock
    _stop: threading.Event
    _busy: threading.Event
    _preview: bytes | None
    _gen: int
    _committed: int
    _refuse_start: Callable[[], dict | None]   # the runtime's store check before a trial starts

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

    def _camera_fps(self, t_from: int, t_to: int) -> float:
        """The camera's real frame rate over [t_from, t_to], from the ring's timestamps (the
        nominal rate when too few are held): the analysis must judge the camera, not the plan."""
        t = self._ring_times(t_from, t_to)
        if len(t) >= 3:
            dt = float(np.median(np.diff(t)))
            if dt > 0:
                return 1e9 / dt
        return float(self.camera.fps)

    # --- preview ---------------------------------------------------------------------------
    def _preview_loop(self) -> None:
        from kiosk.media import encode_jpeg
        from kiosk.station.visibility import StillnessWindow, VisibilityWindow, motion_fraction, small_grey

        estimator = None
        period = 1.0 / self.preview_fps
        last_visible: tuple[bool, str | None] | None = None
        window = VisibilityWindow(max(0.05, self.min_score - VISIBLE_MARGIN))
        # Standing still on the box arms a trial by itself (the athlete alone, far from the screen).
        stillness = StillnessWindow(max(0.05, self.min_score - VISIBLE_MARGIN), self.still_s)
        last_still = False
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
                    self.sm.state in (State.IDLE, State.READY, State.ARMING, State.RESULT, State.COUNTDOWN):
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
                now = self._clock()
                verdict = window.add(now, kps)
                if verdict != last_visible:
                    last_visible = verdict
                    self._dispatch(Visibility(*verdict))
                still = stillness.add(now, kps) and verdict[0]
                if still != last_still:
                    last_still = still
                    # Standing still starts the countdown by itself (armed, or back on the box
                    # after a result): ask the store first, as the Start button does.
                    if not (still and self._refuse_start() is not None):
                        self._dispatch(Still(still))
            else:
                window.clear()
                stillness.clear()
                if last_still:   # not watched (a trial runs): nobody is known to stand still
                    last_still = False
                    self._dispatch(Still(False))
            self._preview = encode_jpeg(small, 70)
        if estimator is not None:
            estimator.close()



def _downscale(image: np.ndarray, width: int) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    if w <= width:
        return image.copy()
    return cv2.resize(image, (width, int(round(h * width / w))), interpolation=cv2.INTER_AREA)

