"""Every quality gate on a hand-built series: each gives RETAKE with its own reason, never PASS."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_analysis_build import H, Jump, W, frames, mat

from kiosk.analysis.gates import (
    REASONS,
    Failure,
    check_second_body,
    face_share,
    facing_evidence,
    root_causes,
    with_failure,
)
from kiosk.analysis.trial import analyze_trial
from kiosk.keypoints import KP, LOWER_LIMB
from kiosk.matcsv import MatEdge


def retake(result, code: str) -> None:
    assert result.verdict == "RETAKE", result.findings
    assert code in result.findings, result.findings
    assert REASONS[code] in result.reasons


def test_a_clean_jump_passes_every_gate():
    j = Jump(noise_px=1.0)
    r = analyze_trial(frames(j), mat(j), frame_size=(W, H))
    assert r.verdict == "PASS", r.reasons
    assert r.quality["hip_width_ratio"] == pytest.approx(1.0, abs=0.05)


def test_no_landing():
    j = Jump()
    fr = [f for f in frames(j) if f.t < j.ic - 0.1]   # the clip ends in the air
    retake(analyze_trial(fr, None), "no_landing")


def test_landed_off_the_mat_when_it_never_closed():
    j = Jump()
    retake(analyze_trial(frames(j), []), "off_mat")


def test_landed_off_the_mat_when_it_closed_only_at_the_second_landing():
    j = Jump()
    retake(analyze_trial(frames(j), [MatEdge(j.landing, True)]), "off_mat")


def test_mat_and_video_disagree():
    j = Jump()
    late = [MatEdge(j.ic + 0.09, True), MatEdge(j.takeoff, False), MatEdge(j.landing, True)]
    retake(analyze_trial(frames(j), late), "mat_video_disagree")


def test_mat_within_tolerance_is_fine():
    j = Jump()
    near = [MatEdge(j.ic + 0.012, True), MatEdge(j.takeoff, False), MatEdge(j.landing, True)]
    assert analyze_trial(frames(j), near).verdict == "PASS"


@pytest.mark.parametrize("fps", [15, 20])
def test_camera_too_slow(fps):
    j = Jump(fps=fps)
    retake(analyze_trial(frames(j), mat(j)), "camera_too_slow")


def test_feet_cut_off_by_the_bottom_edge():
    j = Jump()
    retake(analyze_trial(frames(j), mat(j), frame_size=(W, int(j.leg_px + 330))), "feet_cut_off")


def test_feet_cut_off_as_missing_ankles():
    j = Jump()

    def hide(i, t, kp):
        if t > j.ic - 0.2:
            kp[[KP["left_ankle"], KP["right_ankle"]], 2] = 0.05
    retake(analyze_trial(frames(j, hide), mat(j)), "feet_cut_off")


def test_legs_not_seen():
    j = Jump()

    def occlude(i, t, kp):
        if j.ic + 0.02 < t < j.ic + 0.25:
            kp[[KP["left_knee"], KP["right_knee"]], 2] = 0.1
    retake(analyze_trial(frames(j, occlude), mat(j)), "legs_not_seen")


def test_one_dropped_frame_is_bridged_not_a_retake():
    j = Jump()

    def drop(i, t, kp):
        if abs(t - j.peak) < 0.5 / j.fps:
            kp[list(LOWER_LIMB), 2] = 0.0
    assert analyze_trial(frames(j, drop), mat(j)).verdict == "PASS"


def test_turned_away_during_the_landing():
    j = Jump()

    def turn(i, t, kp):  # hips narrow to 60% from contact on: the athlete rotated
        if t > j.ic - 0.1:
            cx = (kp[KP["left_hip"], 0] + kp[KP["right_hip"], 0]) / 2
            for name in ("left_hip", "right_hip"):
                kp[KP[name], 0] = cx + 0.6 * (kp[KP[name], 0] - cx)
    retake(analyze_trial(frames(j, turn), mat(j)), "turned_away")


def _seen_from_behind(kp) -> None:
    """What MoveNet returns for an athlete whose sides it reads from behind: every left/right
    pair in its partner's place (the same as mirrored coordinates with the labels kept, since the
    built body stands at the image centre)."""
    for name in ("eye", "ear", "shoulder", "elbow", "wrist", "hip", "knee", "ankle"):
        a, b = KP[f"left_{name}"], KP[f"right_{name}"]
        kp[[a, b]] = kp[[b, a]]


def test_whole_body_label_swap_with_a_frontal_face_is_relabelled_and_scored_on_the_right_legs():
    """A mirrored camera cannot be told from keypoints (MoveNet labels a mirror image as a frontal
    person), so the kiosk never mirrors; a whole-body swap with the face in view is the model's
    labelling, and the valgus must land on the athlete's own right leg."""
    j = Jump(valgus={"left": 2.0, "right": 14.0})
    swapped = frames(j, lambda i, t, kp: _seen_from_behind(kp))
    assert swapped[0].keypoints[KP["left_hip"], 0] < W / 2  # the labels really are swapped
    r = analyze_trial(swapped, mat(j), frame_size=(W, H))
    assert r.verdict == "FLAG", r.findings
    assert r.quality["face_seen_share"] == 1.0
    assert r.metrics.right.valgus_displacement == pytest.approx(14.0, abs=1.0)
    assert r.metrics.left.valgus_displacement == pytest.approx(2.0, abs=1.0)
    straight = analyze_trial(frames(j), mat(j), frame_size=(W, H))
    assert r.metrics.right.fppa_peak == pytest.approx(straight.metrics.right.fppa_peak, abs=0.01)


def test_athlete_facing_away_is_turned_away_by_the_face():
    """From behind: the body as MoveNet labels it, with nose and eyes unseen (ears still found)."""
    j = Jump(valgus={"left": 2.0, "right": 14.0})

    def behind(i, t, kp):
        _seen_from_behind(kp)
        kp[[KP["nose"], KP["left_eye"], KP["right_eye"]], 2] = 0.05
    r = analyze_trial(frames(j, behind), mat(j), frame_size=(W, H))
    retake(r, "turned_away")
    assert r.quality["face_seen_share"] == 0.0


def test_a_face_missed_in_a_few_frames_is_not_turned_away():
    j = Jump()

    def blink(i, t, kp):  # the nose dips under the threshold in every third frame, eyes stay
        if i % 3 == 0:
            kp[KP["nose"], 2] = 0.1
    r = analyze_trial(frames(j, blink), mat(j), frame_size=(W, H))
    assert r.verdict == "PASS", r.findings
    assert r.quality["face_seen_share"] == 1.0


def test_face_share_counts_frames_with_shoulders_seen():
    xy = np.full((4, 17, 2), 100.0)
    xy[0, KP["nose"]] = np.nan                            # eyes still show the face
    xy[1, [KP["nose"], KP["left_eye"]]] = np.nan           # nose and one eye gone: not seen
    xy[2, KP["left_shoulder"]] = np.nan                    # no shoulders: not counted
    assert face_share(xy) == pytest.approx(2 / 3)
    xy[:, KP["right_shoulder"]] = np.nan
    assert face_share(xy) is None


def test_second_person_the_model_jumps_to():
    j = Jump()

    def other(i, t, kp):  # for a few frames the model follows someone 200 px to the side
        if j.ic + 0.05 < t < j.ic + 0.1:
            kp[:, 0] += 200
            kp[:, 1] -= 30
    retake(analyze_trial(frames(j, other), mat(j)), "second_person")


def test_implausible_angle():
    j = Jump(valgus={"left": 45.0, "right": 4.0})
    retake(analyze_trial(frames(j), mat(j)), "implausible_pose")


def test_knee_above_hip_is_implausible():
    j = Jump()

    def swap(i, t, kp):
        if j.ic < t < j.takeoff:
            kp[KP["left_knee"], 1] = kp[KP["left_hip"], 1] - 20
    retake(analyze_trial(frames(j, swap), mat(j)), "implausible_pose")


def test_a_retake_is_never_a_pass_even_with_perfect_knees():
    j = Jump(fps=15, valgus={"left": 0.0, "right": 0.0})
    r = analyze_trial(frames(j), mat(j))
    assert r.verdict == "RETAKE" and "pass" not in r.findings
    assert r.metrics.left.fppa_peak is not None  # the numbers are still reported to the coach


def test_quality_reports_the_measured_figures():
    j = Jump()
    fr = frames(j)
    r = analyze_trial(fr, mat(j))
    q = r.quality
    t = np.array([f.t for f in fr])
    assert q["fps"] == pytest.approx(120, abs=0.5)
    assert q["frames_contact_to_peak"] == int(((t >= j.ic) & (t <= r.events.peak_flexion_s)).sum()) >= 4
    assert q["lower_limb_seen_share"] == 1.0


def test_turned_for_the_whole_clip_by_the_face():
    """Constant yaw: no standing-vs-landing change, but the nose sits off the shoulders' midpoint."""
    j = Jump()

    def turn(i, t, kp):  # nose 0.2 shoulder widths toward the image's right, every frame
        kp[KP["nose"], 0] += 0.2 * j.shoulder_w
    r = analyze_trial(frames(j, turn), mat(j))
    retake(r, "turned_away")
    assert r.quality["nose_offset"] == pytest.approx(0.2, abs=0.01)


def test_small_head_turn_is_not_turned_away():
    j = Jump()

    def turn(i, t, kp):  # 0.08 shoulder widths: what a 10 deg turn measures
        kp[KP["nose"], 0] -= 0.08 * j.shoulder_w
    assert analyze_trial(frames(j, turn), mat(j)).verdict == "PASS"


def test_turned_for_the_whole_clip_by_narrow_shoulders():
    j = Jump(shoulder_w=60.0)   # 60 / 170 = 0.35 shoulder widths per torso: no frontal adult
    retake(analyze_trial(frames(j), mat(j)), "turned_away")


def test_facing_evidence_on_hand_built_frames():
    xy = np.full((3, 17, 2), np.nan)
    xy[:, KP["left_shoulder"]] = (160, 100)
    xy[:, KP["right_shoulder"]] = (60, 100)
    xy[:, KP["left_hip"]] = (140, 250)
    xy[:, KP["right_hip"]] = (80, 250)
    xy[:, KP["nose"]] = (125, 40)
    offset, ratio = facing_evidence(xy)
    assert offset == pytest.approx(0.15)
    assert ratio == pytest.approx(100 / 150)
    xy[:, KP["nose"]] = np.nan
    assert facing_evidence(xy)[0] is None


def test_the_cause_hides_its_symptoms():
    fs = [Failure("feet_cut_off", "a"), Failure("turned_away", "b"), Failure("implausible_pose", "c"),
          Failure("camera_too_slow", "d")]
    assert [f.code for f in root_causes(fs)] == ["turned_away", "camera_too_slow"]
    assert [f.code for f in root_causes([Failure("second_person", ""), Failure("turned_away", "")])] == ["second_person"]


def _nose_off(j: Jump, share: float):
    def turn(i, t, kp):
        kp[KP["nose"], 0] += share * j.shoulder_w
    return turn


def test_a_partial_turn_is_named_when_the_legs_are_unreadable():
    """Nose 0.1 shoulder widths off (under the 0.12 threshold) and a leg read at 45 deg: the
    athlete hears "face the camera", the cause, not "the camera lost track of your legs"."""
    j = Jump(valgus={"left": 45.0, "right": 4.0})
    r = analyze_trial(frames(j, _nose_off(j, 0.1)), mat(j))
    retake(r, "turned_away")
    assert r.findings == ("turned_away",), r.findings
    assert "partial turn" in r.quality["details"][0]


def test_a_partial_turn_alone_is_no_retake():
    j = Jump()
    assert analyze_trial(frames(j, _nose_off(j, 0.1)), mat(j)).verdict == "PASS"


def test_an_implausible_leg_facing_the_camera_stays_implausible():
    j = Jump(valgus={"left": 45.0, "right": 4.0})
    r = analyze_trial(frames(j, _nose_off(j, 0.03)), mat(j))
    assert r.findings == ("implausible_pose",), r.findings


def _probe(n: int, torso: bool, x: float, height: float = 300.0) -> np.ndarray:
    """17 keypoints of a standing body ``height`` px tall centred on image x ``x``, the first ``n``
    scored 0.6 (the torso's four among them or not)."""
    kps = np.zeros((17, 3), dtype=np.float32)
    # nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles: share of the height from the top
    rows = [0.06, 0.04, 0.04, 0.05, 0.05, 0.18, 0.18, 0.33, 0.33, 0.47, 0.47, 0.52, 0.52, 0.74, 0.74, 0.96, 0.96]
    kps[:, 0] = x + np.array([0, -3, 3, -8, 8] + [-25, 25] * 6) * height / 300.0
    kps[:, 1] = 100.0 + np.array(rows) * height
    order = [KP[k] for k in ("left_shoulder", "right_shoulder", "left_hip", "right_hip")] if torso else []
    order += [i for i in range(17) if i not in order and (torso or i not in (5, 6, 11, 12))]
    kps[order[:n], 2] = 0.6
    return kps


ATHLETE_BOX = (250.0, 40.0, 400.0, 460.0)


def test_second_body_beside_the_athlete():
    f = check_second_body([(1.0, _probe(16, True, 520.0), ATHLETE_BOX), (1.5, _probe(0, True, 520.0), ATHLETE_BOX)])
    assert f is not None and f.code == "second_person" and "1.000 s" in f.detail


def test_second_body_far_behind_the_athlete():
    # a third of the athlete's size (three times farther off) is still a person
    assert check_second_body([(1.0, _probe(12, True, 520.0, 140.0), ATHLETE_BOX)]) is not None


@pytest.mark.parametrize(("n", "torso", "x", "height"), [
    (16, True, 300.0, 300.0),   # everything found lies inside the athlete's (masked) box
    (9, True, 520.0, 300.0),    # too few joints: a hand or a shadow, not a person
    (13, False, 520.0, 300.0),  # limbs without a torso
    (17, True, 560.0, 40.0),  # every joint heaped on one spot (the athlete's raised hand, seed 49)
])
def test_no_second_body(n, torso, x, height):
    assert check_second_body([(1.0, _probe(n, torso, x, height), ATHLETE_BOX)]) is None
    assert check_second_body([]) is None


def test_with_failure_makes_a_retake_led_by_the_cause():
    j = Jump()
    ok = analyze_trial(frames(j), mat(j))
    assert ok.verdict == "PASS"
    r = with_failure(ok, Failure("second_person", "another body"))
    retake(r, "second_person")
    assert r.findings == ("second_person",) and r.quality["details"] == ["another body"]
    assert r.metrics == ok.metrics  # still reported to the coach
    both = with_failure(dataclasses.replace(ok, verdict="RETAKE", findings=("legs_not_seen", "off_mat"),
                                            quality={"failed": ["legs_not_seen", "off_mat"], "details": ["a", "b"]}),
                        Failure("second_person", "c"))
    assert both.findings == ("second_person", "off_mat")  # legs_not_seen was a symptom of the other person
