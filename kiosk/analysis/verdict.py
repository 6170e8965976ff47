"""PASS / FLAG from valgus values: the rules, the reasons, the finding codes, the borderline band.

The same function scores one trial and a session's per-metric medians, so a session can never
be judged by rules a trial is not. Reasons are short sentences a 14-year-old understands ("knee
inward angle", not "FPPA"); finding codes key the guidance file (kiosk/analysis/guidance.json).

Three rules decide (docs/SCORING.md): valgus displacement (Holden 2017), the knee inward angle at
peak knee flexion against the athlete's reference range (Herrington & Munro 2010, the limit from
:func:`kiosk.analysis.limits.applied_limit`), and the angle while standing still (refer). KASR,
knee separation, trunk lean, asymmetry and the push-off are reported, never judged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kiosk.analysis.limits import Limit, applied_limit
from kiosk.analysis.rounding import shown_for_rule
from kiosk.analysis.thresholds import Thresholds

LEGS = ("left", "right")


@dataclass(frozen=True)
class ScoreInput:
    """The values a verdict depends on; None where not measured."""

    valgus_displacement: dict[str, float | None]
    fppa_peak_flexion: dict[str, float | None]
    static_fppa: dict[str, float | None]
    trunk_lean_ic_deg: float | None = None
    pushoff_valgus: dict[str, float | None] = field(default_factory=lambda: {"left": None, "right": None})


@dataclass(frozen=True)
class NearLimit:
    """A value within its rule's borderline band: a retest could land on the other side."""

    rule: str            # "valgus_displacement", "peak_fppa" or "static_fppa"
    leg: str
    value: float
    limit: float
    band: float

    def to_json(self) -> dict:
        return {"rule": self.rule, "leg": self.leg, "value": round(self.value, 2), "limit": self.limit,
                "band": self.band}


@dataclass(frozen=True)
class Score:
    verdict: str                  # "PASS" or "FLAG"
    reasons: tuple[str, ...]
    findings: tuple[str, ...]
    borderline: bool
    refer: bool                   # valgus while standing: see a professional
    limit: Limit
    near_limits: tuple[NearLimit, ...] = ()


def _leg_words(legs: list[str]) -> str:
    return "Both knees" if len(legs) == 2 else f"Your {legs[0]} knee"


def near_limits(v: ScoreInput, th: Thresholds, limit: Limit) -> tuple[NearLimit, ...]:
    """Each value within its rule's band of the limit, on either side."""
    rules = (("valgus_displacement", v.valgus_displacement, th.valgus_displacement_deg, th.borderline_displacement_deg),
             ("peak_fppa", v.fppa_peak_flexion, limit.peak_fppa_deg, th.borderline_peak_fppa_deg),
             ("static_fppa", v.static_fppa, th.static_fppa_refer_deg, th.borderline_static_deg))
    out = []
    for rule, values, lim, band in rules:
        for leg in LEGS:
            x = values[leg]
            if x is not None and abs(x - lim) < band:
                out.append(NearLimit(rule, leg, float(x), float(lim), float(band)))
    return tuple(out)


NEAR_WORDS = {"valgus_displacement": "how far the {leg} knee moved inward",
              "peak_fppa": "the {leg} knee inward angle at the lowest point",
              "static_fppa": "the {leg} knee inward angle while standing"}


def score(v: ScoreInput, th: Thresholds, limit: Limit | None = None) -> Score:
    """The verdict of one trial or of a session's medians; ``limit`` from
    :func:`kiosk.analysis.limits.applied_limit` (None: sex and age not recorded)."""
    limit = limit or applied_limit(th, None, None)
    reasons: list[str] = []
    findings: list[str] = []
    flag = refer = False

    dyn = [leg for leg in LEGS if (d := v.valgus_displacement[leg]) is not None and d >= th.valgus_displacement_deg]
    for leg in dyn:
        moved = shown_for_rule(v.valgus_displacement[leg], th.valgus_displacement_deg, "valgus_displacement")
        reasons.append(f"Your {leg} knee moved {moved:.1f}° inward from landing to the lowest "
                       f"point (limit {th.valgus_displacement_deg:g}°).")
    if dyn:
        flag = True
        findings.append("dynamic_valgus_both" if len(dyn) == 2 else f"dynamic_valgus_{dyn[0]}")

    high = [leg for leg in LEGS if (p := v.fppa_peak_flexion[leg]) is not None and p > limit.peak_fppa_deg]
    for leg in high:
        angle = shown_for_rule(v.fppa_peak_flexion[leg], limit.peak_fppa_deg, "peak_fppa")
        reasons.append(f"At the lowest point your {leg} knee inward angle was {angle:.1f}° "
                       f"(top of the {limit.range} range: {limit.peak_fppa_deg:g}°).")
    if high:
        flag = True
        findings.append("high_peak_fppa")

    static = [leg for leg in LEGS if (s := v.static_fppa[leg]) is not None and s >= th.static_fppa_refer_deg]
    if static:
        flag = refer = True
        findings.append("static_valgus")
        reasons.append(f"{_leg_words(static)} already pointed inward while you stood still. That may be how your "
                       "legs are built, not control: see a professional.")

    near = near_limits(v, th, limit)
    if near:
        findings.append("borderline")
        what = "; ".join(NEAR_WORDS[n.rule].format(leg=n.leg) for n in near)
        reasons.append(f"Close to a limit ({what}): another test could come out the other way.")

    d_l, d_r = v.valgus_displacement["left"], v.valgus_displacement["right"]
    if d_l is not None and d_r is not None and abs(d_l - d_r) > th.asymmetry_deg:
        findings.append("asymmetry")
        more = "left" if d_l > d_r else "right"
        reasons.append(f"Your {more} knee moved inward much more than the other one.")
    if v.trunk_lean_ic_deg is not None and abs(v.trunk_lean_ic_deg) > th.trunk_lean_deg:
        findings.append("trunk_lean")
        side = "left" if v.trunk_lean_ic_deg > 0 else "right"
        reasons.append(f"Your upper body leaned to your {side} as your feet touched down.")
    push = [leg for leg in LEGS if (p := v.pushoff_valgus[leg]) is not None and p >= th.pushoff_note_deg]
    if push:
        findings.append("pushoff_valgus")
        reasons.append(f"{_leg_words(push)} moved inward as you pushed off into the jump. This is a coaching note; "
                       "it does not change the result.")

    if not flag:
        findings.insert(0, "pass")
        reasons.insert(0, "Your knees stayed within the limits as you landed.")
    return Score("FLAG" if flag else "PASS", tuple(reasons), tuple(findings), bool(near), refer, limit, near)
