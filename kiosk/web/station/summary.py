"""The session summary: the one screen where the athlete learns the result of the visit.

The session is blinded (no verdict, number or picture between jumps), so everything comes here,
once: the verdict in plain words, the middle jump's picture with the knee that moved inward
ringed, and, behind "More", each jump's values beside the middle value the verdict comes from,
the slowed-down replay and what to practise. Plain words only: no FPPA or KASR on the station.

Numbers are rounded the way the rule compares them: a value the rule finds over its limit is
never shown equal to or under the limit (10.58 deg against "10.6 or more" shows 10.5, not 10.6),
so what the athlete reads always agrees with the verdict. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kiosk.analysis.rounding import rule_round
from kiosk.analysis.thresholds import Thresholds

LEGS = ("left", "right")


def peak_rule(summary: dict, thresholds: Thresholds, sex: str | None) -> tuple[str, float, str | None]:
    """(the leg metric the peak-angle rule reads, its limit, the words for why that limit).

    The limit is the one the result says was applied; a result without one (scoring before
    2026.12) was judged on the peak angle against the range of the athlete's sex."""
    limit = summary.get("limit")
    if isinstance(limit, dict) and limit.get("peak_fppa_deg") is not None:
        return "fppa_peak_flexion", float(limit["peak_fppa_deg"]), limit.get("why")
    male = (sex or "").strip().lower() in ("m", "male")
    return "fppa_peak", thresholds.peak_fppa_male_deg if male else thresholds.peak_fppa_female_deg, None


def _near(summary: dict, leg: str, rule: str) -> bool:
    for item in summary.get("near_limits") or ():
        if isinstance(item, dict) and item.get("leg") == leg and rule in str(item.get("rule", "")):
            return True
    return False


def _median(values: list[float]) -> float | None:
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    mid = len(vals) // 2
    return vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2


def measures(summary: dict, jumps: list[dict], thresholds: Thresholds, sex: str | None) -> list[dict]:
    """Each measure's value per counted jump, the middle value, its limit and how it stands."""
    peak_key, peak_limit, _ = peak_rule(summary, thresholds, sex)
    med = summary.get("medians") or {}
    rows = []
    rules = (("valgus_displacement", "displacement", "moved inward after landing", thresholds.valgus_displacement_deg,
              True, f"counts from {thresholds.valgus_displacement_deg:g}°"),
             (peak_key, "peak", "angled inward at the deepest point", peak_limit, False, f"over {peak_limit:g}° counts"))
    for key, rule, words, limit, inclusive, limit_text in rules:
        for leg in LEGS:
            per_jump = [((j.get("legs") or {}).get(leg) or {}).get(key) for j in jumps]
            middle = ((med.get(leg) or {}) if isinstance(med.get(leg), dict) else {}).get(key)
            if middle is None:
                middle = _median([v for v in per_jump if v is not None])
            if middle is None:
                continue

            def over(v: float, limit: float = limit, inclusive: bool = inclusive) -> bool:
                return v >= limit if inclusive else v > limit

            status = "out" if over(middle) else ("near" if _near(summary, leg, rule) else "ok")
            rows.append({"label": f"{leg.capitalize()} knee {words}", "leg": leg, "unit": "°",
                         "jumps": [None if v is None else rule_round(float(v), 1, limit, out=over(float(v)))
                                   for v in per_jump],
                         "middle": rule_round(float(middle), 1, limit, out=over(float(middle))),
                         "limit": limit_text, "status": status})
    heights = [(j.get("jump") or {}).get("jump_height_m") for j in jumps]
    if any(h is not None for h in heights):
        cm = [None if h is None else round(float(h) * 100.0) for h in heights]
        rows.append({"label": "Jump height", "leg": None, "unit": " cm", "jumps": cm,
                     "middle": _median([c for c in cm if c is not None]), "limit": "", "status": "info"})
    return rows


def middle_jump(jumps: list[dict], peak_key: str) -> int | None:
    """Index into ``jumps`` of the jump in the middle: the worse knee's movement ranked."""
    ranked = []
    for i, j in enumerate(jumps):
        legs = j.get("legs") or {}
        vals = [((legs.get(leg) or {}).get("valgus_displacement")) for leg in LEGS]
        vals += [((legs.get(leg) or {}).get(peak_key)) for leg in LEGS]
        known = [float(v) for v in vals if v is not None]
        if known:
            ranked.append((max(known), i))
    if not ranked:
        return None
    ranked.sort()
    return ranked[(len(ranked) - 1) // 2][1]


WORDS = {
    "PASS": "Your knees stayed within the limits when you landed",
    "FLAG": "Your knees moved inward: worth working on with your coach",
    "INCOMPLETE": "Not enough jumps could be measured for a result today",
}


def summary_view(summary: dict, attempts: list[tuple[int, dict]], thresholds: Thresholds, sex: str | None, *,
                 picture_url: Callable[[int, tuple[str, ...]], str | None] | None = None,
                 replay: Callable[[int], dict | None] | None = None,
                 guidance: Callable[[dict], dict | None] | None = None) -> dict:
    """What the summary screen shows for ``summary`` (``SessionResult.to_json()``) over this
    visit's ``(attempt, TrialResult.to_json())`` pairs."""
    verdict = str(summary.get("verdict") or "INCOMPLETE").upper()
    counted = [(a, r) for a, r in attempts if str(r.get("verdict", "")).upper() != "RETAKE"]
    needed = int(summary.get("trials_needed") or len(counted) or 3)
    counted = counted[:needed]
    jumps = [r for _, r in counted]
    peak_key, _, why = peak_rule(summary, thresholds, sex)
    rows = measures(summary, jumps, thresholds, sex)
    flagged = tuple(leg for leg in LEGS if any(m["leg"] == leg and m["status"] == "out" for m in rows))
    words = WORDS.get(verdict, WORDS["INCOMPLETE"])
    if verdict == "FLAG" and len(flagged) == 1:
        words = f"Your {flagged[0]} knee moved inward: worth working on with your coach"
    if verdict == "INCOMPLETE":
        words = f"Only {len(jumps)} of {needed} jumps could be measured: please try again another day"
    n = len(jumps)
    view: dict[str, Any] = {
        "verdict": verdict, "words": words, "flagged": list(flagged), "borderline": bool(summary.get("borderline")),
        "median": (f"Your result is the middle value of your {n} jumps. For each measure we put your {n} jumps "
                   "in order and take the one in the middle, so one odd jump does not decide it."
                   if n >= 2 and verdict != "INCOMPLETE" else None),
        "jumps": [f"Jump {i + 1}" for i in range(n)], "measures": rows, "limit_why": why,
        "tries": [{"n": i + 1, "counted": str(r.get("verdict", "")).upper() != "RETAKE"} for i, (_, r) in enumerate(attempts)],
        "picture": None, "replay": None, "guidance": None,
    }
    pick = middle_jump(jumps, peak_key) if verdict in ("PASS", "FLAG") else None
    if pick is not None:
        attempt = counted[pick][0]
        url = picture_url(attempt, flagged) if picture_url is not None else None
        if url:
            ring = " The ring marks the knee that moved inward." if flagged else ""
            view["picture"] = {"url": url, "caption": f"Jump {pick + 1}, the middle one, at the deepest point. "
                                                      f"L and R are your own legs.{ring}"}
        view["replay"] = replay(attempt) if replay is not None else None
    if guidance is not None and verdict in ("PASS", "FLAG"):
        try:
            view["guidance"] = guidance(summary)
        except (KeyError, ValueError, TypeError):
            view["guidance"] = None
    return view
