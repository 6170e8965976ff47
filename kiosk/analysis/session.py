"""Sessions: the verdict from the per-metric median of N valid trials.

One jump's knee angle is too noisy to judge on (Herrington & Munro's ranges are themselves the
mean of three trials), so the median of three is. Every attempt is kept, RETAKEs included, for the coach; only
valid trials (the first ``trials_needed`` of them) enter the medians, and the session stays
INCOMPLETE until there are enough.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kiosk.analysis.limits import applied_limit
from kiosk.analysis.rescore import scoring_record, verdict_fields
from kiosk.analysis.result import SessionResult, TrialResult
from kiosk.analysis.thresholds import Thresholds
from kiosk.analysis.verdict import ScoreInput, score

LEGS = ("left", "right")
LEG_METRICS = ("fppa_ic", "fppa_peak", "fppa_peak_flexion", "valgus_displacement", "static_fppa", "pushoff_valgus")
TRIAL_METRICS = ("kasr_ic", "kasr_peak", "kasr_min", "static_kasr", "knee_sep_pct_ic", "knee_sep_pct_peak",
                 "trunk_lean_ic_deg", "trunk_lean_peak_deg", "stance_width_ratio", "stance_width_peak_ratio",
                 "contact_time_s", "flight_time_s", "jump_height_m", "rsi")


def _median(values: list[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.median(v)) if v else None


def session_medians(trials: Sequence[TrialResult]) -> dict:
    """Per-metric medians: ``{"left": {...}, "right": {...}, "kasr_peak": ..., ...}``."""
    out: dict = {}
    for leg in ("left", "right"):
        out[leg] = {k: _median([getattr(getattr(t.metrics, leg), k) for t in trials]) for k in LEG_METRICS}
    for k in TRIAL_METRICS:
        out[k] = _median([getattr(t.metrics, k) for t in trials])
    return out


def medians_input(med: dict) -> ScoreInput:
    """The values the rules read, from :func:`session_medians`."""
    return ScoreInput(
        valgus_displacement={leg: med[leg]["valgus_displacement"] for leg in LEGS},
        fppa_peak_flexion={leg: med[leg]["fppa_peak_flexion"] for leg in LEGS},
        static_fppa={leg: med[leg]["static_fppa"] for leg in LEGS},
        trunk_lean_ic_deg=med["trunk_lean_ic_deg"],
        pushoff_valgus={leg: med[leg]["pushoff_valgus"] for leg in LEGS})


def summarize_session(trials: Sequence[TrialResult], *, thresholds: Thresholds = Thresholds(),
                      sex: str | None = None, age: int | None = None, trials_needed: int = 3) -> SessionResult:
    """The session's verdict from the medians of its first ``trials_needed`` valid trials, with
    the thresholds, trial count and limit it was decided with. ``age`` None: the age the trials
    were scored with, if any."""
    used = [i for i, t in enumerate(trials) if t.valid][:trials_needed]
    med = session_medians([trials[i] for i in used])
    provisional = reasons = findings = None
    borderline = refer = False
    if age is None:  # the age the trials were scored with (the station knows the birth year then)
        age = next((t.limit["age"] for t in trials if t.limit and t.limit.get("age") is not None), None)
    limit = applied_limit(thresholds, sex, age)
    fields: dict = {"limit": limit.to_json(), "near_limits": ()}
    if used:
        fields = verdict_fields(score(medians_input(med), thresholds, limit))
        provisional, reasons, findings, borderline, refer = (fields.pop(k) for k in
                                                             ("verdict", "reasons", "findings", "borderline", "refer"))
    complete = len(used) >= trials_needed
    if not complete:
        left = trials_needed - len(used)
        reasons = (f"{left} more good jump{'s' if left > 1 else ''} needed for a result.", *(reasons or ()))
    return SessionResult(trials=tuple(trials), trials_needed=trials_needed,
                         verdict=provisional if complete and provisional else "INCOMPLETE",
                         provisional_verdict=provisional, reasons=tuple(reasons or ()), findings=tuple(findings or ()),
                         borderline=borderline, refer=refer, medians=med, used_trials=tuple(used), sex=sex,
                         scoring=scoring_record(thresholds, trials_needed), **fields)
