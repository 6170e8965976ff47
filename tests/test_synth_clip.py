"""Rendered clips: files, shapes, mat edges, frame timing, the drawn body, the CLI and the demo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kiosk.cli import main
from kiosk.keypoints import KEYPOINT_NAMES, KP, LOWER_LIMB
from kiosk.matcsv import read_mat_csv
from kiosk.media import open_source
from kiosk.synth import iter_frames, render_clip, sample_params
from kiosk.synth.clip import ClipRenderer, Truth


def small(seed: int, **kw: object) -> object:
    return sample_params(seed, fps=30, width=320, height=240, stand_s=0.4, after_s=0.3, **kw)


def test_render_clip_writes_clip_mat_and_truth(tmp_path: Path) -> None:
    p = small(4)
    truth = render_clip(p, tmp_path)
    info, frames = open_source(tmp_path / "clip.mp4")
    decoded = list(frames)
    assert (info.width, info.height) == (320, 240)
    assert len(decoded) == len(truth.frames)
    assert [round(f.t, 3) for f in decoded] == [round(f["t"], 3) for f in truth.frames]
    assert truth.frames[5]["t"] == pytest.approx(5 / 30, abs=1e-6)
    edges = read_mat_csv(tmp_path / "mat.csv")
    assert [e.pressed for e in edges] == [True, False, True]
    ev = truth.events
    assert [e.t for e in edges] == pytest.approx([ev["initial_contact_s"], ev["takeoff_s"], ev["second_landing_s"]], abs=1e-6)
    obj = json.loads((tmp_path / "truth.json").read_text())
    assert set(obj["frames"][0]["joints"]) == set(KEYPOINT_NAMES)
    assert set(obj["legs"]["left"]) >= {"fppa_ic", "fppa_peak", "static_fppa"}
    assert obj["params"]["seed"] == 4 and "look" in obj["params"]
    for key in ("kasr_ic", "kasr_peak", "knee_separation_pct_peak"):
        assert np.isfinite(obj[key])
    again = Truth.load(tmp_path / "truth.json")
    assert again.joints_array().shape == (len(truth.frames), 17, 2)


def test_frames_are_deterministic_and_joints_sit_on_the_drawn_body() -> None:
    p = small(8)
    a = list(iter_frames(p, 0.3, 0.6))
    b = list(iter_frames(p, 0.3, 0.6))
    assert len(a) == len(b) > 3
    assert all(np.array_equal(x.image, y.image) and np.array_equal(x.joints, y.joints) for x, y in zip(a, b, strict=True))
    # the same instant without the athlete: the room only; every lower-limb joint must be drawn over
    r = ClipRenderer(p)
    room = r.room.image
    frame = a[0]
    drawn = np.abs(r._draw_instant(r.scene.motion.evaluate([frame.t]), 0, None).astype(int) - room.astype(int)).sum(-1)
    for j in LOWER_LIMB:
        x, y = np.round(frame.joints[j]).astype(int)
        assert drawn[y, x] > 0, KEYPOINT_NAMES[j]


def test_seeds_change_the_look() -> None:
    imgs = [next(iter_frames(small(s), 0.2, 0.2)).image for s in (1, 2)]
    assert np.abs(imgs[0].astype(int) - imgs[1].astype(int)).mean() > 10


def test_failure_options() -> None:
    # cut-off feet: ankles below the frame at landing
    p = small(6, cut_off_feet=True)
    r = ClipRenderer(p)
    f = next(r.frames(r.scene.motion.ev.peak_flexion, r.scene.motion.ev.peak_flexion + 0.04))
    assert (f.joints[[KP["left_ankle"], KP["right_ankle"]], 1] > p.height).all()
    # a second person changes the picture during the landing, not the truth
    q = small(6, second_person=True)
    r1, r2 = ClipRenderer(small(6)), ClipRenderer(q)
    t = r1.scene.motion.ev.initial_contact
    f1, f2 = next(r1.frames(t, t + 0.03)), next(r2.frames(t, t + 0.03))
    assert np.array_equal(f1.joints, f2.joints)
    assert np.abs(f1.image.astype(int) - f2.image.astype(int)).sum(-1).astype(bool).mean() > 0.003
    # turned away: the hips come closer together in the image
    flat = ClipRenderer(small(6, yaw_deg=0.0))
    turned = ClipRenderer(small(6, yaw_deg=40.0))
    w0 = np.ptp(next(flat.frames(0.2, 0.2)).joints[[KP["left_hip"], KP["right_hip"]], 0])
    w1 = np.ptp(next(turned.frames(0.2, 0.2)).joints[[KP["left_hip"], KP["right_hip"]], 0])
    assert w1 < 0.85 * w0


def test_simulate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "trial"
    code = main(["simulate", "--out", str(out), "--seed", "3", "--fps", "30", "--width", "320", "--height", "240",
                 "--valgus-left", "12", "--valgus-right", "-2", "--static-valgus", "1", "--no-mat"])
    assert code == 0
    truth = json.loads((out / "truth.json").read_text())
    assert truth["legs"]["left"]["fppa_peak"] == pytest.approx(12, abs=0.5)
    assert truth["legs"]["right"]["fppa_peak"] == pytest.approx(-2, abs=0.5)
    assert truth["params"]["static_valgus_left"] == 1.0 and truth["fps"] == 30
    assert not (out / "mat.csv").exists()
    assert "peak +12.0" in capsys.readouterr().out
    assert main(["simulate", "--out", str(out), "--fps", "1000"]) == 2


def test_demo_clips_are_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kiosk.synth import demo

    cheap = {name: p.replace(fps=15, width=160, height=120, stand_s=0.3, after_s=0.2) for name, p in demo.DEMO_TRIALS.items()}
    monkeypatch.setattr(demo, "DEMO_TRIALS", cheap)
    monkeypatch.setattr(demo, "HOWTO", demo.HOWTO.replace(fps=15, width=160, height=120, stand_s=0.3, after_s=0.2))
    folders = demo.ensure_demo_clips(tmp_path)
    assert [f.name for f in folders] == list(cheap)
    assert all((f / "clip.mp4").is_file() and (f / "truth.json").is_file() for f in folders)
    assert (tmp_path / "howto" / "clip.mp4").is_file()
    mtimes = [(f / "clip.mp4").stat().st_mtime_ns for f in folders]
    assert demo.ensure_demo_clips(tmp_path) == folders
    assert [(f / "clip.mp4").stat().st_mtime_ns for f in folders] == mtimes  # re-used, not re-rendered
    # the clean demo lands with little valgus, the valgus demo with a lot
    good = Truth.load(folders[0] / "truth.json").legs
    bad = Truth.load(folders[1] / "truth.json").legs
    assert max(good["left"]["fppa_peak"], good["right"]["fppa_peak"]) < 5
    assert min(bad["left"]["fppa_peak"], bad["right"]["fppa_peak"]) > 14


def test_protocol_options_draw_what_they_claim(tmp_path: Path) -> None:
    # no box in the countermovement jump in place: the box's top face shows the room behind it
    with_box, no_box = ClipRenderer(small(6)), ClipRenderer(small(6, cmj_in_place=True))
    (u, v), _ = with_box.scene.camera.project(np.array([0.25, with_box.params.box_height_m - 0.01, -0.5]))
    assert np.abs(with_box.room.image[int(v), int(u)].astype(int) - no_box.room.image[int(v), int(u)].astype(int)).sum() > 20
    # the still figure is drawn where its truth joints are, in the background of every frame
    r = ClipRenderer(small(6, static_figure=True))
    truth = render_clip(small(6, static_figure=True), tmp_path)
    plain = ClipRenderer(small(6)).room.image.astype(int)
    for name in ("nose", "left_hip", "right_knee", "left_ankle"):
        x, y = np.round(truth.extra["static_figure_joints"][name]).astype(int)
        assert np.abs(r.room.image[y, x].astype(int) - plain[y, x]).sum() > 0, name
    assert read_mat_csv(tmp_path / "mat.csv") == truth.mat_edges()


def test_simulate_protocol_option_writes_its_story(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "trial"
    assert main(["simulate", "--out", str(out), "--seed", "2", "--fps", "30", "--width", "320", "--height", "240",
                 "--hops", "3", "--cmj-in-place"]) == 0
    truth = json.loads((out / "truth.json").read_text())
    assert truth["protocol"]["expected_findings"] == ["hopping", "no_box"]
    edges = read_mat_csv(out / "mat.csv")
    assert [e.pressed for e in edges] == [True, False, True, False, True, False, True] and edges[0].t == 0.0
    assert "must answer RETAKE (hopping, no_box)" in capsys.readouterr().out
