"""The synthetic athlete's protocol failures (motions that are not a drop vertical jump): each
motion's exact truth has the property its option claims, the mat edges tell the same story, the
normal trial is unchanged, and the simulate flags map onto the params. Pure: no clip is rendered."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from kiosk.errors import InputError
from kiosk.keypoints import KP
from kiosk.matcsv import format_mat_csv, parse_mat_csv
from kiosk.synth.clip import compute_truth, project_joints
from kiosk.synth.motion import G, Motion
from kiosk.synth.params import PROTOCOL_DEFAULTS, sample_params
from kiosk.synth.protocol import OPTIONS, option_overrides
from kiosk.synth.scene import make_scene
from kiosk.synth.variants import ScaledMotion, VariantMotion, fall_time, hop_timing


def scene_for(name: str, seed: int = 3, value: object = None, **kw: object):
    return make_scene(sample_params(seed, **option_overrides(name, seed, value), **kw))


def airborne(scene, t: np.ndarray, side: str) -> np.ndarray:
    return scene.motion.ankle(t, side)[:, 1] > scene.body.ankle_h + 1e-6


def flight_count(mask: np.ndarray) -> int:
    return int(np.sum(mask[1:] & ~mask[:-1]))


def test_normal_trial_is_unchanged() -> None:
    """The params hash (the demo's and the benches' cache key) and the motion class of a normal trial
    are those from before the protocol options existed."""
    p = sample_params(7, fps=30, width=320, height=240)
    assert p.hash() == "a451cb55b6b882aa"
    assert not set(PROTOCOL_DEFAULTS) & set(p.to_json())
    assert type(make_scene(p).motion) is Motion
    assert "protocol" not in compute_truth(make_scene(p), np.zeros(0)).extra


@pytest.mark.parametrize("n", [2, 4, 7])
def test_hops_have_n_ballistic_flights_after_the_landing(n: int) -> None:
    scene = scene_for("hops", 5, n)
    ev, b = scene.motion.ev, scene.body
    t = np.arange(max(ev.ic_left, ev.ic_right) + 1e-4, ev.end, 0.0005)  # both feet down
    for side in ("left", "right"):
        assert flight_count(np.r_[False, airborne(scene, t, side)]) == n
    assert len(ev.flights) == n
    _, hop_f = hop_timing(scene.params)
    for off, on in ev.flights:
        assert on - off == pytest.approx(hop_f)
        apex = scene.motion.ankle(np.array([(off + on) / 2]), "left")[0, 1] - b.ankle_h
        assert apex == pytest.approx(G * hop_f**2 / 8, rel=1e-6)
    edges = parse_mat_csv(format_mat_csv(compute_truth(scene, np.zeros(0)).mat_edges()))
    assert [e.pressed for e in edges] == [True] + [False, True] * n
    assert compute_truth(scene, np.zeros(0)).extra["protocol"]["flights"] == n


def test_hops_in_place_start_on_the_floor() -> None:
    scene = make_scene(sample_params(5, hops=3, cmj_in_place=True))
    t = np.arange(0.0, scene.motion.ev.end, 0.0005)
    assert flight_count(np.r_[False, airborne(scene, t, "left")]) == 3
    assert scene.motion.ankle(np.array([0.0]), "left")[0, 1] == pytest.approx(scene.body.ankle_h)


def test_countermovement_jump_in_place_has_no_box_and_one_flight() -> None:
    scene = scene_for("cmj-in-place", 4)
    ev, b = scene.motion.ev, scene.body
    t = np.arange(0.0, ev.end, 0.001)
    ankle = scene.motion.ankle(t, "left")
    assert ankle[:, 1].min() == pytest.approx(b.ankle_h)
    assert ankle[0, 1] == pytest.approx(b.ankle_h)            # standing on the floor, not on a box
    assert np.allclose(ankle[:, 2], 0.0)                       # never moves toward the camera
    assert flight_count(np.r_[False, airborne(scene, t, "left")]) == 1
    (t_off, t_on), = ev.flights
    assert ev.initial_contact == pytest.approx(t_on)
    # the countermovement: the hips sink well before the take-off
    pelvis = scene.motion.evaluate(t)["pelvis"][:, 1]
    crouch = pelvis[(t > ev.stand_end) & (t < t_off)].min()
    assert pelvis[t < ev.stand_end].mean() - crouch > 0.1
    truth = compute_truth(scene, np.zeros(0))
    assert [(e.t, e.pressed) for e in truth.mat_edges()] == [(0.0, True), (pytest.approx(t_off, abs=1e-6), False),
                                                            (pytest.approx(t_on, abs=1e-6), True)]
    assert truth.events["takeoff_s"] is None and truth.events["second_landing_s"] is None
    assert truth.extra["protocol"]["expected_findings"] == ["no_box"]


def test_stuck_landing_never_leaves_the_floor_and_stands_up() -> None:
    scene = scene_for("stuck-landing", 6)
    ev, b = scene.motion.ev, scene.body
    t = np.arange(ev.initial_contact, ev.end, 0.001)
    for side in ("left", "right"):
        assert np.allclose(scene.motion.ankle(t, side)[:, 1], b.ankle_h)
    flex = scene.motion.flex(np.array([ev.peak_flexion, ev.end]))
    assert flex[0] == pytest.approx(scene.params.depth_deg) and flex[1] < 15
    truth = compute_truth(scene, np.zeros(0))
    assert [e.pressed for e in truth.mat_edges()] == [True]
    assert truth.events["takeoff_s"] is None


def test_jump_up_off_the_box_rises_then_falls() -> None:
    scene = scene_for("jump-up-off-box", 8)
    p, ev, b = scene.params, scene.motion.ev, scene.body
    assert 1.2 <= p.jump_up_off_box_mps <= 1.8
    t = np.arange(ev.leave_left, ev.initial_contact, 0.0005)
    y = scene.motion.ankle(t, "left")[:, 1]
    rise = y.max() - (p.box_height_m + b.ankle_h)
    assert rise == pytest.approx(p.jump_up_off_box_mps**2 / (2 * G), abs=1e-4)
    assert ev.initial_contact - ev.leave_left == pytest.approx(fall_time(p.box_height_m, p.jump_up_off_box_mps))
    step_off = make_scene(sample_params(8))
    assert ev.initial_contact - ev.leave_left > step_off.motion.ev.initial_contact - step_off.motion.ev.leave_left + 0.1


@pytest.mark.parametrize("lag_ms", [80.0, -150.0])
def test_toe_first_foot_lands_ahead_by_the_set_time(lag_ms: float) -> None:
    scene = scene_for("toe-first", 9, lag_ms)
    ev, b = scene.motion.ev, scene.body
    first, second = ("left", "right") if lag_ms > 0 else ("right", "left")
    ic = {"left": ev.ic_left, "right": ev.ic_right}
    assert ic[second] - ic[first] == pytest.approx(abs(lag_ms) / 1000)
    assert ev.initial_contact == ic[first]
    truth = compute_truth(scene, np.zeros(0))
    assert truth.mat_edges()[0].t == pytest.approx(ic[first], abs=1e-6)   # the mat closes at the first foot
    mid = np.array([(ic[first] + ic[second]) / 2])
    assert scene.motion.ankle(mid, first)[0, 1] == pytest.approx(b.ankle_h)
    assert scene.motion.ankle(mid, second)[0, 1] > b.ankle_h + 0.02
    # toe first: the leading foot's toe is below its heel while it falls
    pose = scene.motion.evaluate(np.array([ic[first] - 0.05]))
    assert pose[f"{first}_toe"][0, 1] < pose[f"{first}_heel"][0, 1] - 0.02
    # one foot on the mat, the other still above it: neither leg over-stretched, bones exact
    t = np.arange(ev.leave_left - 0.05, ic[second] + 0.1, 0.002)
    pose = scene.motion.evaluate(t)
    for side in ("left", "right"):
        thigh = np.linalg.norm(pose[f"{side}_knee"] - pose[f"{side}_hip"], axis=-1)
        shank = np.linalg.norm(pose[f"{side}_ankle"] - pose[f"{side}_knee"], axis=-1)
        assert np.allclose(thigh, b.thigh, atol=1e-6) and np.allclose(shank, b.shank, atol=1e-6)


def test_toe_first_drawn_lag_is_80_to_150_ms() -> None:
    lags = [option_overrides("toe-first", s)["toe_first_ms"] for s in range(20)]
    assert all(80 <= abs(v) <= 150 for v in lags) and min(lags) < 0 < max(lags)


@pytest.mark.parametrize("speed", [0.25, 2.0])
def test_playback_speed_scales_time_and_apparent_gravity(speed: float) -> None:
    scene = scene_for("playback-speed", 2, speed)
    normal = make_scene(sample_params(2))
    assert isinstance(scene.motion, ScaledMotion)
    ev, ev0 = scene.motion.ev, normal.motion.ev
    for key in ("initial_contact", "takeoff", "second_landing", "end"):
        assert getattr(ev, key) == pytest.approx(getattr(ev0, key) / speed)
    # the fall off the box, on the clip's clock: a parabola with gravity speed**2 times g
    t = np.linspace(ev.leave_left + 0.01 / speed, ev.ic_left - 0.01 / speed, 40)
    y = scene.motion.ankle(t, "left")[:, 1]
    assert -2 * np.polyfit(t, y, 2)[0] == pytest.approx(G * speed**2, rel=1e-6)
    truth = compute_truth(scene, np.zeros(0))
    assert truth.mat_edges()[0].t == pytest.approx(ev0.initial_contact / speed, abs=1e-5)
    assert truth.extra["protocol"]["apparent_gravity_mps2"] == pytest.approx(G * speed**2, abs=1e-3)
    assert np.array_equal(project_joints(scene, np.array([ev.peak_flexion])),
                          project_joints(normal, np.array([ev0.peak_flexion])))


@pytest.mark.parametrize("seed", [1, 2])
def test_hand_crosses_in_front_of_the_knee_during_the_landing(seed: int) -> None:
    scene = scene_for("hand-over-knee", seed)
    side = scene.params.hand_over_knee
    ev, cam = scene.motion.ev, scene.camera
    # the arm reaches the knee once the trunk bends (~50 ms after contact) and leaves as it straightens
    t = np.linspace(ev.initial_contact + 0.05, ev.takeoff - 0.1, 12)
    pose = scene.motion.evaluate(t)
    (wrist, hand, knee), depth = cam.project(np.stack([pose[f"{side}_wrist"], pose[f"{side}_hand"], pose[f"{side}_knee"]]))
    seg = hand - wrist
    s = np.clip(((knee - wrist) * seg).sum(-1) / (seg * seg).sum(-1), 0, 1)
    gap = np.linalg.norm(wrist + s[:, None] * seg - knee, axis=-1)
    knee_px = cam.f * scene.body.knee_r / depth[2]
    assert (gap < knee_px).all()                    # the hand's line passes over the kneecap in the image
    assert (depth[1] < depth[2]).all()              # nearer the camera than the knee
    # before the landing the arm is the normal one
    normal = make_scene(sample_params(seed))
    early = np.array([ev.stand_end])
    assert np.allclose(scene.motion.evaluate(early)[f"{side}_wrist"], normal.motion.evaluate(early)[f"{side}_wrist"])
    assert compute_truth(scene, np.zeros(0)).extra["protocol"]["hidden_knee"] == side


def test_static_figure_is_still_in_frame_and_clear_of_the_athlete() -> None:
    scene = scene_for("static-figure", 11)
    truth = compute_truth(scene, np.zeros(0))
    fig = np.array(list(truth.extra["static_figure_joints"].values()))
    w, h = scene.params.width, scene.params.height
    assert (fig[:, 0] > 0).all() and (fig[:, 0] < w).all() and (fig[:, 1] > 0).all() and (fig[:, 1] < h).all()
    athlete = project_joints(scene, np.linspace(0, scene.motion.ev.end, 60))
    lo, hi = fig[:, 0].min(), fig[:, 0].max()
    assert ((athlete[..., 0].max(-1) < lo) | (athlete[..., 0].min(-1) > hi)).all()  # never overlaps
    assert (fig[:, 1].max() - fig[:, 1].min()) > 0.35 * h   # a person's size, not a speck
    assert type(scene.motion) is Motion                      # the athlete does a normal trial


def test_step_nearer_lands_nearer_and_stays_in_frame() -> None:
    scene = scene_for("step-nearer", 12)
    step = scene.params.step_nearer_m
    assert 0.5 <= step <= 0.7
    ev = scene.motion.ev
    assert scene.motion.ankle(np.array([ev.initial_contact, ev.end]), "left")[:, 2] == pytest.approx([step, step])
    j = project_joints(scene, np.array([ev.initial_contact]))[0]
    (_, spot_v), _ = scene.camera.project(np.array([scene.body.ankle_h, scene.body.ankle_h, 0.0]))
    assert j[KP["left_ankle"], 1] > spot_v + 20   # well below the normal landing spot in the picture
    every = project_joints(scene, np.linspace(0, ev.end, 80))
    assert every[..., 1].max() < scene.params.height and every[..., 1].min() > 0


@pytest.mark.parametrize("name", list(OPTIONS))
def test_every_option_writes_its_finding_and_a_valid_mat_file(name: str) -> None:
    scene = scene_for(name, 13)
    truth = compute_truth(scene, np.zeros(0))
    assert truth.extra["protocol"]["expected_findings"] == [OPTIONS[name].finding]
    edges = parse_mat_csv(format_mat_csv(truth.mat_edges()))
    assert edges[0].pressed and all(0 <= e.t <= scene.motion.ev.end for e in edges)
    if name not in ("playback-speed", "static-figure"):
        assert isinstance(scene.motion, VariantMotion)


@pytest.mark.parametrize(("over", "match"), [
    ({"hops": 1}, "hops = 1"),
    ({"cmj_in_place": True, "jump_up_off_box_mps": 1.5}, "cmj-in-place has no box"),
    ({"stuck_landing": True, "hops": 3}, "exclude each other"),
    ({"hand_over_knee": "middle"}, "hand-over-knee"),
    ({"playback_speed": 0.0}, "playback-speed = 0.0"),
    ({"toe_first_ms": 200.0, "contact_s": 0.25, "absorb_s": 0.1}, "toe-first"),
])
def test_bad_protocol_values_are_refused(over: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        sample_params(0, **over)


def test_simulate_flags_map_to_the_params() -> None:
    from kiosk.commands import simulate

    parser = argparse.ArgumentParser()
    simulate.register(parser.add_subparsers())

    def over(*flags: str) -> dict:
        args = parser.parse_args(["simulate", "--out", "x", "--seed", "4", *flags])
        return simulate.overrides_from_args(args)

    assert over("--hops", "5") == {"hops": 5}
    assert over("--cmj-in-place") == {"cmj_in_place": True}
    assert over("--toe-first") == option_overrides("toe-first", 4)
    assert over("--toe-first", "-120") == {"toe_first_ms": -120.0}
    assert over("--playback-speed", "0.25") == {"playback_speed": 0.25}
    assert over("--hand-over-knee") == option_overrides("hand-over-knee", 4)
    assert over("--hand-over-knee", "right") == {"hand_over_knee": "right"}
    assert over("--step-nearer", "0.6", "--static-figure") == {"step_nearer_m": 0.6, "static_figure": True}
    assert over("--jump-up-off-box", "--stuck-landing") == option_overrides("jump-up-off-box", 4) | {"stuck_landing": True}
    assert over() == {}
