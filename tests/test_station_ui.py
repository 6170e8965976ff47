"""The station blueprint and its view models, through Flask's test client.

The runtime here is the real trial state machine behind the runtime's method names (a few lines
below), so the states, prompts and counters the UI sees are the ones the station produces. The
end-to-end run with the real runtime, real MoveNet and real Chromium is tests/e2e.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import numpy as np
import pytest

from kiosk.config import config_from_dict
from kiosk.station.statemachine import (
    AnalysisDone,
    AnalysisStarted,
    Arm,
    CheckIn,
    Fault,
    FaultCleared,
    MatChanged,
    Start,
    StateMachine,
    Tick,
)
from kiosk.store import Store
from kiosk.web import create_app
from kiosk.web.station.summary import measures, rule_round, summary_view
from kiosk.web.station.view import station_view

LOCAL = {"REMOTE_ADDR": "127.0.0.1"}
REMOTE = {"REMOTE_ADDR": "192.168.1.50"}


def trial_json(verdict: str, disp: float, peak: float = 9.0) -> dict:
    leg = {"fppa_ic": 2.0, "fppa_peak": peak, "fppa_peak_flexion": peak, "valgus_displacement": disp,
           "static_fppa": 1.0, "peak_fppa_s": 0.61, "peak_fppa_frame": 73}
    findings = {"PASS": ["pass"], "FLAG": ["dynamic_valgus_both"]}.get(verdict, ["second_person"])
    return {"verdict": verdict, "reasons": [f"reason for {verdict}"], "findings": findings, "borderline": False, "refer": False,
            "events": {"initial_contact_s": 0.5}, "legs": {"left": dict(leg), "right": dict(leg)},
            "kasr_peak": 0.9, "jump": {"jump_height_m": 0.31, "contact_time_s": 0.25}, "sex": None,
            "scoring_version": "test"}


class MachineRuntime:
    """The real StateMachine behind the StationRuntime method names, with a change counter."""

    def __init__(self) -> None:
        self.sm = StateMachine(trials_total=3)
        self.last_record = None   # the real runtime's last TrialRecord (pictures); none here
        self.seq = 0
        self.cond = threading.Condition()
        self.preview: bytes | None = None

    def _apply(self, ev: object) -> None:
        with self.cond:
            self.sm.handle(ev, 0)
            self.seq += 1
            self.cond.notify_all()

    def snapshot(self) -> dict:
        with self.cond:
            return {**self.sm.snapshot(), "seq": self.seq}

    def wait_for_change(self, seq: int, timeout: float) -> dict:
        with self.cond:
            self.cond.wait_for(lambda: self.seq != seq, timeout)
            return {**self.sm.snapshot(), "seq": self.seq}

    def check_in(self, athlete: dict) -> None:
        self._apply(CheckIn(athlete))

    def start(self) -> None:
        self._apply(Start())

    def arm(self) -> None:
        self._apply(Arm())

    def cancel(self) -> None:
        from kiosk.station.statemachine import Cancel
        self._apply(Cancel())

    def preview_jpeg(self) -> bytes | None:
        return self.preview

    def finish(self, verdict: str, disp: float, result: dict | None = None) -> None:
        """Drive a trial from Start to a result, as the runtime does after a landing."""
        if self.sm.mat_pressed:              # the last athlete steps off the mat
            self._apply(MatChanged(False, 10**9))
        self._apply(Start())
        self._apply(Tick(10**10))          # countdown over -> awaiting landing
        for i, pressed in enumerate((True, False, True)):   # contact, take-off, second landing
            self._apply(MatChanged(pressed, 10**10 + (i + 1) * 10**8))
        self._apply(AnalysisStarted())
        self._apply(AnalysisDone(verdict, result or trial_json(verdict, disp)))


@pytest.fixture()
def env(tmp_path: Path):
    cfg = config_from_dict({"station": {"state_dir": str(tmp_path), "name": "Gym </script> A"},
                            "web": {"secret_key": "k" * 32, "idle_timeout_s": 30}})
    store = Store(tmp_path)
    rt = MachineRuntime()
    app = create_app(cfg, rt, store=store)
    store.add_athlete("Alice Example", athlete_number="17", sex="female", team="U16", notes="knee op 2024")
    store.add_athlete("Alina Other", athlete_number="18", team="U16")
    store.add_athlete("Bob Third", athlete_number="19")
    client = app.test_client()
    client.environ_base.update(LOCAL)
    page = client.get("/")
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.get_data(as_text=True)).group(1)
    yield app, client, rt, store, token
    store.close()


def post(client, url: str, token: str, body: dict | None = None):
    return client.post(url, json=body or {}, headers={"X-CSRF-Token": token})


def test_page_is_self_contained_and_escapes_station_name(env) -> None:
    app, client, *_ = env
    html = client.get("/").get_data(as_text=True)
    # offline: every script, style and image is served by the station itself
    assert not re.search(r'(src|href)="(https?:)?//', html)
    boot = html.split('id="boot" type="application/json">')[1].split("</script>")[0]
    assert json.loads(boot)["station_name"] == "Gym </script> A"   # the name cannot end the script early
    for name in ("app.js", "app.css", "icon.svg", "vendor/simple-keyboard/index.js", "vendor/simple-keyboard/index.css"):
        body = client.get(f"/station/static/{name}").get_data(as_text=True).replace("http://www.w3.org/2000/svg", "")
        body = re.sub(r"/\*!.*?\*/", "", body, flags=re.S)   # a vendored file's licence header names its home page
        assert "http://" not in body and "https://" not in body and "//cdn" not in body, name


def test_welcome_shows_the_https_certificate_fingerprint_for_coaches(env) -> None:
    app, client, *_ = env
    assert "fingerprint" not in client.get("/").get_data(as_text=True)   # no certificate: nothing to compare
    app.config["KIOSK_TLS_FINGERPRINT"] = "AB:CD:EF:01"
    html = client.get("/").get_data(as_text=True)
    assert "<code>AB:CD:EF:01</code>" in html


def test_station_pages_redirect_other_addresses_to_coach_login(env) -> None:
    app, client, *_ = env
    for path in ("/", "/station/state", "/station/roster?q=al", "/station/preview.jpg"):
        r = client.get(path, environ_base=REMOTE)
        assert r.status_code == 302 and "/coach/login" in r.headers["Location"], path
    assert client.get("/station/state").status_code == 200


def test_posts_need_the_csrf_token(env) -> None:
    app, client, rt, store, token = env
    assert client.post("/station/start", json={}).status_code == 400
    assert post(client, "/station/start", token).status_code == 200


def test_on_screen_start_arms_the_station(env) -> None:
    app, client, rt, store, token = env
    post(client, "/station/check-in", token, {"number": "17", "consent": True})
    post(client, "/station/start", token)
    v = client.get("/station/state").get_json()
    assert v["state"] == "arming" and v["busy"] and "facing the camera" in v["prompt"]


def test_roster_needs_two_letters_and_shows_names_only(env) -> None:
    app, client, *_ = env
    assert client.get("/station/roster?q=a").get_json() == {"athletes": []}
    found = client.get("/station/roster?q=ali").get_json()["athletes"]
    assert sorted(a["name"] for a in found) == ["Alice Example", "Alina Other"]
    assert all(set(a) <= {"id", "name", "number"} for a in found)
    text = json.dumps(found)
    assert "U16" not in text and "knee op" not in text and "female" not in text


def test_check_in_by_number_consent_and_quick_add(env) -> None:
    app, client, rt, store, token = env
    r = post(client, "/station/check-in", token, {"number": "17"})
    assert r.status_code == 400 and "consent" in r.get_json()["error"]
    r = post(client, "/station/check-in", token, {"number": "99", "consent": True})
    assert r.status_code == 400 and "99" in r.get_json()["error"]
    view = post(client, "/station/check-in", token, {"number": "17", "consent": True}).get_json()
    assert view["state"] == "ready" and view["athlete"]["name"] == "Alice"
    assert rt.sm.athlete["id"] == 1 and rt.sm.athlete["sex"] == "female"   # the runtime gets the record
    view = post(client, "/station/check-in", token, {"new_name": "  Zed   New ", "consent": True}).get_json()
    assert view["athlete"]["name"] == "Zed" and view["athlete"]["ask_about"]
    assert any(a["display_name"] == "Zed New" for a in store.list_athletes())


def test_im_new_with_a_name_on_the_list_asks_is_this_you(env) -> None:
    """Bug: "I'm new" never checked for an existing name, and a triple tap on "Add me" made
    three identical athletes."""
    app, client, rt, store, token = env
    r = post(client, "/station/check-in", token, {"new_name": "alice  example", "consent": True})
    assert r.status_code == 409 and "Is this you?" in r.get_json()["error"]
    assert r.get_json()["existing"] == [{"id": 1, "name": "Alice Example", "number": "17"}]
    assert len(store.list_athletes()) == 3 and rt.sm.athlete is None
    # "No, add me as new": a second Alice Example, once however often the button is tapped
    ids = {post(client, "/station/check-in", token, {"new_name": "Alice Example", "consent": True,
                                                    "confirm_new": True}).status_code for _ in range(3)}
    assert ids == {200} and sum(a["display_name"] == "Alice Example" for a in store.list_athletes()) == 2
    # a fresh name tapped three times: one athlete
    for _ in range(3):
        assert post(client, "/station/check-in", token, {"new_name": "Triple Tap", "consent": True}).status_code == 200
    assert sum(a["display_name"] == "Triple Tap" for a in store.list_athletes()) == 1


def test_about_you_stores_sex_and_birth_year_on_the_athlete(env) -> None:
    app, client, rt, store, token = env
    assert post(client, "/station/about", token, {"sex": "male"}).status_code == 409   # nobody checked in
    post(client, "/station/check-in", token, {"number": "19", "consent": True})
    r = post(client, "/station/about", token, {"sex": "male", "birth_year": "19"})
    assert r.status_code == 400 and "four digits" in r.get_json()["error"]
    view = post(client, "/station/about", token, {"sex": "male", "birth_year": "2012"}).get_json()
    row = store.get_athlete(3)
    assert row["sex"] == "male" and row["birth_year"] == 2012
    assert rt.sm.athlete["sex"] == "male"                  # the runtime scores with it
    assert view["athlete"]["minor"] is True and not view["athlete"]["ask_about"]
    r = post(client, "/station/about", token, {"sex": "prefer_not_to_say"})   # an answer, kept as one
    assert r.status_code == 200
    row = store.get_athlete(3)
    assert row["sex"] == "prefer_not_to_say" and row["birth_year"] == 2012
    assert rt.sm.athlete["sex"] == "prefer_not_to_say"


def test_readiness_answer_is_accepted_and_nothing_is_stored(env) -> None:
    app, client, rt, store, token = env
    before = store.list_athletes()
    assert post(client, "/station/readiness", token, {"ready": False}).status_code == 200
    assert store.list_athletes() == before and rt.sm.athlete is None


def test_between_jumps_the_view_carries_no_result(env) -> None:
    app, client, rt, store, token = env
    post(client, "/station/check-in", token, {"number": "18", "consent": True})
    rt.finish("FLAG", 14.0)
    v = client.get("/station/state").get_json()
    text = json.dumps(v)
    assert v["state"] == "result" and v["summary"] is None
    for word in ("FLAG", "PASS", "14.0", "reason for", "exercise", "freeze"):
        assert word not in text, word
    assert v["outcome"] == {"kind": "recorded", "text": "Jump 1 of 3 recorded.", "number": 1, "of": 3}
    assert v["trial"]["label"] == "Jump 1 of 3" and v["trial"]["next_label"] == "Jump 2 of 3"
    assert client.get("/station/summary/1/freeze.jpg").status_code == 404   # no picture before the summary


def test_retake_reason_carries_into_the_next_prompt(env) -> None:
    """Bug: every RETAKE's next prompt was generic (the machine read a key the analysis never
    sends). Here the RETAKE is the analysis' own JSON, and the view carries its reason."""
    from kiosk.analysis.gates import REASONS, Failure, with_failure
    from kiosk.analysis.result import TrialResult

    app, client, rt, store, token = env
    post(client, "/station/check-in", token, {"number": "18", "consent": True})
    retake = with_failure(TrialResult.from_json(trial_json("PASS", 1.0)), Failure("turned_away", "test")).to_json()
    rt.finish("RETAKE", 0.0, retake)
    v = client.get("/station/state").get_json()
    assert v["outcome"]["kind"] == "retake" and v["outcome"]["reason"] == REASONS["turned_away"]
    assert v["outcome"]["tries_left"] == 5 and "did not count" in v["prompt"]
    assert "see_professional" not in json.dumps(v) and "physio" not in json.dumps(v).lower()
    rt._apply(MatChanged(False, 2 * 10**10))   # steps off the mat
    rt.arm()      # "Get ready" again: the instruction, with the last outcome beside it
    v = client.get("/station/state").get_json()
    assert v["state"] == "arming" and v["prompt"].startswith("Stand on the box facing the camera")
    assert v["outcome"]["reason"] == REASONS["turned_away"]


def test_summary_explains_the_median_and_shows_every_jump(env) -> None:
    app, client, rt, store, token = env
    post(client, "/station/check-in", token, {"number": "17", "consent": True})
    for verdict, disp in (("PASS", 2.0), ("RETAKE", 0.0), ("FLAG", 12.0), ("PASS", 3.0)):
        rt.finish(verdict, disp)
        v = client.get("/station/state").get_json()   # the page reads every result (SSE)
    s = v["summary"]
    assert v["session"]["complete"] and s["verdict"] == "PASS"
    assert "middle value of your 3 jumps" in s["median"]
    moved = next(m for m in s["measures"] if m["label"] == "Left knee moved inward after landing")
    assert moved["jumps"] == [2.0, 12.0, 3.0] and moved["middle"] == 3.0 and moved["status"] == "ok"
    height = next(m for m in s["measures"] if m["label"] == "Jump height")
    assert height["jumps"] == [31, 31, 31] and height["unit"] == " cm"   # jump_height_m 0.31, in cm
    assert s["guidance"]["items"] and [t["counted"] for t in s["tries"]] == [True, False, True, True]
    for jargon in ("FPPA", "KASR", "fppa", "kasr"):
        assert jargon not in json.dumps(s)
    assert post(client, "/station/cancel", token).status_code == 200
    v = client.get("/station/state").get_json()
    assert v["athlete"] is None and v["session"] is None and v["summary"] is None


def test_view_never_carries_identifiers() -> None:
    from kiosk.analysis.thresholds import Thresholds

    snap = {"state": "result", "seq": 4, "athlete": {"id": 7, "display_name": "Chris Private", "athlete_number": "55",
                                                      "team": "A", "notes": "secret", "sex": "male", "birth_year": 2001},
            "last_result": trial_json("PASS", 1.0), "attempts": 1, "valid_trials": 1, "trial": "1 of 3"}
    v = station_view(snap, thresholds=Thresholds(), trials_per_session=3, this_year=2026)
    text = json.dumps(v)
    for secret in ("Private", "55", "secret", '"id"', "male", "2001"):
        assert secret not in text
    assert v["athlete"] == {"name": "Chris", "minor": False, "ask_about": False}


def test_numbers_are_rounded_the_way_the_rule_compares_them() -> None:
    # over the limit by the rule is never shown at or under it, and the other way round
    assert rule_round(0.597, 2, 0.6, out=True) == 0.59
    assert rule_round(10.58, 1, 10.6, out=False) == 10.5
    assert rule_round(10.6, 1, 10.6, out=True) == 10.6          # ">= 10.6" reads right as 10.6
    assert rule_round(13.04, 1, 13.0, out=True) == 13.1          # "> 13" must not read 13.0
    assert rule_round(7.26, 1, 13.0, out=False) == 7.3


def test_summary_limit_follows_sex_and_marks_the_flagged_knee() -> None:
    from kiosk.analysis.thresholds import Thresholds

    th = Thresholds()
    jumps = [trial_json("FLAG", 11.0, peak=11.0) for _ in range(3)]
    for j in jumps:
        j["legs"]["right"]["valgus_displacement"] = 2.0
    summary = {"verdict": "FLAG", "trials_needed": 3, "medians": {}}
    female = {m["label"]: m for m in measures(summary, jumps, th, "female")}
    male = {m["label"]: m for m in measures(summary, jumps, th, "male")}
    assert female["Left knee angled inward at the deepest point"]["status"] == "ok"
    assert male["Left knee angled inward at the deepest point"]["status"] == "out"
    assert female["Left knee moved inward after landing"]["status"] == "out"      # 11.0 against 10.6
    v = summary_view(summary, list(enumerate(jumps, 1)), th, "female",
                     picture_url=lambda attempt, flagged: f"/p/{attempt}/{'-'.join(flagged)}")
    assert v["flagged"] == ["left"] and v["words"].startswith("Your left knee moved inward")
    assert v["picture"]["url"] == "/p/2/left" and "ring marks the knee" in v["picture"]["caption"]


def test_fault_screen_and_healthz(env) -> None:
    app, client, rt, store, token = env
    post(client, "/station/check-in", token, {"number": "17", "consent": True})
    h = client.get("/healthz", environ_base=REMOTE)
    assert h.status_code == 200 and h.get_json()["status"] == "ok" and "Alice" not in h.get_data(as_text=True)
    rt._apply(Fault("camera", "camera: no frames for 2 s"))
    v = client.get("/station/state").get_json()
    assert v["fault"]["kind"] == "camera" and "camera" in v["fault"]["title"].lower()
    h = client.get("/healthz", environ_base=REMOTE)
    assert h.status_code == 503 and h.get_json()["status"] == "fault"
    assert "Alice" not in h.get_data(as_text=True)
    rt._apply(FaultCleared("camera"))
    assert client.get("/station/state").get_json()["fault"] is None
    assert client.get("/healthz").status_code == 200


def test_preview_passes_latest_jpeg_or_204(env) -> None:
    app, client, rt, *_ = env
    assert client.get("/station/preview.jpg").status_code == 204
    rt.preview = b"\xff\xd8jpeg\xff\xd9"
    r = client.get("/station/preview.jpg")
    assert r.status_code == 200 and r.data == rt.preview and r.headers["Cache-Control"] == "no-store"


def test_events_stream_sends_the_current_state_then_changes(env) -> None:
    app, client, rt, store, token = env
    resp = client.get("/station/events?since=-1", buffered=False)
    chunks = iter(resp.response)
    first = ""
    while "event: state" not in first:
        first = next(chunks).decode()
    data = json.loads(first.split("data: ", 1)[1].split("\n")[0])
    assert data["state"] == "idle"
    threading.Timer(0.05, lambda: rt.check_in({"id": 3, "display_name": "Bob Third"})).start()
    nxt = ""
    while "event: state" not in nxt:
        nxt = next(chunks).decode()
    assert json.loads(nxt.split("data: ", 1)[1].split("\n")[0])["state"] == "ready"
    resp.close()


def test_freeze_frame_labels_sit_on_the_athletes_own_side() -> None:
    from kiosk.keypoints import KP
    from kiosk.overlay import LEFT_COLOR, RIGHT_COLOR
    from kiosk.web.station.media import annotate_peak

    img = np.zeros((480, 640, 3), np.uint8)
    kps = np.zeros((17, 3), np.float32)
    # Frontal, unmirrored: the athlete's left leg is on the image's right.
    # Strong valgus: each knee has crossed the body's midline (x = 320) toward the other side.
    for side, x in (("left", 360), ("right", 280)):
        kps[KP[f"{side}_hip"]] = (x, 200, 0.9)
        kps[KP[f"{side}_knee"]] = (x - 100 if side == "left" else x + 100, 300, 0.9)
        kps[KP[f"{side}_ankle"]] = (x + 40 if side == "left" else x - 40, 400, 0.9)
    out = annotate_peak(img, kps, {"left": 12.0, "right": 12.0})
    bare = annotate_peak(img, kps, {"left": None, "right": None})     # "L"/"R" only: the angle text differs
    changed = np.abs(out.astype(int) - bare.astype(int)).sum(axis=2) > 0

    def label_x(color: tuple[int, int, int]) -> float:
        near = (np.abs(out.astype(int) - color).sum(axis=2) < 40) & changed
        assert near.sum() > 30, f"no label text in colour {color}"
        return float(np.nonzero(near)[1].mean())

    # the athlete's left (orange) is labelled on the image's right, outside the body; right on the left
    assert label_x(LEFT_COLOR) > 370
    assert label_x(RIGHT_COLOR) < 270


def test_demo_config_uses_replay_and_simulated_mat() -> None:
    from kiosk.commands.serve import demo_config

    cfg = demo_config(config_from_dict({}), Path("demo/demo-1-good/clip.mp4"))
    assert cfg.camera.source == "replay" and cfg.camera.replay_path.endswith("clip.mp4") and cfg.mat.kind == "simulated"


def _record(attempt: int, verdict: str, result: dict):
    """A TrialRecord as the runtime hands it over: a frame and its pose at the peak."""
    from kiosk.keypoints import KP, PoseFrame
    from kiosk.media import Frame
    from kiosk.station.trial_scoring import TrialRecord

    kps = np.zeros((17, 3), np.float32)
    for side, x in (("left", 360), ("right", 280)):
        kps[KP[f"{side}_hip"]] = (x, 200, 0.9)
        kps[KP[f"{side}_knee"]] = (x - 30 if side == "left" else x + 30, 300, 0.9)
        kps[KP[f"{side}_ankle"]] = (x, 400, 0.9)
    image = np.full((480, 640, 3), 90, np.uint8)
    return TrialRecord(athlete={"id": 1}, attempt=attempt, verdict=verdict, result=result, mat_edges=None,
                       poses=[PoseFrame(7, 0.61, kps)], frames=[Frame(7, 0.61, image)], wall_time=0.0)


def test_summary_picture_only_once_the_session_is_complete(env) -> None:
    app, client, rt, store, token = env
    post(client, "/station/check-in", token, {"number": "17", "consent": True})
    for attempt, disp in enumerate((12.0, 13.0, 2.0), 1):
        result = trial_json("FLAG" if disp > 10 else "PASS", disp)
        result["legs"]["right"]["valgus_displacement"] = 1.0
        rt.last_record = _record(attempt, result["verdict"], result)
        rt.finish(result["verdict"], disp, result)
        v = client.get("/station/state").get_json()      # the page follows every jump (SSE)
        if attempt < 3:
            assert v["summary"] is None and client.get(f"/station/summary/{attempt}/freeze.jpg").status_code == 404
    s = v["summary"]
    assert s["verdict"] == "FLAG" and s["flagged"] == ["left"]
    assert s["picture"]["url"] == "/station/summary/1/freeze.jpg?ring=left"     # the middle jump (12 of 12, 13, 2), left knee ringed
    r = client.get(s["picture"]["url"])
    assert r.status_code == 200 and r.data[:2] == b"\xff\xd8"
    plain = client.get("/station/summary/1/freeze.jpg")
    assert plain.status_code == 200 and plain.data != r.data                   # the ring is drawn
    post(client, "/station/cancel", token)
    assert client.get(s["picture"]["url"]).status_code == 404                  # gone with the visit


def test_flagged_knee_is_ringed_on_the_athletes_own_side() -> None:
    from kiosk.keypoints import KP
    from kiosk.web.station.media import annotate_peak

    img = np.zeros((480, 640, 3), np.uint8)
    kps = np.zeros((17, 3), np.float32)
    for side, x in (("left", 360), ("right", 280)):
        kps[KP[f"{side}_hip"]] = (x, 200, 0.9)
        kps[KP[f"{side}_knee"]] = (x, 300, 0.9)
        kps[KP[f"{side}_ankle"]] = (x, 400, 0.9)
    plain = annotate_peak(img, kps, {"left": 12.0, "right": 3.0})
    ringed = annotate_peak(img, kps, {"left": 12.0, "right": 3.0}, flagged=("left",))
    changed = np.nonzero(np.abs(ringed.astype(int) - plain.astype(int)).sum(axis=2) > 0)
    # the ring sits around the athlete's left knee (the image's right of the two knees; its label
    # box, drawn over the ring's outer side, pulls the changed pixels' centre a little inward)
    assert abs(float(changed[1].mean()) - 360) < 15 and abs(float(changed[0].mean()) - 300) < 15
    assert float(changed[1].min()) > 320
