"""``jumpkiosk score`` on the file ``analyze --keypoints-out`` wrote gives the verdict and metrics of
``analyze --json`` on the clip (real MoveNet, a rendered synthetic clip with its mat file), and
re-scores it for another athlete profile without the clip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kiosk.cli import main

pytest.importorskip("cv2")

PROFILE = ["--sex", "female", "--birth-year", "2012", "--test-year", "2026"]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    assert main(["simulate", "--out", str(out), "--seed", "5", "--fps", "60", "--valgus-left", "14",
                 "--valgus-right", "4"]) == 0
    return out


def _json_tail(text: str) -> dict:
    return json.loads(text[text.index("{"):])


def test_score_gives_the_analyze_result_without_the_clip(clip: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    kp = tmp_path / "kp.json"
    code, out, err = _run(capsys, "analyze", str(clip / "clip.mp4"), "--mat", str(clip / "mat.csv"), "--json",
                          "--keypoints-out", str(kp), *PROFILE)
    assert code == 0, err
    assert out.startswith(f"wrote {kp}")
    analyzed = _json_tail(out)
    assert analyzed["verdict"] in ("PASS", "FLAG"), analyzed["findings"]
    assert json.loads(kp.read_text())["sources"][0]["scored"]["frames"]

    code, out, err = _run(capsys, "score", str(kp), "--mat", str(clip / "mat.csv"), "--json", *PROFILE)
    assert code == 0, err
    scored = json.loads(out)
    for key in ("verdict", "findings", "reasons", "legs", "kasr_peak", "stance_width_ratio", "trunk_lean_ic_deg",
                "jump", "events", "limit", "near_limits", "scoring", "scoring_version"):
        assert scored[key] == analyzed[key], key
    assert scored["limit"]["why"].endswith("adult reference range: under 18")
    assert scored["scoring"]["trials_needed"] == 3 and scored["scoring"]["thresholds"]["valgus_displacement_deg"] == 10.6

    # the same poses for a man: the male range applies and the result says so
    code, out, _ = _run(capsys, "score", str(kp), "--mat", str(clip / "mat.csv"), "--json", "--sex", "male")
    male = json.loads(out)
    assert male["limit"]["peak_fppa_deg"] == 8.0 and male["limit"]["why"].startswith("male: the male range")
    assert male["legs"] == analyzed["legs"]
    # a plain summary names the verdict and the limit's why
    code, out, _ = _run(capsys, "score", str(kp), "--mat", str(clip / "mat.csv"))
    assert code == 0 and out.startswith(f"{clip / 'clip.mp4'}: {analyzed['verdict']} (sex not recorded")


def test_score_refuses_bad_input_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = _run(capsys, "score", str(bad), "--json")
    assert code == 2 and err.count("\n") == 1 and "not a keypoints JSON file" in err
    code, _, err = _run(capsys, "score", str(tmp_path / "missing.json"))
    assert code == 2 and "no such file" in err
