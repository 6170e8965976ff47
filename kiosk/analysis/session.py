"""Sessions: the verdict from the per-metric median of N valid trials.

A single trial's FPPA carries about 3 deg of noise, as much as the normal range (Munro 2012), so
one jump is not enough to judge. Every attempt is kept, RETAKEs included, for the coach; only
valid trials (the first ``trials_needed`` of them) enter the medians, and the session stays
INCOMPLETE until there are enough.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kiosk.analysis.result import SessionResult, TrialResult
from kiosk.analysis.thresholds import Thresholds
from kiosk.analysis.verdict import ScoreInput, score

LEG_METRICS = ("fppa_ic", "fppa_peak", "fppa_peak_flexion", "valgus_displacement", "static_fppa")
TRIAL_METRICS = ("kasr_ic", "kasr_peak", "kasr_min", "static_kasr", "knee_sep_pct_ic", "knee_sep_pct_peak",
                 "trunk_lean_peak_deg", "stance_width_ratio", "contact_time_s", "flight_time_s", "jump_height_m", "rsi")


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


def summarize_session(trials: Sequence[TrialResult], *, thresholds: Thresholds = Thresholds(),
                      sex: str | None = None, trials_needed: int = 3) -> SessionResult:
    used = [i for i, t in enumerate(trials) if t.valid][:trials_needed]
    med = session_medians([trials[i] for i in used])
    provisional = reasons = findings = None
    borderline = refer = False
    if used:
        s = score(ScoreInput(
            valgus_displacement={leg: med[leg]["valgus_displacement"] for leg in ("left", "right")},
            fppa_peak={leg: med[leg]["fppa_peak"] for leg in ("left", "right")},
            static_fppa={leg: med[leg]["static_fppa"] for leg in ("left", "right")},
            kasr_peak=med["kasr_peak"], trunk_lean_peak_deg=med["trunk_lean_peak_deg"]), thresholds, sex)
        provisional, reasons, findings, borderline, refer = s.verdict, s.reasons, s.findings, s.borderline, s.refer
    complete = len(used) >= trials_needed
    if not complete:
        left = trials_needed - len(used)
        reasons = (f"{left} more good jump{'s' if left > 1 else ''} needed for a result.", *(reasons or ()))
    return SessionResult(trials=tuple(trials), trials_needed=trials_needed,
                         verdict=provisional if complete and provisional else "INCOMPLETE",
                         provisional_verdict=provisional, reasons=tuple(reasons or ()), findings=tuple(findings or ()),
                         borderline=borderline, refer=refer, medians=med, used_trials=tuple(used), sex=sex)
