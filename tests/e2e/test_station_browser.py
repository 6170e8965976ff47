"""End to end: ``jumpkiosk demo`` in a subprocess, driven through real Chromium by touch only,
like an athlete alone at the station.

Welcome -> readiness -> check-in (name search and a new name typed on the on-screen keyboard;
"is this you?" for a name on the list; consent) -> about you -> how-to -> live preview -> Start
-> the station arms itself on the athlete standing still on the box -> practice jump -> three
jumps, each arming itself -> the summary -> More -> Done. The demo replays the synthetic
athlete's clips with their mat, and the station poses the frames with the real MoveNet model.
Before the summary no verdict word, angle or exercise may show; the summary's verdict and
picture must be above the fold. On every screen the test measures touch targets (>= 48x48 CSS
px) and text contrast (WCAG AA), and saves screenshots at 800x480 and 1280x800 in
``test-artifacts/station/``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "station"
AUDIT_JS = (Path(__file__).with_name("audit.js")).read_text(encoding="utf-8")
SIZES = ((800, 480), (1280, 800))
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--no-first-run", "--disable-sync"]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _need_browser() -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])")


class DemoServer:
    """``jumpkiosk demo --port 0`` as a child process; the address is read from its output."""

    def __init__(self, config: Path, cwd: Path, env: dict[str, str] | None = None):
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        env.pop("JUMPKIOSK_CONFIG", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "kiosk", "--config", str(config), "demo", "--port", "0"],
                                     cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.url: str | None = None
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())
            m = re.search(r"open (http://\S+/)", line)
            if m:
                self.url = m.group(1)
                self._ready.set()
        self._ready.set()

    def wait_ready(self, timeout: float) -> str:
        self._ready.wait(timeout)
        if not self.url:
            self.stop()
            raise AssertionError("jumpkiosk demo did not start:\n" + "\n".join(self.lines[-30:]))
        return self.url

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def audit(page, name: str, report: dict) -> None:
    """Screenshots at both sizes, touch-target and contrast checks; failures collected in ``report``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    for w, h in SIZES:
        page.set_viewport_size({"width": w, "height": h})
        page.wait_for_timeout(150)  # layout settles (no animation depends on it)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{w}x{h}.png"))
        res = page.evaluate(AUDIT_JS)
        assert res["checked"] > 0, f"{name}: no visible text found"
        for item in res["small"]:
            report.setdefault("small", []).append((name, w, h, item))
        for item in res["low"]:
            report.setdefault("low", []).append((name, w, h, item))
    page.set_viewport_size(original)


def screen(page) -> str:
    return page.locator("#app").get_attribute("data-screen") or ""


def wait_screen(page, names: tuple[str, ...], timeout_s: float) -> str:
    """Wait until the page shows one of ``names`` (events, not sleeps: polled by Playwright)."""
    sel = ", ".join(f'#app[data-screen="{n}"]' for n in names)
    page.wait_for_selector(sel, state="attached", timeout=timeout_s * 1000)
    return screen(page)


def tap(page, target) -> None:
    """One touch on ``target`` (a selector or locator) once the screen takes taps again (each
    screen ignores taps for a moment after it appears: the double-tap guard)."""
    page.wait_for_selector('#app[data-tappable="1"]', state="attached", timeout=5000)
    (page.locator(target) if isinstance(target, str) else target).tap()


def type_on_screen(page, keyboard: str, text: str) -> None:
    """Type ``text`` by tapping the page's own keyboard (``keyboard``: its container)."""
    for ch in text.lower():
        key = "{space}" if ch == " " else ch
        page.locator(f'{keyboard} .hg-button[data-skbtn="{key}"]').tap()


EXERCISES = ("Clamshells", "Lateral band walks", "Glute bridges", "Hip thrusts", "Romanian deadlifts", "Step-ups")
VERDICT_WORDS = re.compile(r"\b(PASS|FLAG)\b")


FLOW = ("arming", "countdown", "stepoff", "jump", "analysing", "between", "summary")


def assert_blinded(shown: str, where: str) -> None:
    """Before the summary: no verdict word, no angle, no exercise anywhere on the screen."""
    assert not VERDICT_WORDS.search(shown), (where, shown)
    assert "°" not in shown and " deg" not in shown, (where, shown)
    for name in EXERCISES:
        assert name not in shown, (where, name)


def above_the_fold(page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    return bool(box) and box["y"] >= 0 and box["y"] + box["height"] <= size["height"] + 0.5 \
        and box["x"] >= 0 and box["x"] + box["width"] <= size["width"] + 0.5


def run_station_flow(page, base_url: str, *, new_name: str, roster_name: str, trials: int, idle_timeout_s: float,
                     report: dict, tag: str) -> dict:
    """Drive one athlete's visit by touch only; returns what the visit showed."""
    outcomes: list[str] = []
    page.goto(base_url)
    wait_screen(page, ("welcome",), 10)
    audit(page, f"{tag}01-welcome", report)

    # A fast double tap on Start: its second tap lands where the next screen has a button ("No"
    # to the first question) and must not answer it.
    no_first = _centre(page, "#s-readiness .q[data-q='pain'] [data-answer='no']")
    page.wait_for_selector('#app[data-tappable="1"]', state="attached")
    page.get_by_role("button", name="Start").tap()
    page.touchscreen.tap(*no_first)
    wait_screen(page, ("readiness",), 5)
    assert page.locator('.q [aria-pressed="true"]').count() == 0, "a double tap answered a question"
    audit(page, f"{tag}02-readiness", report)
    for q in ("pain", "injury", "rehab"):
        tap(page, f".q[data-q='{q}'] [data-answer='no']")
    tap(page, "#ready-ok")

    wait_screen(page, ("checkin",), 5)
    type_on_screen(page, "#kb-checkin", roster_name[:3])
    page.wait_for_selector("#roster button")
    assert any(roster_name in n for n in page.locator("#roster button").all_inner_texts())
    audit(page, f"{tag}03-checkin-name", report)
    tap(page, 'button[data-tab="new"]')
    # "I'm new" with a name on the list asks "is this you?"
    type_on_screen(page, "#kb-checkin", roster_name)
    assert page.locator("#new-name").input_value() == roster_name
    tap(page, "#consent-text")
    tap(page, 'button[data-action="quick-add"]')
    page.wait_for_selector("#isyou:not([hidden])")
    assert "Is this you?" in page.locator("#isyou-text").inner_text()
    audit(page, f"{tag}03-checkin-isyou", report)
    tap(page, "#new-name")                       # "no, not me": back to the name, the keys come back
    for _ in roster_name:
        page.locator('#kb-checkin .hg-button[data-skbtn="{bksp}"]').tap()
    assert page.locator("#new-name").input_value() == ""
    type_on_screen(page, "#kb-checkin", new_name)
    assert page.locator("#new-name").input_value() == new_name
    add = page.locator('button[data-action="quick-add"]').bounding_box()
    page.touchscreen.tap(add["x"] + add["width"] / 2, add["y"] + add["height"] / 2)
    page.touchscreen.tap(add["x"] + add["width"] / 2, add["y"] + add["height"] / 2)   # a double tap: one athlete

    wait_screen(page, ("about",), 10)
    audit(page, f"{tag}04-about", report)
    tap(page, 'button[data-sex="female"]')
    type_on_screen(page, "#kb-about", "2012")
    tap(page, 'button[data-action="about-save"]')

    wait_screen(page, ("howto",), 10)
    page.wait_for_function("document.getElementById('howto-img').naturalWidth > 0", timeout=30000)
    assert page.locator("#minor-note").is_visible() and page.locator("#practice-note").is_visible()
    audit(page, f"{tag}05-howto", report)
    tap(page, 'button[data-action="howto-done"]')
    wait_screen(page, ("ready",), 5)
    page.wait_for_function("document.querySelector('#s-ready .preview').naturalWidth > 0", timeout=15000)
    assert page.locator("#s-ready .guide").is_visible()
    frame, box = page.locator("#s-ready .frame").bounding_box(), page.locator("#s-ready .media-box").bounding_box()
    assert frame["width"] <= box["width"] + 1 and frame["height"] <= box["height"] + 1   # scaled into its box
    assert max(frame["width"] / box["width"], frame["height"] / box["height"]) > 0.97     # ... and fills it
    assert "face the camera" in page.locator("#s-ready").inner_text().lower()
    assert_blinded(page.locator("#app").inner_text(), "ready")
    audit(page, f"{tag}06-ready", report)
    tap(page, '#s-ready button[data-action="start"]')      # then nothing more: the station arms itself

    # Every screen and every text the page shows from here to the summary, recorded in the page
    # as it changes (a short screen between two jumps cannot slip past a polling test).
    page.evaluate("""() => {
        const app = document.getElementById('app');
        window.__seen = [];
        const note = () => {
            const last = window.__seen[window.__seen.length - 1], screen = app.dataset.screen, text = app.innerText;
            const outcome = screen === 'between' ? document.getElementById('between-outcome').innerText : null;
            if (!last || last.screen !== screen || last.text !== text) window.__seen.push({ screen, text, outcome });
        };
        new MutationObserver(note).observe(app, { attributes: true, childList: true, subtree: true, characterData: true });
        note();
    }""")
    shot: set[str] = set()
    last = "ready"
    while last != "summary":
        last = wait_screen(page, tuple(n for n in FLOW if n != last), 90)
        if last not in shot and last != "summary":
            shot.add(last)
            page.screenshot(path=str(ARTIFACTS / f"{tag}07-{last}-{page.viewport_size['width']}.png"))
    seen = page.evaluate("window.__seen")
    seen_screens = list(dict.fromkeys(item["screen"] for item in seen))
    for item in seen:
        if item["screen"] not in ("summary", "more"):
            assert_blinded(item["text"], item["screen"])
        if item["outcome"] and (not outcomes or outcomes[-1] != item["outcome"]):
            outcomes.append(item["outcome"])
    wait_screen(page, ("summary",), 5)
    page.wait_for_function("document.getElementById('summary-img').naturalWidth > 0", timeout=15000)
    folds = {}
    for w, h in SIZES:
        page.set_viewport_size({"width": w, "height": h})
        page.wait_for_function(f"window.innerWidth === {w}")
        folds[(w, h)] = (above_the_fold(page, "#summary-img"), above_the_fold(page, "#summary-verdict"),
                         above_the_fold(page, "#summary-median"), above_the_fold(page, "#more-btn"))
    audit(page, f"{tag}09-summary", report)
    summary = {"word": page.locator("#summary-word").inner_text().strip(),
               "median": page.locator("#summary-median").inner_text(),
               "shown": page.locator("#app").inner_text()}
    tap(page, "#more-btn")
    wait_screen(page, ("more",), 5)
    summary["table"] = page.locator("#measures").inner_text()
    audit(page, f"{tag}10-more", report)
    tap(page, 'button[data-action="less"]')
    wait_screen(page, ("summary",), 5)
    tap(page, 'button[data-action="done"]')
    wait_screen(page, ("welcome",), 5)
    body = page.evaluate("document.body.innerHTML")
    # The next visitor is in rehab: a "yes" ends the visit kindly, before anything is asked.
    tap(page, 'button[data-action="begin"]')
    wait_screen(page, ("readiness",), 5)
    tap(page, ".q[data-q='rehab'] [data-answer='yes']")
    wait_screen(page, ("nottoday",), 5)
    assert "physiotherapist" in page.locator("#s-nottoday").inner_text()
    audit(page, f"{tag}11-not-today", report)
    tap(page, '#s-nottoday button[data-action="home"]')
    wait_screen(page, ("welcome",), 5)
    return {"outcomes": outcomes, "screens": seen_screens, "seen": len(seen), "summary": summary, "folds": folds, "body_after_done": body}


def _centre(page, selector: str) -> tuple[float, float]:
    """Where ``selector`` will be once its screen shows (the same place the first tap landed)."""
    return tuple(page.evaluate(
        """(sel) => { const s = document.querySelector(sel).closest('.screen'); s.classList.add('active');
            const r = document.querySelector(sel).getBoundingClientRect(); s.classList.remove('active');
            return [r.left + r.width / 2, r.top + r.height / 2]; }""", selector))


def _demo_truth(folder: Path) -> list[tuple[str, str]]:
    """(clip, verdict its exact joints give) in the demo playlist's order."""
    import json

    from kiosk.commands.serve import DEMO_CLIPS
    from kiosk.synth.validate import truth_score

    return [(name, truth_score(json.loads((folder / name / "truth.json").read_text())).verdict) for name in DEMO_CLIPS]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    _need_browser()
    from kiosk.store import Store

    state = tmp_path_factory.mktemp("station-state")
    cfg = state / "station.toml"
    cfg.write_text(f'[station]\nstate_dir = "{state.as_posix()}"\nname = "Test gym"\n'
                   '[web]\nidle_timeout_s = 10\nsecret_key = "e2e-secret-key-e2e-secret-key-00"\n'
                   '[session]\ntrials = 3\n', encoding="utf-8")
    store = Store(state)
    store.migrate()
    me = store.add_athlete("Maya Testrunner", athlete_number="4711", sex="female", team="Blue")
    other = store.add_athlete("Mark Otherperson", athlete_number="4712", sex="male", team="Blue")
    store.add_athlete("Zoe Elsewhere", athlete_number="99")
    # The other athlete has history: none of it may ever appear on the station.
    sid = store.start_session(other, "Test gym")
    store.save_trial(sid, {"verdict": "FLAG", "reasons": ["OTHER-ATHLETE-SECRET-REASON"], "legs": {}}, trial_no=1)
    store.close()
    server = DemoServer(cfg, state)
    url = server.wait_ready(240)
    yield {"url": url, "state": state, "athlete_id": me, "server": server, "expected": _demo_truth(state / "demo")}
    assert server.stop() == 0, "\n".join(server.lines[-20:])


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_athlete_visit_end_to_end(demo, size) -> None:
    from playwright.sync_api import sync_playwright

    from kiosk.store import Store

    new_name = {800: "Newt Jumper", 1280: "Wren Lander"}[size[0]]
    report: dict = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": size[0], "height": size[1]}, has_touch=True)
            out = run_station_flow(page, demo["url"], new_name=new_name, roster_name="Maya Testrunner", trials=3,
                                   idle_timeout_s=10, report=report, tag=f"{size[0]}-")
        finally:
            browser.close()

    assert not report.get("small"), f"touch targets under 48x48 px: {report['small'][:8]}"
    assert not report.get("low"), f"text below WCAG AA contrast: {report['low'][:8]}"

    # between jumps: the practice, then "recorded" (or why a jump did not count)
    assert out["outcomes"][0].startswith("Practice jump done"), out["outcomes"]
    assert any("Jump 1 of 3 recorded" in o for o in out["outcomes"]), out["outcomes"]
    # one tap on Start, none after it: every jump counted down by itself (the demo athlete already
    # stands still on the box, so the count starts at once; the arming wait is tests/test_station_arming.py)
    assert "countdown" in out["screens"] and "between" in out["screens"], out["screens"]
    summary = out["summary"]
    assert summary["word"] in ("PASS", "FLAG"), summary
    assert "middle value of your 3 jumps" in summary["median"]
    for jargon in ("FPPA", "KASR"):
        assert jargon not in summary["shown"] and jargon not in summary["table"]
    assert "Jump 1" in summary["table"] and "Jump 3" in summary["table"] and "Middle" in summary["table"]
    assert " cm" in summary["table"]               # jump height, in cm
    for (w, h), fold in out["folds"].items():
        assert all(fold), f"summary at {w}x{h}: picture, verdict, median, More above the fold: {fold}"

    # The store: one new athlete (double tap, and "is this you?" did not add Maya twice), the
    # practice jump not stored, the session's verdict the one the summary showed.
    store = Store(demo["state"])
    try:
        athletes = [a for a in store.list_athletes() if a["display_name"] in (new_name, "Maya Testrunner")]
        assert sorted(a["display_name"] for a in athletes) == sorted([new_name, "Maya Testrunner"]), athletes
        me = next(a for a in athletes if a["display_name"] == new_name)
        assert me["sex"] == "female" and me["birth_year"] == 2012
        deadline = time.monotonic() + 20
        while True:
            sessions = store.query("SELECT verdict FROM sessions WHERE athlete_id = ? AND ended_at IS NOT NULL",
                                   (me["id"],))
            if sessions or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        trials = store.athlete_trials(me["id"])
        assert sum(t["verdict"] != "RETAKE" for t in trials) == 3, [t["verdict"] for t in trials]
        # every shown outcome but the practice's is a stored trial, and the last jump went to the summary
        assert len(trials) == len(out["outcomes"]), (len(trials), out["outcomes"])
        assert [r["verdict"] for r in sessions] == [summary["word"]]
    finally:
        store.close()

    # Privacy: after Done nothing of the athlete is left in the page, and the other athlete's
    # results never reached it.
    body = out["body_after_done"]
    for secret in (new_name.split()[0], new_name.split()[1], "OTHER-ATHLETE-SECRET-REASON", "Otherperson"):
        assert secret not in body
    print(f"{size}: outcomes {out['outcomes']}, summary {summary['word']}")


def test_fault_screen_for_a_damaged_model(demo, tmp_path: Path) -> None:
    """A damaged pose model at start: the demo still serves, and the station shows the model
    fault full-screen (title, what to do, the model's own error) instead of failing every trial."""
    import shutil

    from playwright.sync_api import sync_playwright

    from kiosk.pose.models import MODELS_ENV, models_dir

    models = tmp_path / "models"
    shutil.copytree(models_dir(), models)
    lightning = models / "movenet_lightning_f16.tflite"     # the station's model (the INT8 ones are extras)
    lightning.write_bytes(lightning.read_bytes()[: 4096])   # a truncated download
    state = tmp_path / "state"
    shutil.copytree(demo["state"] / "demo", state / "demo")  # the rendered clips: no second render
    cfg = state / "station.toml"
    cfg.write_text(f'[station]\nstate_dir = "{state.as_posix()}"\nname = "Test gym"\n'
                   '[web]\nsecret_key = "e2e-secret-key-e2e-secret-key-00"\n', encoding="utf-8")
    server = DemoServer(cfg, state, env={MODELS_ENV: str(models)})
    report: dict = {}
    try:
        url = server.wait_ready(120)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
            try:
                page = browser.new_page(viewport={"width": 800, "height": 480}, has_touch=True)
                page.goto(url)
                wait_screen(page, ("fault",), 20)
                title = page.locator("#fault-title").inner_text()
                help_text = page.locator("#fault-help").inner_text()
                detail = page.locator("#fault-detail").inner_text()
                audit(page, "11-fault-model", report)
            finally:
                browser.close()
    finally:
        assert server.stop() == 0, "\n".join(server.lines[-20:])
    assert title.strip() and help_text.strip(), (title, help_text)
    assert "setup.sh update" in (help_text + detail), (title, help_text, detail)
    assert lightning.name in detail or "sha256" in detail.lower() or "damaged" in (title + detail).lower(), detail
    assert not report.get("small"), f"touch targets under 48x48 px: {report['small'][:8]}"
    assert not report.get("low"), f"text below WCAG AA contrast: {report['low'][:8]}"
