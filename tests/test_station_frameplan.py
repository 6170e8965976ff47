"""Frame plan (kiosk.station.frameplan): which frames are posed for given event times and budgets."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.station.frameplan import LEVELS, Budget, FramePlan, choose_plan

FPS = 120
P = int(round(1e9 / FPS))
T = np.arange(0, 3 * FPS) * P  # 3 s of 120 fps timestamps
CONTACT = 150 * P   # frame 150
TAKEOFF = 198 * P   # 0.4 s later


def frames(ts) -> list[int]:
    return [int(v) // P for v in ts]


def test_coarse_starts_before_contact_keeps_the_contact_frame_and_stops_after_takeoff():
    plan = FramePlan(stride=4, fall_s=0.1, takeoff_pad_s=0.02)
    keep = frames(T[plan.coarse_mask(T, CONTACT, TAKEOFF)])
    assert 150 in keep                                  # the frame at contact
    assert keep[0] == 138 and keep[-1] == 198           # 12 frames (0.1 s) before .. take-off + 2 frames
    assert set(np.diff(keep)) == {4}
    # before take-off is known it runs to the newest frame there is
    open_end = frames(T[:170][plan.coarse_mask(T[:170], CONTACT, None)])
    assert open_end[-1] == 166 and open_end[0] == 138


def test_coarse_anchor_follows_contact_between_frames():
    plan = FramePlan(stride=3)
    keep = frames(T[plan.coarse_mask(T, CONTACT + P // 2, TAKEOFF)])
    assert 151 in keep and 150 not in keep  # the first frame at or after the mat's edge


def test_fine_frames_around_contact_first_then_peaks_nearest_first():
    plan = FramePlan(ic_before=3, ic_after=2, peak_half=2)
    peak = 168 * P + P // 3
    order = frames(plan.fine_order(T, CONTACT, TAKEOFF, [peak]))
    # bracketing contact first (149 just before, 150 at it), then outward; then the peak frame
    # and its neighbours
    assert order[:5] == [149, 150, 148, 151, 147]
    assert order[5] == 168 and set(order[5:]) == {166, 167, 168, 169, 170}
    # frames already posed (coarse) are not posed twice; peaks outside contact..take-off are ignored
    done = [150 * P, 168 * P]
    order = frames(plan.fine_order(T, CONTACT, TAKEOFF, [peak, 250 * P], done))
    assert 150 not in order and 168 not in order and max(order) <= 200


def test_two_peaks_overlapping_are_posed_once():
    plan = FramePlan(ic_before=2, ic_after=1, peak_half=3)
    order = frames(plan.fine_order(T, CONTACT, TAKEOFF, [168 * P, 170 * P]))
    assert len(order) == len(set(order)) == 3 + 9  # 165..173 once


def test_baseline_pick_first_before_go_then_every_period():
    plan = FramePlan(baseline_lead_s=0.3)
    go = 100 * P
    first = plan.baseline_pick(T[:101], go, None, 0.1)
    assert first == 64 * P  # nearest to 0.3 s before go
    assert plan.baseline_pick(T[:101], go, first, 0.1) == 100 * P  # newest: 0.3 s since
    assert plan.baseline_pick(T[:110], go, 100 * P, 0.1) is None   # only 75 ms since the last
    assert plan.baseline_pick(T[:113], go, 100 * P, 0.1) == 112 * P
    assert plan.baseline_pick(T[:0], go, None, 0.1) is None


def test_baseline_keep_drops_old_frames_and_the_fall():
    plan = FramePlan(baseline_keep_s=1.0, fall_s=0.1)
    posed = [int(CONTACT - s * 1e9) for s in (1.5, 1.05, 0.5, 0.11, 0.05)]
    assert list(plan.baseline_keep(posed, CONTACT)) == [False, True, True, True, False]


def test_video_mode_samples_evenly():
    plan = FramePlan(video_fps=30.0)
    assert plan.video_mask(T).sum() == 90


@pytest.mark.parametrize(("invoke_ms", "target_s", "stride", "max_n"), [
    (13.0, 1.0, 3, 38),     # this development VM: the densest plan
    (41.3, 1.0, 4, 37),     # Pi 5 (186 / 4.5 ms): stride 4
    (186.0, 2.5, 12, 16),   # Pi 4 Lightning FP16
])
def test_budget_chooses_the_densest_plan_that_fits(invoke_ms: float, target_s: float, stride: int, max_n: int):
    budget = Budget(target_s=target_s, overlap_s=0.6, score_s=0.05)
    plan = choose_plan(invoke_ms / 1e3, FPS, budget)
    assert plan.stride == stride
    assert plan.expected_invocations(FPS) <= max(max_n, LEVELS[-1].expected_invocations(FPS))
    assert plan.expected_invocations(FPS) <= budget.max_invocations(invoke_ms / 1e3) or plan.stride == 12


def test_budget_counts_and_levels_are_ordered():
    counts = [lv.expected_invocations(FPS) for lv in LEVELS]
    assert counts == sorted(counts, reverse=True)
    assert Budget(target_s=1.0, overlap_s=0.6, score_s=0.1).max_invocations(0.1) == 15
    assert Budget(target_s=1.0).max_invocations(0.0) > 10**5


def test_strides_scale_with_the_frame_rate():
    plan = choose_plan(0.013, 60.0, Budget(target_s=1.0))
    assert plan.stride == 2 and plan.ic_before == 4  # 120 fps figures halved


def test_expected_invocations_matches_a_counted_trial():
    plan = FramePlan(stride=4, ic_before=6, ic_after=2, peak_half=3)
    coarse = set(int(v) for v in T[plan.coarse_mask(T, CONTACT, TAKEOFF)])
    fine = plan.fine_order(T, CONTACT, TAKEOFF, [CONTACT + int(0.15e9), CONTACT + int(0.13e9), CONTACT + int(0.18e9)],
                           coarse)
    assert len(coarse) + len(fine) == pytest.approx(plan.expected_invocations(FPS, contact_s=0.4), abs=2)
