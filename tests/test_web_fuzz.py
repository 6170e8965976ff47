"""Malformed numbers and dates are a 400, never a 500: every route of the app, with huge, negative,
fractional, non-numeric and out-of-range values in its path, query and JSON; a CRLF in ``next=``;
a 200 KB CSV field; oversized and over-counted forms refused before they are parsed."""

from __future__ import annotations

import io
import itertools

import pytest

from kiosk.config import config_from_dict
from kiosk.station.camera import SyntheticCamera
from kiosk.station.mat import SimulatedMat
from kiosk.station.runtime import StationRuntime
from kiosk.web import create_app

ODD_INTS = ["0", "-1", "9" * 30, str(2**63), "1e308", "nan", "0x10", "1.5", "%00", "٣"]
ODD_DATES = ["0000-01-01", "0001-01-01", "9999-12-31", "2026-02-30", "2026-13-01", "99999-01-01", "-1", "1e308",
             "2026-1-1", "today\r\nX: y", "x" * 300]
QUERY_KEYS = ["date", "from", "to", "day", "start", "end", "year", "month", "since", "limit", "offset", "page",
              "athlete_id", "athlete", "session_id", "trial_id", "verdict", "team", "q", "bom", "n", "days", "ring"]


@pytest.fixture()
def station_app(tmp_path):
    cfg = config_from_dict({"station": {"state_dir": str(tmp_path / "state"), "name": "Fuzz", "timezone": "UTC"},
                            "web": {"secret_key": "f" * 40}})
    rt = StationRuntime(SyntheticCamera(160, 120, 30, render=lambda seed: ([], [])), SimulatedMat([]), None,
                        lambda *a, **k: None)
    app = create_app(cfg, rt)
    app.config["TESTING"] = False          # a view's exception must become a 500 here, as when served
    app.config["PROPAGATE_EXCEPTIONS"] = False
    yield app
    app.extensions["kiosk_store"].close()


def _login(app, client) -> str:
    from conftest import COACH_PASSWORD, csrf_from

    store = app.extensions["kiosk_store"]
    store.create_coach("fuzz", COACH_PASSWORD)
    aid = store.add_athlete("Fuzz Athlete", athlete_number="7")
    store.start_session(aid, "Fuzz")
    token = csrf_from(client.get("/coach/login").get_data(as_text=True))
    r = client.post("/coach/login", data={"username": "fuzz", "password": COACH_PASSWORD, "csrf_token": token})
    assert r.status_code == 302
    return csrf_from(client.get("/coach/roster").get_data(as_text=True))


def _urls(app) -> list[tuple[str, set[str]]]:
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or "static" in rule.endpoint:
            continue
        args = sorted(rule.arguments)
        choices = []
        for name in args:
            conv = rule._converters.get(name)  # noqa: SLF001 - werkzeug keeps them here
            kind = type(conv).__name__ if conv is not None else ""
            choices.append(["1", "9" * 30] if "Integer" in kind else ["freeze"])
        for combo in itertools.product(*choices) if choices else [()]:
            url = rule.rule
            for name, value in zip(args, combo, strict=True):
                url = url.replace(f"<{name}>", value)
                url = url.replace(f"<int:{name}>", value).replace(f"<path:{name}>", value)
            out.append((url, set(rule.methods or ())))
    return out


def test_no_route_answers_500_to_odd_numbers_and_dates(station_app) -> None:
    client = station_app.test_client()
    csrf = _login(station_app, client)
    token = station_app.extensions["kiosk_store"].new_token("fuzz")
    failures = []
    for url, methods in _urls(station_app):
        # the API answers its bearer token only; everything else rides the coach's cookie
        client.environ_base.pop("HTTP_AUTHORIZATION", None)
        if url.startswith("/api/"):
            client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        if "GET" in methods and not url.endswith("/events"):
            # Every parameter at once with one odd value, then each date parameter on its own
            # (a 400 for one must not hide a 500 for another).
            queries = [dict.fromkeys(QUERY_KEYS, v) for v in ODD_INTS + ODD_DATES]
            queries += [{k: v} for k in ("date", "from", "to") for v in ODD_DATES]
            queries += [{"from": "2026-01-01", "to": v} for v in ODD_DATES]
            for query in queries:
                r = client.get(url, query_string=query)
                if r.status_code >= 500:
                    failures.append(f"GET {url}?{query} -> {r.status_code}")
                r.close()
        if "POST" in methods and "logout" not in url:
            for value in ODD_INTS + ODD_DATES[:4]:
                for body in ({"athlete_id": value}, {"number": value}, {"birth_year": value}, {"trials": value}):
                    r = client.post(url, data={**body, "csrf_token": csrf})
                    if r.status_code >= 500:
                        failures.append(f"POST {url} form {body!r} -> {r.status_code}")
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    assert client.get("/api/v1/athletes").status_code == 200  # the API was reached, not refused at the door
    assert failures == [], "\n".join(failures[:40])


@pytest.mark.parametrize("value", [1e308, -1e308, 10**30, 2**63, "9" * 30, float("inf"), True, [], {}, "1e308",
                                   -1, 0.5])
def test_check_in_json_with_odd_athlete_ids_is_400(station_app, value) -> None:
    client = station_app.test_client()
    with client.session_transaction() as sess:
        sess["_csrf"] = "t" * 43
    import json

    body = json.dumps({"consent": True, "athlete_id": value}, allow_nan=True)
    r = client.post("/station/check-in", data=body, content_type="application/json", headers={"X-CSRF-Token": "t" * 43})
    assert 400 <= r.status_code < 500, (value, r.status_code, r.get_data(as_text=True)[:200])


@pytest.mark.parametrize("nxt", ["/coach\r\nSet-Cookie: x=1", "/coach%0d%0aX: 1", "\r\n", "/\x00", "//evil.example",
                                 "/coach/" + "a" * 5000])
def test_login_next_with_crlf_or_junk_is_never_a_500(station_app, nxt: str) -> None:
    from conftest import COACH_PASSWORD, csrf_from

    client = station_app.test_client()
    station_app.extensions["kiosk_store"].create_coach("anna", COACH_PASSWORD)
    page = client.get("/coach/login", query_string={"next": nxt})
    assert page.status_code < 500
    token = csrf_from(client.get("/coach/login").get_data(as_text=True))
    r = client.post("/coach/login", query_string={"next": nxt},
                    data={"username": "anna", "password": COACH_PASSWORD, "csrf_token": token, "next": nxt})
    assert r.status_code in (302, 303)
    location = r.headers["Location"]
    assert "\r" not in location and "\n" not in location and "evil" not in location


def test_roster_csv_with_a_200_kb_field_is_refused_with_a_message(station_app) -> None:
    client = station_app.test_client()
    csrf = _login(station_app, client)
    text = "display_name,notes\nAva,\"" + "x" * 200_000 + "\"\n"
    r = client.post("/coach/roster/import", data={"csrf_token": csrf, "file": (io.BytesIO(text.encode()), "r.csv")},
                    content_type="multipart/form-data", follow_redirects=True)
    assert r.status_code == 400 and "cannot be read" in r.get_data(as_text=True)
    assert "Ava" not in [a["display_name"] for a in station_app.extensions["kiosk_store"].list_athletes()]


def test_huge_and_many_field_forms_are_refused_before_parsing(station_app) -> None:
    client = station_app.test_client()
    client.environ_base["REMOTE_ADDR"] = "192.0.2.7"  # someone on the LAN
    body = "&".join(f"f{i}=1" for i in range(700_000)).encode()
    r = client.post("/coach/login", data=body, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 413
    # Under the size limit but over the rate limit for POSTs without a coach session.
    codes = [client.post("/coach/roster", data={"a": "1"}).status_code for _ in range(40)]
    assert 429 in codes and all(c < 500 for c in codes)
    logins = [client.post("/coach/login", data={"username": "x", "password": "y"}).status_code for _ in range(15)]
    assert logins.count(429) >= 5


def test_many_small_fields_under_the_size_limit_are_refused_before_parsing(station_app) -> None:
    client = station_app.test_client()
    client.environ_base["REMOTE_ADDR"] = "192.0.2.8"
    body = "&".join(f"f{i}=" for i in range(5000)).encode()  # 39 KB: under the size limit
    assert len(body) < 64 * 1024
    r = client.post("/coach/login", data=body, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 413 and "too many fields" in r.get_data(as_text=True)
