"""PASS / FLAG from valgus values: the rules, the reasons, the finding codes, the borderline band.

The same function scores one trial and a session's per-metric medians, so a session can never
be judged by rules a trial is not. Reasons are short sentences for the athlete; finding codes
key the guidance file (kiosk/analysis/guidance.json).
"""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.analysis.thresholds import Thresholds

LEGS = ("left", "right")


@dataclass(frozen=True)
class ScoreInput:
    """The values a verdict depends on; None where not measured."""

    valgus_displacement: dict[str, float | None]
    fppa_peak: dict[str, float | None]
    static_fppa: dict[str, float | None]
    kasr_peak: float | None
    trunk_lean_peak_deg: float | None


@dataclass(frozen=True)
class Score:
    verdict: str                  # "PASS" or "FLAG"
    reasons: tuple[str, ...]
    findings: tuple[str, ...]
    borderline: bool
    refer: bool                   # valgus while standing: see a professional


def peak_fppa_limit(th: Thresholds, sex: str | None) -> float:
    """Upper normal peak FPPA for the athlete's sex; unknown uses ``peak_fppa_unknown_deg``."""
    s = (sex or "").strip().lower()
    if s in ("f", "female"):
        return th.peak_fppa_female_deg
    if s in ("m", "male"):
        return th.peak_fppa_male_deg
    return th.peak_fppa_unknown_deg


def _near(value: float | None, limit: float, band: float) -> bool:
    return value is not None and abs(value - limit) < band


def score(v: ScoreInput, th: Thresholds, sex: str | None = None) -> Score:
    reasons: list[str] = []
    findings: list[str] = []
    flag = borderline = refer = False
    limit = peak_fppa_limit(th, sex)

    dyn = [leg for leg in LEGS if (d := v.valgus_displacement[leg]) is not None and d >= th.valgus_displacement_deg]
    for leg in dyn:
        d = v.valgus_displacement[leg]
        reasons.append(f"Your {leg} knee moved {d:.0f}° inward after landing (limit {th.valgus_displacement_deg:g}°).")
    if dyn:
        flag = True
        findings.append("dynamic_valgus_both" if len(dyn) == 2 else f"dynamic_valgus_{dyn[0]}")

    high = [leg for leg in LEGS if (p := v.fppa_peak[leg]) is not None and p > limit]
    for leg in high:
        reasons.append(f"Your {leg} knee reached {v.fppa_peak[leg]:.0f}° inward at its most (usual upper limit {limit:g}°).")
    if high:
        flag = True
        findings.append("high_peak_fppa")

    if v.kasr_peak is not None and v.kasr_peak < th.kasr_peak_min:
        flag = True
        findings.append("low_kasr")
        reasons.append(f"At the lowest point your knees were {v.kasr_peak:.2f} times as far apart as your feet "
                       f"(at least {th.kasr_peak_min:g} is expected).")

    static = [leg for leg in LEGS if (s := v.static_fppa[leg]) is not None and s >= th.static_fppa_refer_deg]
    if static:
        flag = refer = True
        findings.append("static_valgus")
        which = "Both knees" if len(static) == 2 else f"Your {static[0]} knee"
        reasons.append(f"{which} already pointed inward while you stood still. That may be how your legs are "
                       "built, not control: see a professional.")

    for leg in LEGS:
        borderline |= _near(v.valgus_displacement[leg], th.valgus_displacement_deg, th.borderline_deg)
        borderline |= _near(v.fppa_peak[leg], limit, th.borderline_deg)
    borderline |= _near(v.kasr_peak, th.kasr_peak_min, th.borderline_kasr)
    if borderline:
        findings.append("borderline")
        reasons.append("Some values were close to a limit, so small changes could tip the result.")

    d_l, d_r = v.valgus_displacement["left"], v.valgus_displacement["right"]
    if d_l is not None and d_r is not None and abs(d_l - d_r) > th.asymmetry_deg:
        findings.append("asymmetry")
        more = "left" if d_l > d_r else "right"
        reasons.append(f"Your {more} knee moved inward much more than the other one.")
    if v.trunk_lean_peak_deg is not None and abs(v.trunk_lean_peak_deg) > th.trunk_lean_deg:
        findings.append("trunk_lean")
        side = "left" if v.trunk_lean_peak_deg > 0 else "right"
        reasons.append(f"Your upper body leaned to your {side} as you landed.")

    if not flag:
        findings.insert(0, "pass")
        reasons.insert(0, "Your knees stayed in line over your feet when you landed.")
    return Score("FLAG" if flag else "PASS", tuple(reasons), tuple(findings), borderline, refer)
