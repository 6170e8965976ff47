"""From metrics to the verdict fields of a result, and a stored result scored again.

Every result keeps what its verdict was decided with: the thresholds in force (a snapshot), the
session's trial count, and the limit that applied. :func:`rescore_trial` applies the stored
thresholds and limit to the stored metrics, so a coach who changed a threshold since can still
see why an old trial got its verdict, and a researcher can check that it was scored as the rules
say. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kiosk.analysis.limits import Limit, applied_limit
from kiosk.analysis.metrics import Metrics
from kiosk.analysis.result import TrialResult
from kiosk.analysis.thresholds import Thresholds, from_snapshot, snapshot
from kiosk.analysis.verdict import Score, ScoreInput, score

LEGS = ("left", "right")


def score_input(m: Metrics) -> ScoreInput:
    """The values of one trial's metrics the rules read."""
    return ScoreInput(
        valgus_displacement={leg: getattr(m, leg).valgus_displacement for leg in LEGS},
        fppa_peak_flexion={leg: getattr(m, leg).fppa_peak_flexion for leg in LEGS},
        static_fppa={leg: getattr(m, leg).static_fppa for leg in LEGS},
        trunk_lean_ic_deg=m.trunk_lean_ic_deg,
        pushoff_valgus={leg: getattr(m, leg).pushoff_valgus for leg in LEGS},
    )


def scoring_record(th: Thresholds, trials_needed: int | None) -> dict[str, Any]:
    """What a result stores about the rules in force besides ``scoring_version``."""
    out: dict[str, Any] = {"thresholds": snapshot(th)}
    if trials_needed is not None:
        out["trials_needed"] = int(trials_needed)
    return out


def verdict_fields(s: Score) -> dict[str, Any]:
    """The :class:`TrialResult` / :class:`SessionResult` fields a :class:`Score` fills."""
    return {"verdict": s.verdict, "reasons": s.reasons, "findings": s.findings, "borderline": s.borderline,
            "refer": s.refer, "limit": s.limit.to_json(), "near_limits": tuple(n.to_json() for n in s.near_limits)}


def stored_limit(result: TrialResult, th: Thresholds) -> Limit:
    """The limit a stored result was scored with (re-derived from its sex and age only for
    results stored before limits were kept)."""
    if result.limit:
        return Limit.from_json(result.limit)
    return applied_limit(th, result.sex, None)


def rescore_trial(result: TrialResult) -> TrialResult:
    """``result`` scored again from its own metrics, stored thresholds and limit. A RETAKE stays
    a RETAKE (the gates read the keypoints, which a stored result does not hold)."""
    th = from_snapshot((result.scoring or {}).get("thresholds") or {})
    if not result.valid:
        return result
    s = score(score_input(result.metrics), th, stored_limit(result, th))
    return dataclasses.replace(result, **verdict_fields(s))


def scoring_snapshot(result_json: dict) -> dict[str, Any]:
    """What the store keeps beside a trial or session (its ``scoring`` column): the scoring
    version, the thresholds and trial count in force, and the limit that applied."""
    scoring = result_json.get("scoring") or {}
    return {"version": str(result_json.get("scoring_version") or ""), "thresholds": scoring.get("thresholds") or {},
            "trials_needed": scoring.get("trials_needed"), "limit": result_json.get("limit")}


def rescore_stored(result_json: dict, snapshot: dict | None = None) -> TrialResult:
    """A stored trial (its result JSON and, when kept apart, its ``scoring`` snapshot) scored
    again with the thresholds and limit it was stored with."""
    obj = dict(result_json)
    snap = snapshot or {}
    if snap.get("thresholds") and not (obj.get("scoring") or {}).get("thresholds"):
        obj["scoring"] = {"thresholds": snap["thresholds"], "trials_needed": snap.get("trials_needed")}
    if snap.get("limit") and not obj.get("limit"):
        obj["limit"] = snap["limit"]
    return rescore_trial(TrialResult.from_json(obj))
