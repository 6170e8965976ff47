"""Verdict rules, borderline band, referral, sessions, JSON round trips and guidance."""

from __future__ import annotations

import json

import pytest
from test_analysis_build import Jump, frames, mat

from kiosk.analysis import SCORING_VERSION, Thresholds, TrialResult, analyze_trial, summarize_session
from kiosk.analysis.guidance import guidance_for, load_guidance
from kiosk.analysis.result import SessionResult
from kiosk.analysis.verdict import ScoreInput, peak_fppa_limit, score

TH = Thresholds()


def inp(disp=(2.0, 2.0), peak=(5.0, 5.0), static=(1.0, 1.0), kasr=0.9, lean=0.0) -> ScoreInput:
    return ScoreInput(valgus_displacement=dict(zip(("left", "right"), disp, strict=True)),
                      fppa_peak=dict(zip(("left", "right"), peak, strict=True)),
                      static_fppa=dict(zip(("left", "right"), static, strict=True)), kasr_peak=kasr,
                      trunk_lean_peak_deg=lean)


def test_pass_when_nothing_crosses():
    s = score(inp(), TH)
    assert s.verdict == "PASS" and s.findings == ("pass",) and not s.borderline and not s.refer


@pytest.mark.parametrize(("disp", "code"), [((11.0, 2.0), "dynamic_valgus_left"), ((2.0, 10.6), "dynamic_valgus_right"),
                                            ((12.0, 15.0), "dynamic_valgus_both")])
def test_valgus_displacement_flags_per_leg(disp, code):
    s = score(inp(disp=disp, peak=(3.0, 3.0)), TH)
    assert s.verdict == "FLAG" and s.findings[0] == code


@pytest.mark.parametrize(("sex", "peak", "verdict"), [("female", 12.5, "PASS"), ("female", 13.5, "FLAG"), ("male", 8.5, "FLAG"),
                                                      ("male", 7.0, "PASS"), (None, 12.5, "PASS"), (None, 13.5, "FLAG")])
def test_peak_fppa_uses_the_sex_specific_limit(sex, peak, verdict):
    assert score(inp(peak=(peak, 2.0)), TH, sex).verdict == verdict
    assert peak_fppa_limit(TH, "F") == 13.0 and peak_fppa_limit(TH, "m") == 8.0 and peak_fppa_limit(TH, None) == 13.0


def test_low_kasr_flags():
    s = score(inp(kasr=0.5), TH)
    assert s.verdict == "FLAG" and "low_kasr" in s.findings


def test_borderline_on_either_side_of_an_edge():
    assert score(inp(disp=(9.0, 2.0)), TH).borderline            # 1.6 below 10.6
    assert score(inp(disp=(12.0, 2.0)), TH).borderline           # 1.4 above
    assert not score(inp(disp=(5.0, 2.0)), TH).borderline
    assert score(inp(kasr=0.62), TH).borderline


def test_static_valgus_refers_instead_of_coaching():
    s = score(inp(static=(12.0, 1.0)), TH)
    assert s.verdict == "FLAG" and s.refer and "static_valgus" in s.findings
    assert any("see a professional" in r for r in s.reasons)


def test_asymmetry_and_trunk_lean_are_notes_not_flags():
    s = score(inp(disp=(9.5, 0.0), lean=-15.0), Thresholds(borderline_deg=0.5))
    assert s.verdict == "PASS" and "asymmetry" in s.findings and "trunk_lean" in s.findings


def test_thresholds_come_from_the_config():
    assert score(inp(disp=(9.0, 2.0)), Thresholds(valgus_displacement_deg=8.0)).verdict == "FLAG"


def trial(valgus: float, fps: float = 120, seed: int = 0, noise: float = 0.5) -> TrialResult:
    j = Jump(fps=fps, seed=seed, noise_px=noise, valgus={"left": valgus, "right": 3.0})
    return analyze_trial(frames(j), mat(j), sex="female")


def test_trial_json_has_the_promised_shape_and_round_trips():
    r = trial(14.0)
    d = r.to_json()
    assert d["verdict"] == "FLAG" and d["scoring_version"] == SCORING_VERSION
    assert set(d["events"]) >= {"initial_contact_s", "takeoff_s", "second_landing_s"}
    assert set(d["legs"]["left"]) >= {"fppa_ic", "fppa_peak", "valgus_displacement", "static_fppa"}
    assert set(d["jump"]) == {"contact_time_s", "flight_time_s", "jump_height_m", "rsi"}
    assert {"kasr_ic", "kasr_peak"} <= set(d)
    back = TrialResult.from_json(json.loads(json.dumps(d)))
    assert back.to_json() == d


def test_session_median_over_valid_trials_and_retakes_kept():
    trials = [trial(14.0, seed=1), trial(2.0, fps=15), trial(13.0, seed=2), trial(3.0, seed=3), trial(15.0, seed=4)]
    assert [t.verdict for t in trials][:2] == ["FLAG", "RETAKE"]
    s = summarize_session(trials, thresholds=TH, sex="female")
    assert s.complete and s.used_trials == (0, 2, 3)
    assert s.medians["left"]["valgus_displacement"] == pytest.approx(
        sorted(trials[i].metrics.left.valgus_displacement for i in (0, 2, 3))[1])
    assert s.verdict == "FLAG" and len(s.trials) == 5
    back = SessionResult.from_json(json.loads(json.dumps(s.to_json())))
    assert back.to_json() == s.to_json()


def test_session_is_incomplete_until_enough_valid_trials():
    s = summarize_session([trial(2.0), trial(2.0, fps=15)], thresholds=TH)
    assert s.verdict == "INCOMPLETE" and s.provisional_verdict == "PASS" and not s.complete
    assert s.reasons[0].startswith("2 more good jumps")
    empty = summarize_session([], thresholds=TH)
    assert empty.verdict == "INCOMPLETE" and empty.provisional_verdict is None


def test_guidance_covers_every_code_and_exercise():
    g = load_guidance()
    from kiosk.analysis.gates import REASONS
    codes = {"pass", "dynamic_valgus_left", "dynamic_valgus_right", "dynamic_valgus_both", "high_peak_fppa", "low_kasr",
             "static_valgus", "trunk_lean", "asymmetry", "borderline", *REASONS}
    assert codes <= set(g["findings"])
    for code, entry in g["findings"].items():
        assert entry["meaning"] and all(e in g["exercises"] for e in entry["exercises"]), code
        assert len(entry["exercises"]) <= 3
    assert "not a diagnosis" in g["disclaimer"] and "worth coaching" in g["flag_meaning"]


def test_guidance_for_a_flag_and_for_a_referral():
    flag = guidance_for(trial(14.0))
    assert flag["flag_meaning"] and flag["items"][0]["code"] == "dynamic_valgus_left"
    assert 2 <= len(flag["items"][0]["exercises"]) <= 3 and flag["cues"]
    j = Jump(static={"left": 12.0, "right": 1.0}, fppa_ic={"left": 12.0, "right": 2.0})
    ref = guidance_for(analyze_trial(frames(j), mat(j)))
    assert any(i["code"] == "static_valgus" and i["professional"] for i in ref["items"])
    assert all(not i["exercises"] for i in ref["items"]) and not ref["cues"]


def test_guidance_for_a_retake_explains_the_fix():
    g = guidance_for(trial(2.0, fps=15))
    assert g["verdict"] == "RETAKE" and g["items"][0]["code"] == "camera_too_slow" and g["flag_meaning"] is None
