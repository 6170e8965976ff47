"""Real MoveNet inference (crop tracking, as the kiosk runs it) on rendered athletes: the drawn body
is where the truth says it is."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.errors import ModelError
from kiosk.keypoints import LOWER_LIMB
from kiosk.synth.validate import ClipRecord, clip_record, summarise, validation_params


@pytest.fixture(scope="module")
def lightning():
    from kiosk.pose.movenet import create_estimator

    try:
        return create_estimator("lightning", threads=2)
    except ModelError as exc:  # models/ not converted on this machine
        pytest.skip(f"MoveNet Lightning not available: {exc}")


@pytest.fixture(scope="module")
def records(lightning) -> list[ClipRecord]:
    return [clip_record(p, lightning, track=True) for p in validation_params(3, seed=7, fps=30)]


def test_lower_limb_error_within_three_percent_of_body_height(records: list[ClipRecord]) -> None:
    summary = summarise(records)
    for name in ("hip", "knee", "ankle"):
        assert summary["keypoints"][name]["median"] <= 3.0, (name, summary["keypoints"][name])


def test_detected_sides_match_the_truth(records: list[ClipRecord]) -> None:
    # no left/right swap: detected left joints lie nearer the true left joints than the right ones
    for rec in records:
        det = np.stack([p.keypoints[:, :2] for p in rec.poses])
        lefts, rights = LOWER_LIMB[0::2], LOWER_LIMB[1::2]
        assert (det[:, lefts, 0] > det[:, rights, 0]).mean() > 0.9


def test_summary_counts(records: list[ClipRecord]) -> None:
    s = summarise(records)
    assert s["clips"] == 3 and s["frames"] == sum(r.frames for r in records)
    assert s["fppa_ic"]["n"] == 6 and np.isfinite(s["fppa_peak"]["rms"])
