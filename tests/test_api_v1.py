"""JSON API v1 with a per-coach bearer token: filters, shapes, errors, token rotation."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from kiosk.store.sample import result_json

DAY = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


@pytest.fixture()
def api(client, store):
    store.create_coach("anna", "correct horse battery")
    token = store.new_token("anna")
    rng = random.Random(7)
    a = store.add_athlete("Zoë O'Brien", athlete_number="7", team="U16", sex="female")
    b = store.add_athlete("李小龍", team="U18")
    for aid, offset in ((a, 0), (b, 1), (a, 24)):
        sid = store.start_session(aid, "Gym", started_at=DAY + timedelta(hours=offset))
        for k in range(3):
            store.save_trial(sid, result_json(rng, retake=k == 2), {"replay.mp4": b"x"},
                             recorded_at=DAY + timedelta(hours=offset, seconds=k))
        store.end_session(sid, "PASS", {"note": "x"}, ended_at=DAY + timedelta(hours=offset, minutes=3))

    def get(url: str, **kw):
        return client.get(url, headers={"Authorization": f"Bearer {token}"}, **kw)

    return get, a, b, store


def test_trials_of_a_day_with_filters(api) -> None:
    get, a, b, store = api
    body = get("/api/v1/trials?date=2026-11-21").get_json()
    assert body["count"] == 6 and body["start"] == "2026-11-21T00:00:00.000000Z"
    t = body["trials"][0]
    assert t["athlete"] == {"id": a, "display_name": "Zoë O'Brien", "athlete_number": "7", "team": "U16",
                            "sex": "female", "birth_year": None}
    assert t["metrics"] == store.get_trial(t["id"])["metrics"] and set(t["metrics"]["legs"]) == {"left", "right"}
    assert t["media"]["replay.mp4"].startswith("http://localhost/coach/media/2026/11/21/")
    assert get(f"/api/v1/trials?date=2026-11-21&athlete={b}").get_json()["count"] == 3
    assert get("/api/v1/trials?date=2026-11-21&team=U16").get_json()["count"] == 3
    assert get("/api/v1/trials?date=2026-11-21&verdict=retake").get_json()["count"] == 2
    assert get("/api/v1/trials?from=2026-11-21&to=2026-11-22").get_json()["count"] == 9
    assert get(f"/api/v1/trials/{t['id']}").get_json()["id"] == t["id"]


def test_sessions_athletes_and_errors(api) -> None:
    get, a, b, _ = api
    sessions = get("/api/v1/sessions?date=2026-11-21").get_json()["sessions"]
    assert [s["athlete"]["display_name"] for s in sessions] == ["Zoë O'Brien", "李小龍"]
    assert sessions[0]["trials"] == 3 and sessions[0]["valid_trials"] == 2 and sessions[0]["summary"] == {"note": "x"}
    assert isinstance(sessions[0]["medians"]["rsi"], float)
    assert [x["display_name"] for x in get("/api/v1/athletes").get_json()["athletes"]] == ["Zoë O'Brien", "李小龍"]
    assert len(get(f"/api/v1/athletes/{a}/trials").get_json()["trials"]) == 6
    for url, code in [("/api/v1/trials?date=21.11.2026", 400), ("/api/v1/trials?verdict=maybe", 400),
                      ("/api/v1/trials/999", 404), ("/api/v1/athletes/999", 404), ("/api/v1/athletes/999/trials", 404),
                      ("/api/v1/trials?athlete=abc", 400)]:
        r = get(url)
        assert r.status_code == code and isinstance(r.get_json()["error"], str), url
    assert get("/api/v1/trials").headers["Cache-Control"] == "no-store"


def test_new_token_revokes_the_old_one(api, client) -> None:
    get, _, _, store = api
    assert get("/api/v1/athletes").status_code == 200
    fresh = store.new_token("anna")
    assert get("/api/v1/athletes").status_code == 401
    assert client.get("/api/v1/athletes", headers={"Authorization": f"bearer {fresh}"}).status_code == 200


def test_a_trial_names_the_limit_that_applied_and_the_thresholds_in_force(client, store) -> None:
    from test_analysis_build import Jump, frames, mat

    from kiosk.analysis import analyze_trial

    store.create_coach("ben", "correct horse battery")
    token = store.new_token("ben")
    aid = store.add_athlete("Kai", birth_year=2012)
    sid = store.start_session(aid, "Gym", started_at=DAY)
    j = Jump()
    tid = store.save_trial(sid, analyze_trial(frames(j), mat(j), age=14).to_json(), recorded_at=DAY)
    t = client.get(f"/api/v1/trials/{tid}", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert t["limit"]["peak_fppa_deg"] == 13.0
    assert t["limit"]["why"] == ("sex not recorded: the female range (up to 13°) was used, the more lenient of the two; "
                                 "adult reference range: under 18")
    assert t["scoring"]["thresholds"]["valgus_displacement_deg"] == 10.6 and t["scoring"]["version"] == t["scoring_version"]


def test_sessions_carry_what_the_coach_pages_show(api) -> None:
    get, a, _, store = api
    s = get("/api/v1/sessions?from=2026-11-21&to=2026-11-22&athlete=" + str(a)).get_json()["sessions"]
    assert len(s) == 2 and s[0]["previous_verdict"] is None and s[1]["previous_verdict"] == "PASS"
    assert set(s[1]["leg_medians"]) == {"left", "right"} and s[1]["limits"]["stored"] is False
    assert s[1]["change_since_previous"]["left_valgus_displacement_deg"] == pytest.approx(
        s[1]["leg_medians"]["left"]["valgus_displacement_deg"] - s[0]["leg_medians"]["left"]["valgus_displacement_deg"],
        abs=0.01)
    assert isinstance(s[0]["findings"], list) and s[0]["borderline"] in (True, False)


def test_prefer_not_to_say_is_shown_as_the_answer(api) -> None:
    get, _, b, store = api
    store.update_athlete(b, sex="prefer not to say")
    assert get(f"/api/v1/athletes/{b}").get_json()["sex"] == "prefer_not_to_say"
    trials = get(f"/api/v1/trials?date=2026-11-21&athlete={b}").get_json()["trials"]
    assert {t["athlete"]["sex"] for t in trials} == {"prefer_not_to_say"}
