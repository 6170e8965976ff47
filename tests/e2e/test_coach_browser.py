"""Coach pages in real headless Chromium (Debian's /usr/bin/chromium through Playwright), served
by waitress on an ephemeral localhost port and logged in through the real form:

- Today shows one row per athlete-session with the session's verdict, its trials folded beneath;
- a duplicate athlete is merged and an athlete deleted through the pages, their files gone from disk;
- the printable report is rendered to PDF (page.pdf) and holds the verdict, the picture and the trend;
- the trend at 30 screens, on a laptop and a phone.

Screenshots and the PDF go to test-artifacts/coach/.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from conftest import COACH_PASSWORD

from kiosk.media import encode_jpeg
from kiosk.store.sample import result_json

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--no-first-run", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "coach"
NOW = datetime.now(UTC).replace(hour=11, minute=0, second=0, microsecond=0)

pytestmark = pytest.mark.browser


def peak_picture(seed: int) -> bytes:
    """An annotated landing picture as the station stores it: a figure with its measured leg lines."""
    import cv2

    img = np.full((480, 640, 3), 200, np.uint8)
    rng = np.random.default_rng(seed)
    img[:] = rng.integers(150, 210, size=3, dtype=np.uint8)
    pts = {"lh": (270, 200), "rh": (370, 200), "lk": (300, 300), "rk": (345, 300), "la": (265, 400), "ra": (380, 400)}
    for a, b in (("lh", "lk"), ("lk", "la"), ("rh", "rk"), ("rk", "ra"), ("lh", "rh")):
        cv2.line(img, pts[a], pts[b], (31, 111, 181) if a.startswith("l") else (217, 102, 31), 6)
    for p in pts.values():
        cv2.circle(img, p, 9, (255, 255, 255), -1)
    cv2.putText(img, "14 deg", (390, 300), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (179, 38, 30), 2)
    return encode_jpeg(img, 85)


def _leg(disp: float) -> dict:
    return {"fppa_ic": 2.0, "fppa_peak": 2.0 + disp, "fppa_peak_flexion": 2.0 + disp, "valgus_displacement": disp,
            "static_fppa": 1.0}


def add_screen(store, aid: int, at: datetime, discs: list[tuple[str, float, float]], verdict: str | None, *,
               findings: tuple[str, ...] = ("pass",)) -> list[int]:
    rng = random.Random(aid * 1000 + int(at.timestamp()) % 997)
    sid = store.start_session(aid, "Gym", started_at=at)
    ids = []
    for k, (v, left, right) in enumerate(discs):
        res = result_json(rng, retake=v == "RETAKE")
        res.update(verdict=v, findings=list(findings) if v != "RETAKE" else ["feet_cut_off"], borderline=False)
        res["legs"] = {"left": _leg(left), "right": _leg(right)}
        media = {"replay.mp4": b"\x00\x00\x00\x18ftypmp42" + bytes(64), "peak.jpg": peak_picture(k)}
        ids.append(store.save_trial(sid, res, media, recorded_at=at + timedelta(seconds=40 * (k + 1))))
    if verdict:
        store.end_session(sid, verdict, {"findings": list(findings), "borderline": False,
                                         "limit": {"peak_fppa_deg": 13.0, "why": "female: the female range (up to 13°) was used"},
                                         "scoring": {"thresholds": {"valgus_displacement_deg": 10.6}, "trials_needed": 3}},
                          ended_at=at + timedelta(minutes=4))
    return ids


@pytest.fixture()
def served(app, store):
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])")
    from playwright.sync_api import sync_playwright
    from waitress.server import create_server

    store.create_coach("anna", COACH_PASSWORD)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = create_server(app, host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{port}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{base}/coach/login")
        page.fill("input[name=username]", "anna")
        page.fill("input[name=password]", COACH_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/coach/")
        try:
            yield base, page, errors
        finally:
            browser.close()
            server.close()
            thread.join(timeout=5)


def test_today_shows_one_row_per_athlete_session(served, store) -> None:
    base, page, errors = served
    ann = store.add_athlete("Ann Median", team="U16", sex="female")
    ben = store.add_athlete("Ben Flag", team="U16", sex="male")
    # Ann: two single jumps over the limit, the session's median under it: the session PASSes
    add_screen(store, ann, NOW - timedelta(hours=3), [("FLAG", 12, 3), ("PASS", 5, 3), ("FLAG", 11, 4)], "PASS")
    add_screen(store, ben, NOW - timedelta(hours=2), [("FLAG", 13, 4), ("RETAKE", 0, 0), ("FLAG", 12, 3), ("FLAG", 14, 4)],
               "FLAG", findings=("dynamic_valgus_left",))
    page.goto(f"{base}/coach/?date={NOW.date().isoformat()}")
    rows = page.locator("table.screens > tbody > tr[data-session]")
    assert rows.count() == 2  # 7 trials, 2 athlete-sessions
    assert rows.nth(0).locator("td.session-verdict").inner_text().strip() == "FLAG"
    assert "Ben Flag" in rows.nth(0).inner_text() and "Left" in rows.nth(0).inner_text()
    assert rows.nth(1).locator("td.session-verdict").inner_text().strip() == "PASS"
    trials = rows.nth(1).locator("table.trials tr")
    assert not trials.first.is_visible()  # folded
    rows.nth(1).locator("summary").click()
    trials.first.wait_for(state="visible")
    assert trials.count() == 3 and "FLAG" in trials.nth(0).inner_text()
    page.screenshot(path=str(ARTIFACTS / "today_1440.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert page.locator("table.screens > tbody > tr[data-session]").count() == 2
    page.screenshot(path=str(ARTIFACTS / "today_phone.png"), full_page=True)
    assert errors == []


def test_merge_and_delete_through_the_pages(served, store) -> None:
    base, page, errors = served
    keep = store.add_athlete("Mia Jones", team="U14", sex="female")
    dup = store.add_athlete("Mia J", athlete_number="21")
    add_screen(store, keep, NOW - timedelta(days=7), [("PASS", 4, 3)] * 3, "PASS")
    moved = add_screen(store, dup, NOW - timedelta(hours=1), [("PASS", 5, 3)] * 3, "PASS")
    gone = store.add_athlete("Leo Delete", team="U14")
    gone_trials = add_screen(store, gone, NOW - timedelta(hours=2), [("FLAG", 12, 3)] * 3, "FLAG")
    gone_files = [store.media_root / rel for t in gone_trials for rel in store.get_trial(t)["media"].values()]
    assert len(gone_files) == 6 and all(p.is_file() for p in gone_files)

    page.goto(f"{base}/coach/athletes/{dup}")
    page.get_by_role("link", name="Merge into another record").click()
    page.select_option("select[name=keep]", str(keep))
    page.click("button:has-text('Merge into the chosen record')")
    page.wait_for_url(f"{base}/coach/athletes/{keep}")
    assert page.locator("table.screens > tbody > tr[data-session]").count() == 2  # both histories, one athlete
    assert store.get_athlete(dup) is None and {t["athlete_id"] for t in map(store.get_trial, moved)} == {keep}
    assert store.get_athlete(keep)["athlete_number"] == "21"

    page.goto(f"{base}/coach/athletes/{gone}")
    page.get_by_role("link", name="Delete", exact=True).click()
    page.fill("input[name=confirm_name]", "Leo Delete")
    page.click("button.danger")
    page.wait_for_url(f"{base}/coach/roster")
    assert "Deleted Leo Delete" in page.inner_text("body")
    assert store.get_athlete(gone) is None and not any(p.exists() for p in gone_files)
    assert all(store.get_trial(t) is None for t in gone_trials)
    assert "Leo Delete" not in page.inner_text("table.data")
    page.screenshot(path=str(ARTIFACTS / "roster_after_delete.png"), full_page=True)
    assert errors == []


@pytest.mark.skipif(shutil.which("pdftotext") is None or shutil.which("pdfimages") is None,
                    reason="poppler-utils (pdftotext, pdfimages) reads the PDF: apt-get install poppler-utils")
def test_printable_report_renders_to_pdf_with_verdict_picture_and_trend(served, store, tmp_path) -> None:
    base, page, errors = served
    aid = store.add_athlete("Ζωή Report", team="U16", sex="female", birth_year=2010)
    for k, left in enumerate((6.0, 8.0, 12.5)):
        verdict = "FLAG" if left >= 10.6 else "PASS"
        add_screen(store, aid, NOW - timedelta(days=28 - 7 * k), [(verdict, left, 3.0)] * 3, verdict,
                   findings=("dynamic_valgus_left",) if verdict == "FLAG" else ("pass",))
    page.goto(f"{base}/coach/athletes/{aid}")
    page.get_by_role("link", name="Printable report").click()
    page.wait_for_url(f"{base}/coach/athletes/{aid}/report")
    img = page.locator(".report-picture img")
    assert img.evaluate("i => i.complete && i.naturalWidth") == 640  # the picture really loaded
    page.emulate_media(media="print")
    assert not page.locator("header.top").is_visible()  # the print stylesheet hides the navigation
    assert page.locator("svg.trend").is_visible()
    pdf = tmp_path / "report.pdf"
    page.pdf(path=str(pdf), format="A4", print_background=True)
    shutil.copy(pdf, ARTIFACTS / "athlete_report.pdf")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    text = " ".join(text.split())  # words wrapped across lines or columns read as one text
    assert "Knee-control screen: Ζωή Report" in text
    assert "FLAG" in text and "left knee" in text and "screen, not a diagnosis" in text
    assert "Left leg" in text and "Right leg" in text and "12.5°" in text  # left and right side by side
    assert "Valgus displacement" in text and "FPPA at peak knee flexion" in text  # the trend's panels
    assert "What to practise" in text and "When to see a professional" in text
    images = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    sizes = [line.split()[3:5] for line in images.splitlines()[2:]]
    assert ["640", "480"] in sizes  # the annotated picture is in the PDF
    pages = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert int(next(line.split()[-1] for line in pages.splitlines() if line.startswith("Pages:"))) <= 3
    assert errors == []


def test_trend_at_30_screens_on_laptop_and_phone(served, store) -> None:
    base, page, errors = served
    aid = store.add_athlete("Ἀχιλλεύς <b>Trend</b>", sex="male", team="U18")
    rng = random.Random(30)
    for k in range(30):
        left = max(0.0, 12 - k / 3 + rng.gauss(0, 1.5))
        add_screen(store, aid, NOW - timedelta(days=7 * (30 - k)), [("PASS", left, 4.0)] * 3, "PASS")
    page.goto(f"{base}/coach/athletes/{aid}")
    assert page.locator("h1").inner_text() == "Ἀχιλλεύς <b>Trend</b>"  # text, not markup
    svg = page.locator("svg.trend")
    box = svg.bounding_box()
    assert box and box["width"] > 600 and box["height"] > 400
    for series in ("disp_left", "disp_right", "peak_left", "peak_right"):
        pts = page.locator(f'svg.trend circle.pt[data-series="{series}"]')
        assert pts.count() == 30, series
        xs = pts.evaluate_all("els => els.map(e => e.getBoundingClientRect().x)")
        assert xs == sorted(xs) and xs[-1] - xs[0] > 0.8 * box["width"] - 100, series
    # the date labels do not overlap on screen
    rects = page.locator("svg.trend text.date").evaluate_all(
        "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.left, r.right]; })")
    rects.sort()
    assert len(rects) >= 4 and all(a[1] <= b[0] for a, b in zip(rects, rects[1:], strict=False))
    svg.screenshot(path=str(ARTIFACTS / "trend_30_screens.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    small = page.locator("svg.trend").bounding_box()
    assert small and small["width"] <= 390 and small["x"] >= 0
    page.screenshot(path=str(ARTIFACTS / "athlete_phone.png"), full_page=True)
    assert errors == []
