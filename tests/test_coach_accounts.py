"""Accounts that can be revoked: server-side sessions end at logout, password change and coach
deletion (a copied cookie is refused afterwards, API tokens too), ids are never reused, and the
lockout holds under parallel guesses."""

from __future__ import annotations

import threading

from conftest import COACH_PASSWORD, csrf_from

LAN = {"REMOTE_ADDR": "192.168.1.50"}
HTTPS = "https://station.local"  # LAN browsers reach the coach pages over HTTPS
COOKIE = "jumpkiosk_session"


def _login(app, username: str = "anna", password: str = COACH_PASSWORD):
    """A fresh client logged in as ``username``; returns (client, CSRF token, the raw cookie value)."""
    c = app.test_client()
    token = csrf_from(c.get("/coach/login").get_data(as_text=True))
    r = c.post("/coach/login", data={"username": username, "password": password, "csrf_token": token})
    assert r.status_code == 302, r.get_data(as_text=True)
    page = c.get("/coach/roster")
    assert page.status_code == 200
    return c, csrf_from(page.get_data(as_text=True)), c.get_cookie(COOKIE).value


def _with_cookie(app, value: str):
    """Another browser that replays a captured cookie."""
    c = app.test_client()
    c.set_cookie(COOKIE, value)
    return c


def _logged_in(client) -> bool:
    r = client.get("/coach/roster")
    return r.status_code == 200 and "Roster" in r.get_data(as_text=True)


def test_cookie_captured_before_logout_is_refused_after(app, store) -> None:
    store.create_coach("anna", COACH_PASSWORD)
    c, csrf, captured = _login(app)
    assert _logged_in(_with_cookie(app, captured))
    assert c.post("/coach/logout", data={"csrf_token": csrf}).status_code == 302
    replay = _with_cookie(app, captured)
    r = replay.get("/coach/roster")
    assert r.status_code == 302 and r.headers["Location"].startswith("/coach/login")
    assert not _logged_in(replay)


def test_password_change_ends_every_session_and_the_api_token(app, store) -> None:
    store.create_coach("anna", COACH_PASSWORD)
    _, _, captured = _login(app)
    _, _, other_browser = _login(app)
    api_token = store.new_token("anna")
    headers = {"Authorization": f"Bearer {api_token}"}
    assert app.test_client().get("/api/v1/athletes", headers=headers).status_code == 200
    store.set_password("anna", "a brand new password")
    assert not _logged_in(_with_cookie(app, captured))
    assert not _logged_in(_with_cookie(app, other_browser))
    assert app.test_client().get("/api/v1/athletes", headers=headers).status_code == 401
    _login(app, password="a brand new password")


def test_own_password_change_on_the_account_page(app, store) -> None:
    store.create_coach("anna", COACH_PASSWORD)
    _, _, elsewhere = _login(app)
    c, csrf, before = _login(app)
    api_token = store.new_token("anna")
    r = c.post("/coach/account", data={"csrf_token": csrf, "current": "wrong one", "new": "another long one",
                                        "again": "another long one"})
    assert r.status_code == 400 and _logged_in(_with_cookie(app, elsewhere))
    r = c.post("/coach/account", data={"csrf_token": csrf, "current": COACH_PASSWORD, "new": "another long one",
                                        "again": "another long one"})
    assert r.status_code == 302
    assert _logged_in(c)  # this browser got a new session
    assert c.get_cookie(COOKIE).value != before
    assert not _logged_in(_with_cookie(app, before)) and not _logged_in(_with_cookie(app, elsewhere))
    assert app.test_client().get("/api/v1/athletes", headers={"Authorization": f"Bearer {api_token}"}).status_code == 401


def test_deleted_coach_cookie_and_token_are_refused_and_ids_are_not_reused(app, store) -> None:
    store.create_coach("anna", COACH_PASSWORD)
    first = store.list_coaches()[0]["id"]
    _, _, captured = _login(app)
    api_token = store.new_token("anna")
    store.delete_coach("anna")
    store.create_coach("bert", COACH_PASSWORD)  # with reused ids, bert would take anna's id
    assert store.list_coaches()[0]["id"] != first
    replay = _with_cookie(app, captured)
    assert not _logged_in(replay)
    assert app.test_client().get("/api/v1/athletes", headers={"Authorization": f"Bearer {api_token}"}).status_code == 401
    store.create_coach("anna", COACH_PASSWORD)  # the same name again is a new account
    assert not _logged_in(_with_cookie(app, captured))


def test_twenty_parallel_wrong_guesses_lock_the_account(app, store) -> None:
    store.create_coach("anna", COACH_PASSWORD)
    clients = []
    for _ in range(20):
        c = app.test_client()
        clients.append((c, csrf_from(c.get("/coach/login", environ_base=LAN, base_url=HTTPS).get_data(as_text=True))))
    start = threading.Barrier(len(clients))
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def guess(c, csrf: str, n: int) -> None:
        start.wait()
        r = c.post("/coach/login", environ_base=LAN, base_url=HTTPS,
                   data={"username": "anna", "password": f"guess number {n}", "csrf_token": csrf})
        with lock:
            answers.append((r.status_code, r.get_data(as_text=True)))

    threads = [threading.Thread(target=guess, args=(c, t, n)) for n, (c, t) in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 20
    checked = sum("Wrong coach name or password" in body for _, body in answers)
    locked = sum("Too many failed logins" in body for _, body in answers)
    throttled = sum(status == 429 for status, _ in answers)  # the per-address login rate limit, if it came first
    assert checked == 5 and locked + throttled == 15, (checked, locked, throttled)
    limiter = app.extensions["rate_limiter"]  # a minute later, past the rate limit but not the 15-minute lock
    real = limiter.clock
    limiter.clock = lambda: real() + 61
    c, csrf = clients[0]
    r = c.post("/coach/login", environ_base=LAN, base_url=HTTPS, data={"username": "anna", "password": COACH_PASSWORD,
                                                                       "csrf_token": csrf})
    assert r.status_code == 401 and "Too many failed logins" in r.get_data(as_text=True)


def test_a_proxy_in_front_does_not_make_clients_the_kiosk(client) -> None:
    assert client.get("/coach/login").status_code == 200
    from kiosk.web import auth

    app = client.application
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        assert auth.is_kiosk_request()
    for header in ("X-Forwarded-For", "X-Real-IP", "Forwarded"):
        with app.test_request_context("/", environ_base={"REMOTE_ADDR": "127.0.0.1"},
                                      headers={header: "127.0.0.1"}):
            assert not auth.is_kiosk_request(), header


def test_the_lockout_is_booked_atomically_in_the_store(store) -> None:
    """20 threads reserve a login for one name and address at once: exactly 5 may check a password."""
    start = threading.Barrier(20)
    got: list[int | None] = []
    lock = threading.Lock()

    def reserve() -> None:
        start.wait()
        attempt, _until = store.reserve_login("anna", "192.168.1.50")
        with lock:
            got.append(attempt)

    threads = [threading.Thread(target=reserve) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(a is not None for a in got) == 5
    assert store.locked_until("anna", "192.168.1.50") is not None


def test_a_session_ends_after_its_lifetime_and_when_idle_however_often_the_cookie_renews(app, store) -> None:
    from datetime import timedelta

    from kiosk.store.accounts import SESSION_IDLE, SESSION_LIFETIME

    store.create_coach("anna", COACH_PASSWORD)
    c, _, captured = _login(app)
    real = store.clock
    try:
        # active every hour: the server-side end does not move
        for hour in range(1, int(SESSION_LIFETIME / timedelta(hours=1))):
            store.clock = lambda h=hour: real() + timedelta(hours=h)
            assert _logged_in(c), hour
        store.clock = lambda: real() + SESSION_LIFETIME + timedelta(minutes=1)
        assert not _logged_in(c) and not _logged_in(_with_cookie(app, captured))
        store.clock = real
        c2, _, _ = _login(app)
        store.clock = lambda: real() + SESSION_IDLE + timedelta(minutes=1)
        assert not _logged_in(c2)  # idle too long
    finally:
        store.clock = real
