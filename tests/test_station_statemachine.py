"""Trial state machine: every transition, prompts and timeouts driven by explicit tick times."""

from __future__ import annotations

from kiosk.station.statemachine import (
    PROMPTS,
    AnalysisDone,
    AnalysisFailed,
    AnalysisStarted,
    Cancel,
    CheckIn,
    Fault,
    FaultCleared,
    MatChanged,
    Start,
    State,
    StateMachine,
    Tick,
    Timing,
    Visibility,
)

S = 1_000_000_000


def checked_in(**kw) -> StateMachine:
    sm = StateMachine(Timing(), **kw)
    sm.handle(CheckIn({"id": 7, "name": "Ana"}))
    return sm


def run_to_flight(sm: StateMachine, t0: int = 100 * S) -> int:
    sm.handle(Start(), t0)
    assert sm.state == State.COUNTDOWN
    acts = sm.handle(Tick(t0 + 3 * S))
    assert sm.state == State.AWAITING_LANDING and [a.kind for a in acts] == ["go"]
    sm.handle(MatChanged(True, t0 + 5 * S))
    assert sm.state == State.CONTACT
    acts = sm.handle(MatChanged(False, t0 + 5 * S + 300_000_000))
    assert sm.state == State.FLIGHT and acts[0].kind == "analyse_early"
    assert acts[0].times == {"go": t0 + 3 * S, "contact": t0 + 5 * S, "takeoff": t0 + 5 * S + 300_000_000}
    return t0


def test_full_trial_passes_every_state_and_counts_trials():
    sm = checked_in()
    assert sm.state == State.READY and sm.trial_label == "1 of 3"
    t0 = run_to_flight(sm)
    acts = sm.handle(MatChanged(True, t0 + 5 * S + 800_000_000))
    assert sm.state == State.LANDED and acts[0].kind == "analyse" and "landing" in acts[0].times
    sm.handle(AnalysisStarted())
    assert sm.state == State.ANALYSING
    sm.handle(AnalysisDone("PASS", {"verdict": "PASS"}))
    assert sm.state == State.RESULT and sm.trial_label == "1 of 3" and sm.prompt == "Result: PASS"
    assert [s.value for s in sm.history] == ["idle", "ready", "countdown", "awaiting_landing", "contact", "flight",
                                             "landed", "analysing", "result"]
    sm.handle(MatChanged(False, t0 + 9 * S))  # steps off the mat
    sm.handle(Start(), t0 + 20 * S)
    assert sm.state == State.COUNTDOWN and sm.trial_label == "2 of 3"
    snap = sm.snapshot()
    assert snap["athlete"]["name"] == "Ana" and snap["last_verdict"] == "PASS"


def test_retakes_do_not_count_and_session_ends():
    sm = checked_in(trials_total=2, max_attempts=3)
    t = 0
    for verdict in ("RETAKE", "FLAG", "PASS"):
        t += 100 * S
        run_to_flight(sm, t)
        sm.handle(MatChanged(True, t + 6 * S))
        sm.handle(AnalysisStarted())
        sm.handle(AnalysisDone(verdict, {"retake_reason": "feet left the frame"}))
        sm.handle(MatChanged(False, t + 8 * S))
    assert sm.valid_trials == 2 and sm.attempts == 3 and sm.session_done
    assert PROMPTS["session_done"] in sm.prompt
    sm.handle(Start(), t + 50 * S)
    assert sm.state == State.RESULT  # no fourth trial
    sm.handle(Cancel())
    assert sm.state == State.IDLE and sm.athlete is None


def test_retake_prompt_carries_reason():
    sm = checked_in()
    t0 = run_to_flight(sm)
    sm.handle(MatChanged(True, t0 + 6 * S))
    sm.handle(AnalysisDone("RETAKE", {"retake_reason": "knees not visible at landing"}))
    assert sm.prompt == "Retake: knees not visible at landing" and sm.valid_trials == 0


def test_start_refused_when_someone_is_on_the_mat():
    sm = checked_in()
    sm.handle(MatChanged(True, 1 * S))
    assert sm.prompt == PROMPTS["off_mat"]
    sm.handle(Start(), 2 * S)
    assert sm.state == State.READY and sm.prompt == PROMPTS["off_mat"]
    sm.handle(MatChanged(False, 3 * S))
    assert sm.prompt == PROMPTS["ready"]


def test_stepping_on_mat_during_countdown_aborts():
    sm = checked_in()
    sm.handle(Start(), 10 * S)
    sm.handle(MatChanged(True, 11 * S))
    assert sm.state == State.READY and sm.prompt == PROMPTS["early"]


def test_no_drop_within_15_s_returns_to_ready():
    sm = checked_in()
    sm.handle(Start(), 10 * S)
    sm.handle(Tick(13 * S))
    sm.handle(Tick(27 * S))
    assert sm.state == State.AWAITING_LANDING
    sm.handle(Tick(28 * S))
    assert sm.state == State.READY and sm.prompt == PROMPTS["no_drop"]
    assert sm.attempts == 0


def test_no_rebound_and_stuck_mat_prompts():
    sm = checked_in()
    sm.handle(Start(), 10 * S)
    sm.handle(Tick(13 * S))
    sm.handle(MatChanged(True, 14 * S))
    sm.handle(Tick(15 * S))
    assert sm.state == State.CONTACT
    sm.handle(Tick(16 * S))  # 2 s on the mat without taking off (missing take-off edge)
    assert sm.state == State.READY and sm.prompt == PROMPTS["no_rebound"]
    sm.handle(Tick(30 * S))
    assert sm.prompt == PROMPTS["no_rebound"]
    sm.handle(Tick(44 * S))  # closed for 30 s in ready: probably stuck
    assert sm.prompt == PROMPTS["stuck"]


def test_missing_second_landing_aborts_and_cancels_analysis():
    sm = checked_in()
    t0 = run_to_flight(sm)
    acts = sm.handle(Tick(t0 + 5 * S + 300_000_000 + int(1.5 * S)))
    assert sm.state == State.READY and sm.prompt == PROMPTS["no_second_landing"]
    assert [a.kind for a in acts] == ["cancel_analysis"]


def test_analysis_failure_returns_to_ready():
    sm = checked_in()
    t0 = run_to_flight(sm)
    sm.handle(MatChanged(True, t0 + 6 * S))
    sm.handle(AnalysisStarted())
    sm.handle(AnalysisFailed("boom"))
    assert sm.state == State.READY and sm.prompt == PROMPTS["failed"]


def test_fault_parks_and_clears_to_ready():
    sm = checked_in()
    t0 = run_to_flight(sm)
    acts = sm.handle(Fault("camera", "The camera stopped sending frames"))
    assert sm.state == State.FAULT and acts[0].kind == "cancel_analysis"
    sm.handle(Fault("mat", "The contact mat is unplugged"))
    sm.handle(Start(), t0 + 50 * S)
    assert sm.state == State.FAULT
    sm.handle(FaultCleared("camera"))
    assert sm.state == State.FAULT and "unplugged" in sm.prompt
    sm.handle(FaultCleared("mat"))
    assert sm.state == State.READY and sm.athlete is not None


def test_fault_without_athlete_clears_to_idle():
    sm = StateMachine()
    sm.handle(Fault("camera", "No camera"))
    sm.handle(FaultCleared("camera"))
    assert sm.state == State.IDLE


def test_cancel_in_trial_goes_ready_then_idle():
    sm = checked_in()
    sm.handle(Start(), 0)
    sm.handle(Cancel())
    assert sm.state == State.READY and sm.prompt == PROMPTS["cancelled"]
    sm.handle(Cancel())
    assert sm.state == State.IDLE


def test_not_visible_blocks_start():
    sm = checked_in()
    sm.handle(Visibility(False))
    assert sm.prompt == PROMPTS["not_visible"]
    sm.handle(Start(), 0)
    assert sm.state == State.READY
    sm.handle(Visibility(True))
    sm.handle(Start(), 0)
    assert sm.state == State.COUNTDOWN


def test_start_before_check_in_asks_for_check_in():
    sm = StateMachine()
    sm.handle(Start(), 0)
    assert sm.state == State.IDLE and sm.prompt == PROMPTS["check_in"]


def test_no_mat_mode_captures_a_window_then_analyses():
    sm = checked_in(has_mat=False)
    sm.handle(MatChanged(True, 0))  # ignored for gating in no-mat mode
    sm.handle(Start(), 10 * S)
    assert sm.state == State.COUNTDOWN
    sm.handle(Tick(13 * S))
    assert sm.state == State.AWAITING_LANDING and sm.prompt == PROMPTS["go_video"]
    assert sm.handle(Tick(16 * S)) == []
    acts = sm.handle(Tick(17 * S))
    assert sm.state == State.LANDED and acts[0].kind == "analyse"
    assert acts[0].times == {"go": 13 * S, "end": 17 * S}
