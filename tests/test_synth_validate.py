"""The accuracy report's arithmetic, with an estimator whose error is known exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kiosk.pose.base import PoseEstimator
from kiosk.synth.clip import ClipRenderer
from kiosk.synth.params import sample_params
from kiosk.synth.validate import (
    SECTION_BEGIN,
    clip_record,
    markdown_section,
    summarise,
    truth_score,
    update_accuracy_doc,
)


class ShiftedTruth(PoseEstimator):
    """Replays the true joints of the analysed frames, in order, moved right by ``dx`` pixels."""

    name = "shifted-truth"

    def __init__(self, joints: list[np.ndarray], dx: float):
        self.joints, self.dx, self.calls = joints, dx, 0

    def estimate(self, image: np.ndarray) -> np.ndarray:
        out = np.full((17, 3), 0.9)
        out[:, :2] = self.joints[self.calls] + [self.dx, 0.0]
        self.calls += 1
        return out

    def reset(self) -> None:
        self.calls = 0


def test_uniform_shift_gives_known_errors() -> None:
    p = sample_params(21, fps=30, stand_s=0.6)
    r = ClipRenderer(p)
    ev = r.scene.motion.ev
    frames = list(r.frames(max(0.0, ev.stand_end - 0.5), ev.takeoff + 0.05))
    rec = clip_record(p, ShiftedTruth([f.joints for f in frames], dx=4.0))
    assert rec.frames == len(frames)
    # expected: 4 px over each frame's body height in pixels (height x focal / pelvis depth)
    _, depth = r.scene.camera.project(r.scene.motion.evaluate([f.t for f in frames])["pelvis"])
    expected = 4.0 / (p.height_m * r.scene.camera.f / depth) * 100
    for name in ("hip", "knee", "ankle"):
        assert np.array(rec.errors_pct[name]) == pytest.approx(np.concatenate([expected, expected]), abs=2e-3)
    # a sideways shift of every joint leaves every angle and ratio unchanged
    for side in ("left", "right"):
        for moment in ("ic", "peak"):
            true, det = rec.fppa[side][moment]
            assert det == pytest.approx(true, abs=1e-3)  # float32 keypoints
    assert rec.kasr_ic[1] == pytest.approx(rec.kasr_ic[0], abs=1e-5)
    s = summarise([rec])
    assert s["fppa_ic"]["rms"] == pytest.approx(0.0, abs=1e-3) and s["fppa_ic"]["n"] == 2
    assert s["keypoints"]["all"]["median"] == pytest.approx(float(np.median(expected)), abs=2e-3)
    assert rec.truth["legs"]["left"]["fppa_peak"] == pytest.approx(p.valgus_left, abs=0.5)
    # exact joints (moved sideways) score as the truth does; the report counts the agreement
    assert rec.truth_verdict in ("PASS", "FLAG") and rec.verdict == rec.truth_verdict
    assert s["verdict"] == {"agree": 1, "n": 1, "retake": 0, "borderline_misses": 0, "disagree_seeds": []}
    assert "Verdict (PASS / FLAG / RETAKE" in markdown_section(s, "jumpkiosk validate --n 1", "shifted", 30)


def test_truth_score_follows_the_rules() -> None:
    legs = {s: {"fppa_ic": 2.0, "fppa_peak": 8.0, "static_fppa": 1.0} for s in ("left", "right")}
    assert truth_score({"legs": legs, "kasr_peak": 0.9}).verdict == "PASS"
    legs["right"]["fppa_peak"] = 14.0  # 12 deg of valgus displacement and above the peak limit
    got = truth_score({"legs": legs, "kasr_peak": 0.9})
    assert got.verdict == "FLAG" and "dynamic_valgus_right" in got.findings
    legs["right"]["fppa_peak"] = 12.0  # 10 deg: just under the 10.6 deg cut-off, so borderline
    got = truth_score({"legs": legs, "kasr_peak": 0.9})
    assert got.verdict == "PASS" and got.borderline


def test_report_section_replaces_only_itself(tmp_path: Path) -> None:
    doc = tmp_path / "ACCURACY.md"
    doc.write_text("# Accuracy\n\n## COCO\n\nother engineer's text\n")
    summary = {"clips": 1, "frames": 10, "keypoints": {k: {"median": 1.0, "p90": 2.0} for k in ("hip", "knee", "ankle", "all")},
               **{k: {"rms": 1.5, "bias": 0.2, "worst": -2.0, "n": 2} for k in ("fppa_ic", "fppa_peak", "kasr_ic", "kasr_peak")}}
    update_accuracy_doc(doc, markdown_section(summary, "jumpkiosk validate --n 1", "lightning", 60))
    first = doc.read_text()
    assert "other engineer's text" in first and first.count(SECTION_BEGIN) == 1 and "keypoints met" in first
    summary["fppa_ic"]["rms"] = 4.0
    update_accuracy_doc(doc, markdown_section(summary, "jumpkiosk validate --n 2", "lightning", 60))
    second = doc.read_text()
    assert second.count(SECTION_BEGIN) == 1 and "--n 2" in second and "--n 1" not in second
    assert "FPPA NOT met" in second and "other engineer's text" in second
