"""End to end: a rendered synthetic 120 fps clip replayed in real time with its mat.csv on the
simulated mat goes through every state, and the station's verdict equals
``jumpkiosk analyze CLIP --mat mat.csv --json`` on the same clip and mat file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kiosk.cli import main


@pytest.mark.slow
def test_station_verdict_matches_analyze_command(tmp_path: Path, capsys):
    from kiosk.analysis.trial import analyze_trial
    from kiosk.pose.movenet import create_estimator
    from kiosk.station.camera import ReplayCamera
    from kiosk.station.mat import SimulatedMat
    from kiosk.station.runtime import StationRuntime
    from kiosk.station.statemachine import Timing
    from kiosk.synth.clip import render_clip
    from kiosk.synth.params import sample_params

    render_clip(sample_params(11, fps=120.0, width=640, height=480), tmp_path)
    clip, mat_csv = tmp_path / "clip.mp4", tmp_path / "mat.csv"

    assert main(["analyze", str(clip), "--mat", str(mat_csv), "--json"]) == 0
    expected = json.loads(capsys.readouterr().out)

    cam = ReplayCamera(clip, 640, 480)
    rt = StationRuntime(cam, SimulatedMat(cam.mat_edges), lambda: create_estimator("lightning", 2),
                        lambda poses, edges, **kw: analyze_trial(poses, edges, **kw), timing=Timing(countdown_s=0.3))
    with rt:
        snap = rt.run_trial({"id": 1, "name": "synthetic"})
    assert [s.value for s in rt.sm.history] == ["idle", "ready", "countdown", "awaiting_landing", "contact", "flight",
                                                "landed", "analysing", "result"]
    assert snap["last_verdict"] == expected["verdict"]
    assert rt.ring.dropped == 0
    # the mat events the analysis saw are the file's, to the nanosecond, on a shifted clock
    edges = rt.last_record.mat_edges
    shift = edges[0].t - cam.mat_edges[0].t
    assert [round(e.t - shift, 6) for e in edges] == [round(e.t, 6) for e in cam.mat_edges]


@pytest.mark.slow
def test_station_never_passes_a_second_person(tmp_path: Path):
    """The station's own scoring path (score_trial with its Lightning estimator and frames) finds a
    passer-by that a fixed landing square never jumps to: RETAKE second_person, not PASS."""
    from functools import partial

    from kiosk.pose.movenet import create_estimator
    from kiosk.pose.refine import score_trial
    from kiosk.station.camera import ReplayCamera
    from kiosk.station.mat import SimulatedMat
    from kiosk.station.runtime import StationRuntime
    from kiosk.station.statemachine import Timing
    from kiosk.synth.clip import render_clip
    from kiosk.synth.params import sample_params

    render_clip(sample_params(1001, second_person=True, fps=120.0, width=640, height=480), tmp_path)
    cam = ReplayCamera(tmp_path / "clip.mp4", 640, 480)
    rt = StationRuntime(cam, SimulatedMat(cam.mat_edges), lambda: create_estimator("lightning", 2),
                        partial(score_trial), timing=Timing(countdown_s=0.3))
    with rt:
        snap = rt.run_trial({"id": 1, "name": "synthetic"})
    assert snap["last_verdict"] == "RETAKE"
    assert "second_person" in rt.last_record.result["findings"]
