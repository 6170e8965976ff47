"""The athlete trend plot in real headless Chromium: 30 sessions, served by waitress on an
ephemeral port, logged in through the real form; screenshot saved to test-artifacts/."""

from __future__ import annotations

import random
import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import COACH_PASSWORD

from kiosk.store.sample import result_json

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--no-first-run", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
SESSIONS = 30

pytestmark = pytest.mark.browser


@pytest.fixture()
def served(app, store):
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])")
    from waitress.server import create_server

    store.create_coach("anna", COACH_PASSWORD)
    aid = store.add_athlete("Ἀχιλλεύς <b>Trend</b>", sex="male", team="U18")
    rng = random.Random(30)
    start = datetime.now(UTC) - timedelta(days=7 * SESSIONS)
    for k in range(SESSIONS):
        at = start + timedelta(days=7 * k, hours=rng.uniform(-3, 3))
        sid = store.start_session(aid, "Gym", started_at=at)
        for j in range(3):
            # valgus drifts down over the months, as coaching would hope
            store.save_trial(sid, result_json(rng, valgus_bias=6 - k / 5), recorded_at=at + timedelta(seconds=30 * j))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = create_server(app, host="127.0.0.1", port=port, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", aid
    server.close()
    thread.join(timeout=5)


def test_trend_plot_renders_30_points_per_series(served) -> None:
    from playwright.sync_api import sync_playwright

    base, aid = served
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1400})
            page.goto(f"{base}/coach/athletes/{aid}")
            assert "/coach/login" in page.url  # a browser without a login only sees the login form
            page.fill("input[name=username]", "anna")
            page.fill("input[name=password]", COACH_PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/coach/athletes/{aid}")
            assert page.locator("h1").inner_text() == "Ἀχιλλεύς <b>Trend</b>"  # shown as text, not markup
            svg = page.locator("svg.trend")
            svg.wait_for(state="visible")
            box = svg.bounding_box()
            assert box and box["width"] > 600 and box["height"] > 400
            for series in ("fppa_left", "fppa_right", "kasr", "rsi"):
                points = page.locator(f'svg.trend circle[data-series="{series}"]')
                assert points.count() == SESSIONS, series
                # every point is drawn inside the plot, left to right in time
                xs = points.evaluate_all("els => els.map(e => e.getBoundingClientRect().x)")
                assert xs == sorted(xs) and xs[-1] - xs[0] > 0.8 * box["width"] - 100, series
            assert page.locator("svg.trend line.limit").count() == 2
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.reload()
            svg.wait_for(state="visible")
            shot = ARTIFACTS / "coach_trend_30_sessions.png"
            svg.screenshot(path=str(shot))
            assert errors == []  # e.g. nothing blocked by the Content-Security-Policy

            # Pixels: the left-leg colour (#1f6fb5) and right-leg colour (#d9661f) are really painted.
            import cv2

            img = cv2.imread(str(shot))  # BGR
            assert img is not None and img.shape[1] > 600

            def painted(bgr: tuple[int, int, int]) -> int:
                diff = abs(img.astype(int) - bgr).sum(axis=2)
                return int((diff < 40).sum())

            assert painted((0xB5, 0x6F, 0x1F)) > 500 and painted((0x1F, 0x66, 0xD9)) > 500

            # Phone width: the plot scales down and stays fully visible without sideways scrolling.
            page.set_viewport_size({"width": 390, "height": 844})
            page.reload()
            small = page.locator("svg.trend").bounding_box()
            assert small and small["width"] <= 390 and small["x"] >= 0
            page.screenshot(path=str(ARTIFACTS / "coach_athlete_phone.png"), full_page=True)
        finally:
            browser.close()
