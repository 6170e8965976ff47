"""Fault and demo plumbing in small pieces: the visible check's judgement, the countdown and
"mat missed the landing" in the state machine, the demo's replay playlist, and a damaged pose
model at start (fault screen + /healthz)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from kiosk.keypoints import LEFT_ANKLE, LEFT_KNEE, NUM_KEYPOINTS, RIGHT_ANKLE
from kiosk.matcsv import MatEdge, format_mat_csv
from kiosk.media import VideoWriter
from kiosk.station.statemachine import MatChanged, Motion, Start, State, StateMachine, Tick, Timing, Visibility
from kiosk.station.visibility import VisibilityWindow, judge, motion_fraction

S = 1_000_000_000


def _kps(score: float, **over: float) -> np.ndarray:
    k = np.zeros((NUM_KEYPOINTS, 3), np.float32)
    k[:, 2] = score
    for j, v in over.items():
        k[int(j), 2] = v
    return k


def test_judge_names_the_missing_part_and_ignores_one_bad_frame() -> None:
    assert judge(np.stack([_kps(0.8)] * 5), 0.2) == (True, None)
    feet_out = _kps(0.8, **{str(LEFT_ANKLE): 0.05, str(RIGHT_ANKLE): 0.04})
    assert judge(np.stack([feet_out] * 5), 0.2) == (False, "feet")
    assert judge(np.stack([_kps(0.8, **{str(LEFT_KNEE): 0.1})] * 3), 0.2) == (False, "knees")
    assert judge(np.stack([_kps(0.02)] * 3), 0.2) == (False, "person")
    # one frame's dip does not flip the median over the window
    w = VisibilityWindow(0.2, window_s=0.5)
    verdicts = [w.add(i * S // 10, feet_out if i == 3 else _kps(0.7)) for i in range(6)]
    assert all(v == (True, None) for v in verdicts)
    # ... but feet gone for longer than half the window do
    verdicts = [w.add(S + i * S // 10, feet_out) for i in range(4)]
    assert verdicts[-1] == (False, "feet")


def test_motion_fraction_sees_a_body_not_noise() -> None:
    rng = np.random.default_rng(0)
    ref = rng.integers(100, 110, (60, 80)).astype(np.uint8)
    noisy = np.clip(ref.astype(int) + rng.integers(-8, 9, ref.shape), 0, 255).astype(np.uint8)
    assert motion_fraction(ref, noisy) == 0.0
    moved = ref.copy()
    moved[20:50, 30:45] = 10  # a dark body where there was none
    assert motion_fraction(ref, moved) > 0.05


def test_state_machine_countdown_cue_and_mat_missed() -> None:
    sm = StateMachine(Timing(countdown_s=3.0, drop_timeout_s=5.0))
    sm.handle(Tick(0))
    from kiosk.station.statemachine import CheckIn

    sm.handle(CheckIn({"id": 1}))
    sm.handle(Visibility(False, "feet"))
    sm.handle(Start(), 1 * S)      # the button at the box: refused with what to fix
    assert sm.state == State.READY and sm.prompt == "Step back: your feet are out of the picture"
    sm.handle(Visibility(True))
    sm.handle(Start(), 1 * S)
    assert sm.snapshot()["countdown_s"] == 3.0
    sm.handle(Tick(2 * S + S // 4))
    assert sm.state == State.COUNTDOWN and sm.snapshot()["countdown_s"] == pytest.approx(1.8)
    sm.handle(Tick(4 * S))
    assert sm.state == State.AWAITING_LANDING and sm.snapshot()["countdown_s"] is None
    sm.handle(Motion(5 * S))              # the camera sees the drop; the mat never closes
    sm.handle(Tick(9 * S + 1))
    assert sm.state == State.READY and "mat felt nothing" in sm.prompt
    # without motion it is the plain "no drop" prompt
    sm.handle(Start(), 10 * S)
    sm.handle(Tick(13 * S))
    sm.handle(Tick(18 * S + 1))
    assert sm.state == State.READY and sm.prompt.startswith("No drop seen")
    # stuck closed at the countdown: back to ready with the step-off prompt
    sm.handle(Start(), 20 * S)
    sm.handle(MatChanged(True, 20 * S + 1))
    assert sm.state == State.READY and "Wait for the countdown" in sm.prompt


def _clip(folder: Path, level: int, contact: float) -> Path:
    folder.mkdir()
    with VideoWriter(folder / "clip.mp4", 30, 64, 48, crf=10) as w:
        for _ in range(6):
            w.write(np.full((48, 64, 3), level, np.uint8))
    (folder / "mat.csv").write_text(format_mat_csv([MatEdge(contact, True), MatEdge(0.1, False)]))
    return folder / "clip.mp4"


def test_replay_playlist_plays_clips_in_turn_with_their_mats(tmp_path: Path) -> None:
    import os

    from kiosk.config import config_from_dict
    from kiosk.station.camera import open_camera

    a, b = _clip(tmp_path / "a", 40, 0.05), _clip(tmp_path / "b", 200, 0.07)
    cfg = config_from_dict({"camera": {"source": "replay", "replay_path": os.pathsep.join([str(a), str(b)]),
                                       "width": 160, "height": 120}})
    cam = open_camera(cfg)
    cam.start()
    played: list[tuple[int, float]] = []
    cam.on_play = lambda origin: played.append((cam.plays, cam.mat_edges[0].t))
    levels = []
    for _ in range(3):
        cam.trigger()
        f = cam.read(timeout=2.0)
        levels.append(int(np.median(f.image)))
        for _ in range(5):
            cam.read(timeout=2.0)
        cam._rest_until = None  # skip the athlete's rest on the mat: straight back on the box
        hold = cam.read(timeout=2.0)
        assert abs(int(np.median(hold.image)) - (200 if len(levels) % 2 else 40)) < 12  # the next clip's athlete
    cam.stop()
    assert [abs(v - e) < 12 for v, e in zip(levels, (40, 200, 40), strict=True)] == [True] * 3
    assert [t for _, t in played] == [pytest.approx(0.05), pytest.approx(0.07), pytest.approx(0.05)]


def test_damaged_model_is_a_fault_screen_and_healthz_reports_it(tmp_path: Path, monkeypatch) -> None:
    from kiosk.commands.serve import check_model
    from kiosk.config import config_from_dict
    from kiosk.pose.models import clear_cache, default_models_dir, load_manifest
    from kiosk.station.camera import SyntheticCamera
    from kiosk.station.mat import SimulatedMat
    from kiosk.station.runtime import StationRuntime
    from kiosk.web import create_app

    cfg = config_from_dict({"station": {"state_dir": str(tmp_path / "state")},
                            "web": {"secret_key": "t" * 40}})
    assert check_model(cfg) is None  # the checked-in model is fine
    models = tmp_path / "models"
    shutil.copytree(default_models_dir(), models)
    target = models / load_manifest(models)["lightning"].path.name  # the file the config's model uses
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: same size, wrong checksum
    target.write_bytes(bytes(data))
    monkeypatch.setenv("JUMPKIOSK_MODELS", str(models))
    clear_cache()
    message = check_model(cfg)
    assert message is not None and message.startswith("Model file damaged: run `setup.sh update`")
    assert "\n" not in message

    rt = StationRuntime(SyntheticCamera(160, 120, 30, render=lambda seed: ([], [])), SimulatedMat([]), None,
                        lambda *a, **k: None)
    rt.report_fault("model", message)
    app = create_app(cfg, rt)
    try:
        client = app.test_client()
        r = client.get("/healthz")
        assert r.status_code == 503 and r.get_json()["fault"] == "model"
        from kiosk.analysis.thresholds import Thresholds
        from kiosk.web.station.view import station_view

        view = station_view(rt.snapshot(), thresholds=Thresholds(), trials_per_session=3)
        assert view["fault"]["kind"] == "model" and "model file" in view["fault"]["help"]
        assert rt.start()["state"] == "fault"
    finally:
        app.extensions["kiosk_store"].close()
        clear_cache()


def test_replayed_clip_is_held_at_half_the_memory_and_reads_back_faithfully() -> None:
    """The replay camera keeps a clip as I420 planes: half of RGB's bytes, frames read back as
    RGB with their own index and time, within a few levels of the original (the ring stores
    the same I420 anyway); odd-sized frames are kept as they are."""
    from kiosk.media import Frame
    from kiosk.station.camera import CompactClip

    rng = np.random.default_rng(7)
    h, w = 48, 64
    yy, xx = np.mgrid[0:h, 0:w]
    frames = []
    for i in range(5):  # smooth colour ramps plus mild noise: what a camera frame looks like to chroma subsampling
        img = np.stack([xx * 3 + i * 10, yy * 4, 255 - xx * 3], axis=-1) + rng.normal(0, 2, (h, w, 3))
        frames.append(Frame(10 + i, 0.5 + i / 120, np.clip(img, 0, 255).astype(np.uint8)))
    clip = CompactClip(frames)
    assert len(clip) == 5
    assert clip.nbytes == 5 * h * w * 3 // 2  # 1.5 bytes a pixel
    for got, src in zip(clip, frames, strict=True):
        assert (got.index, got.t) == (src.index, src.t)
        assert got.image.shape == src.image.shape and got.image.dtype == np.uint8
        assert np.abs(got.image.astype(int) - src.image.astype(int)).mean() < 3
    assert [f.index for f in clip[1:4]] == [11, 12, 13]
    odd = CompactClip([Frame(0, 0.0, frames[0].image[:47, :63].copy())])
    assert np.array_equal(odd[0].image, frames[0].image[:47, :63])
