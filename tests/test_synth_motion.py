"""The synthetic athlete's motion and truth: events, requested valgus, sides, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.errors import InputError
from kiosk.keypoints import KP
from kiosk.synth.clip import compute_truth, leg_fppa, project_joints
from kiosk.synth.motion import knee_flexion_deg
from kiosk.synth.params import sample_params
from kiosk.synth.scene import make_scene

SEEDS = (0, 7, 19, 42)


@pytest.mark.parametrize("seed", SEEDS)
def test_requested_dynamic_valgus_is_the_truth_peak(seed: int) -> None:
    p = sample_params(seed)
    truth = compute_truth(make_scene(p), np.zeros(0))
    assert truth.legs["left"]["fppa_peak"] == pytest.approx(p.valgus_left, abs=0.5)
    assert truth.legs["right"]["fppa_peak"] == pytest.approx(p.valgus_right, abs=0.5)
    assert truth.legs["left"]["static_fppa"] == pytest.approx(p.static_valgus_left, abs=0.5)
    assert truth.legs["right"]["static_fppa"] == pytest.approx(p.static_valgus_right, abs=0.5)


@pytest.mark.parametrize(("left", "right"), [(-5.0, 20.0), (12.0, 0.0), (25.0, 25.0)])
def test_explicit_valgus_including_varus(left: float, right: float) -> None:
    p = sample_params(3, valgus_left=left, valgus_right=right, static_valgus_left=2.0, static_valgus_right=2.0)
    legs = compute_truth(make_scene(p), np.zeros(0)).legs
    assert legs["left"]["fppa_peak"] == pytest.approx(left, abs=0.5)
    assert legs["right"]["fppa_peak"] == pytest.approx(right, abs=0.5)


def test_valgus_builds_after_contact_and_recovers() -> None:
    p = sample_params(5, valgus_left=15.0, valgus_right=15.0, static_valgus_left=1.0, static_valgus_right=1.0)
    scene = make_scene(p)
    ev = scene.motion.ev
    t = np.array([ev.initial_contact, (ev.initial_contact + ev.peak_valgus) / 2, ev.peak_valgus, ev.takeoff])
    f = leg_fppa(project_joints(scene, t), "left")
    assert f[0] < f[1] < f[2] and f[3] < f[2]
    assert f[2] == pytest.approx(15.0, abs=0.2)


def test_events_match_the_feet() -> None:
    p = sample_params(11, land_delay_ms=10.0)
    scene = make_scene(p)
    ev, b = scene.motion.ev, scene.body
    eps = 1e-4
    for side, ic in (("left", ev.ic_left), ("right", ev.ic_right)):
        y = scene.motion.ankle(np.array([ic - 0.01, ic - eps, ic, ev.takeoff, ev.takeoff + 0.02, ev.second_landing - eps,
                                         ev.second_landing]), side)[:, 1]
        assert y[0] > b.ankle_h + 0.01          # still in the air 10 ms before its contact
        assert y[1] == pytest.approx(b.ankle_h, abs=1e-3)  # reaches the floor exactly at its contact
        assert y[2] == pytest.approx(b.ankle_h) and y[3] == pytest.approx(b.ankle_h)
        assert y[4] > b.ankle_h + 0.02         # left the floor after take-off
        assert y[5] == pytest.approx(b.ankle_h, abs=1e-3) and y[6] == pytest.approx(b.ankle_h)
    assert ev.ic_right - ev.ic_left == pytest.approx(0.010)
    assert ev.initial_contact == ev.ic_left
    assert ev.takeoff - ev.initial_contact == pytest.approx(p.contact_s)
    assert ev.second_landing - ev.takeoff == pytest.approx(p.flight_s)
    # from 30 cm, the fall lasts sqrt(2h/g)
    assert ev.ic_left - ev.leave_left == pytest.approx(np.sqrt(2 * p.box_height_m / 9.80665))


def test_peak_flexion_is_the_lowest_hips_and_requested_depth() -> None:
    p = sample_params(13, depth_deg=90.0)
    scene = make_scene(p)
    ev = scene.motion.ev
    t = np.arange(ev.initial_contact, ev.takeoff, 0.001)
    pose = scene.motion.evaluate(t)
    assert t[np.argmin(pose["pelvis"][:, 1])] == pytest.approx(ev.peak_flexion, abs=0.002)
    assert knee_flexion_deg(pose, "left").max() == pytest.approx(90.0, abs=3.0)


def test_bone_lengths_are_kept() -> None:
    scene = make_scene(sample_params(17))
    pose = scene.motion.evaluate(np.linspace(0, scene.motion.ev.end, 400))
    for side in ("left", "right"):
        thigh = np.linalg.norm(pose[f"{side}_knee"] - pose[f"{side}_hip"], axis=-1)
        shank = np.linalg.norm(pose[f"{side}_ankle"] - pose[f"{side}_knee"], axis=-1)
        assert np.allclose(thigh, scene.body.thigh, atol=1e-6) and np.allclose(shank, scene.body.shank, atol=1e-6)


def test_athletes_left_is_on_the_image_right() -> None:
    for seed in SEEDS:
        scene = make_scene(sample_params(seed))
        j = project_joints(scene, np.array([0.5, scene.motion.ev.peak_flexion]))
        for name in ("hip", "knee", "ankle", "shoulder", "eye", "ear"):
            assert (j[:, KP[f"left_{name}"], 0] > j[:, KP[f"right_{name}"], 0]).all(), name


def test_same_seed_same_params_different_seed_different() -> None:
    assert sample_params(9) == sample_params(9)
    assert sample_params(9) != sample_params(10)
    a = compute_truth(make_scene(sample_params(9)), np.array([0.0, 1.3]))
    b = compute_truth(make_scene(sample_params(9)), np.array([0.0, 1.3]))
    assert a.to_json() == b.to_json()


def test_sampled_space_is_varied() -> None:
    ps = [sample_params(s) for s in range(40)]
    heights = [p.height_m for p in ps]
    valgus = [p.valgus_left for p in ps]
    assert min(heights) < 1.6 and max(heights) > 1.9
    assert min(valgus) < 0 and max(valgus) > 14
    assert len({p.look_seed for p in ps}) == 40
    assert all(3.0 <= p.camera_distance_m <= 4.0 and 0.5 <= p.camera_height_m <= 1.0 and abs(p.yaw_deg) <= 10 for p in ps)


def test_bad_values_are_refused_with_one_line() -> None:
    with pytest.raises(InputError, match="fps = 1000"):
        sample_params(0, fps=1000)
    with pytest.raises(InputError, match="unknown parameter 'colour'"):
        sample_params(0, colour=3)
