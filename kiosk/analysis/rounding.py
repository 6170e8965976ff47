"""Numbers shown the way the rule compares them.

A value is judged at full precision but shown rounded, and plain rounding can contradict the
verdict: 13.04 deg is over a "more than 13" limit yet prints as 13.0, and 10.58 deg is under a
"10.6 or more" limit yet prints as 10.6. :func:`rule_round` moves such a value one display step
away from the limit, to the side the rule put it on, so what a person reads always agrees with
the verdict. The station, the coach pages and the analysis' own reason texts all use it. Pure.
"""

from __future__ import annotations

import math

#: How each rule compares a value with its limit: True for "over the limit" (>), False for
#: "the limit or more" (>=), as kiosk.analysis.verdict.score does.
STRICT_RULES = {"peak_fppa": True, "valgus_displacement": False, "static_fppa": False}


def rule_round(value: float, digits: int, limit: float, *, out: bool) -> float:
    """``value`` rounded to ``digits``, moved one step away from ``limit`` when plain rounding
    would put it on the wrong side of the rule (``out``: the rule finds it beyond the limit)."""
    step = 10.0 ** -digits
    shown = round(value, digits)
    if out and value > limit and shown <= limit:
        shown = round(limit + step, digits)
    elif out and value < limit and shown >= limit:
        shown = round(limit - step, digits)
    elif not out and value < limit and shown >= limit:
        shown = round(math.floor(value / step) * step, digits)
        shown = shown if shown < limit else round(limit - step, digits)
    elif not out and value > limit and shown <= limit:
        shown = round(limit + step, digits)
    return shown


def shown_for_rule(value: float, limit: float, rule: str, digits: int = 1) -> float:
    """``value`` rounded for display next to ``limit`` under ``rule`` (a key of
    :data:`STRICT_RULES`): over the limit by the rule never reads at or under it."""
    out = value > limit if STRICT_RULES[rule] else value >= limit
    return rule_round(value, digits, limit, out=out)
