"""Guidance for the result screen: what a finding means, what to practise, when to get help.

The words live in ``guidance.json`` (package data) so coaches and translators can change them
without touching code. Reading that file is the only I/O in :mod:`kiosk.analysis`, and it stays
in this module. Valgus while standing still replaces exercise advice with a referral: exercise
does not change how a leg is built.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from kiosk.analysis.result import SessionResult, TrialResult
from kiosk.errors import AnalysisError


@cache
def load_guidance() -> dict:
    """The guidance data (cached). Raises AnalysisError if the package file is broken."""
    try:
        text = resources.files("kiosk.analysis").joinpath("guidance.json").read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, json.JSONDecodeError) as exc:
        raise AnalysisError(f"guidance.json is missing or not valid JSON ({exc})") from None
    return data


def guidance_for(result: TrialResult | SessionResult) -> dict:
    """What the result screen shows beside the verdict, in display order.

    Returns ``{"verdict", "disclaimer", "flag_meaning", "items": [{"code", "title", "meaning",
    "exercises": [{"name", "how", "dose", "cue"}], "professional"}], "see_professional", "cues"}``.
    """
    g = load_guidance()
    refer = bool(result.refer)
    items = []
    for code in result.findings:
        entry = g["findings"].get(code)
        if entry is None:
            continue
        exercises = [] if refer else [g["exercises"][e] for e in entry["exercises"]]
        items.append({"code": code, "title": entry["title"], "meaning": entry["meaning"],
                      "exercises": exercises, "professional": bool(entry["professional"])})
    verdict = result.verdict
    return {
        "verdict": verdict,
        "disclaimer": g["disclaimer"],
        "flag_meaning": g["flag_meaning"] if verdict == "FLAG" else None,
        "items": items,
        "see_professional": g["see_professional"],
        "cues": [] if verdict == "RETAKE" or refer else g["cues"],
    }
