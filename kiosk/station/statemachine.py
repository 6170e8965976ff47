"""The trial state machine: events in, state + prompt + actions out. Pure: no clock, no I/O.

idle -> ready (checked in) -> arming (the on-screen Start: the athlete walks to the box) ->
countdown (seen standing still on the box, mat open) -> awaiting_landing -> contact (mat closes:
initial contact) -> flight (mat opens: take-off) -> landed (mat closes again) -> analysing ->
result. The start button at the box skips arming (the athlete is on the box already). After a
result the machine arms itself again once the athlete has moved and stands still on the box,
so someone alone never walks back to the screen between jumps.

The session is blinded: the prompts between jumps say only that a jump was recorded, or why it
did not count and what to change; the verdict comes once, on the session summary. An optional
practice jump comes first and counts for nothing. Timeouts are explicit: the runtime calls ``handle(Tick(now))``, so
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
    ARMING = "arming"
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
    practice: bool | None = None    # a practice jump first; None: the machine's default


@dataclass(frozen=True)
class Start:
    """The start button at the box (or a bench/test): the countdown begins now."""


@dataclass(frozen=True)
class Arm:
    """The on-screen Start: the athlete walks to the box; the countdown begins once the camera
    sees them standing still on it (:class:`Still`), or the arming times out."""


@dataclass(frozen=True)
class Still:
    """Whether the camera sees the athlete's legs whole and standing still (the runtime's
    judgement over the last ``still_s``); sent when it changes."""

    still: bool


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


Event = (CheckIn | Start | Arm | Still | Cancel | MatChanged | Visibility | Motion | Tick | AnalysisStarted
         | AnalysisDone | AnalysisFailed | Fault | FaultCleared)


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
    arm_timeout_s: float = 30.0       # on-screen Start, nobody still on the box this long: back to ready


PROMPTS = {
    "check_in": "Check in to start",
    "ready": "Tap Start, then walk to the box and stand on it facing the camera",
    "arming": "Stand on the box facing the camera and keep still: the countdown starts by itself",
    "off_mat": "Someone is on the mat: step off it and stand on the box",
    "not_visible": "Step into view: the camera must see you from head to feet",
    "not_visible_feet": "Step back: your feet are out of the picture",
    "not_visible_knees": "Step back: the camera cannot see your knees",
    "not_visible_hips": "Move to the middle of the picture: the camera cannot see your hips",
    "not_visible_person": "Step into view: the camera must see you from head to feet",
    "mat_missed": "The camera saw a jump but the mat felt nothing: tell a coach to check the mat's cable",
    "countdown": "Get ready: step off the box when the count reaches Go",
    "countdown_light": "Get ready: step off the box when the light comes on",
    "early": "Wait for the countdown to finish before stepping off the box",
    "go": "Go: step off the box, land on the mat, jump straight up at once",
    "go_video": "Go: step off the box, land, jump straight up at once",
    "no_drop": "No drop seen in {drop_timeout_s:g} seconds: tap Start when you are ready",
    "arm_timeout": "Nobody stood still on the box for {arm_timeout_s:g} seconds: tap Start to try again",
    "contact": "Jump!",
    "flight": "Land on the mat",
    "landed": "Landed: hold still",
    "analysing": "Checking your landing",
    "no_rebound": "Jump straight up as soon as you land. Step back on the box to try again",
    "no_second_landing": "Land back on the mat after the jump. Step back on the box to try again",
    "stuck": "The mat has read as pressed for a long time: if nobody is on it, check the mat",
    "cancelled": "Jump stopped: tap Start when you are ready",
    "session_done": "All jumps done: see your result",
    "session_incomplete": "No tries left today: see what we could measure",
    "failed": "That jump could not be analysed: please try again",
    "fault_cleared": "Back to normal: tap Start when you are ready",
    "next": "Step back on the box, face the camera and stand still: the next jump starts by itself",
}

#: A RETAKE whose result names no reason (an analyzer outside kiosk.analysis) still says something.
GENERIC_RETAKE = "The camera could not measure the landing clearly."


class StateMachine:
    """One station's trial flow. ``handle(event)`` returns the actions the runtime must do."""

    def __init__(self, timing: Timing | None = None, *, has_mat: bool = True, trials_total: int = 3,
                 max_attempts: int = 6, practice_jump: bool = False, has_light: bool = False,
                 rearm_on_still: bool = True):
        self.timing = timing or Timing()
        self.has_mat = has_mat
        self.has_light = has_light
        self.trials_total = trials_total
        self.max_attempts = max_attempts
        self.practice_jump = practice_jump
        self.rearm_on_still = rearm_on_still
        self.practice_pending = False   # the next analysed jump is the unscored practice
        self.last_outcome: dict | None = None   # what the last analysed jump means for the session
        self.still: bool | None = None
        self.moved = False              # the athlete moved since the last result (re-arming needs it)
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
        self.prompt = self._text(prompt)

    def _text(self, key: str) -> str:
        """The prompt for ``key`` with the configured times in it (never a hard-coded "15 s")."""
        if key == "countdown" and self.has_light:
            key = "countdown_light"
        return PROMPTS.get(key, key).format(drop_timeout_s=self.timing.drop_timeout_s,
                                            arm_timeout_s=self.timing.arm_timeout_s) if key in PROMPTS else key

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
        if self.practice_pending or (self.state == State.RESULT and (self.last_outcome or {}).get("kind") == "practice"):
            return "Practice jump"
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

    def _arm(self, now: int | None) -> list[Action]:
        """The on-screen Start: wait for the athlete standing still on the box."""
        if self.session_done:
            self.prompt = PROMPTS["session_done"]
            return []
        if self.still and not (self.has_mat and self.mat_pressed):
            return self._start(now)   # already standing still on the box (a coach tapped for them)
        self.deadline = None if now is None else now + int(self.timing.arm_timeout_s * 1e9)
        self._to(State.ARMING, self._arming_prompt())
        return []

    def _arming_prompt(self) -> str:
        if self.has_mat and self.mat_pressed:
            return "off_mat"
        if self.visible is False:
            return self._not_visible_prompt()
        return "arming"

    # --- the transition function ---------------------------------------------------------------
    def handle(self, ev: Event, now_ns: int | None = None) -> list[Action]:
        """Apply one event. ``now_ns`` is the runtime's clock for events that start a timer."""
        if isinstance(ev, MatChanged):
            self.mat_pressed = ev.pressed
            self.mat_pressed_since = ev.t_ns if ev.pressed else None
            if not ev.pressed and self.state == State.RESULT:
                # Stepping off the mat after a jump: the athlete is on the move, and any stillness
                # seen so far was on the mat; the next Still(True) is the one on the box.
                self.moved, self.still = True, False
        if isinstance(ev, Visibility):
            self.visible = ev.visible
            self.missing = ev.missing if ev.visible is False else None
        if isinstance(ev, Still):
            self.still = ev.still
            self.moved = self.moved or not ev.still
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
            self.last_result = self.last_verdict = self.last_outcome = None
            self.practice_pending = self.practice_jump if ev.practice is None else ev.practice
            self.session_done = False
            self._ready()
            return actions
        if isinstance(ev, Cancel):
            if self.state in TRIAL_STATES:
                return self._abort("cancelled")
            self.athlete = None
            self.session_done = False
            self.practice_pending = False
            self.last_outcome = None
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
        if isinstance(ev, Arm):
            return self._arm(now)
        if isinstance(ev, MatChanged):
            # Ready is the athlete at the screen: the instruction stays "tap Start" (what the camera
            # misses is said while arming, once they stand at the box); only a pressed mat is news.
            if self.has_mat and self.mat_pressed:
                self.prompt = PROMPTS["off_mat"]
            elif self.prompt == PROMPTS["off_mat"]:
                self.prompt = PROMPTS["ready"]
        if (isinstance(ev, Tick) and self.has_mat and self.mat_pressed and self.mat_pressed_since is not None
                and ev.now_ns - self.mat_pressed_since >= self.timing.stuck_s * 1e9):
            self.prompt = PROMPTS["stuck"]
        return []

    def _on_arming(self, ev: Event, now: int | None) -> list[Action]:
        if isinstance(ev, Start):
            return self._start(now)
        if isinstance(ev, Still | MatChanged) and self.still and not (self.has_mat and self.mat_pressed):
            return self._start(now if now is not None else self.now_ns)
        if isinstance(ev, MatChanged | Visibility | Still):
            self.prompt = self._text(self._arming_prompt())
        if isinstance(ev, Tick):
            if self.deadline is None:   # armed without a clock: the first tick starts the wait
                self.deadline = ev.now_ns + int(self.timing.arm_timeout_s * 1e9)
            elif ev.now_ns >= self.deadline:
                self._ready("arm_timeout")
        return []

    def _on_result(self, ev: Event, now: int | None) -> list[Action]:
        if isinstance(ev, Start):
            return self._start(now)
        if isinstance(ev, Arm):
            return self._arm(now)
        # Alone at the station: after a result the athlete walks back to the box; once they have
        # moved (not the stillness of the landing they just made) and stand still on it, the next
        # jump arms itself.
        if (isinstance(ev, Still | MatChanged) and self.rearm_on_still and not self.session_done and self.still
                and self.moved and not (self.has_mat and self.mat_pressed)):
            return self._start(now if now is not None else self.now_ns)
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
            # Already off the mat (walked back while the jump was analysed) counts as having moved.
            self.moved = self.has_mat and not self.mat_pressed
            self.last_verdict = ev.verdict
            self.last_result = ev.result
            if self.practice_pending:
                self.practice_pending = False
                self.last_outcome = _practice_outcome(ev, self.trials_total)
                self._to(State.RESULT, self.last_outcome["text"])
                return []
            self.attempts += 1
            if ev.verdict != "RETAKE":
                self.valid_trials += 1
            self.session_done = self.valid_trials >= self.trials_total or self.attempts >= self.max_attempts
            self.last_outcome = _outcome(ev, self.valid_trials, self.trials_total, self.max_attempts - self.attempts)
            prompt = self.last_outcome["text"]
            if self.session_done:
                prompt += " " + PROMPTS["session_done" if self.valid_trials >= self.trials_total else "session_incomplete"]
            self._to(State.RESULT, prompt)
        elif isinstance(ev, AnalysisFailed):
            self._ready(ev.prompt or "failed")
        return []

    def arming_remaining(self) -> float | None:
        """Seconds left for the athlete to stand still on the box; None when not arming."""
        if self.state != State.ARMING or self.deadline is None or self.now_ns is None:
            return None
        return math.ceil(max(0.0, (self.deadline - self.now_ns) / 1e9))

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
            "arming_s": self.arming_remaining(),
            "arm_timeout_s": self.timing.arm_timeout_s,
            "practice": self.practice_pending,
            "last_outcome": dict(self.last_outcome) if self.last_outcome else None,
            "next_prompt": (PROMPTS["next"] if self.rearm_on_still else PROMPTS["ready"])
            if self.state == State.RESULT and not self.session_done else None,
            "still": self.still,
            "has_mat": self.has_mat,
            "mat_pressed": self.mat_pressed,
        }


def retake_reason(result: dict) -> str:
    """The first reason a RETAKE result gives (``TrialResult.to_json()["reasons"]``): what went
    wrong and what to change, as the analysis' gates word it."""
    reasons = result.get("reasons") if isinstance(result, dict) else None
    if isinstance(reasons, list | tuple):
        for r in reasons:
            text = str(r.get("message") if isinstance(r, dict) else r).strip()
            if text:
                return text if text.endswith((".", "!", "?")) else text + "."
    return GENERIC_RETAKE


def _outcome(ev: AnalysisDone, valid: int, total: int, tries_left: int) -> dict:
    """Between jumps the athlete learns only that the jump counted, or why not: no verdict."""
    if ev.verdict == "RETAKE":
        reason = retake_reason(ev.result)
        still_needed = total - valid
        tries = "no tries" if tries_left <= 0 else ("1 try" if tries_left == 1 else f"{tries_left} tries")
        left = f"{tries} left for {still_needed} more {'jump' if still_needed == 1 else 'jumps'}."
        return {"kind": "retake", "text": f"That jump did not count. {reason} {left}", "reason": reason,
                "tries_left": max(tries_left, 0), "still_needed": still_needed}
    return {"kind": "recorded", "text": f"Jump {valid} of {total} recorded.", "number": valid, "of": total}


def _practice_outcome(ev: AnalysisDone, total: int) -> dict:
    text = f"Practice jump done. Now the {total} jumps that count."
    if ev.verdict == "RETAKE":
        tip = retake_reason(ev.result)
        return {"kind": "practice", "text": f"Practice jump done. For the next ones: {tip} Now the {total} jumps that count.",
                "reason": tip}
    return {"kind": "practice", "text": text}
