"""Reproducible results: a trial and a session stored in a real SQLite file keep the thresholds,
trial count and limit they were scored with, and a stored trial re-scores to its stored verdict
after the thresholds have changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_analysis_build import Jump, frames, mat

from kiosk.analysis import SCORING_VERSION, Thresholds, analyze_trial, summarize_session
from kiosk.analysis.rescore import rescore_stored, score_input
from kiosk.analysis.thresholds import from_snapshot
from kiosk.analysis.verdict import score
from kiosk.store import Store


@pytest.fixture()
def db(tmp_path: Path) -> Store:
    s = Store(tmp_path, min_free_mb=10)
    s.migrate()
    yield s
    s.close()


def test_a_stored_threshold_snapshot_rescores_to_the_stored_verdict(db: Store) -> None:
    # A coach had lowered the displacement limit to 8 deg; this 9 deg landing was a FLAG then.
    strict = Thresholds(valgus_displacement_deg=8.0, peak_fppa_female_deg=14.0)
    j = Jump(valgus={"left": 9.0, "right": 3.0})
    result = analyze_trial(frames(j), mat(j), thresholds=strict, sex="female", age=15, trials_needed=4)
    assert result.verdict == "FLAG" and result.findings[0] == "dynamic_valgus_left"
    sid = db.start_session(db.add_athlete("Ida", sex="female", birth_year=2011), "Gym")
    tid = db.save_trial(sid, result.to_json())

    row = db.get_trial(tid)
    snap = row["scoring"]
    assert snap["version"] == SCORING_VERSION == row["scoring_version"]
    assert snap["thresholds"]["valgus_displacement_deg"] == 8.0 and snap["trials_needed"] == 4
    assert snap["limit"]["peak_fppa_deg"] == 14.0 and snap["limit"]["why"].endswith("adult reference range: under 18")
    # Today's defaults would call it a PASS; the stored snapshot gives the stored verdict back.
    stored = row["metrics"]
    assert score(score_input(result.metrics), Thresholds()).verdict == "PASS"
    again = rescore_stored(stored, snap)
    assert (again.verdict, again.findings, again.reasons) == (stored["verdict"], tuple(stored["findings"]),
                                                              tuple(stored["reasons"]))
    assert from_snapshot(snap["thresholds"]) == strict
    # a result JSON without its own copy (kept only in the column) re-scores the same way
    bare = {k: v for k, v in stored.items() if k not in ("scoring", "limit")}
    assert rescore_stored(bare, snap).verdict == "FLAG"


def test_a_session_stores_its_thresholds_trial_count_and_limit(db: Store) -> None:
    th = Thresholds(peak_fppa_male_deg=9.0)
    trials = [analyze_trial(frames(j), mat(j), thresholds=th, sex="male", age=30)
              for j in (Jump(seed=s, noise_px=0.3, valgus={"left": 6.0, "right": 5.0}) for s in range(3))]
    summary = summarize_session(trials, thresholds=th, sex="male", age=30, trials_needed=3).to_json()
    assert summary["limit"]["peak_fppa_deg"] == 9.0 and summary["limit"]["why"].startswith("male: the male range")
    sid = db.start_session(db.add_athlete("Max", sex="male"), "Gym")
    db.end_session(sid, summary["verdict"], summary)
    row = db.get_session(sid)
    assert row["scoring_version"] == SCORING_VERSION
    assert row["scoring"]["thresholds"]["peak_fppa_male_deg"] == 9.0 and row["scoring"]["trials_needed"] == 3
    assert row["scoring"]["limit"]["range"] == "male"
    # the session's verdict follows from its medians under the stored thresholds and limit
    from kiosk.analysis.limits import Limit
    from kiosk.analysis.session import medians_input

    s = score(medians_input(row["summary"]["medians"]), from_snapshot(row["scoring"]["thresholds"]),
              Limit.from_json(row["scoring"]["limit"]))
    assert s.verdict == row["verdict"] == summary["verdict"]
