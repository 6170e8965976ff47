"""One athlete: their screens with the trend, and a printable report to hand over.

The trend and the report read the same completed screens (:mod:`kiosk.store.screens`), each held
against the limits it was scored with. The smallest detectable change (SDC) band comes from the
kiosk's own measured error of a session median when the thresholds carry it (the borderline
bands, measured by bench/session_error.py): a change between two screens has the error of both,
so SDC = sqrt(2) x that error. Without it, the published smallest detectable difference of 2D
FPPA is used (Munro et al. 2012: 7.5-8.9 deg; 8 deg). docs/COACH.md says the same for coaches.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from flask import abort, render_template

from kiosk.store import export
from kiosk.store import screens as screen_data
from kiosk.web import auth, get_config, get_store, get_tz
from kiosk.web.coach import _local, bp
from kiosk.web.coach.plot import TrendPoint, trend_svg

#: Munro, Herrington & Carolan 2012: smallest detectable difference of 2D FPPA 7.5-8.9 deg.
PUBLISHED_SDD_DEG = 8.0


def _athlete_or_404(athlete_id: int) -> dict:
    athlete = get_store().get_athlete(athlete_id)
    if athlete is None:
        abort(404, "no such athlete")
    return athlete


def sdc(thresholds: Any) -> dict[str, Any]:
    """SDC of valgus displacement and peak FPPA between two screens, and where it comes from."""
    disp, peak = getattr(thresholds, "borderline_displacement_deg", None), getattr(thresholds, "borderline_peak_fppa_deg", None)
    if disp and peak:
        def change(e: float) -> float:
            return math.ceil(math.sqrt(2) * e * 2) / 2  # rounded up to 0.5 deg

        return {"disp": change(disp), "peak": change(peak),
                "source": f"the kiosk's own measured error of a session median ({disp:g}° displacement, {peak:g}° "
                          "peak FPPA, 95th percentile, bench/session_error.py) for two screens: × √2, rounded up"}
    return {"disp": PUBLISHED_SDD_DEG, "peak": PUBLISHED_SDD_DEG,
            "source": "the published smallest detectable difference of 2D FPPA (Munro et al. 2012: 7.5-8.9°)"}


def completed(athlete_id: int) -> list[dict]:
    """The athlete's screens, oldest first (all verdicts); trend and report use the completed ones."""
    return screen_data.screens(get_store(), "0000", "9999", get_config().scoring, athlete_id=athlete_id)


def trend(items: list[dict]) -> tuple[Any, dict]:
    band = sdc(get_config().scoring)
    points = []
    for sc in items:
        if sc["verdict"] not in ("PASS", "FLAG"):
            continue
        m, lim = sc["medians"], sc["limits"]
        points.append(TrendPoint(
            when=datetime.fromisoformat(sc["started_at"].replace("Z", "+00:00")).astimezone(get_tz()),
            label=_local(sc["started_at"], "%Y-%m-%d"), verdict=sc["verdict"],
            left_disp=m["left"]["valgus_displacement_deg"], right_disp=m["right"]["valgus_displacement_deg"],
            left_peak=m["left"]["fppa_peak_deg"], right_peak=m["right"]["fppa_peak_deg"], rsi=m["rsi"],
            limit_disp=lim["valgus_displacement_deg"], limit_peak=lim["peak_fppa_deg"]))
    return trend_svg(points, sdc_disp=band["disp"], sdc_peak=band["peak"]), band


@bp.get("/athletes/<int:athlete_id>")
@auth.coach_required
def athlete(athlete_id: int) -> Any:
    a = _athlete_or_404(athlete_id)
    items = completed(athlete_id)
    plot, band = trend(items)
    today_ = export.parse_day(None, get_tz())
    first = _local(items[0]["started_at"], "%Y-%m-%d") if items else today_.isoformat()
    return render_template("coach/athlete.html", athlete=a, screens=list(reversed(items)), plot=plot, sdc=band,
                           range_from=first, range_to=today_.isoformat())


# --- the printable report ------------------------------------------------------------------------

def _picture(sc: dict) -> dict | None:
    """The annotated peak picture of the session's most telling valid trial (largest displacement)."""
    def worst(t: dict) -> float:
        legs = (t["metrics"] or {}).get("legs") or {}
        return max((legs.get(leg) or {}).get("valgus_displacement") or -99.0 for leg in ("left", "right"))

    for t in sorted((t for t in sc["trials"] if t["verdict"] != "RETAKE"), key=worst, reverse=True):
        rel = next((rel for name, rel in sorted((t["media"] or {}).items()) if name.endswith(".jpg")), None)
        if rel:
            return {"rel": rel, "trial": t}
    return None


def _guidance(sc: dict) -> dict:
    from kiosk.analysis.guidance import load_guidance

    g = load_guidance()
    items, seen = [], set()
    for code in sc["findings"]:
        entry = g["findings"].get(code)
        if entry is None or code in seen:
            continue
        seen.add(code)
        items.append({"code": code, "title": entry["title"], "meaning": entry["meaning"],
                      "professional": bool(entry.get("professional")),
                      "exercises": [g["exercises"][e] for e in entry.get("exercises", []) if e in g["exercises"]]})
    refer = any(i["professional"] for i in items)
    return {"findings": items, "refer": refer, "disclaimer": g["disclaimer"], "flag_meaning": g["flag_meaning"],
            "see_professional": g["see_professional"], "cues": g["cues"]}


@bp.get("/athletes/<int:athlete_id>/report")
@auth.coach_required
def report(athlete_id: int) -> Any:
    """One page to hand to the athlete, a parent or a physio; the browser's Print makes the PDF."""
    a = _athlete_or_404(athlete_id)
    items = completed(athlete_id)
    done = [sc for sc in items if sc["verdict"] in ("PASS", "FLAG")]
    if not done:
        return render_template("coach/report.html", athlete=a, latest=None), 200
    latest = done[-1]
    plot, band = trend(items)
    return render_template("coach/report.html", athlete=a, latest=latest, picture=_picture(latest), plot=plot, sdc=band,
                           guide=_guidance(latest), screens_count=len(done))
