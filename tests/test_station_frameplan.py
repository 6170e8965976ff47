"""Frame plan (kiosk.station.frameplan): which frames are posed for given event times and budgets,
and the analysis of such a sparse plan with the camera's frame rate (``source_fps``)."""

from __future__ import annotations

import numpy as np
import pytest
from test_analysis_build import Jump, mat
from test_analysis_build import frames as frames_of

from kiosk.analysis.trial import analyze_trial
from kiosk.station.frameplan import LEVELS, Budget, FramePlan, choose_plan

FPS = 120
P = int(round(1e9 / FPS))
T = np.arange(0, 3 * FPS) * P  # 3 s of 120 fps timestamps
CONTACT = 150 * P   # frame 150
TAKEOFF = 198 * P   # 0.4 s later


def frames(ts) -> list[int]:
    return [int(v) // P for v in ts]


def test_dense_window_is_every_frame_from_60_ms_before_to_20_ms_after_the_edge():
    plan = FramePlan()
    keep = frames(T[plan.dense_mask(T, CONTACT + P // 2)])
    # edge between frames 150 and 151: 60 ms before it is frame 143.3, 20 ms after it 152.9
    assert keep == list(range(144, 153))
    assert plan.fall_s == plan.ic_before_s


def test_coarse_runs_from_contact_keeps_the_contact_frame_and_stops_after_takeoff():
    plan = FramePlan(stride=4, takeoff_pad_s=0.02)
    keep = frames(T[plan.coarse_mask(T, CONTACT, TAKEOFF)])
    assert keep[0] == 150 and keep[-1] == 198 and set(np.diff(keep)) == {4}
    # before take-off is known it runs to the newest frame there is
    assert frames(T[:170][plan.coarse_mask(T[:170], CONTACT, None)])[-1] == 166
    # the anchor follows the edge between frames: the first frame at or after it
    keep = frames(T[FramePlan(stride=3).coarse_mask(T, CONTACT + P // 2, TAKEOFF)])
    assert keep[0] == 151 and 150 not in keep


def test_fine_frames_around_each_peak_nearest_first_never_twice():
    plan = FramePlan(peak_half=2)
    peak = 168 * P + P // 3
    order = frames(plan.fine_order(T, CONTACT, TAKEOFF, [peak]))
    assert order[0] == 168 and set(order) == {166, 167, 168, 169, 170}
    # two peaks: both centres first, then their neighbours; already posed frames and peaks
    # outside contact..take-off are left out
    order = frames(plan.fine_order(T, CONTACT, TAKEOFF, [168 * P, 180 * P, 250 * P], [168 * P, 181 * P]))
    assert order[0] == 180 and 168 not in order and 181 not in order and max(order) <= 182
    assert len(order) == len(set(order)) == 8
    plan = FramePlan(peak_half=3)
    assert len(plan.fine_order(T, CONTACT, TAKEOFF, [168 * P, 170 * P])) == 9  # 165..173 once


def test_baseline_lead_frames_come_from_the_ring_before_go_then_every_period():
    plan = FramePlan(baseline_lead_s=0.5, baseline_lead_n=3)
    go = 200 * P
    assert frames(plan.baseline_lead(T, go)) == [140, 170, 200]  # 0.5 s, 0.25 s and 0 before go
    assert plan.baseline_lead(T[:0], go) == []
    assert plan.baseline_pick(T[:201], None, 0.1) == 200 * P
    assert plan.baseline_pick(T[:210], 200 * P, 0.1) is None   # only 75 ms since the last
    assert plan.baseline_pick(T[:213], 200 * P, 0.1) == 212 * P
    assert plan.baseline_pick(T[:0], None, 0.1) is None


def test_standing_frames_back_to_back_on_slow_hardware_and_at_least_six_kept():
    plan = FramePlan()
    assert plan.baseline_period(0.013) == plan.baseline_period_s
    period = plan.baseline_period(0.186)  # Pi 4 Lightning FP16: as fast as the poses go
    assert 0.186 <= period < 0.2
    # a Pi 4 waiting 1.5 s on the box after go, contact 0.4 s after the step-off
    go, contact = 100 * P, 100 * P + int(1.9e9)
    posed = plan.baseline_lead(T, go) + [int(go + k * period * 1e9) for k in range(1, int(1.9 / period) + 1)]
    kept = np.asarray(posed)[plan.baseline_keep(posed, contact)]
    assert len(kept) >= 6
    assert kept.max() < contact - 0.25e9 and kept.min() >= contact - 1.5e9 - 1  # the fall is not standing


def test_video_mode_samples_evenly():
    plan = FramePlan(video_fps=30.0)
    assert plan.video_mask(T).sum() == 90


@pytest.mark.parametrize(("invoke_ms", "target_s", "stride"), [
    (13.0, 1.0, 1),     # this development VM: every frame
    (41.3, 1.0, 6),     # Pi 5 (186 / 4.5 ms): the probes, scoring and storing reserved first
    (186.0, 2.5, 12),   # Pi 4 Lightning FP16: the leanest level
])
def test_budget_chooses_the_densest_plan_that_fits(invoke_ms: float, target_s: float, stride: int):
    budget = Budget(target_s=target_s, overlap_s=0.6, score_s=0.05)
    plan = choose_plan(invoke_ms / 1e3, FPS, budget)
    assert plan.stride == stride
    assert plan.expected_invocations(FPS) <= budget.max_invocations(invoke_ms / 1e3) or plan.stride == 12
    # the dense window around contact is never thinned, whatever the budget
    assert plan.dense_mask(T, CONTACT).sum() == 10


def test_budget_counts_and_levels_are_ordered():
    counts = [lv.expected_invocations(FPS) for lv in LEVELS]
    assert counts == sorted(counts, reverse=True)
    # 1.6 s less scoring, storing and 4 probes at 0.1 s: 1.0 s of poses
    assert Budget(target_s=1.0, overlap_s=0.6, score_s=0.1, store_s=0.1).max_invocations(0.1) == 10
    assert Budget(target_s=1.0, overlap_s=0.6, score_s=0.1, store_s=0.0, probe_poses=0).max_invocations(0.1) == 15
    assert Budget(target_s=1.0).max_invocations(0.0) > 10**5


def test_strides_scale_with_the_frame_rate():
    plan = choose_plan(0.041, 60.0, Budget(target_s=1.0))
    assert plan.stride <= 2 and plan.peak_half <= 4  # 120 fps figures halved


def test_expected_invocations_matches_a_counted_trial():
    plan = FramePlan(stride=4, peak_half=5)
    first = set(int(v) for v in T[plan.dense_mask(T, CONTACT) | plan.coarse_mask(T, CONTACT, TAKEOFF)])
    fine = plan.fine_order(T, CONTACT, TAKEOFF, [CONTACT + int(0.15e9), CONTACT + int(0.13e9), CONTACT + int(0.18e9)],
                           first)
    assert len(first) + len(fine) == pytest.approx(plan.expected_invocations(FPS, contact_s=0.4), abs=2)


# --- the analysis judges the camera, not the plan ------------------------------------------------

def _plan_sample(j: Jump, every_nth: int) -> list:
    """Every ``every_nth`` frame of a Jump: as sparse as a lean plan's coarse pass."""
    return [f for i, f in enumerate(frames_of(j)) if i % every_nth == 0]


def test_sparse_sampling_of_a_fast_camera_is_not_a_slow_camera():
    j = Jump(fps=120.0)
    sparse = _plan_sample(j, 8)  # 15 poses a second from a 120 fps camera
    # the old inference from the median interval takes the plan for a 15 fps camera
    assert "camera_too_slow" in analyze_trial(sparse, mat(j)).findings
    told = analyze_trial(sparse, mat(j), source_fps=120.0)
    assert "camera_too_slow" not in told.findings and told.verdict != "RETAKE", told.findings
    assert told.quality["fps"] == pytest.approx(120.0)
    assert told.quality["frames_contact_to_peak"] >= int(0.45 * 0.36 * 120)


def test_a_real_15_fps_camera_is_still_too_slow():
    j = Jump(fps=15.0)
    for fps in (None, 15.0):
        retaken = analyze_trial(frames_of(j), mat(j), source_fps=fps)
        assert retaken.verdict == "RETAKE" and "camera_too_slow" in retaken.findings


def test_station_plan_sampling_reads_the_same_values_as_every_frame():
    """A Pi 4 style plan (standing frames, dense contact window, every 12th frame, dense around
    peak flexion) on a noise-free jump: the values read at contact and peak match every frame."""
    j = Jump(fps=120.0)
    fr = frames_of(j)
    t = np.array([f.t for f in fr])
    plan = FramePlan(stride=12, peak_half=7)
    tn = np.round(t * 1e9).astype(np.int64)
    c, to, pk = int(round(j.ic * 1e9)), int(round(j.takeoff * 1e9)), int(round(j.peak * 1e9))
    sel = set(np.flatnonzero((t < j.ic - 0.25) & (np.arange(len(t)) % 23 == 0)))
    sel |= set(np.flatnonzero(plan.dense_mask(tn, c) | plan.coarse_mask(tn, c, to)))
    sel |= {int(np.searchsorted(tn, v)) for v in plan.fine_order(tn, c, to, [pk])}
    sparse = [fr[i] for i in sorted(sel)]
    assert len(sparse) < len(fr) / 3
    every = analyze_trial(fr, mat(j))
    got = analyze_trial(sparse, mat(j), source_fps=120.0)
    assert got.verdict == every.verdict == "PASS", got.findings
    for leg in ("left", "right"):
        a, b = getattr(every.metrics, leg), getattr(got.metrics, leg)
        assert b.fppa_ic == pytest.approx(a.fppa_ic, abs=0.3)
        assert b.fppa_peak == pytest.approx(a.fppa_peak, abs=0.3)
        assert b.static_fppa == pytest.approx(a.static_fppa, abs=0.3)
    assert got.events.peak_flexion_s == pytest.approx(every.events.peak_flexion_s, abs=0.01)


def test_essential_frames_are_the_ones_around_peak_flexion():
    plan = FramePlan(min_peak_half=3)
    assert sorted(frames(plan.essential(T, CONTACT, TAKEOFF, 170 * P))) == list(range(167, 174))
    assert plan.essential(T, CONTACT, TAKEOFF, None) == set()
    # scaled with the frame rate like the other widths
    assert choose_plan(0.186, 60.0, Budget(target_s=2.5)).min_peak_half == 2


def test_peak_flexion_found_between_sparse_samples():
    """A Pi 4 plan's coarse pass (every 12th frame from contact) places the lowest hips between
    its samples: the parabola's vertex, not the lowest sample (which may sit 50 ms off)."""
    j = Jump(fps=120.0)
    fr = frames_of(j)
    t = np.array([f.t for f in fr])
    tn = np.round(t * 1e9).astype(np.int64)
    c, to = int(round(j.ic * 1e9)), int(round(j.takeoff * 1e9))
    plan = FramePlan(stride=12)
    sel = np.flatnonzero(plan.dense_mask(tn, c) | plan.coarse_mask(tn, c, to) | (t < j.ic - 0.3))
    sparse = [fr[i] for i in sel]
    got = analyze_trial(sparse, mat(j), source_fps=120.0).events.peak_flexion_s
    every = analyze_trial(fr, mat(j)).events.peak_flexion_s
    ts = t[sel]
    lowest = ts[np.argmin(np.abs(ts - j.peak))]
    assert abs(got - j.peak) < 0.02 and abs(every - j.peak) < 0.01
    assert abs(got - j.peak) < abs(lowest - j.peak) or abs(lowest - j.peak) < 0.005


def test_a_joint_missing_in_one_sparse_frame_is_bridged_when_the_camera_rate_is_known():
    from kiosk.analysis.series import fill_short_gaps

    t = np.array([0.0, 0.1, 0.2, 0.3])  # every 12th frame of a 120 fps camera
    xy = np.array([[1.0], [np.nan], [3.0], [4.0]])[:, None, :].repeat(2, axis=2)
    assert np.isnan(fill_short_gaps(t, xy, 0.05)[1]).all()          # as a 10 fps camera: a 0.2 s hole
    assert fill_short_gaps(t, xy, 0.05, 1 / 120)[1, 0, 0] == pytest.approx(2.0)  # one camera frame unseen
    long = np.array([[1.0]] + [[np.nan]] * 8 + [[3.0]])[:, None, :]
    tl = np.arange(10) / 120
    assert np.isnan(fill_short_gaps(tl, long, 0.05, 1 / 120)[1:9]).all()  # 8 camera frames: an occlusion


# --- one landing square for every decisive frame -------------------------------------------------

def _body(dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    """A frontal standing body in a 640x480 frame (17, 3), shifted by (dx, dy)."""
    from kiosk.keypoints import KP

    kp = np.zeros((17, 3), np.float32)
    pts = {"nose": (320, 110), "left_eye": (326, 104), "right_eye": (314, 104), "left_ear": (334, 108),
           "right_ear": (306, 108), "left_shoulder": (350, 160), "right_shoulder": (290, 160),
           "left_elbow": (380, 220), "right_elbow": (260, 220), "left_wrist": (470, 200), "right_wrist": (170, 200),
           "left_hip": (340, 260), "right_hip": (300, 260), "left_knee": (342, 340), "right_knee": (298, 340),
           "left_ankle": (344, 420), "right_ankle": (296, 420)}
    for name, (x, y) in pts.items():
        kp[KP[name]] = (x + dx, y + dy, 0.9)
    return kp


def test_landing_region_covers_the_body_not_the_arms_and_ignores_a_pixel_of_jitter():
    from kiosk.pose.crop import LANDING_GRID, full_frame_region, landing_region

    r = landing_region(_body(3, 3), 640, 480)
    assert r.x0 % LANDING_GRID == 0 and r.y0 % LANDING_GRID == 0 and r.side % LANDING_GRID == 0
    assert r.contains(_body(3, 3)[[0, 5, 6, 11, 12, 13, 14, 15, 16], :2]).all()
    assert r.side < 400  # the wrists out at 170 and 470 px do not widen it
    # a pixel of jitter leaves the square where it was (this body's centre and side lie well
    # inside their grid cells; at a grid line one pixel can still move it by a cell)
    assert all(landing_region(_body(3 + dx, 3 + dy), 640, 480) == r
               for dx, dy in ((0.6, 0.4), (-0.7, 0.7), (0.3, -0.6)))
    unseen = _body()
    unseen[[5, 6, 11, 12], 2] = 0.1
    assert landing_region(unseen, 640, 480) == full_frame_region(640, 480)


class RegionRecorder:
    """Stands in for MoveNet: returns a fixed body and records each square it was run on, with the
    frame's identity (the image's first pixel)."""

    name, min_score, crop_margin = "recorder", 0.3, 1.25

    def __init__(self) -> None:
        self.calls: list[tuple[int, object]] = []

    def infer_region(self, image, region):
        self.calls.append((int(image[0, 0, 0]), region))
        return _body()


def test_repose_landing_poses_the_window_on_the_contact_frames_square():
    from kiosk.keypoints import PoseFrame
    from kiosk.pose.crop import full_frame_region, landing_region
    from kiosk.pose.landing import repose_landing

    t = np.arange(60) / 120
    poses = [PoseFrame(i, float(v), np.zeros((17, 3), np.float32)) for i, v in enumerate(t)]
    images = {i: np.full((480, 640, 3), i, np.uint8) for i in range(60)}
    est = RegionRecorder()
    out, region = repose_landing(poses, images, est, initial_contact_s=0.2 + 0.3 / 120, takeoff_s=0.35)
    assert region == landing_region(_body(), 640, 480)
    assert est.calls[0] == (24, full_frame_region(640, 480))      # frame nearest contact, whole frame
    window = [i for i, v in enumerate(t) if 0.2 + 0.3 / 120 - 0.06 <= v <= 0.37 + 1e-9]
    assert [c[0] for c in est.calls[1:]] == window and {c[1] for c in est.calls[1:]} == {region}
    assert all(out[i].keypoints[0, 2] == 0.9 for i in window)
    assert all(out[i] is poses[i] for i in range(60) if i not in window)


def test_station_poses_every_frame_from_contact_on_one_landing_square(tmp_path):
    """The real runtime on a replayed clip: standing frames tracked; from contact on, one
    whole-frame pose of the frame nearest the mat's edge, then every frame on its square, and
    the analyzer is told the square (the refiner poses on it too)."""
    from kiosk.matcsv import MatEdge, format_mat_csv
    from kiosk.media import VideoWriter
    from kiosk.pose.base import PoseEstimator
    from kiosk.pose.crop import full_frame_region, landing_region
    from kiosk.station.camera import ReplayCamera
    from kiosk.station.mat import SimulatedMat
    from kiosk.station.runtime import StationRuntime
    from kiosk.station.statemachine import Timing

    edges = [MatEdge(0.60, True), MatEdge(0.90, False), MatEdge(1.35, True)]
    path = tmp_path / "clip.mp4"
    with VideoWriter(path, FPS, 640, 480, crf=10) as w:
        for k in range(int(1.6 * FPS)):
            img = np.zeros((480, 640, 3), np.uint8)
            img[:, : 2 + k] = 200  # the bar's length is the frame number + 2
            w.write(img)
    (tmp_path / "mat.csv").write_text(format_mat_csv(edges))

    class Recorder(PoseEstimator):
        name, min_score, crop_margin = "recorder", 0.3, 1.25

        def __init__(self) -> None:
            self.regions: list[tuple[int, object]] = []

        def estimate(self, image):
            assert image.shape == (480, 640, 3)
            return _body()

        def infer_region(self, image, region):
            self.regions.append((int((image[240, :, 0] > 100).sum()) - 2, region))
            return _body()

    est = Recorder()
    seen: dict = {}

    def analyzer(poses, mat_edges, *, frame_size, sex, source_fps=None, landing=None):
        seen.update(poses=poses, landing=landing, source_fps=source_fps)
        return FakeVerdict()

    cam = ReplayCamera(path, 640, 480)
    rt = StationRuntime(cam, SimulatedMat(cam.mat_edges), lambda: est, analyzer, ring_seconds=4.0,
                        timing=Timing(countdown_s=0.2), invoke_s=0.001, budget=Budget(target_s=1.0))
    with rt:
        snap = rt.run_trial({"id": 1, "name": "Ana"}, step_timeout=10.0)
    assert snap["state"] == "result"
    square = landing_region(_body(), 640, 480)
    assert est.regions[0] == (72, full_frame_region(640, 480))  # frame nearest the 0.60 s edge
    assert {r for _, r in est.regions[1:]} == {square} and seen["landing"] == square
    posed = sorted(k for k, _ in est.regions[1:])
    assert posed == list(range(posed[0], posed[-1] + 1)) and posed[0] == 65 and posed[-1] >= 108  # 60 ms before .. take-off


class FakeVerdict:
    verdict = "PASS"

    def to_json(self) -> dict:
        return {"verdict": self.verdict}
