"""The station screen's view model: what the touch UI may show, built from a runtime snapshot.

The browser never sees the runtime snapshot itself. Everything it shows goes through
:func:`station_view`, which keeps only the current athlete's first name and this visit's
progress (privacy: a station in a gym is looked at by whoever walks past). The session is
blinded: until the session is complete the view carries no verdict, number, picture or exercise
of any jump, only whether the last jump counted (and if not, why and what to change); the
summary (:mod:`kiosk.web.station.summary`) then gives all of it once. Pure: no I/O, so it is
unit-tested without a server.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from kiosk.analysis.thresholds import Thresholds

#: Runtime states during which the athlete is busy jumping: the idle timer must not fire then.
BUSY_STATES = frozenset({"arming", "countdown", "awaiting_landing", "contact", "flight", "landed", "analysing"})

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


def _athlete_view(athlete: Any, *, this_year: int | None = None, adult_age: int = 16) -> dict | None:
    """Only what the screen greets the athlete with: a first name; and whether the supervision
    note applies (younger than ``adult_age`` by birth year) and the optional fields are missing."""
    if not athlete or not isinstance(athlete, dict):
        return None
    name = str(athlete.get("display_name") or athlete.get("name") or "").strip()
    first = name.split()[0] if name else ""
    year = athlete.get("birth_year")
    minor = None
    if this_year is not None and isinstance(year, int | str) and str(year).isdigit():
        minor = this_year - int(year) < adult_age
    return {"name": first or "athlete", "minor": minor,
            "ask_about": not athlete.get("sex") or not athlete.get("birth_year")}


def _trial_view(snapshot: dict, trials_per_session: int) -> dict:
    """The "Jump 2 of 3" label of the jump on screen, and of the one after it."""
    total = int(snapshot.get("trials_total") or trials_per_session)
    valid = int(snapshot.get("valid_trials") or 0)
    label = snapshot.get("trial")
    if label == "Practice jump":
        return {"number": 0, "of": total, "label": "Practice jump", "practice": True,
                "next_label": "Practice jump" if snapshot.get("practice") else f"Jump 1 of {total}"}
    number = min(valid + (0 if snapshot.get("state") == "result" else 1), total)
    if isinstance(label, str) and " of " in label and label.split(" of ")[0].strip().isdigit():
        number = int(label.split(" of ")[0])
    nxt = min(valid + 1, total)
    return {"number": max(number, 1), "of": total, "label": f"Jump {max(number, 1)} of {total}", "practice": False,
            "next_label": f"Jump {nxt} of {total}"}


def _outcome_view(outcome: Any) -> dict | None:
    """The last jump's outcome for the between-jumps screens: counted, practice, or a RETAKE with
    its reason and tries left. Never a verdict word or a number of the jump itself."""
    if not isinstance(outcome, dict) or outcome.get("kind") not in ("recorded", "retake", "practice"):
        return None
    keep = ("kind", "text", "reason", "tries_left", "still_needed", "number", "of")
    return {k: outcome[k] for k in keep if k in outcome}


def station_view(snapshot: dict, *, thresholds: Thresholds, trials_per_session: int,
                 summary: Callable[[], dict | None] | None = None, this_year: int | None = None,
                 adult_age: int = 16) -> dict:
    """The JSON the station page renders. Only the current athlete; no identifiers, no history;
    no result of any jump until the session is complete (``summary`` builds that screen)."""
    state = str(snapshot.get("state") or "idle")
    athlete = snapshot.get("athlete") if isinstance(snapshot.get("athlete"), dict) else None
    done = bool(snapshot.get("session_done")) and state == "result"
    view: dict[str, Any] = {
        "seq": snapshot.get("seq", 0),
        "state": state,
        "prompt": str(snapshot.get("prompt") or ""),
        "next_prompt": snapshot.get("next_prompt"),
        "fault": _fault_view(_with_kind(snapshot)) if (snapshot.get("fault") or state == "fault") else None,
        "athlete": _athlete_view(athlete, this_year=this_year, adult_age=adult_age),
        "trial": _trial_view(snapshot, trials_per_session),
        "countdown": _num(snapshot.get("countdown_s", snapshot.get("countdown")), 1),
        "arming_s": _num(snapshot.get("arming_s"), 0),
        "arm_timeout_s": _num(snapshot.get("arm_timeout_s"), 0),
        "progress": _num(snapshot.get("progress"), 2),
        "busy": state in BUSY_STATES,
        "outcome": _outcome_view(snapshot.get("last_outcome")) if athlete else None,
        "session": None,
        "summary": None,
    }
    if state == "fault" and view["fault"] is None:
        view["fault"] = _fault_view(snapshot.get("prompt") or "fault")
    if athlete:
        total = int(snapshot.get("trials_total") or trials_per_session)
        view["session"] = {"counted": int(snapshot.get("valid_trials") or 0), "needed": total,
                           "attempts": int(snapshot.get("attempts") or 0), "complete": done}
        if done and summary is not None:
            view["summary"] = summary()
    return view
