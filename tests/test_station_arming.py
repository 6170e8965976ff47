"""Arming by standing still: the on-screen Start, then the athlete walks to the box and the
station counts down by itself once the camera sees them standing still on it.

The station test runs the real runtime on a rendered synthetic clip with its mat, real MoveNet
for the preview (the stillness check) and the real analysis; the camera shows an empty scene
until the athlete "appears" (the clip's first frame: the athlete standing on the box)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from kiosk.keypoints import LEFT_ANKLE, LEFT_HIP, LEFT_KNEE, NUM_KEYPOINTS, RIGHT_ANKLE, RIGHT_HIP, RIGHT_KNEE
from kiosk.station.camera import CameraFrame, ReplayCamera
from kiosk.station.visibility import StillnessWindow, is_still

S = 1_000_000_000


def standing(dx: float = 0.0, score: float = 0.9) -> np.ndarray:
    k = np.zeros((NUM_KEYPOINTS, 3), np.float32)
    for j, (x, y) in {LEFT_HIP: (340, 200), RIGHT_HIP: (300, 200), LEFT_KNEE: (342, 290), RIGHT_KNEE: (298, 290),
                      LEFT_ANKLE: (344, 380), RIGHT_ANKLE: (296, 380)}.items():
        k[j] = (x + dx, y, score)
    return k


def test_still_needs_the_whole_window_and_little_movement():
    w = StillnessWindow(0.2, still_s=1.0)
    assert not w.add(0, standing())
    assert not w.add(S // 2, standing(1.0))               # not a second yet
    assert w.add(S, standing(-1.0))                        # 2 px of sway on a 180 px leg: still
    assert not w.add(S + S // 10, standing(30.0))          # a step: not still
    assert not w.add(2 * S, standing(30.0))                # the step is still in the window
    assert w.add(2 * S + S // 5, standing(30.0))           # a second after the step: still again
    assert not is_still(np.stack([standing(), standing(score=0.1)]), 0.2)   # legs unseen: never still


class AppearingCamera(ReplayCamera):
    """A ReplayCamera whose picture is an empty scene until ``appear`` is set."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.appear = threading.Event()

    def read(self, timeout: float = 1.0) -> CameraFrame | None:
        frame = super().read(timeout)
        if frame is None or self.appear.is_set():
            return frame
        return CameraFrame(frame.index, frame.t_ns, np.full_like(frame.image, 120))


def follow(rt, until, timeout: float = 60.0) -> dict:
    """Snapshots until ``until(snap)``; raises when the station stops changing for ``timeout``."""
    snap = rt.snapshot()
    while not until(snap):
        seq = snap["seq"]
        snap = rt.wait_for_change(seq, timeout=timeout)
        assert snap["seq"] != seq, f"stuck in {snap['state']}: {snap['prompt']}"
    return snap


@pytest.mark.slow
def test_start_tapped_then_the_athlete_appears_and_stands_still_the_trial_runs(tmp_path: Path):
    from kiosk.analysis.trial import analyze_trial
    from kiosk.pose.movenet import create_estimator
    from kiosk.station.mat import SimulatedMat
    from kiosk.station.runtime import StationRuntime
    from kiosk.station.statemachine import Timing
    from kiosk.synth.clip import render_clip
    from kiosk.synth.params import sample_params

    render_clip(sample_params(11, fps=120.0, width=640, height=480), tmp_path)
    cam = AppearingCamera(tmp_path / "clip.mp4", 640, 480)
    rt = StationRuntime(cam, SimulatedMat(cam.mat_edges), lambda: create_estimator("lightning", 2),
                        lambda poses, edges, **kw: analyze_trial(poses, edges, **kw),
                        timing=Timing(countdown_s=0.3, arm_timeout_s=4.0),
                        preview_estimator_factory=lambda: create_estimator("lightning", 1), still_s=0.5)
    with rt:
        # Nobody appears: the wait ends, and the text says the configured time.
        rt.check_in({"id": 1, "name": "Alone"}, practice=False)
        assert rt.arm()["state"] == "arming"
        snap = follow(rt, lambda s: s["state"] != "arming")
        assert snap["state"] == "ready"
        assert snap["prompt"] == "Nobody stood still on the box for 4 seconds: tap Start to try again"
        assert cam.plays == 0

        # Start tapped with nobody on the box: arming, and the camera says it sees nobody.
        assert rt.arm()["state"] == "arming"
        follow(rt, lambda s: "Step into view" in s["prompt"])
        assert rt.snapshot()["state"] == "arming"
        cam.appear.set()      # the athlete walks in and stands still on the box
        snap = follow(rt, lambda s: s["state"] in ("result", "ready"))
    history = [s.value for s in rt.sm.history]
    assert history[-8:] == ["arming", "countdown", "awaiting_landing", "contact", "flight", "landed", "analysing",
                            "result"], history
    assert snap["state"] == "result" and snap["attempts"] == 1 and cam.plays == 1
