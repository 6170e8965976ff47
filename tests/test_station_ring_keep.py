"""The ring never loses a trial to a slow plan: landing frames the trial may still pose are copied
out of the ring before it overwrites them (kiosk.station.landing_worker.KEEP_MARGIN_S).

A ring shorter than the landing's posing takes (0.5 s of 60 fps frames, poses of 80 ms each):
without the copies the worker would find its frames overwritten and give the busy prompt."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import write_bar_clip

from kiosk.keypoints import NUM_KEYPOINTS
from kiosk.matcsv import MatEdge
from kiosk.pose.base import PoseEstimator
from kiosk.station.camera import ReplayCamera
from kiosk.station.mat import SimulatedMat
from kiosk.station.runtime import BUSY_PROMPT, StationRuntime
from kiosk.station.statemachine import Timing
from kiosk.store.sample import result_json

FPS = 60
EDGES = [MatEdge(0.60, True), MatEdge(0.90, False), MatEdge(1.35, True)]
POSE_S = 0.08


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_bar_clip(tmp_path_factory.mktemp("clip"), FPS, EDGES, crf=18, background=40)


class SlowEstimator(PoseEstimator):
    """Keypoints from the frame itself (the bar's length); each pose takes ``POSE_S`` (the work
    of a slow CPU)."""

    def __init__(self) -> None:
        self.calls = 0

    def estimate(self, image: np.ndarray) -> np.ndarray:
        self.calls += 1
        time.sleep(POSE_S)
        kps = np.zeros((NUM_KEYPOINTS, 3), np.float32)
        kps[:, 0] = float((image[60, :, 0] > 100).sum())
        kps[:, 1] = 60.0
        kps[:, 2] = 0.9
        return kps


@dataclass
class Result:
    verdict: str
    data: dict

    def to_json(self) -> dict:
        return self.data


def _analyzer(poses, edges, *, frame_size, sex):
    data = result_json(random.Random(len(poses)))
    return Result(data["verdict"], data)


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
