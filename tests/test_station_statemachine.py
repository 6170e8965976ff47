"""Trial state machine: every transition, prompts and timeouts driven by explicit tick times."""

from __future__ import annotations

import pytest

from kiosk.station.statemachine import (
    PROMPTS,
    AnalysisDone,
    AnalysisFailed,
    AnalysisStarted,
    Arm,
    Cancel,
    CheckIn,
    Fault,
    FaultCleared,
    MatChanged,
    Start,
    State,
    StateMachine,
    Still,
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
    assert sm.state == State.RESULT and sm.trial_label == "1 of 3" and sm.prompt == "Jump 1 of 3 recorded."
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
    sm.handle(AnalysisDone("RETAKE", {"reasons": ["Your knees were not seen at landing."]}))
    assert sm.prompt.startswith("That jump did not count. Your knees were not seen at landing.") and sm.valid_trials == 0


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
    assert sm.state == State.READY and sm.prompt == "No drop seen in 15 seconds: tap Start when you are ready"
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
    assert sm.prompt == PROMPTS["ready"]       # at the screen: the instruction stays
    sm.handle(Start(), 0)                      # the button at the box: refused, with what to fix
    assert sm.state == State.READY and sm.prompt == PROMPTS["not_visible"]
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


# --- the blinded session, the practice jump, arming from the box -----------------------------

def real_retake(code: str) -> dict:
    """A RETAKE exactly as the analysis sends it: ``TrialResult.to_json()`` of a result turned
    RETAKE by a gate (the real constructors, the real reason texts)."""
    from kiosk.analysis.gates import Failure, with_failure
    from kiosk.analysis.result import TrialResult

    leg = {"fppa_ic": 2.0, "fppa_peak": 9.0, "fppa_peak_flexion": 9.0, "valgus_displacement": 4.0,
           "static_fppa": 1.0, "peak_fppa_s": 0.61, "peak_fppa_frame": 73}
    base = TrialResult.from_json({"verdict": "PASS", "reasons": ["ok"], "findings": ["pass"], "events": {},
                                  "legs": {"left": leg, "right": leg}, "jump": {}})
    return with_failure(base, Failure(code, "test")).to_json()


def finish(sm: StateMachine, t: int, verdict: str, result: dict | None = None) -> None:
    run_to_flight(sm, t)
    sm.handle(MatChanged(True, t + 6 * S))
    sm.handle(AnalysisStarted())
    sm.handle(AnalysisDone(verdict, result if result is not None else {"verdict": verdict, "reasons": ["why"]}))
    sm.handle(MatChanged(False, t + 8 * S))


def test_retake_prompt_uses_the_reason_the_analysis_really_sends():
    """Bug: the machine read a ``retake_reason`` key that TrialResult.to_json() never writes, so
    every retake said the generic text. The result here is the analysis' own JSON."""
    from kiosk.analysis.gates import REASONS

    result = real_retake("feet_cut_off")
    assert "retake_reason" not in result
    sm = checked_in()
    finish(sm, 100 * S, "RETAKE", result)
    assert REASONS["feet_cut_off"] in sm.prompt
    assert "did not count" in sm.prompt and "5 tries left for 3 more jumps" in sm.prompt
    outcome = sm.snapshot()["last_outcome"]
    assert outcome["kind"] == "retake" and outcome["reason"] == REASONS["feet_cut_off"] and outcome["tries_left"] == 5
    # the next "Get ready" is the instruction, not the last outcome
    sm.handle(Arm(), 110 * S)
    assert sm.state == State.ARMING and sm.prompt == PROMPTS["arming"]
    assert sm.snapshot()["last_outcome"]["kind"] == "retake"    # still there for the screen to show


def test_between_jumps_no_verdict_is_said():
    sm = checked_in()
    for i, verdict in enumerate(("PASS", "FLAG", "FLAG")):
        finish(sm, (i + 1) * 100 * S, verdict, {"verdict": verdict, "reasons": ["Your left knee moved 12° inward"]})
        snap = sm.snapshot()
        for word in ("PASS", "FLAG", "knee", "°"):
            assert word not in sm.prompt and word not in str(snap["last_outcome"])
    assert sm.prompt == "Jump 3 of 3 recorded. " + PROMPTS["session_done"] and sm.session_done


def test_practice_jump_counts_for_nothing():
    sm = StateMachine(Timing(), practice_jump=True)
    sm.handle(CheckIn({"id": 7}))
    assert sm.trial_label == "Practice jump" and sm.snapshot()["practice"]
    finish(sm, 100 * S, "RETAKE", real_retake("turned_away"))
    assert sm.attempts == 0 and sm.valid_trials == 0 and not sm.practice_pending
    assert sm.last_outcome["kind"] == "practice" and "Face the camera" in sm.prompt
    assert sm.trial_label == "Practice jump"          # the result on screen is the practice's
    finish(sm, 200 * S, "PASS")
    assert sm.attempts == 1 and sm.valid_trials == 1 and sm.trial_label == "1 of 3"
    # a check-in may ask for no practice (benches, the coach's re-test)
    sm.handle(CheckIn({"id": 8}, practice=False))
    assert not sm.practice_pending and sm.trial_label == "1 of 3"


def test_arming_waits_for_the_athlete_standing_still_on_the_box():
    sm = checked_in()
    sm.handle(Arm(), 10 * S)
    assert sm.state == State.ARMING and sm.prompt == PROMPTS["arming"] and sm.snapshot()["arming_s"] == 30
    sm.handle(Tick(11 * S))
    assert sm.snapshot()["arming_s"] == 29
    sm.handle(Visibility(False, "feet"))
    assert sm.state == State.ARMING and sm.prompt == PROMPTS["not_visible_feet"]
    sm.handle(Visibility(True))
    sm.handle(MatChanged(True, 12 * S))          # walking over the mat: not yet
    sm.handle(Still(True), 13 * S)
    assert sm.state == State.ARMING and sm.prompt == PROMPTS["off_mat"]
    sm.handle(MatChanged(False, 14 * S))         # off the mat, still on the box: the count starts
    assert sm.state == State.COUNTDOWN
    sm.handle(Tick(17 * S))
    assert sm.state == State.AWAITING_LANDING


def test_arming_times_out_with_the_configured_time_in_the_text():
    sm = StateMachine(Timing(arm_timeout_s=20.0))
    sm.handle(CheckIn({"id": 7}))
    sm.handle(Arm(), 10 * S)
    sm.handle(Tick(29 * S))
    assert sm.state == State.ARMING
    sm.handle(Tick(30 * S))
    assert sm.state == State.READY and sm.prompt == "Nobody stood still on the box for 20 seconds: tap Start to try again"
    assert sm.attempts == 0


def test_button_at_the_box_starts_at_once_while_arming():
    sm = checked_in()
    sm.handle(Arm(), 10 * S)
    sm.handle(Start(), 11 * S)
    assert sm.state == State.COUNTDOWN


def test_after_a_result_the_next_jump_arms_itself_once_the_athlete_moved_and_stands_still():
    """Without a mat only the video tells: stillness right after the jump is where they landed."""
    sm = checked_in(has_mat=False)
    sm.handle(Still(True), 1 * S)
    sm.handle(Start(), 100 * S)
    sm.handle(Tick(103 * S))
    sm.handle(Tick(107 * S))
    assert sm.state == State.LANDED
    sm.handle(AnalysisDone("PASS", {"verdict": "PASS"}))
    assert sm.state == State.RESULT and sm.snapshot()["next_prompt"] == PROMPTS["next"]
    sm.handle(Still(True), 109 * S)              # still where they landed: not a new jump
    assert sm.state == State.RESULT
    sm.handle(Still(False), 110 * S)             # walks back
    sm.handle(Still(True), 112 * S)              # stands still on the box
    assert sm.state == State.COUNTDOWN and sm.trial_label == "2 of 3"


@pytest.mark.parametrize("light", [False, True])
def test_countdown_prompt_names_the_light_only_where_there_is_one(light: bool):
    sm = StateMachine(Timing(), has_light=light)
    sm.handle(CheckIn({"id": 7}))
    sm.handle(Start(), 0)
    assert ("light" in sm.prompt) is light and sm.prompt.startswith("Get ready")


def test_prompts_say_face_the_camera_and_never_facing_the_screen():
    assert not any("facing the screen" in p for p in PROMPTS.values())
    assert "facing the camera" in PROMPTS["ready"] and "facing the camera" in PROMPTS["arming"]


def test_rearm_after_stepping_off_the_mat_needs_fresh_stillness():
    sm = checked_in()
    t0 = run_to_flight(sm)
    sm.handle(MatChanged(True, t0 + 6 * S))             # second landing: on the mat
    sm.handle(AnalysisDone("PASS", {"verdict": "PASS"}))
    sm.handle(Still(True), t0 + 7 * S)                  # standing still on the mat
    assert sm.state == State.RESULT
    sm.handle(MatChanged(False, t0 + 8 * S))            # steps off: stale stillness does not arm
    assert sm.state == State.RESULT
    sm.handle(Still(True), t0 + 10 * S)                 # still again, now on the box
    assert sm.state == State.COUNTDOWN


def test_rearm_when_back_on_the_box_before_the_result():
    sm = checked_in()
    t0 = run_to_flight(sm)
    sm.handle(MatChanged(True, t0 + 6 * S))
    sm.handle(MatChanged(False, t0 + 7 * S))            # walks back while the jump is analysed
    sm.handle(AnalysisDone("PASS", {"verdict": "PASS"}))
    sm.handle(Still(True), t0 + 9 * S)
    assert sm.state == State.COUNTDOWN


def test_rearm_can_be_switched_off():
    sm = StateMachine(Timing(), rearm_on_still=False)
    sm.handle(CheckIn({"id": 7}))
    finish(sm, 100 * S, "PASS")
    sm.handle(Still(False), 110 * S)
    sm.handle(Still(True), 112 * S)
    assert sm.state == State.RESULT and sm.snapshot()["next_prompt"] == PROMPTS["ready"]
    sm.handle(Arm(), 113 * S)               # the next jump needs Start
    assert sm.state == State.COUNTDOWN      # (already still on the box: the count starts at once)
