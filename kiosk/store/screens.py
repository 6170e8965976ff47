"""Screens: one athlete's session as the coach reads it, built from the stored rows.

A session's verdict (the median of its valid trials) is the one that counts, so coach pages and
exports list sessions, not single jumps. For each session this gives the verdict, the side(s)
over a limit, whether it was borderline, the limits it was scored with (stored in the session's
summary; sessions stored before limits were kept fall back to today's config, and say so), and
the change of the per-leg medians since the athlete's previous completed screen.
"""

from __future__ import annotations

import statistics
from typing import Any

from kiosk.store.db import Store
from kiosk.store.export import _get  # one reader of nested result JSON for pages and exports

LEGS = ("left", "right")
#: Per-leg medians shown and exported: (key, path in a trial's metrics, fallback path).
LEG_VALUES = (("valgus_displacement_deg", "valgus_displacement", None),
              ("fppa_peak_deg", "fppa_peak_flexion", "fppa_peak"),
              ("fppa_ic_deg", "fppa_ic", None),
              ("static_fppa_deg", "static_fppa", None))
TOP_VALUES = (("kasr_peak", ("kasr_peak",)), ("jump_height_m", ("jump", "jump_height_m")), ("rsi", ("jump", "rsi")),
              ("contact_time_s", ("jump", "contact_time_s")))
IN_PROGRESS = "IN PROGRESS"
#: Order on coach pages: what a coach acts on first.
VERDICT_ORDER = {"FLAG": 0, "INCOMPLETE": 1, IN_PROGRESS: 2, "PASS": 3}


def _median(values: list[Any]) -> float | None:
    nums = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return statistics.median(nums) if nums else None


def used_trials(trials: list[dict], summary: dict) -> list[dict]:
    """The trials that entered the session's medians: the stored choice, else the first valid ones."""
    positions = summary.get("used_trials")
    if isinstance(positions, list) and positions and all(isinstance(p, int) and 0 <= p < len(trials) for p in positions):
        return [trials[p] for p in positions]
    needed = _get(summary, "scoring", "trials_needed") or summary.get("trials_needed") or len(trials)
    return [t for t in trials if t["verdict"] != "RETAKE"][: int(needed)]


def medians(trials: list[dict]) -> dict[str, Any]:
    """Per-leg and whole-body medians of the given trials' metrics (None: not measured)."""
    out: dict[str, Any] = {}
    for leg in LEGS:
        out[leg] = {}
        for key, path, fallback in LEG_VALUES:
            vals = [_get(t["metrics"], "legs", leg, path) for t in trials]
            if fallback and all(v is None for v in vals):
                vals = [_get(t["metrics"], "legs", leg, fallback) for t in trials]
            out[leg][key] = _median(vals)
    for key, path in TOP_VALUES:
        out[key] = _median([_get(t["metrics"], *path) for t in trials])
    out["left_right_diff_displacement_deg"] = (
        out["left"]["valgus_displacement_deg"] - out["right"]["valgus_displacement_deg"]
        if out["left"]["valgus_displacement_deg"] is not None and out["right"]["valgus_displacement_deg"] is not None
        else None)
    return out


def limits_of(summary: dict, sex: str | None, current: Any) -> dict[str, Any]:
    """The limits the session was scored with; ``stored`` False when they come from today's config.

    ``current`` is today's :class:`~kiosk.analysis.thresholds.Thresholds`.
    """
    snap = _get(summary, "scoring", "thresholds") or {}
    limit = summary.get("limit") if isinstance(summary.get("limit"), dict) else {}
    disp = snap.get("valgus_displacement_deg", current.valgus_displacement_deg)
    peak = limit.get("peak_fppa_deg")
    if peak is None:
        female = snap.get("peak_fppa_female_deg", current.peak_fppa_female_deg)
        peak = snap.get("peak_fppa_male_deg", current.peak_fppa_male_deg) if sex == "male" else female
    band = snap.get("borderline_displacement_deg", snap.get("borderline_deg",
                    getattr(current, "borderline_displacement_deg", getattr(current, "borderline_deg", 2.5))))
    why = limit.get("why") or ("limits of today's settings: this session was stored before limits were kept"
                               if not snap else "")
    return {"valgus_displacement_deg": float(disp), "peak_fppa_deg": float(peak), "borderline_deg": float(band),
            "why": why, "stored": bool(snap or limit)}


def side_over(med: dict, lim: dict) -> dict[str, bool]:
    """Per leg: its median displacement reaches, or its peak FPPA exceeds, the limit."""
    out = {}
    for leg in LEGS:
        d, p = med[leg]["valgus_displacement_deg"], med[leg]["fppa_peak_deg"]
        out[leg] = bool((d is not None and d >= lim["valgus_displacement_deg"]) or
                        (p is not None and p > lim["peak_fppa_deg"]))
    return out


def flagged_side(over: dict[str, bool]) -> str:
    return "both" if all(over.values()) else next((leg for leg in LEGS if over[leg]), "")


def _borderline(summary: dict, med: dict, lim: dict) -> bool:
    if isinstance(summary.get("borderline"), bool):
        return summary["borderline"]
    band = lim["borderline_deg"]
    for leg in LEGS:
        d, p = med[leg]["valgus_displacement_deg"], med[leg]["fppa_peak_deg"]
        if d is not None and abs(d - lim["valgus_displacement_deg"]) < band:
            return True
        if p is not None and abs(p - lim["peak_fppa_deg"]) < band:
            return True
    return False


def _change(now: dict, before: dict | None) -> dict[str, float | None] | None:
    if before is None:
        return None
    out: dict[str, float | None] = {}
    for leg in LEGS:
        for key in ("valgus_displacement_deg", "fppa_peak_deg"):
            a, b = now[leg][key], before[leg][key]
            out[f"{leg}_{key}"] = round(a - b, 2) if a is not None and b is not None else None
    return out


def findings_of(summary: dict, trials: list[dict]) -> list[str]:
    """The session's finding codes (the trials' when the summary has none)."""
    codes = [c for c in summary.get("findings") or [] if isinstance(c, str)]
    if not codes:
        for t in trials:
            for c in list(_get(t["metrics"], "findings") or []) + [r.get("code") for r in t["reasons"] or []
                                                                   if isinstance(r, dict)]:
                if isinstance(c, str) and c not in codes:
                    codes.append(c)
    return codes


def screens(store: Store, start: str, end: str, thresholds: Any, *, team: str | None = None,
            athlete_id: int | None = None) -> list[dict]:
    """Sessions started in [start, end), oldest first, each as the coach reads it (see module doc).

    ``thresholds``: today's, used only for sessions stored without their own.
    """
    history = store.sessions_between("0000", end, athlete_id=athlete_id, team=team)
    by_session: dict[int, list[dict]] = {}
    for t in store.trials_between("0000", "9999", athlete_id=athlete_id, team=team):
        by_session.setdefault(t["session_id"], []).append(t)
    previous: dict[int, dict] = {}  # athlete -> their latest completed screen so far
    out = []
    for s in history:
        trials = by_session.get(s["id"], [])
        if not trials:
            continue
        summary = s["summary"] if isinstance(s["summary"], dict) else {}
        med = medians(used_trials(trials, summary))
        lim = limits_of(summary, s["sex"], thresholds)
        verdict = s["verdict"] or (IN_PROGRESS if s["ended_at"] is None else "INCOMPLETE")
        over = side_over(med, lim)
        screen = {
            "session": s, "session_id": s["id"], "athlete_id": s["athlete_id"], "started_at": s["started_at"],
            "verdict": verdict, "trials": trials, "medians": med, "limits": lim,
            "flagged_side": flagged_side(over) if verdict == "FLAG" else "",
            "borderline": _borderline(summary, med, lim) if verdict in ("PASS", "FLAG") else False,
            "findings": findings_of(summary, trials), "reasons": list(summary.get("reasons") or []),
            "previous": previous.get(s["athlete_id"]),
        }
        prev = screen["previous"]
        screen["change"] = _change(med, prev["medians"] if prev else None)
        screen["previous_verdict"] = prev["verdict"] if prev else None
        if verdict in ("PASS", "FLAG"):
            previous[s["athlete_id"]] = {k: screen[k] for k in ("session_id", "started_at", "verdict", "medians")}
        if s["started_at"] >= start:
            out.append(screen)
    return out


def sort_for_coach(items: list[dict]) -> list[dict]:
    """Flagged first, then incomplete and in progress, then passes; newest first within each."""
    items = sorted(items, key=lambda x: x["started_at"], reverse=True)
    return sorted(items, key=lambda x: VERDICT_ORDER.get(x["verdict"], 9))


def team_view(store: Store, end: str, thresholds: Any, *, team: str | None = None) -> tuple[list[dict], list[dict]]:
    """(the latest screen of each active athlete, flagged first; active athletes never screened)."""
    latest: dict[int, dict] = {}
    for sc in screens(store, "0000", end, thresholds, team=team):
        latest[sc["athlete_id"]] = sc
    athletes = store.list_athletes(active_only=True, team=team)
    screened = [latest[a["id"]] for a in athletes if a["id"] in latest]
    not_screened = [a for a in athletes if a["id"] not in latest]
    return sort_for_coach(screened), not_screened
