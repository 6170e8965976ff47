"""The trial state machine: events in, state + prompt + actions out. Pure: no clock, no I/O.

idle -> ready (checked in, on the box, visible, mat open) -> countdown -> awaiting_landing ->
contact (mat closes: initial contact) -> flight (mat opens: take-off) -> landed (mat closes
again) -> analysing -> result. Timeouts are explicit: the runtime calls ``handle(Tick(now))``, so
tests drive time by hand. Anything unexpected (no drop, someone on the mat at Start, no rebound,
no second landing, a stuck mat) ends in ``ready`` with a plain prompt, never in a hang. Camera
or mat faults park the machine in ``fault`` until cleared.

Without a mat (``has_mat=False``) the start button begins the trial and the video decides the
events: capture runs for ``video_capture_s`` after the countdown, then the window is analysed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class State(StrEnum):
    IDLE = "idle"
    READY = "ready"
    COUNTDOWN = "countdown"
    AWAITING_LANDING = "awaiting_landing"
    CONTACT = "contact"
    FLIGHT = "flight"
    LANDED = "landed"
    ANALYSING = "analysing"
    RESULT = "result"
    FAULT = "fault"


TRIAL_STATES = (State.COUNTDOWN, State.AWAITING_LANDING, State.CONTACT, State.FLIGHT, State.LANDED, State.ANALYSING)

# --- events ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckIn:
    athlete: dict


@dataclass(frozen=True)
class Start:
    """The start button or the on-screen Start: equal in every way."""


@dataclass(frozen=True)
class Cancel:
    pass


@dataclass(frozen=True)
class MatChanged:
    pressed: bool
    t_ns: int


@dataclass(frozen=True)
class Visibility:
    """Whether the camera sees the joints the analysis needs (hips, knees, ankles); None = unknown.

    ``missing`` names what is not seen ("feet", "knees", "hips", "person") so the prompt can say
    which way to move instead of a generic "step into view"."""

    visible: bool | None
    missing: str | None = None


@dataclass(frozen=True)
class Motion:
    """The video saw the athlete move (drop/landing-sized motion) at ``t_ns``. While waiting for
    the drop, motion without a mat contact means the mat missed the landing (wire cut)."""

    t_ns: int


@dataclass(frozen=True)
class Tick:
    now_ns: int


@dataclass(frozen=True)
class AnalysisStarted:
    pass


@dataclass(frozen=True)
class AnalysisDone:
    verdict: str            # "PASS", "FLAG" or "RETAKE"
    result: dict            # TrialResult.to_json()


@dataclass(frozen=True)
class AnalysisFailed:
    message: str            # for the log
    prompt: str | None = None   # shown instead of the generic "failed" prompt when the reason is the station's


@dataclass(frozen=True)
class Fault:
    source: str             # "camera", "mat", "storage" or "model"
    message: str


@dataclass(frozen=True)
class FaultCleared:
    source: str


Event = (CheckIn | Start | Cancel | MatChanged | Visibility | Motion | Tick | AnalysisStarted | AnalysisDone
         | AnalysisFailed | Fault | FaultCleared)


@dataclass(frozen=True)
class Action:
    """Work for the runtime. kinds: ``go`` (countdown over, the drop may start), ``analyse_early``
    (take-off: pose the frames up to it now), ``analyse`` (score the trial), ``cancel_analysis``."""

    kind: str
    times: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Timing:
    countdown_s: float = 3.0
    drop_timeout_s: float = 15.0      # no initial contact this long after "go": back to ready
    contact_max_s: float = 2.0        # mat closed this long after landing: no rebound jump
    flight_max_s: float = 1.5         # mat open this long after take-off: no second landing
    stuck_s: float = 30.0             # mat closed this long in ready: probably stuck
    video_capture_s: float = 4.0      # no-mat mode: capture after "go"


PROMPTS = {
    "check_in": "Check in to start",
    "ready": "Stand on the box facing the screen, then press Start",
    "off_mat": "Someone is on the mat: step off it, stand on the box, then press Start",
    "not_visible": "Step into view: the camera must see you from head to feet",
    "not_visible_feet": "Step back: your feet are out of the picture",
    "not_visible_knees": "Step back: the camera cannot see your knees",
    "not_visible_hips": "Move to the middle of the picture: the camera cannot see your hips",
    "not_visible_person": "Step into view: the camera must see you from head to feet",
    "mat_missed": "The camera saw a jump but the mat felt nothing: tell a coach to check the mat's cable",
    "countdown": "Get ready: drop when the light comes on",
    "early": "Wait for the countdown to finish before stepping off the box",
    "go": "Go: step off the box, land on the mat, jump straight up at once",
    "go_video": "Go: step off the box, land, jump straight up at once",
    "no_drop": "No drop seen in 15 seconds: stand on the box and press Start when ready",
    "contact": "Landing",
    "flight": "Jump",
    "landed": "Landed: hold still",
    "analysing": "Checking your landing",
    "no_rebound": "Jump straight up as soon as you land. Step back on the box to try again",
    "no_second_landing": "Land back on the mat after the jump. Step back on the box to try again",
    "stuck": "The mat has read as pressed for a long time: if nobody is on it, check the mat",
    "cancelled": "Trial cancelled: stand on the box and press Start when ready",
    "session_done": "Session complete: thank you",
    "failed": "That jump could not be analysed: please try again",
    "fault_cleared": "Back to normal: stand on the box and press Start when ready",
}


class StateMachine:
    """One station's trial flow. ``handle(event)`` returns the actions the runtime must do."""

    def __init__(self, timing: Timing | None = None, *, has_mat: bool = True, trials_total: int = 3,
                 max_attempts: int = 6):
        self.timing = timing or Timing()
        self.has_mat = has_mat
        self.trials_total = trials_total
        self.max_attempts = max_attempts
        self.state = State.IDLE
        self.prompt = PROMPTS["check_in"]
        self.athlete: dict | None = None
        self.valid_trials = 0
        self.attempts = 0
        self.last_result: dict | None = None
        self.last_verdict: str | None = None
        self.session_done = False
        self.faults: dict[str, str] = {}
        self.mat_pressed = False
        self.mat_pressed_since: int | None = None
        self.visible: bool | None = None
        self.missing: str | None = None
        self.motion_ns: int | None = None     # last video motion while waiting for the drop
        self.now_ns: int | None = None        # the last clock value seen (ticks): for the countdown
        self.deadline: int | None = None
        self.times: dict[str, int] = {}
        self.history: list[State] = [State.IDLE]

    # --- helpers -------------------------------------------------------------------------------
    def _to(self, state: State, prompt: str) -> None:
        if state != self.state:
            self.history.append(state)
        self.state = state
        self.prompt = PROMPTS.get(prompt, prompt)

    def _ready(self, prompt: str = "ready") -> None:
        self.deadline = None
        self.times = {}
        if self.mat_pressed and self.has_mat and prompt == "ready":
            prompt = "off_mat"
        self._to(State.READY, prompt)

    def _abort(self, prompt: str) -> list[Action]:
        was_analysing = self.state in (State.FLIGHT, State.LANDED, State.ANALYSING)
        self._ready(prompt)
        return [Action("cancel_analysis")] if was_analysing else []

    @property
    def trial_label(self) -> str | None:
        if self.athlete is None:
            return None
        n = min(self.valid_trials + (0 if self.state == State.RESULT else 1), self.trials_total)
        return f"{max(n, 1)} of {self.trials_total}"

    def _not_visible_prompt(self) -> str:
        return f"not_visible_{self.missing}" if f"not_visible_{self.missing}" in PROMPTS else "not_visible"

    def _start(self, now: int | None) -> list[Action]:
        if self.session_done:
            self.prompt = PROMPTS["session_done"]
            return []
        if self.has_mat and self.mat_pressed:
            self._to(State.READY, "off_mat")
            return []
        if self.visible is False:
            self._to(State.READY, self._not_visible_prompt())
            return []
        self.times = {}
        self.motion_ns = None
        self.deadline = None if now is None else now + int(self.timing.countdown_s * 1e9)
        self._to(State.COUNTDOWN, "countdown")
        return []

    # --- the transition function ---------------------------------------------------------------
    def handle(self, ev: Event, now_ns: int | None = None) -> list[Action]:
        """Apply one event. ``now_ns`` is the runtime's clock for events that start a timer."""
        if isinstance(ev, MatChanged):
            self.mat_pressed = ev.pressed
            self.mat_pressed_since = ev.t_ns if ev.pressed else None
        if isinstance(ev, Visibility):
            self.visible = ev.visible
            self.missing = ev.missing if ev.visible is False else None
        if isinstance(ev, Motion):
            self.motion_ns = ev.t_ns
        if isinstance(ev, Tick):
            self.now_ns = ev.now_ns
        elif now_ns is not None:
            self.now_ns = now_ns
        if isinstance(ev, Fault):
            actions = [Action("cancel_analysis")] if self.state in TRIAL_STATES else []
            self.faults[ev.source] = ev.message
            self.deadline = None
            self.times = {}
            self._to(State.FAULT, ev.message)
            return actions
        if isinstance(ev, FaultCleared):
            self.faults.pop(ev.source, None)
            if self.state == State.FAULT:
                if self.faults:
                    self.prompt = next(iter(self.faults.values()))
                elif self.athlete is not None:
                    self._ready("fault_cleared")
                else:
                    self._to(State.IDLE, "check_in")
            return []
        if self.state == State.FAULT:
            if isinstance(ev, CheckIn):
                self.athlete = dict(ev.athlete)
            return []
        if isinstance(ev, CheckIn):
            actions = [Action("cancel_analysis")] if self.state in TRIAL_STATES else []
            self.athlete = dict(ev.athlete)
            self.valid_trials = self.attempts = 0
            self.last_result = self.last_verdict = None
            self.session_done = False
            self._ready()
            return actions
        if isinstance(ev, Cancel):
            if self.state in TRIAL_STATES:
                return self._abort("cancelled")
            self.athlete = None
            self.session_done = False
            self.deadline = None
            self._to(State.IDLE, "check_in")
            return []
        return getattr(self, f"_on_{self.state.value}")(ev, now_ns)

    def _on_idle(self, ev: Event, now: int | None) -> list[Action]:
        if isinstance(ev, Start):
            self.prompt = PROMPTS["check_in"]
        return []

    def _on_ready(self, ev: Event, now: int | None) -> list[Action]:
        if isinstance(ev, Start):
            return self._start(now)
        if isinstance(ev, MatChanged | Visibility):
            if self.has_mat and self.mat_pressed:
                self.prompt = PROMPTS["off_mat"]
            elif self.visible is False:
                self.prompt = PROMPTS[self._not_visible_prompt()]
            else:
                self.prompt = PROMPTS["ready"]
        if (isinstance(ev, Tick) and self.has_mat and self.mat_pressed and self.mat_pressed_since is not None
                and ev.now_ns - self.mat_pressed_since >= self.timing.stuck_s * 1e9):
            self.prompt = PROMPTS["stuck"]
        return []

    def _on_result(self, ev: Event, now: int | None) -> list[Action]:
        if isinstance(ev, Start):
            return self._start(now)
        return []

    def _on_countdown(self, ev: Event, now: int | None) -> list[Action]:
        if isinstance(ev, MatChanged) and ev.pressed and self.has_mat:
            self._ready("early")
            return []
        if isinstance(ev, Tick):
            if self.deadline is None:  # started without a clock: the first tick starts the count
                self.deadline = ev.now_ns + int(self.timing.countdown_s * 1e9)
            if ev.now_ns >= self.deadline:
                if self.has_mat and self.mat_pressed:
                    self._ready("off_mat")
                    return []
                go = self.deadline
                self.times = {"go": go}
                limit = self.timing.drop_timeout_s if self.has_mat else self.timing.video_capture_s
                self.deadline = go + int(limit * 1e9)
                self._to(State.AWAITING_LANDING, "go" if self.has_mat else "go_video")
                return [Action("go", dict(self.times))]
        return []

    def _on_awaiting_landing(self, ev: Event, now: int | None) -> list[Action]:
        if self.has_mat and isinstance(ev, MatChanged) and ev.pressed:
            self.times["contact"] = ev.t_ns
            self.deadline = ev.t_ns + int(self.timing.contact_max_s * 1e9)
            self._to(State.CONTACT, "contact")
            return []
        if isinstance(ev, Tick) and self.deadline is not None and ev.now_ns >= self.deadline:
            if self.has_mat:
                go = self.times.get("go", 0)
                seen = self.motion_ns is not None and self.motion_ns >= go
                self._ready("mat_missed" if seen else "no_drop")
                return []
            self.times["end"] = self.deadline
            self.deadline = None
            self._to(State.LANDED, "landed")
            return [Action("analyse", dict(self.times))]
        return []

    def _on_contact(self, ev: Event, now: int | None) -> list[Action]:
        if isinstance(ev, MatChanged) and not ev.pressed:
            self.times["takeoff"] = ev.t_ns
            self.deadline = ev.t_ns + int(self.timing.flight_max_s * 1e9)
            self._to(State.FLIGHT, "flight")
            return [Action("analyse_early", dict(self.times))]
        if isinstance(ev, Tick) and self.deadline is not None and ev.now_ns >= self.deadline:
            self._ready("no_rebound")
        return []

    def _on_flight(self, ev: Event, now: int | None) -> list[Action]:
        if isinstance(ev, MatChanged) and ev.pressed:
            self.times["landing"] = ev.t_ns
            self.deadline = None
            self._to(State.LANDED, "landed")
            return [Action("analyse", dict(self.times))]
        if isinstance(ev, Tick) and self.deadline is not None and ev.now_ns >= self.deadline:
            return self._abort("no_second_landing")
        return []

    def _on_landed(self, ev: Event, now: int | None) -> list[Action]:
        if isinstance(ev, AnalysisStarted):
            self._to(State.ANALYSING, "analysing")
        return self._analysis_outcome(ev)

    def _on_analysing(self, ev: Event, now: int | None) -> list[Action]:
        return self._analysis_outcome(ev)

    def _analysis_outcome(self, ev: Event) -> list[Action]:
        if isinstance(ev, AnalysisDone):
            self.attempts += 1
            self.last_verdict = ev.verdict
            self.last_result = ev.result
            if ev.verdict != "RETAKE":
                self.valid_trials += 1
            self.session_done = self.valid_trials >= self.trials_total or self.attempts >= self.max_attempts
            prompt = _result_prompt(ev)
            if self.session_done:
                prompt += ". " + PROMPTS["session_done"]
            self._to(State.RESULT, prompt)
        elif isinstance(ev, AnalysisFailed):
            self._ready(ev.prompt or "failed")
        return []

    def countdown_remaining(self) -> float | None:
        """Seconds left in the countdown (from its deadline and the last tick); None otherwise."""
        if self.state != State.COUNTDOWN or self.deadline is None or self.now_ns is None:
            return None
        return math.ceil(max(0.0, (self.deadline - self.now_ns) / 1e9) * 10) / 10  # 0.1 s steps: fewer UI updates

    def snapshot(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "prompt": self.prompt,
            "athlete": self.athlete,
            "trial": self.trial_label,
            "valid_trials": self.valid_trials,
            "attempts": self.attempts,
            "trials_total": self.trials_total,
            "session_done": self.session_done,
            "last_verdict": self.last_verdict,
            "last_result": self.last_result,
            "fault": "; ".join(self.faults.values()) or None,
            "faults": dict(self.faults),
            "countdown_s": self.countdown_remaining(),
            "has_mat": self.has_mat,
            "mat_pressed": self.mat_pressed,
        }


def _result_prompt(ev: AnalysisDone) -> str:
    if ev.verdict == "RETAKE":
        reason = ev.result.get("retake_reason") or ev.result.get("reason") or "the landing was not clear enough"
        return f"Retake: {reason}"
    if ev.verdict == "FLAG":
        return "Result: FLAG - a knee-control pattern worth coaching"
    return f"Result: {ev.verdict}"
