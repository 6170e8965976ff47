"""The station screen's view model: what the touch UI may show, built from a runtime snapshot.

The browser never sees the runtime snapshot itself. Everything it shows goes through
:func:`station_view`, which keeps only the current athlete's display name and this session's
results (privacy: a station in a gym is looked at by whoever walks past), turns the analysis
result into numbers with their normal ranges from the configured thresholds, and attaches the
guidance text. Pure: no I/O, so it is unit-tested without a server.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from kiosk.analysis.thresholds import Thresholds

#: Runtime states during which the athlete is busy jumping: the idle timer must not fire then.
BUSY_STATES = frozenset({"countdown", "awaiting_landing", "contact", "flight", "landed", "analysing"})

#: Friendly full-screen texts per fault kind; the runtime's own message is shown under it.
FAULT_TEXT: dict[str, tuple[str, str]] = {
    "camera": ("The camera is not working", "Please tell a coach. This screen clears itself when the camera is back."),
    "mat": ("The jump mat is unplugged", "Please tell a coach. This screen clears itself when the mat is back."),
    "model": ("The analysis cannot run", "Please tell a coach: the pose model file is damaged or missing."),
    "disk": ("The station's storage is full", "Please tell a coach. Results cannot be saved right now."),
    "store": ("Not saved: please tell a coach", "Results cannot be stored right now. Jumps already made are kept "
                                                "and saved once storing works again."),
}

#: The runtime's fault sources (``snapshot["faults"]`` keys) -> FAULT_TEXT kinds.
SOURCE_KIND = {"camera": "camera", "mat": "mat", "model": "model", "storage": "disk", "disk": "disk",
               "store": "store"}


def fault_kinds(snapshot: dict) -> list[str]:
    """The kinds of the faults now active, from the runtime's per-source faults (no text guessing)."""
    faults = snapshot.get("faults")
    if isinstance(faults, dict):
        return [SOURCE_KIND.get(str(src), str(src)) for src in faults]
    return []
DEFAULT_FAULT = ("The station needs a coach", "Please tell a coach. This screen clears itself when it is fixed.")


def _num(value: Any, digits: int = 1) -> float | None:
    """A finite float rounded for display, or None (missing, NaN)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return round(f, digits) if math.isfinite(f) else None


def _fault_view(fault: Any) -> dict | None:
    """The runtime's fault (a string, or a mapping with kind/message) as title + detail."""
    if not fault:
        return None
    if isinstance(fault, dict):
        kind = str(fault.get("kind") or fault.get("code") or fault.get("source") or "")
        message = str(fault.get("message") or fault.get("detail") or "")
    else:
        text = str(fault)
        low = text.lower()
        kind = next((k for k in ("camera", "mat", "model", "disk") if k in low), "")
        message = text
    key = next((k for k in FAULT_TEXT if k in kind.lower()), "")
    title, help_text = FAULT_TEXT.get(key, DEFAULT_FAULT)
    return {"kind": key or "other", "title": title, "help": help_text, "detail": _clip(message, 400)}


def _clip(text: str, limit: int) -> str:
    """``text`` cut at a word boundary with an ellipsis, so a long error (a model path plus the
    reason) never ends mid-number on the fault screen."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(" ,;:(") + "\u2026"


def _with_kind(snapshot: dict) -> Any:
    """The fault as {kind, message} when the runtime says which source it is, else its text."""
    kinds = fault_kinds(snapshot)
    if kinds and snapshot.get("fault"):
        # The most serious first: a model or disk fault outlasts a camera or mat hiccup.
        order = ["model", "store", "disk", "camera", "mat"]
        kind = min(kinds, key=lambda k: order.index(k) if k in order else len(order))
        return {"kind": kind, "message": snapshot.get("fault")}
    return snapshot.get("fault")


def _athlete_view(athlete: Any) -> dict | None:
    """Only what the screen greets the athlete with: a first name (or a display name)."""
    if not athlete or not isinstance(athlete, dict):
        return None
    name = str(athlete.get("display_name") or athlete.get("name") or "").strip()
    first = name.split()[0] if name else ""
    return {"name": first or "athlete"}


def peak_fppa_limit(thresholds: Thresholds, sex: str | None) -> float:
    """The upper normal peak FPPA for the athlete's sex; unknown gets the wider female range."""
    s = (sex or "").strip().lower()[:1]
    if s == "f":
        return thresholds.peak_fppa_female_deg
    if s == "m":
        return thresholds.peak_fppa_male_deg
    return thresholds.peak_fppa_unknown_deg


def _metric(label: str, value: Any, unit: str, *, low: float | None, high: float | None,
            borderline: float, digits: int = 1) -> dict:
    """A value with its normal range; ``status`` is ok / borderline / out / unknown."""
    v = _num(value, digits)
    status = "unknown"
    if v is not None:
        status = "ok"
        for bound, outside in ((high, v > (high or 0)), (low, v < (low or 0))):
            if bound is None:
                continue
            if outside:
                status = "out"
                break
            if abs(v - bound) <= borderline:
                status = "borderline"
    return {"label": label, "value": v, "unit": unit, "low": low, "high": high, "status": status}


def legs_view(result: dict, thresholds: Thresholds, sex: str | None) -> dict:
    """Per leg (athlete's own side): FPPA at contact and peak, valgus displacement, standing FPPA."""
    limit = peak_fppa_limit(thresholds, sex)
    legs = result.get("legs") or {}
    out: dict[str, dict] = {}
    for side in ("left", "right"):
        leg = legs.get(side) or {}
        out[side] = {
            "side": side,
            "label": "Left leg" if side == "left" else "Right leg",
            "short": "L" if side == "left" else "R",
            "peak_fppa": _num(leg.get("fppa_peak")),
            "metrics": [
                _metric("Knee angle at peak (FPPA)", leg.get("fppa_peak"), "°", low=None, high=limit,
                        borderline=thresholds.borderline_deg),
                _metric("Knee moves inward after landing", leg.get("valgus_displacement"), "°", low=None,
                        high=thresholds.valgus_displacement_deg, borderline=thresholds.borderline_deg),
                _metric("Knee angle standing still", leg.get("static_fppa"), "°", low=None,
                        high=thresholds.static_fppa_refer_deg, borderline=thresholds.borderline_deg),
            ],
        }
    return out


def both_legs_view(result: dict, thresholds: Thresholds) -> list[dict]:
    """Measures of both legs together: knee/ankle separation ratio and the jump itself."""
    jump = result.get("jump") or {}
    items = [
        _metric("Knee gap vs ankle gap at peak (KASR)", result.get("kasr_peak"), "", low=thresholds.kasr_peak_min,
                high=None, borderline=thresholds.borderline_kasr, digits=2),
    ]
    height = jump.get("height_cm", jump.get("jump_height_cm"))
    if height is None and jump.get("height_m") is not None:
        height = float(jump["height_m"]) * 100.0
    if height is not None:
        items.append({"label": "Jump height", "value": _num(height), "unit": " cm", "low": None, "high": None,
                      "status": "info"})
    contact = jump.get("contact_time_s", jump.get("contact_s"))
    if contact is not None:
        items.append({"label": "Ground contact", "value": _num(float(contact) * 1000.0, 0), "unit": " ms",
                      "low": None, "high": None, "status": "info"})
    return items


VERDICT_WORDS = {
    "PASS": "Good knee control",
    "FLAG": "Knees moved inward: worth coaching",
    "RETAKE": "We could not measure that jump",
}


def _verdict_words(verdict: str, findings: Any) -> str:
    """The verdict's subtitle; a FLAG for one knee only names that knee (the athlete's own side),
    so "Knees moved inward" never sits above reasons about the right knee alone."""
    found = set(findings or ()) if isinstance(findings, list | tuple) else set()
    sides = [s for s in ("left", "right") if f"dynamic_valgus_{s}" in found]
    if verdict == "FLAG" and len(sides) == 1:
        return f"{sides[0].capitalize()} knee moved inward: worth coaching"
    return VERDICT_WORDS.get(verdict, verdict)


def _reason_texts(result: dict) -> list[str]:
    """Reasons as plain sentences (the analysis may give strings or {code, message} mappings)."""
    texts = []
    for r in result.get("reasons") or []:
        if isinstance(r, dict):
            texts.append(str(r.get("message") or r.get("text") or r.get("code") or ""))
        else:
            texts.append(str(r))
    return [t for t in texts if t][:4]


def result_view(result: dict, thresholds: Thresholds, sex: str | None,
                guidance: Callable[[dict], dict | None] | None = None) -> dict:
    """The result screen's content for one trial's ``TrialResult.to_json()``."""
    verdict = str(result.get("verdict") or "RETAKE").upper()
    view = {
        "verdict": verdict,
        "words": _verdict_words(verdict, result.get("findings")),
        "borderline": bool(result.get("borderline")),
        "reasons": _reason_texts(result),
        "legs": legs_view(result, thresholds, sex) if verdict != "RETAKE" else None,
        "both": both_legs_view(result, thresholds) if verdict != "RETAKE" else [],
        "guidance": None,
    }
    if guidance is not None:
        try:
            view["guidance"] = guidance(result)
        except (KeyError, ValueError, TypeError):
            view["guidance"] = None
    return view


def _trial_view(snapshot: dict, trials_per_session: int) -> dict:
    """The "Jump 2 of 3" label: the runtime's label when it gives one, else from its counters."""
    total = int(snapshot.get("trials_total") or trials_per_session)
    valid = int(snapshot.get("valid_trials") or 0)
    label = snapshot.get("trial")
    number = min(valid + (0 if snapshot.get("state") == "result" else 1), total)
    if isinstance(label, str) and " of " in label:
        head = label.split(" of ")[0].strip()
        number = int(head) if head.isdigit() else number
    elif isinstance(label, int):
        number = label
    nxt = min(valid + 1, total)
    return {"number": max(number, 1), "of": total, "label": f"Jump {max(number, 1)} of {total}",
            "next_number": nxt, "next_label": f"Next jump ({nxt} of {total})"}


def session_view(snapshot: dict, results: list[dict], trials_per_session: int,
                 summarize: Callable[[list[dict]], dict | None] | None = None,
                 guidance: Callable[[dict], dict | None] | None = None) -> dict:
    """This visit's trials and, once complete, the session verdict (the analysis' summary)."""
    total = int(snapshot.get("trials_total") or trials_per_session)
    valid = sum(1 for r in results if str(r.get("verdict", "")).upper() != "RETAKE")
    complete = bool(snapshot.get("session_done")) if "session_done" in snapshot else valid >= total
    view: dict[str, Any] = {
        "trials": [{"n": i + 1, "verdict": str(r.get("verdict", "")).upper()} for i, r in enumerate(results)],
        "valid": valid, "needed": total, "complete": complete, "verdict": None, "words": None, "guidance": None,
    }
    if complete and summarize is not None and results:
        summary = summarize(results) or {}
        verdict = str(summary.get("verdict") or "").upper()
        if verdict == "INCOMPLETE" or (verdict == "" and valid < total):
            verdict = "RETAKE"
            view["words"] = f"Only {valid} of {total} jumps could be measured: please try again another time"
        view["verdict"] = verdict or None
        if verdict and not view["words"]:
            view["words"] = SESSION_WORDS.get(verdict, verdict)
        if guidance is not None and verdict in ("PASS", "FLAG"):
            try:
                view["guidance"] = guidance(summary)
            except (KeyError, ValueError, TypeError):
                view["guidance"] = None
    return view


SESSION_WORDS = {
    "PASS": "Good knee control over your jumps",
    "FLAG": "Knees moved inward: worth coaching",
    "RETAKE": "Not enough clear jumps to judge",
}


def station_view(snapshot: dict, *, thresholds: Thresholds, trials_per_session: int,
                 guidance: Callable[[dict], dict | None] | None = None,
                 session_results: list[dict] | None = None, media: dict | None = None,
                 summarize: Callable[[list[dict]], dict | None] | None = None) -> dict:
    """The JSON the station page renders. Only the current athlete; no identifiers, no history."""
    state = str(snapshot.get("state") or "idle")
    athlete = snapshot.get("athlete") if isinstance(snapshot.get("athlete"), dict) else None
    sex = (athlete or {}).get("sex")
    view: dict[str, Any] = {
        "seq": snapshot.get("seq", 0),
        "state": state,
        "prompt": str(snapshot.get("prompt") or ""),
        "fault": _fault_view(_with_kind(snapshot)) if (snapshot.get("fault") or state == "fault") else None,
        "athlete": _athlete_view(athlete),
        "trial": _trial_view(snapshot, trials_per_session),
        "countdown": _num(snapshot.get("countdown_s", snapshot.get("countdown")), 1),
        "progress": _num(snapshot.get("progress"), 2),
        "busy": state in BUSY_STATES,
        "result": None,
        "session": None,
    }
    if state == "fault" and view["fault"] is None:
        view["fault"] = _fault_view(snapshot.get("prompt") or "fault")
    last = snapshot.get("last_result")
    if isinstance(last, dict) and athlete and state == "result":
        rv = result_view(last, thresholds, sex, guidance)
        rv.update(media or {})
        if rv["verdict"] == "RETAKE":
            # No angles on a jump that could not be measured: a number would look like a result.
            rv.pop("freeze_url", None)
            view["trial"]["next_label"] = view["trial"]["next_label"].replace("Next jump", "Try again")
        view["result"] = rv
    if athlete:
        view["session"] = session_view(snapshot, session_results or [], trials_per_session, summarize, guidance)
    return view
