"""Real footage that is not a clean drop vertical jump, through ``jumpkiosk analyze --json`` with
real MoveNet: RETAKE with the reason that fits, never PASS or FLAG (../shared/data/real-clips,
described in its README: a man on a ~2 m cabinet with a woman walking across, oblique squats at
5 fps)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kiosk.cli import main


def analyze_json(capsys: pytest.CaptureFixture[str], clip: Path) -> dict:
    assert main(["analyze", str(clip), "--json"]) == 0
    out = capsys.readouterr().out
    return json.loads(out[out.index("{"):])


def test_passer_by_is_second_person_at_the_switch_not_the_first_frames(shared_data: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    r = analyze_json(capsys, shared_data / "real-clips" / "box_landing_passerby.mp4")
    assert r["verdict"] == "RETAKE"
    assert r["findings"][0] == "second_person", r["quality"]["details"]
    assert "mirror, poster or screen" in r["reasons"][0]
    detail = r["quality"]["details"][r["quality"]["failed"].index("second_person")]
    switch = float(re.search(r"at (\d+\.\d+) s", detail).group(1))
    # The man crouches for his flip off the cabinet from ~4.8 s and flips at ~5.4 s, while the
    # woman walks below him: the track leaves him for her in that span, never in the first frames.
    assert 4.6 <= switch <= 5.7, detail
    assert r["jump"]["jump_height_m"] is None  # the video's "jump" was partly the passer-by's


def test_squats_at_5_fps_are_no_landing_and_a_slow_camera(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = analyze_json(capsys, shared_data / "real-clips" / "squats_oblique_5fps.mp4")
    assert r["verdict"] == "RETAKE"
    assert "camera_too_slow" in r["findings"], r["quality"]
    assert {"no_landing", "no_drop", "no_box"} & set(r["findings"]), r["findings"]
    assert r["jump"]["jump_height_m"] is None
