"""StationRuntime end to end on this machine: a replayed clip with its mat.csv, played in real
time, goes through every state; analysis overlaps the flight and gets the right frames/edges."""

from __future__ import annotations

import json
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
from kiosk.station.runtime import StationRuntime
from kiosk.station.statemachine import Timing

FPS = 120
EDGES = [MatEdge(0.60, True), MatEdge(0.90, False), MatEdge(1.35, True)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_bar_clip(tmp_path_factory.mktemp("clip"), FPS, EDGES, crf=10, background=0)


class BarEstimator(PoseEstimator):
    """Reads the frame number back from the bar length: proves the analysed frames are real."""

    name = "bar"

    def __init__(self) -> None:
        self.calls = 0

    def estimate(self, image: np.ndarray) -> np.ndarray:
        self.calls += 1
        length = int((image[60, :, 0] > 100).sum())
        kps = np.zeros((NUM_KEYPOINTS, 3), np.float32)
        kps[:, 0] = length
        kps[:, 2] = 0.9
        return kps


@dataclass
class FakeResult:
    verdict: str
    n: int

    def to_json(self) -> dict:
        return {"verdict": self.verdict, "frames": self.n}


def test_replay_trial_goes_through_every_state(clip: Path):
    seen_calls: list[tuple] = []
    records = []

    def analyzer(poses, edges, *, frame_size, sex):
        seen_calls.append((poses, edges, frame_size, sex))
        return FakeResult("PASS", len(poses))

    cam = ReplayCamera(clip, 160, 120)
    assert cam.mat_edges == EDGES and cam.fps == pytest.approx(FPS)
    mat = SimulatedMat(cam.mat_edges)
    est = BarEstimator()
    rt = StationRuntime(cam, mat, lambda: est, analyzer, ring_seconds=4.0,
                        timing=Timing(countdown_s=0.2), on_trial_done=records.append)
    states: list[str] = []
    with rt:
        snap = rt.check_in({"id": 1, "name": "Ana", "sex": "female"})
        assert snap["state"] == "ready" and snap["trial"] == "1 of 3"
        snap = rt.start()
        seq = snap["seq"]
        states.append(snap["state"])
        while snap["state"] != "result":
            snap = rt.wait_for_change(seq, timeout=10.0)
            assert snap["seq"] != seq, f"stuck in {snap['state']}: {snap['prompt']}"
            seq = snap["seq"]
            if states[-1] != snap["state"]:
                states.append(snap["state"])
        assert rt.preview_jpeg() is not None and rt.preview_jpeg()[:2] == b"\xff\xd8"
    # the UI may see coalesced updates; the machine's own history has every state in order
    assert [s.value for s in rt.sm.history] == ["idle", "ready", "countdown", "awaiting_landing", "contact", "flight",
                                                "landed", "analysing", "result"]
    assert states[0] == "countdown" and states[-1] == "result" and "flight" in states
    assert snap["last_verdict"] == "PASS" and snap["trial"] == "1 of 3" and snap["valid_trials"] == 1
    json.dumps(snap)  # the UI gets it as JSON

    (poses, edges, frame_size, sex) = seen_calls[0]
    assert frame_size == (160, 120) and sex == "female"
    # the mat edges arrive on the analysis clock, exactly as in mat.csv (shifted by t0)
    shift = edges[0].t - EDGES[0].t
    assert [(round(e.t - shift, 6), e.pressed) for e in edges] == [(e.t, e.pressed) for e in EDGES]
    # posed frames (kiosk.station.frameplan), in time order: standing frames posed while waiting
    # for the drop (none of the last 0.25 s: the fall); every frame from 60 ms before contact to
    # 20 ms after it; then to just after take-off (this estimator is instant: the densest plan,
    # every frame); nothing of the flight or the second landing (the mat times those)
    t = np.array([p.t for p in poses]) - shift
    assert np.all(np.diff(t) > 0)
    standing = t < EDGES[0].t - 0.25 - 1e-6
    assert standing.sum() == records[0].timings["standing_frames"] >= 6
    landing = t[~standing]
    assert landing[0] == pytest.approx(EDGES[0].t - 0.06, abs=1.01 / FPS)
    assert EDGES[1].t - 1.5 / FPS <= landing[-1] <= EDGES[1].t + 0.02 + 1.5 / FPS
    assert np.diff(landing).max() <= 1.5 / FPS
    around_contact = (t >= EDGES[0].t - 0.06 - 1e-6) & (t <= EDGES[0].t + 0.02 + 1e-6)
    assert around_contact.sum() == 10  # clip frames 65..74, every one
    # each pose was made from the frame it claims: the bar encodes the clip frame number
    for p in poses:
        clip_frame = int(round((p.t - shift) * FPS))
        if clip_frame >= 0:
            assert abs(int(p.keypoints[0, 0]) - (2 + clip_frame % 150)) <= 2
    rec = records[0]
    assert rec.verdict == "PASS" and rec.athlete["name"] == "Ana" and len(rec.frames) == len(poses)
    tm = rec.timings
    assert tm["invocations"] == tm["invocations_baseline"] + tm["invocations_before_landing"] + tm["invocations_after_landing"]
    assert tm["invocations"] - tm["invocations_baseline"] == len(poses) - tm["standing_frames"]
    assert tm["landing_to_verdict_ms"] < 5000
    assert rt.ring.dropped == 0


def test_no_drop_times_out_to_ready(clip: Path):
    cam = ReplayCamera(clip, 160, 120)
    cam.mat_edges = []  # the clip plays but the mat never closes
    mat = SimulatedMat([])
    rt = StationRuntime(cam, mat, None, lambda *a, **k: FakeResult("PASS", 0),
                        timing=Timing(countdown_s=0.1, drop_timeout_s=3.0))
    with rt:
        rt.check_in({"id": 2})
        snap = rt.start()
        while snap["state"] != "ready":
            seq = snap["seq"]
            snap = rt.wait_for_change(seq, timeout=10.0)
            assert snap["seq"] != seq, f"stuck in {snap['state']}"
    # the video saw the athlete drop while the mat stayed open: a cut mat wire, said as such
    assert "mat felt nothing" in snap["prompt"]
    assert [s.value for s in rt.sm.history][-3:] == ["countdown", "awaiting_landing", "ready"]


def test_simulated_mat_keeps_time_on_a_fast_clock():
    """On a clock running 40x faster (the soak's), the mat waits the clock time left divided by
    the speed: edges 1-2 clock seconds apart arrive within a fraction of a real second, each
    stamped with its scheduled time and delivered once the clock has reached it."""
    import threading
    import time

    from kiosk.station.camera import REST_S

    speed = 40.0
    t0 = time.monotonic_ns()

    def clock() -> int:
        return t0 + int((time.monotonic_ns() - t0) * speed)

    got: list[tuple[int, bool, int]] = []
    done = threading.Event()

    def listener(ev) -> None:
        got.append((ev.t_ns, ev.pressed, clock()))
        if len(got) == 4:
            done.set()

    mat = SimulatedMat([MatEdge(1.0, True), MatEdge(1.5, False), MatEdge(2.0, True)], clock=clock, speed=speed)
    mat.set_listener(listener)
    mat.start()
    try:
        origin = clock()
        started = time.monotonic()
        mat.play(origin)
        # at real speed the last edge (the walk-off REST_S after the landing) would take 3.5 s;
        # at 40x it takes under 0.1 s (plus scheduling)
        assert done.wait(timeout=1.0), got
        assert time.monotonic() - started < 1.0
    finally:
        mat.close()
    walk_off = int((2.0 + REST_S) * 1e9)
    assert [(t - origin, p) for t, p, _ in got] == [(1_000_000_000, True), (1_500_000_000, False),
                                                    (2_000_000_000, True), (walk_off, False)]
    assert all(seen >= t for t, _, seen in got)  # never early
    with pytest.raises(ValueError):
        SimulatedMat([], speed=0)


def test_from_config_on_a_fast_clock(clip: Path):
    """What bench/soak.py needs from ``from_config``: its clock on the runtime, the replay
    camera and the simulated mat (paced at the clock's speed), its own ring length, budget and
    per-pose times instead of the measured ones."""
    import time

    from kiosk.config import config_from_dict
    from kiosk.station.frameplan import Budget

    cfg = config_from_dict({"camera": {"source": "replay", "replay_path": str(clip), "width": 160, "height": 120},
                            "mat": {"kind": "simulated"}})

    def clock() -> int:
        return 4 * time.monotonic_ns()

    rt = StationRuntime.from_config(cfg, clock=clock, clock_speed=4.0, ring_seconds=0.5, budget=Budget(target_s=1.0),
                                    invoke_s=0.2, refine_invoke_s=0.6, analysis_timeout_s=9.0)
    assert rt._clock is clock and rt.camera._clock is clock and rt.mat._clock is clock
    assert isinstance(rt.mat, SimulatedMat) and rt.mat.speed == 4.0 and rt.mat.edges == EDGES
    assert rt.ring.seconds == 0.5 and rt.budget.target_s == 1.0
    assert (rt.invoke_s, rt.refine_invoke_s, rt.analysis_timeout_s) == (0.2, 0.6, 9.0)
    started = time.monotonic()
    rt.camera._sleep(0.4)  # 0.4 clock seconds are 0.1 real ones
    assert time.monotonic() - started < 0.3
    plain = StationRuntime.from_config(cfg)
    assert plain._clock is time.monotonic_ns and plain.mat.speed == 1.0 and plain.ring.seconds == cfg.camera.ring_seconds
