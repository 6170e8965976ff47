"""Acceptance: every failure the synthetic athlete can show gives RETAKE with its own reason, never
PASS, and video-only contact and take-off land within one frame of the truth on normal clips.

Real MoveNet Lightning (crop tracking, as the kiosk runs it) on rendered 640x480 clips, rendered
only from 0.6 s before the step-off to just after the second landing. The seeds are fixed so the
test is repeatable; ``bench/accuracy_scoring.py`` measures the rates over many seeds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from kiosk.analysis import analyze_trial
from kiosk.analysis.gates import REASONS
from kiosk.keypoints import PoseFrame
from kiosk.matcsv import MatEdge

pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def lightning():
    from kiosk.pose import create_estimator

    est = create_estimator("lightning", 2)
    yield est
    est.close()


def trial(estimator, seed: int, **overrides: Any) -> tuple[Any, list[PoseFrame], dict]:
    """Params, MoveNet poses over the analysed span, and the renderer's true events."""
    from kiosk.media import Frame
    from kiosk.pose.base import estimate_frames
    from kiosk.synth import sample_params
    from kiosk.synth.clip import ClipRenderer

    params = sample_params(seed, **overrides)
    renderer = ClipRenderer(params)
    ev = renderer.scene.motion.ev
    frames = renderer.frames(max(0.0, ev.stand_end - 0.6), ev.second_landing + 0.25)
    poses = estimate_frames(estimator, (Frame(i, f.t, f.image) for i, f in enumerate(frames)))
    return params, poses, ev.to_json()


FAILURES = [  # (renderer overrides, seed, the gate that must answer)
    ({"yaw_deg": 40.0}, 1000, "turned_away"),
    ({"yaw_deg": -35.0}, 1001, "turned_away"),
    ({"cut_off_feet": True}, 1000, "feet_cut_off"),
    ({"second_person": True}, 1000, "second_person"),
    ({"fps": 15.0}, 1000, "camera_too_slow"),
]


@pytest.mark.parametrize(("overrides", "seed", "code"), FAILURES, ids=[c[2] + str(c[0]) for c in FAILURES])
def test_failure_option_gives_its_retake(lightning, overrides, seed, code):
    p, poses, _ = trial(lightning, seed, **overrides)
    r = analyze_trial(poses, None, frame_size=(p.width, p.height))
    assert r.verdict == "RETAKE", (r.verdict, r.findings)
    # The athlete hears the cause first: the matching reason leads the list.
    assert r.findings[0] == code, (r.findings, r.quality.get("details"))
    assert r.reasons[0] == REASONS[code]


@pytest.mark.parametrize("seed", [1, 5, 8])
def test_normal_clip_is_scored_and_video_events_within_one_frame(lightning, seed):
    p, poses, truth = trial(lightning, seed)
    frame = 1.0 / p.fps
    r = analyze_trial(poses, None, frame_size=(p.width, p.height))
    assert r.verdict in ("PASS", "FLAG"), (r.findings, r.quality.get("details"))
    ev = r.events
    assert ev.source == "video"
    assert abs(ev.initial_contact_s - truth["initial_contact_s"]) <= frame
    assert abs(ev.takeoff_s - truth["takeoff_s"]) <= frame
    # With the mat, the mat's edges are the events and the video agrees with them.
    edges = [MatEdge(truth["initial_contact_s"], True), MatEdge(truth["takeoff_s"], False),
             MatEdge(truth["second_landing_s"], True)]
    rm = analyze_trial(poses, edges, frame_size=(p.width, p.height))
    assert rm.events.source == "mat" and rm.verdict != "RETAKE", rm.findings
    assert np.isclose(rm.events.initial_contact_s, truth["initial_contact_s"])
