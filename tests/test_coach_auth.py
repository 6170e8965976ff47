"""Nobody sees results without logging in: every /coach and /api route (enumerated from the
app's URL map, so new routes are covered automatically), CSRF, lockout, cookies, redirects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import COACH_PASSWORD, csrf_from

from kiosk.store.sample import seed
from kiosk.web import create_app

LOCAL = {"REMOTE_ADDR": "127.0.0.1"}
LAN = {"REMOTE_ADDR": "192.168.1.50"}
HTTPS = "https://station.local"
PUBLIC_ENDPOINTS = {"coach.login"}


def _routes(app, prefix: str) -> list[tuple[str, str, str]]:
    """(endpoint, concrete URL, method) for every route under ``prefix``."""
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(prefix) or rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        values = {arg: ("2026/11/21/aaaaaaaaaaaa-replay.mp4" if arg == "relpath" else 1) for arg in rule.arguments}
        with app.test_request_context():
            from flask import url_for

            url = url_for(rule.endpoint, **values)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, url, method))
    return out


@pytest.mark.parametrize("environ", [LAN, LOCAL], ids=["lan", "localhost"])
def test_every_coach_route_needs_a_login(app, client, store, environ) -> None:
    seed(store, athletes=2, sessions_per_athlete=1, start=datetime.now(UTC))
    routes = _routes(app, "/coach")
    assert len(routes) >= 15
    base = "https://station.local" if environ is LAN else "http://localhost"  # the LAN reaches coach pages over HTTPS
    token = csrf_from(client.get("/coach/login", environ_base=environ, base_url=base).get_data(as_text=True))
    for endpoint, url, method in routes:
        r = client.open(url, method=method, environ_base=environ, data={"csrf_token": token}, base_url=base)
        assert r.status_code == 302, (endpoint, method, r.status_code)
        assert r.headers["Location"].startswith("/coach/login"), endpoint
        body = r.get_data(as_text=True)
        assert "Athlete 001" not in body


def test_every_api_route_needs_a_token(app, client, store, coach) -> None:
    routes = _routes(app, "/api")
    assert len(routes) >= 6
    for endpoint, url, method in routes:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic YW5uYTp4"}):
            r = client.open(url, method=method, headers=headers)  # the client is logged in by cookie: not enough
            assert r.status_code == 401, (endpoint, headers)
            assert r.headers["WWW-Authenticate"].startswith("Bearer") and "error" in r.get_json()
    token = store.new_token("anna")
    assert client.get("/api/v1/athletes", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_login_logout_and_safe_next(client, store) -> None:
    store.create_coach("anna", COACH_PASSWORD)
    token = csrf_from(client.get("/coach/login").get_data(as_text=True))
    r = client.post("/coach/login", data={"username": "anna", "password": COACH_PASSWORD, "csrf_token": token,
                                          "next": "//evil.example/x"})
    assert r.status_code == 302 and r.headers["Location"] == "/coach/"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    new_token = csrf_from(client.get("/coach/").get_data(as_text=True))
    assert new_token != token  # a new session at login: nothing planted before it survives
    assert client.post("/coach/logout", data={"csrf_token": new_token}).status_code == 302
    assert client.get("/coach/").status_code == 302


def test_next_is_followed_when_local(client, store) -> None:
    store.create_coach("anna", COACH_PASSWORD)
    r = client.get("/coach/roster?team=U16")
    assert r.headers["Location"] == "/coach/login?next=/coach/roster?team%3DU16"
    token = csrf_from(client.get(r.headers["Location"]).get_data(as_text=True))
    r = client.post("/coach/login", data={"username": "anna", "password": COACH_PASSWORD, "csrf_token": token,
                                          "next": "/coach/roster?team=U16"})
    assert r.headers["Location"] == "/coach/roster?team=U16"


def test_cookie_is_secure_over_https(app, store) -> None:
    store.create_coach("anna", COACH_PASSWORD)
    c = app.test_client()
    token = csrf_from(c.get("/coach/login", base_url="https://station.local").get_data(as_text=True))
    r = c.post("/coach/login", base_url="https://station.local",
               data={"username": "anna", "password": COACH_PASSWORD, "csrf_token": token})
    assert r.status_code == 302 and "Secure" in r.headers["Set-Cookie"]


def test_csrf_is_enforced_on_every_form(client, store, coach) -> None:
    for url, data in [("/coach/roster", {"display_name": "X"}), ("/coach/settings", {"session.trials": "4"}),
                      ("/coach/settings/reset", {}), ("/coach/logout", {})]:
        assert client.post(url, data=data).status_code == 400, url
        assert client.post(url, data={**data, "csrf_token": "wrong" + coach}).status_code == 400, url
        assert client.post(url, data=data, headers={"X-CSRF-Token": "nope"}).status_code == 400, url
    assert store.list_athletes() == [] and store.get_settings() == {}
    assert client.get("/coach/").status_code == 200  # still logged in: logout was refused too
    assert client.post("/coach/roster", data={"display_name": "X", "csrf_token": coach}).status_code == 302
    # the login form itself is protected (no login CSRF)
    other = client.application.test_client()
    assert other.post("/coach/login", data={"username": "anna", "password": COACH_PASSWORD}).status_code == 400


def test_login_locks_out_after_five_failures(app, store) -> None:
    store.create_coach("anna", COACH_PASSWORD)
    c = app.test_client()
    token = csrf_from(c.get("/coach/login", environ_base=LAN, base_url=HTTPS).get_data(as_text=True))

    def login(password: str, environ: dict = LAN, client=c, csrf=token):
        return client.post("/coach/login", environ_base=environ, base_url=HTTPS,
                           data={"username": "anna", "password": password, "csrf_token": csrf})

    for _ in range(5):
        r = login("wrong password")
        assert r.status_code == 401 and "Wrong coach name or password" in r.get_data(as_text=True)
    r = login(COACH_PASSWORD)
    assert r.status_code == 401 and "Too many failed logins" in r.get_data(as_text=True)
    # the lock is in the database: a restarted app still refuses
    app2 = create_app(app.config["KIOSK_CONFIG"], store=store)
    c2 = app2.test_client()
    t2 = csrf_from(c2.get("/coach/login", environ_base=LAN, base_url=HTTPS).get_data(as_text=True))
    assert "Too many" in login(COACH_PASSWORD, client=c2, csrf=t2).get_data(as_text=True)
    # another address is not locked
    c3 = app.test_client()
    t3 = csrf_from(c3.get("/coach/login", base_url=HTTPS).get_data(as_text=True))
    assert login(COACH_PASSWORD, environ={"REMOTE_ADDR": "192.168.1.77"}, client=c3, csrf=t3).status_code == 302
    # 15 minutes later the lock has expired
    real = store.clock
    store.clock = lambda: real() + timedelta(minutes=16)
    try:
        assert login(COACH_PASSWORD).status_code == 302
    finally:
        store.clock = real


def test_security_headers_on_coach_pages(client, coach) -> None:
    r = client.get("/coach/")
    assert r.headers["Cache-Control"] == "no-store"
    assert "script-src 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Frame-Options"] == "DENY" and r.headers["X-Content-Type-Options"] == "nosniff"
