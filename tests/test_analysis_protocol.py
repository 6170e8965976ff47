"""Protocol gates on hand-built keypoint series: each way of not doing a drop vertical jump gives
RETAKE with its own reason, with the mat and without; a clean drop jump passes them all."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_analysis_build import H, Jump, W, pose_at, times
from test_analysis_build import frames as jump_frames
from test_analysis_build import mat as jump_mat

from kiosk.analysis.gates import REASONS, Failure, check_second_person, jump_figures_shown, root_causes
from kiosk.analysis.phases import detect_events
from kiosk.analysis.protocol import flights
from kiosk.analysis.series import from_frames
from kiosk.analysis.trial import analyze_trial
from kiosk.keypoints import KP, NUM_KEYPOINTS, PoseFrame
from kiosk.matcsv import MatEdge

FLOOR = H - 90.0
ANKLES = [KP["left_ankle"], KP["right_ankle"]]


def retake(result, code: str) -> None:
    assert result.verdict == "RETAKE", (result.findings, result.quality.get("details"))
    assert code in result.findings, (result.findings, result.quality.get("details"))
    assert REASONS[code] in result.reasons


def build(j: Jump, ts: np.ndarray, shape) -> list[PoseFrame]:
    """Frames at ``ts`` where ``shape(t, kp)`` edits the true (17, 2) pose of ``j`` in place."""
    out = []
    for i, t in enumerate(ts):
        xy = pose_at(j, float(t))
        shape(float(t), xy)
        kp = np.concatenate([xy, np.full((NUM_KEYPOINTS, 1), 0.9)], axis=1)
        out.append(PoseFrame(index=i, t=float(t), keypoints=kp.astype(np.float32)))
    return out


def shift_to(xy: np.ndarray, ankle_y: float) -> None:
    """Move the whole body so the ankles' mean y is ``ankle_y`` (a rigid body in the air)."""
    xy[:, 1] += ankle_y - xy[ANKLES, 1].mean()


def both(frames_, edges) -> list:
    """The trial scored with the mat and from the video alone."""
    return [analyze_trial(frames_, edges, frame_size=(W, H)), analyze_trial(frames_, None, frame_size=(W, H))]


def test_a_clean_drop_jump_passes_the_protocol_gates_with_and_without_the_mat():
    j = Jump(noise_px=0.5)
    for r in both(jump_frames(j), jump_mat(j)):
        assert r.verdict == "PASS", (r.findings, r.quality.get("details"))
        assert r.quality["box_height_ll"] == pytest.approx(j.box_px / j.leg_px, abs=0.03)
        assert r.quality["flights"] == 1
        assert 8 < r.quality["fall_g_ll"] < 14 and 8 < r.quality["flight_g_ll"] < 14
        assert abs(r.quality["foot_contact_gap_s"]) < 0.01
        assert r.quality["scale_growth"] == pytest.approx(1.0, abs=0.02)
        assert r.metrics.flight_time_s is not None


def test_jump_in_place_without_a_box_is_no_box():
    """A countermovement jump on the floor: standing at the landing level, a crouch, a jump."""
    j = Jump()

    def on_floor(t, xy):
        if t < j.ic:
            shift_to(xy, FLOOR)

    fr = build(j, times(j), on_floor)
    for r in both(fr, jump_mat(j)):
        retake(r, "no_box")
        assert "mat_video_disagree" not in r.findings
        assert r.metrics.jump_height_m is None  # no jump figures for what was not a drop jump


def test_bouncing_on_the_box_without_standing_still_is_no_box():
    j = Jump()

    def sway(t, xy):
        if t < j.t0 + j.stand_s:
            xy[:, 1] += 25 * math.sin(2 * math.pi * 3.0 * (t - j.t0))   # bouncing, never level for 0.1 s

    for r in both(build(j, times(j), sway), jump_mat(j)):
        retake(r, "no_box")


def test_a_box_seen_only_briefly_before_the_drop_still_counts():
    """The tracker found the athlete only 0.15 s before the step-off (synthetic seed 0): not
    still for long enough to be a standing window, but level on the box, so not no_box."""
    j = Jump()
    unseen = j.t0 + j.stand_s - 0.15

    def late(i, t, kp):
        if t < unseen:
            kp[:, 2] = 0.1

    for r in both(jump_frames(j, late), jump_mat(j)):
        assert r.verdict == "PASS", (r.findings, r.quality.get("details"))


def test_the_top_of_a_jump_is_no_box():
    """A jump in place seen from its top on: level for a moment, but reached by rising."""
    j = Jump()

    def cmj(t, xy):
        if t < j.ic:
            u = t - (j.ic - 0.5)          # a 0.5 s flight from the floor
            shift_to(xy, FLOOR - max(0.0, 1600 * u * (0.5 - u)))

    for r in both(build(j, times(j), cmj), jump_mat(j)):
        retake(r, "no_box")


def test_a_slow_step_down_is_no_drop():
    """Lowered from the box over 0.8 s instead of falling: 0.42 leg lengths per second."""
    j = Jump(stand_s=1.2)
    start = j.ic - 0.8

    def step_down(t, xy):
        if start <= t < j.ic:
            shift_to(xy, FLOOR - j.box_px * (1 - (t - start) / 0.8))
        elif t < start:
            shift_to(xy, FLOOR - j.box_px)

    for r in both(build(j, times(j), step_down), jump_mat(j)):
        retake(r, "no_drop")
        assert r.quality["fall_g_ll"] < 3


@pytest.mark.parametrize("speed", [0.25, 2.0])
def test_slow_motion_or_sped_up_playback_is_wrong_speed(speed):
    """The real clip's frames with their times stretched (slow motion) or squeezed (sped up)."""
    j = Jump(fps=(30.0 if speed < 1 else 120.0) / speed)  # a 30 fps slow-motion file, a 120 fps fast one
    fr = [PoseFrame(f.index, j.t0 + (f.t - j.t0) / speed, f.keypoints) for f in jump_frames(j)]
    edges = [MatEdge(j.t0 + (e.t - j.t0) / speed, e.pressed) for e in jump_mat(j)]
    for r in both(fr, edges):
        retake(r, "wrong_speed")
        assert "no_drop" not in r.findings and "implausible_jump" not in r.findings  # the cause, not its symptoms


def test_a_jump_up_off_the_box_is_jumped_off_box():
    j = Jump(stand_s=1.0)
    g = 2 * j.box_px / j.fall_s**2
    v0 = math.sqrt(2 * g * 40.0)                          # both feet rise 40 px (0.13 leg lengths)
    air = v0 / g + math.sqrt(2 * (j.box_px + 40.0) / g)
    start = j.ic - air

    def hop_off(t, xy):
        if t < start:
            shift_to(xy, FLOOR - j.box_px)
        elif t < j.ic:
            u = t - start
            shift_to(xy, FLOOR - j.box_px - v0 * u + 0.5 * g * u * u)

    for r in both(build(j, times(j), hop_off), jump_mat(j)):
        retake(r, "jumped_off_box")


def test_a_stuck_landing_is_no_rebound():
    j = Jump()

    def stick(t, xy):
        if t > j.takeoff:
            shift_to(xy, FLOOR)

    fr = build(j, times(j), stick)
    for r in both(fr, [MatEdge(j.ic, True)]):
        retake(r, "no_rebound")
        assert r.metrics.contact_time_s is None


def test_a_landing_held_before_a_late_jump_is_no_rebound():
    j = Jump(contact_s=1.3, after_s=0.5)
    for r in both(jump_frames(j), jump_mat(j)):
        retake(r, "no_rebound")


def test_continuous_hops_are_hopping():
    """Two more hops after the rebound: three flights where a drop jump has one."""
    j = Jump(after_s=1.6)
    g = 2 * j.box_px / j.fall_s**2
    hops = [(j.landing + 0.3 + k * 0.7, 0.4) for k in range(2)]

    def hop(t, xy):
        for start, flight in hops:
            if start <= t <= start + flight:
                u = t - start
                shift_to(xy, FLOOR - (g * flight / 2 * u - 0.5 * g * u * u))

    fr = build(j, times(j), hop)
    edges = jump_mat(j) + [MatEdge(e, p) for s, f in hops for e, p in ((s, False), (s + f, True))]
    for r in both(fr, edges):
        retake(r, "hopping")
        assert r.quality["flights"] == 3
        assert "no_box" not in r.findings


def test_one_foot_landing_well_before_the_other_is_uneven_landing():
    j = Jump()
    lag = 0.12

    def late_right(t, xy):
        if t < j.ic + lag:
            xy[KP["right_ankle"], 1] = pose_at(j, t - lag)[KP["right_ankle"], 1]

    for r in both(build(j, times(j), late_right), jump_mat(j)):
        retake(r, "uneven_landing")
        assert r.quality["foot_contact_gap_s"] == pytest.approx(-lag, abs=0.02)  # the left foot first


def test_a_small_landing_delay_is_fine():
    j = Jump()

    def late_right(t, xy):
        if t < j.ic + 0.02:
            xy[KP["right_ankle"], 1] = pose_at(j, t - 0.02)[KP["right_ankle"], 1]

    for r in both(build(j, times(j), late_right), jump_mat(j)):
        assert "uneven_landing" not in r.findings, r.quality.get("details")


@pytest.mark.parametrize(("kwargs", "why"), [({"contact_s": 0.09, "peak_frac": 0.5}, "contact"),
                                             ({"flight_s": 1.2}, "flight")])
def test_contact_or_flight_outside_physical_ranges_is_implausible_jump(kwargs, why):
    j = Jump(**kwargs)
    for r in both(jump_frames(j), jump_mat(j)):
        retake(r, "implausible_jump")
        assert any(why in d for d in r.quality["details"])
        assert r.metrics.flight_time_s is None and r.metrics.jump_height_m is None and r.metrics.rsi is None


def test_a_leap_toward_the_camera_is_off_mark():
    """The body grows 1.6x from the box to the landing (a leap forward, not a drop)."""
    j = Jump()
    start = j.t0 + j.stand_s

    def nearer(t, xy):
        grow = 1 + 0.6 * float(np.clip((t - start) / (j.ic - start), 0, 1))
        xy[:, 0] = W / 2 + (xy[:, 0] - W / 2) * grow
        xy[:, 1] = FLOOR + (xy[:, 1] - FLOOR) * grow

    for r in both(build(j, times(j), nearer), jump_mat(j)):
        retake(r, "off_mark")
        assert r.quality["scale_growth"] > 1.4


def test_a_figure_that_does_not_move_with_the_mat_is_second_person():
    """The tracker on a poster or a screen: the mat closes, the figure never moves."""
    j = Jump()
    still = pose_at(j, j.t0)
    fr = build(j, times(j), lambda t, xy: xy.__setitem__(slice(None), still))
    r = analyze_trial(fr, jump_mat(j), frame_size=(W, H))
    retake(r, "second_person")
    assert "no_box" not in r.findings  # the figure's missing box is not the athlete's


def test_a_hand_over_the_knee_is_legs_not_seen_not_turned_away():
    """The model puts the knee on the hand held over it: an impossible knee angle, and the
    retake says to keep the hands off the legs."""
    j = Jump()

    def hand(t, xy):
        if j.ic - 0.05 <= t <= j.takeoff:
            k = KP["left_knee"]
            xy[k, 0] += 120                                   # the knee read 120 px off, on the hand
            xy[KP["left_elbow"]] = xy[k] + (0, -110)          # the forearm hangs down to it
            xy[KP["left_wrist"]] = xy[k] + (3, -30)           # the wrist above, the hand on the knee

    for r in both(build(j, times(j), hand), jump_mat(j)):
        retake(r, "legs_not_seen")
        assert "turned_away" not in r.findings and "implausible_pose" not in r.findings
        assert "hands" in r.reasons[r.findings.index("legs_not_seen")]


def test_a_camera_at_5_fps_is_named_even_without_a_landing():
    j = Jump(fps=5.0)
    fr = [f for f in jump_frames(j) if f.t < j.ic - 0.1]
    r = analyze_trial(fr + [PoseFrame(len(fr) + k, fr[-1].t + 0.2 * (k + 1), fr[-1].keypoints) for k in range(3)], None)
    retake(r, "camera_too_slow")
    retake(r, "no_landing")


def test_the_switch_time_is_the_jump_to_another_body_not_the_first_frames():
    """The first frame lands on someone else (the tracker before it locks on), then the athlete
    for a while, then a passer-by from 1.5 s: the evidence names 1.5 s."""
    j = Jump()

    def other(t, xy):
        if t < j.t0 + 0.005 or t >= j.t0 + 1.5:
            xy[:, 0] += 250

    raw = from_frames(build(j, times(j), other), 0.3)
    ev = detect_events(raw.t, raw.xy, jump_mat(j))
    f = check_second_person(raw, ev)
    assert f is not None and f.code == "second_person"
    assert f"{j.t0 + 1.5 - 1 / j.fps:.2f}" in f.detail or f"{j.t0 + 1.5:.2f}" in f.detail, f.detail


def test_flights_counts_only_both_feet_off_the_ground():
    t = np.arange(0, 3, 1 / 60)
    scale = 300.0
    y = np.full_like(t, 600.0)
    for s in (0.5, 1.5):                                   # two hops of 0.4 s, 36 px high
        u = t - s
        y = np.where((u >= 0) & (u <= 0.4), 600 - 4 * 36 * u * (0.4 - u) / 0.16, y)
    assert len(flights(t, y, scale)) == 2
    step = np.where(t < 1.0, 500.0, 600.0)                 # a step down from a box is no flight
    assert flights(t, step, scale) == []


def test_protocol_causes_hide_their_symptoms():
    codes = [f.code for f in root_causes([Failure("no_box", ""), Failure("no_drop", ""), Failure("mat_video_disagree", ""),
                                          Failure("camera_too_slow", "")])]
    assert codes == ["no_box", "camera_too_slow"]   # a slow camera is named alongside
    codes = [f.code for f in root_causes([Failure("wrong_speed", ""), Failure("no_drop", ""), Failure("no_box", "")])]
    assert codes == ["wrong_speed", "no_box"]


def test_jump_figures_stay_for_a_landing_fault_that_still_timed_a_rebound():
    j = Jump()
    m = analyze_trial(jump_frames(j), jump_mat(j)).metrics
    assert jump_figures_shown(m, [Failure("uneven_landing", "")]) is m
    assert jump_figures_shown(m, [Failure("hopping", "")]).jump_height_m is None


def test_body_motion_tells_a_still_figure_from_a_jumper():
    """Without a mat, a tracked figure that never moves is probed for the jumper beside it
    (kiosk.pose.refine.second_body); the measure: hips and ankles' travel in leg lengths."""
    from kiosk.analysis.gates import STATIC_LL, body_motion

    j = Jump(noise_px=1.0)
    jumper = from_frames(jump_frames(j), 0.3).xy
    still = pose_at(j, j.t0)
    poster = from_frames(build(j, times(j), lambda t, xy: xy.__setitem__(slice(None), still)), 0.3).xy
    assert body_motion(jumper) > 2 * STATIC_LL
    assert body_motion(poster) < 0.1 * STATIC_LL
