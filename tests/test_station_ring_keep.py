"""The ring never loses a trial to a slow plan: landing frames the trial may still pose are copied
out of the ring before it overwrites them (kiosk.station.landing_worker.KEEP_MARGIN_S).

A ring shorter than the landing's posing takes (0.5 s of 60 fps frames, poses of 80 ms each):
without the copies the worker would find its frames overwritten and give the busy prompt."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from conftest import BarEstimator, write_bar_clip
from conftest import sample_analyzer as _analyzer

from kiosk.matcsv import MatEdge
from kiosk.station.camera import ReplayCamera
from kiosk.station.mat import SimulatedMat
from kiosk.station.runtime import BUSY_PROMPT, StationRuntime
from kiosk.station.statemachine import Timing

FPS = 60
EDGES = [MatEdge(0.60, True), MatEdge(0.90, False), MatEdge(1.35, True)]
POSE_S = 0.08


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_bar_clip(tmp_path_factory.mktemp("clip"), FPS, EDGES, crf=18, background=40)


class SlowEstimator(BarEstimator):
    """The bar's keypoints; each pose takes ``POSE_S`` (the work of a slow CPU)."""

    def __init__(self) -> None:
        self.calls = 0

    def estimate(self, image: np.ndarray) -> np.ndarray:
        self.calls += 1
        time.sleep(POSE_S)
        return super().estimate(image)


def test_a_plan_slower_than_the_ring_keeps_its_frames(clip: Path) -> None:
    cam = ReplayCamera(clip, 160, 120)
    est = SlowEstimator()
    rt = StationRuntime(cam, SimulatedMat(cam.mat_edges), lambda: est, _analyzer, ring_seconds=0.5,
                        timing=Timing(countdown_s=0.2), invoke_s=POSE_S)
    with rt:
        snap = rt.run_trial({"id": 1, "display_name": "Ring Tester", "sex": "female"}, step_timeout=30.0)
    assert snap["prompt"] != BUSY_PROMPT, snap
    assert snap["state"] == "result", snap
    rec = rt.last_record
    assert rec is not None
    # the landing's posing outlasted the ring: the frames came from the copies
    landing_poses = rec.timings["invocations"] - rec.timings["invocations_baseline"]
    ring_s = rt.ring.capacity * rt.ring.period_ns / 1e9
    assert landing_poses * POSE_S > ring_s, (landing_poses, ring_s)
