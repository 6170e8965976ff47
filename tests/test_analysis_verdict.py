"""Verdict rules, borderline band, referral, sessions, JSON round trips and guidance."""

from __future__ import annotations

import json

import pytest
from test_analysis_build import Jump, frames, mat

from kiosk.analysis import SCORING_VERSION, Thresholds, TrialResult, analyze_trial, summarize_session
from kiosk.analysis.guidance import guidance_for, load_guidance
from kiosk.analysis.limits import age_in_year, applied_limit
from kiosk.analysis.result import SessionResult
from kiosk.analysis.verdict import ScoreInput, score

TH = Thresholds()
LR = ("left", "right")


def inp(disp=(2.0, 2.0), peak=(5.0, 5.0), static=(1.0, 1.0), lean=0.0, push=(None, None)) -> ScoreInput:
    return ScoreInput(valgus_displacement=dict(zip(LR, disp, strict=True)),
                      fppa_peak_flexion=dict(zip(LR, peak, strict=True)),
                      static_fppa=dict(zip(LR, static, strict=True)), trunk_lean_ic_deg=lean,
                      pushoff_valgus=dict(zip(LR, push, strict=True)))


def test_pass_when_nothing_crosses():
    s = score(inp(), TH)
    assert s.verdict == "PASS" and s.findings == ("pass",) and not s.borderline and not s.refer
    assert "normal" not in " ".join(s.reasons).lower()


@pytest.mark.parametrize(("disp", "code"), [((11.0, 2.0), "dynamic_valgus_left"), ((2.0, 10.6), "dynamic_valgus_right"),
                                            ((12.0, 15.0), "dynamic_valgus_both")])
def test_valgus_displacement_flags_per_leg(disp, code):
    s = score(inp(disp=disp, peak=(3.0, 3.0)), TH)
    assert s.verdict == "FLAG" and s.findings[0] == code


@pytest.mark.parametrize(("sex", "peak", "verdict"), [("female", 12.5, "PASS"), ("female", 13.5, "FLAG"), ("male", 8.5, "FLAG"),
                                                      ("male", 7.0, "PASS"), (None, 12.5, "PASS"), (None, 13.5, "FLAG"),
                                                      ("prefer_not_to_say", 12.5, "PASS")])
def test_peak_fppa_uses_the_limit_that_applies(sex, peak, verdict):
    s = score(inp(peak=(peak, 2.0)), TH, applied_limit(TH, sex, 25))
    assert s.verdict == verdict and s.limit.peak_fppa_deg == (8.0 if sex == "male" else 13.0)


@pytest.mark.parametrize(("sex", "age", "limit", "why"), [
    ("female", 25, 13.0, "female: the female range (up to 13°) was used; adult reference range"),
    ("male", 30, 8.0, "male: the male range (up to 8°) was used; adult reference range"),
    (None, 25, 13.0, "sex not recorded: the female range (up to 13°) was used, the more lenient of the two; "
                     "adult reference range"),
    ("", 25, 13.0, "sex not recorded: the female range"),
    ("prefer_not_to_say", 25, 13.0, "prefer not to say: the female range (up to 13°) was used, the more lenient"),
    ("Prefer not to say", 25, 13.0, "prefer not to say: the female range"),
    ("female", 14, 13.0, "female: the female range (up to 13°) was used; adult reference range: under 18"),
    ("male", None, 8.0, "male: the male range (up to 8°) was used; adult reference range: age not recorded"),
])
def test_each_limit_says_why(sex, age, limit, why):
    lim = applied_limit(TH, sex, age)
    assert lim.peak_fppa_deg == limit and lim.why.startswith(why)
    assert lim.adult_reference == (age is None or age < 18)


def test_the_limit_follows_the_config_and_the_birth_year():
    th = Thresholds(peak_fppa_female_deg=12.0)
    assert applied_limit(th, None).peak_fppa_deg == 12.0 and "up to 12°" in applied_limit(th, None).why
    assert age_in_year(2012, 2026) == 14 and age_in_year("2008", 2026) == 18
    assert age_in_year(None, 2026) is None and age_in_year(2030, 2026) is None and age_in_year("x", 2026) is None


def test_kasr_decides_nothing():
    assert not hasattr(TH, "kasr_peak_min")
    assert "kasr" not in {f.lower() for f in ScoreInput.__dataclass_fields__}


@pytest.mark.parametrize(("rule", "value", "limit_attr", "band_attr"), [
    ("valgus_displacement", {"disp": (9.5, 2.0)}, "valgus_displacement_deg", "borderline_displacement_deg"),
    ("valgus_displacement", {"disp": (11.5, 2.0)}, "valgus_displacement_deg", "borderline_displacement_deg"),
    ("peak_fppa", {"peak": (12.0, 2.0)}, None, "borderline_peak_fppa_deg"),
    ("peak_fppa", {"peak": (14.0, 2.0)}, None, "borderline_peak_fppa_deg"),
    ("static_fppa", {"static": (9.5, 1.0)}, "static_fppa_refer_deg", "borderline_static_deg"),
    ("static_fppa", {"static": (10.5, 1.0)}, "static_fppa_refer_deg", "borderline_static_deg"),
])
def test_borderline_on_every_rule_either_side(rule, value, limit_attr, band_attr):
    s = score(inp(**value), TH)
    assert s.borderline and "borderline" in s.findings
    near = [n for n in s.near_limits if n.rule == rule]
    assert len(near) == 1 and near[0].leg == "left" and near[0].band == getattr(TH, band_attr)
    assert near[0].limit == (getattr(TH, limit_attr) if limit_attr else 13.0)
    # a band of zero marks nothing; far from the limit is not borderline
    assert not score(inp(**value), Thresholds(**{band_attr: 0.0})).borderline
    assert not score(inp(), TH).near_limits


def test_static_valgus_refers_instead_of_coaching():
    s = score(inp(static=(12.0, 1.0)), TH)
    assert s.verdict == "FLAG" and s.refer and "static_valgus" in s.findings
    assert any("see a professional" in r for r in s.reasons)


def test_asymmetry_trunk_lean_and_pushoff_are_notes_not_flags():
    s = score(inp(disp=(9.0, 0.0), lean=-15.0, push=(9.0, None)), TH)
    assert s.verdict == "PASS" and {"asymmetry", "trunk_lean", "pushoff_valgus"} <= set(s.findings)
    assert any("leaned to your right" in r for r in s.reasons)
    assert any("pushed off" in r for r in s.reasons)


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
    codes = {"pass", "dynamic_valgus_left", "dynamic_valgus_right", "dynamic_valgus_both", "high_peak_fppa",
             "static_valgus", "trunk_lean", "asymmetry", "borderline", "pushoff_valgus", *REASONS}
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


def test_session_takes_the_age_its_trials_were_scored_with():
    trials = [analyze_trial(frames(j), mat(j), sex="female", age=13) for j in (Jump(seed=s) for s in range(3))]
    s = summarize_session(trials, thresholds=TH, sex="female")
    assert s.limit["age"] == 13 and s.limit["why"].endswith("adult reference range: under 18")
    assert s.scoring["trials_needed"] == 3 and s.scoring["thresholds"]["valgus_displacement_deg"] == 10.6
