"""Metrics on hand-built jumps with known FPPA, KASR, lean and flight."""

from __future__ import annotations

import math

import pytest
from test_analysis_build import Jump, frames, mat, pose_at

from kiosk import geometry
from kiosk.analysis.trial import analyze_trial
from kiosk.keypoints import KP


def run(j: Jump, with_mat: bool = True, **kw):
    return analyze_trial(frames(j), mat(j) if with_mat else None, **kw)


@pytest.mark.parametrize("fps", [120, 60])
def test_fppa_per_leg_in_the_athletes_own_sides(fps):
    j = Jump(fps=fps, valgus={"left": 14.0, "right": 2.0}, fppa_ic={"left": 3.0, "right": -2.0},
             static={"left": 1.0, "right": 4.0})
    r = run(j)
    L, R = r.metrics.left, r.metrics.right
    assert L.fppa_ic == pytest.approx(3.0, abs=0.3) and R.fppa_ic == pytest.approx(-2.0, abs=0.3)
    assert L.fppa_peak == pytest.approx(17.0, abs=0.5) and R.fppa_peak == pytest.approx(0.0, abs=0.5)
    assert L.valgus_displacement == pytest.approx(14.0, abs=0.6)
    assert R.valgus_displacement == pytest.approx(2.0, abs=0.6)
    assert L.fppa_peak_flexion == pytest.approx(17.0, abs=0.5)
    assert L.static_fppa == pytest.approx(1.0, abs=0.2) and R.static_fppa == pytest.approx(4.0, abs=0.2)
    assert abs(L.peak_fppa_s - j.peak) <= 2 / fps
    assert r.findings[0] == "dynamic_valgus_left"   # the left leg, not swapped


def test_noise_does_not_bias_the_peak_much():
    errs = []
    for seed in range(6):
        j = Jump(noise_px=1.5, seed=seed, valgus={"left": 10.0, "right": 10.0})
        r = run(j)
        errs += [r.metrics.left.fppa_peak - 12.0, r.metrics.right.fppa_peak - 12.0]
    rms = math.sqrt(sum(e * e for e in errs) / len(errs))
    assert rms < 1.5


def test_kasr_and_knee_separation_match_the_truth():
    j = Jump(valgus={"left": 15.0, "right": 15.0})
    r = run(j)
    kp = pose_at(j, j.peak)
    true_kasr = float(geometry.kasr(kp[KP["left_knee"]], kp[KP["right_knee"]], kp[KP["left_ankle"]], kp[KP["right_ankle"]]))
    true_sep = float(geometry.knee_separation_pct(kp[KP["left_knee"]], kp[KP["right_knee"]], kp[KP["left_hip"]],
                                                  kp[KP["right_hip"]]))
    assert r.metrics.kasr_peak == pytest.approx(true_kasr, abs=0.02)
    assert r.metrics.knee_sep_pct_peak == pytest.approx(true_sep, abs=2.0)
    assert r.metrics.kasr_ic > r.metrics.kasr_peak
    assert r.metrics.kasr_min <= r.metrics.kasr_peak + 1e-9
    assert r.metrics.static_kasr == pytest.approx(
        float(geometry.kasr(*(pose_at(j, 0.2)[KP[n]] for n in ("left_knee", "right_knee", "left_ankle", "right_ankle")))),
        abs=0.01)


def test_trunk_lean_sign_is_the_athletes_side():
    r = run(Jump(lean_px=40.0))     # shoulders shift toward image right = athlete's left
    assert r.metrics.trunk_lean_peak_deg == pytest.approx(math.degrees(math.atan(40 / 170)), abs=1.0)
    assert "trunk_lean" in r.findings
    assert run(Jump(lean_px=-40.0)).metrics.trunk_lean_peak_deg < -10


def test_stance_width_ratio_at_contact():
    r = run(Jump(ankle_sep=110.0, shoulder_w=110.0))
    assert r.metrics.stance_width_ratio == pytest.approx(1.0, abs=0.01)


def test_jump_metrics_from_the_mat():
    j = Jump(contact_s=0.30, flight_s=0.50)
    r = run(j)
    m = r.metrics
    assert m.contact_time_s == pytest.approx(0.30, abs=1e-9)
    assert m.flight_time_s == pytest.approx(0.50, abs=1e-9)
    assert m.jump_height_m == pytest.approx(9.80665 * 0.25 / 8)
    assert m.rsi == pytest.approx(m.jump_height_m / 0.30)


def test_jump_metrics_from_video_alone_are_close():
    j = Jump(contact_s=0.30, flight_s=0.50)
    r = run(j, with_mat=False)
    assert r.events.source == "video"
    assert r.metrics.flight_time_s == pytest.approx(0.50, abs=2 / 120)
    assert r.metrics.contact_time_s == pytest.approx(0.30, abs=2 / 120)
