"""The athlete trend reads right: displacement and peak FPPA per leg plotted on fixed axes, each
point against the limit it was scored with, the smallest-detectable-change band and change
markers, date labels that do not overlap; and the athlete's range export."""

from __future__ import annotations

import csv
import io
import random
import re
from datetime import UTC, datetime, timedelta

from kiosk.store.sample import result_json
from kiosk.web.coach.plot import MIN_LABEL_GAP

NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


def _leg(disp: float) -> dict:
    return {"fppa_ic": 1.0, "fppa_peak": 1.0 + disp, "fppa_peak_flexion": 1.0 + disp, "valgus_displacement": disp,
            "static_fppa": 0.5}


def screen(store, aid: int, at: datetime, left: float, right: float, *, limit_disp: float, verdict: str | None) -> None:
    rng = random.Random(int(at.timestamp()))
    sid = store.start_session(aid, "Gym", started_at=at)
    for k in range(3):
        res = result_json(rng)
        res["legs"] = {"left": _leg(left + (k - 1) * 0.5), "right": _leg(right)}
        store.save_trial(sid, res, recorded_at=at + timedelta(seconds=30 * k))
    if verdict:
        store.end_session(sid, verdict, {"limit": {"peak_fppa_deg": 13.0, "why": "female"},
                                         "scoring": {"thresholds": {"valgus_displacement_deg": limit_disp}}},
                          ended_at=at + timedelta(minutes=3))


def test_trend_points_limits_band_and_markers(client, store, coach) -> None:
    aid = store.add_athlete("Trend Athlete", sex="female")
    # (days ago, left, right, the displacement limit the session was scored with)
    plan = [(70, 12.0, 3.0, 10.6), (63, 11.0, 3.5, 10.6), (56, 11.5, 4.0, 12.0), (14, 5.0, 4.0, 12.0), (13, 5.5, 3.0, 12.0)]
    for days, left, right, lim in plan:
        screen(store, aid, NOW - timedelta(days=days), left, right, limit_disp=lim,
               verdict="FLAG" if left >= lim else "PASS")
    screen(store, aid, NOW - timedelta(hours=1), 20.0, 20.0, limit_disp=10.6, verdict=None)  # still open: not plotted
    page = client.get(f"/coach/athletes/{aid}").get_data(as_text=True)
    svg = page[page.index("<svg class=\"trend\""):page.index("</svg>")]
    for series in ("disp_left", "disp_right", "peak_left", "peak_right", "rsi"):
        assert len(re.findall(rf'<circle class="pt[^"]*" data-series="{series}"', svg)) == 5, series
    # each point against its own limit: 11.5 is under the 12.0 it was scored with, 11.0 over 10.6
    left_pts = re.findall(r'<circle class="pt( over)?" data-series="disp_left" data-limit="([0-9.]+)"', svg)
    assert left_pts == [(" over", "10.6"), (" over", "10.6"), ("", "12"), ("", "12"), ("", "12")]
    assert 'data-limits="10.6 10.6 12 12 12"' in svg and "(changed over time)" in svg
    # fixed axes, not autoscaled to the data
    assert 'data-panel="disp" data-axis="-5 25"' in svg and 'data-panel="rsi" data-axis="0 3"' in svg
    # SDC band on the latest point per leg; a marker where a leg changed by more than the SDC (11.5 -> 5.0)
    assert len(re.findall(r'<rect class="sdc" data-series="disp_(left|right)"', svg)) == 2
    markers = re.findall(r'<path class="change" data-series="disp_left"[^>]*><title>([^<]+)</title>', svg)
    assert len(markers) == 1 and "-6.5° since the screen before" in markers[0]
    assert "smallest change" in page.lower() and "session median" in page
    # date labels never overlap (two screens a day apart share one label's room)
    xs = sorted(float(x) for x in re.findall(r'<text class="tick date" x="([0-9.]+)"', svg))
    assert len(xs) >= 2 and all(b - a >= MIN_LABEL_GAP for a, b in zip(xs, xs[1:], strict=False))
    assert svg.count('class="legend"') == 1


def test_athlete_range_export(client, store, coach) -> None:
    aid = store.add_athlete("Trend Athlete", sex="female")
    rng = random.Random(4)
    for k in range(6):
        sid = store.start_session(aid, "Gym", started_at=NOW - timedelta(days=7 * (6 - k)))
        for j in range(3):
            store.save_trial(sid, result_json(rng), recorded_at=NOW - timedelta(days=7 * (6 - k), seconds=-j))
    start = (NOW - timedelta(days=30)).date().isoformat()
    rows = list(csv.DictReader(io.StringIO(client.get(
        f"/coach/export/trials.csv?athlete={aid}&from={start}&to={NOW.date().isoformat()}&bom=0").get_data(as_text=True))))
    assert len(rows) == 4 * 3 and {r["athlete_name"] for r in rows} == {"Trend Athlete"}
    sessions = client.get(f"/coach/export/sessions.csv?athlete={aid}&from={start}&to={NOW.date().isoformat()}")
    assert sessions.headers["Content-Disposition"].startswith("attachment") and sessions.data.count(b"\r\n") == 5
    assert client.get("/coach/export/trials.csv?from=2026-02-01&to=2026-01-01").status_code == 400
