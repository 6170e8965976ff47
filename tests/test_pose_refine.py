"""Two-pass scoring (kiosk.pose.refine): which frames are re-run, how the second model's poses are
merged, and that score_trial scores the merged poses."""

from __future__ import annotations

import numpy as np
import pytest
from test_analysis_build import H, Jump, W, frames, mat, pose_at

from kiosk.analysis import analyze_trial
from kiosk.keypoints import KP, PoseFrame
from kiosk.pose.crop import CropRegion
from kiosk.pose.refine import images_from_list, refine_poses, refine_positions, score_trial


class TruthEstimator:
    """Stands in for Thunder: the "image" carries the frame time; it answers with the exact pose,
    and records the regions it was asked to look at."""

    name = "truth"
    min_score = 0.3
    crop_margin = 1.25

    def __init__(self, jump: Jump, ankle_score: float = 0.9):
        self.jump = jump
        self.ankle_score = ankle_score
        self.regions: list[CropRegion] = []

    def infer_region(self, image: np.ndarray, region: CropRegion) -> np.ndarray:
        self.regions.append(region)
        kp = np.concatenate([pose_at(self.jump, float(image[0, 0, 0])), np.full((17, 1), 0.9)], axis=1)
        kp[[KP["left_ankle"], KP["right_ankle"]], 2] = self.ankle_score
        return kp


def time_images(poses: list[PoseFrame]) -> list[np.ndarray]:
    return [np.full((H, W, 3), p.t) for p in poses]


def test_positions_cover_contact_with_margin_and_sample_the_standing_window() -> None:
    t = np.arange(100) / 100.0
    pos = refine_positions(t, 0.405, 0.70, (5, 25), before_s=0.06, after_s=0.02, standing_frames=4)
    contact = [int(i) for i in pos if i >= 25]
    assert contact == list(range(34, 73))  # 0.34 .. 0.72: a frame more than 60 ms before contact, 20 ms past take-off
    standing = [int(i) for i in pos if i < 25]
    assert len(standing) == 4 and standing[0] == 5 and standing[-1] == 24
    assert refine_positions(t, None, 0.7, (5, 35)).size == 0  # no contact: nothing worth refining
    no_takeoff = refine_positions(t, 0.905, None, None)
    assert no_takeoff.tolist() == list(range(84, 100))


def test_refined_frames_replace_only_their_positions_cropped_around_their_own_pose() -> None:
    j = Jump()
    first = frames(j)
    est = TruthEstimator(j, ankle_score=0.1)
    out = refine_poses(first, [3, 50], images_from_list(time_images(first)), est)
    assert [i for i, (a, b) in enumerate(zip(first, out, strict=True)) if a is not b] == [3, 50]
    assert out[50].index == first[50].index and out[50].t == first[50].t
    # the square is around that frame's first-pass body, not the whole frame
    for region, i in zip(est.regions, (3, 50), strict=True):
        assert region.side < max(W, H) and region.contains(first[i].keypoints[:, :2]).all()
    # ankles the second model is unsure of keep the first pass's answer
    np.testing.assert_array_equal(out[50].keypoints[KP["left_ankle"]], first[50].keypoints[KP["left_ankle"]])


def test_score_trial_scores_the_refined_poses() -> None:
    j = Jump(valgus={"left": 12.0, "right": 3.0}, fppa_ic={"left": 2.0, "right": 1.0})
    truth = analyze_trial(frames(j), mat(j))

    def knees_off(i: int, t: float, kp: np.ndarray) -> None:  # a first pass with the knees 6 px lateral
        kp[KP["left_knee"], 0] += 6.0
        kp[KP["right_knee"], 0] -= 6.0

    first = frames(j, knees_off)
    plain, used, ref = score_trial(first, mat(j))
    assert ref is None and used == first
    assert abs(plain.metrics.left.fppa_peak - truth.metrics.left.fppa_peak) > 2.0

    est = TruthEstimator(j)
    result, merged, ref = score_trial(first, mat(j), images=images_from_list(time_images(first)), refiner=est)
    assert ref is not None and ref.model == "truth" and len(ref.positions) == len(est.regions)
    m, tm = result.metrics, truth.metrics
    for leg in ("left", "right"):
        assert getattr(m, leg).fppa_ic == pytest.approx(getattr(tm, leg).fppa_ic, abs=0.2)
        assert getattr(m, leg).fppa_peak == pytest.approx(getattr(tm, leg).fppa_peak, abs=0.2)
    assert m.kasr_peak == pytest.approx(tm.kasr_peak, abs=0.01)
    assert result.verdict == truth.verdict
    # frames outside the decisive window are the first pass's
    late = [i for i, p in enumerate(first) if p.t > j.takeoff + 0.05]
    assert all(merged[i] is first[i] for i in late)


def test_a_collapsed_pair_keeps_the_first_pass() -> None:
    """Thunder sometimes puts both knees on one knee: that pair keeps the first pass's knees,
    the rest of the frame is refined."""
    j = Jump()
    first = frames(j)

    class Collapsing(TruthEstimator):
        def infer_region(self, image: np.ndarray, region: CropRegion) -> np.ndarray:
            kp = super().infer_region(image, region)
            kp[KP["right_knee"], :2] = kp[KP["left_knee"], :2] + 1.5
            kp[KP["left_hip"], 0] += 0.5  # a small refinement elsewhere
            return kp

    out = refine_poses(first, [40], images_from_list(time_images(first)), Collapsing(j))
    for knee in ("left_knee", "right_knee"):
        np.testing.assert_array_equal(out[40].keypoints[KP[knee]], first[40].keypoints[KP[knee]])
    assert out[40].keypoints[KP["left_hip"], 0] != first[40].keypoints[KP["left_hip"], 0]


def test_the_second_pass_keeps_the_first_pass_standing_window() -> None:
    """Refined standing frames are a few spread frames from another model; the standing window
    (the static baseline) is the one the tracker's own series showed."""
    j = Jump()
    first = frames(j)
    plain = analyze_trial(first, mat(j))
    assert plain.events.standing is not None

    class Offset(TruthEstimator):  # a second model that sits a few pixels lower everywhere
        def infer_region(self, image: np.ndarray, region: CropRegion) -> np.ndarray:
            kp = super().infer_region(image, region)
            kp[:, 1] += 5.0
            return kp

    result, _, ref = score_trial(first, mat(j), images=images_from_list(time_images(first)), refiner=Offset(j))
    assert ref is not None and result.events.standing == plain.events.standing
    assert result.metrics.left.static_fppa == pytest.approx(j.static["left"], abs=0.5)


def test_analyze_trial_uses_a_given_standing_window() -> None:
    j = Jump(static={"left": 1.0, "right": 1.0})
    poses = frames(j)
    found = analyze_trial(poses, mat(j)).events.standing
    assert found is not None and found[1] - found[0] > 20
    # a window over the first frames only: the static baseline comes from there, not from a search
    given = (found[0], found[0] + 10)
    result = analyze_trial(poses, mat(j), standing=given)
    assert result.events.standing == given
    assert result.quality["standing_frames"] == 10
