"""Who is asking: a logged-in coach, the station's own touchscreen, an API token, or nobody.

The model is OctoPrint's: the touchscreen browser on the station itself (a request from
localhost) is a limited *kiosk* identity for the station pages; everyone else logs in. Coach
pages need a coach login everywhere, localhost included, because the touchscreen stands in a
public gym. The JSON API takes a per-coach bearer token instead of the cookie.

Every state-changing request (POST/PUT/PATCH/DELETE) must carry the session's CSRF token in a
``csrf_token`` form field or an ``X-CSRF-Token`` header; templates get it from ``csrf_token()``.
Bearer-token API calls are exempt: they carry no cookie a third-party page could ride on.
Logins are rate limited per username and address, recorded in the database so a restart does
not reset the count; each attempt is booked before its password is checked, so parallel guesses
get no extra tries. The signed cookie holds only the id of a server-side session
(``coach_sessions``), which logout, a password change and deleting the coach remove.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface

from kiosk.errors import DiskFullError

F = TypeVar("F", bound=Callable[..., Any])

LOCAL_ADDRESSES = ("127.0.0.1", "::1", "::ffff:127.0.0.1")
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
CSRF_FAILED = "The form expired or did not come from this station. Reload the page and try again."


class SessionInterface(SecureCookieSessionInterface):
    """Signed cookie session whose cookie is marked Secure whenever the request came over https."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


def init_app(app: Flask) -> None:
    app.session_interface = SessionInterface()
    app.config.update(SESSION_COOKIE_NAME="jumpkiosk_session", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax")
    app.before_request(check_csrf)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["current_coach"] = current_coach


# --- CSRF -----------------------------------------------------------------------------------

def csrf_token() -> str:
    """The session's CSRF token (made on first use)."""
    token = session.get("_csrf")
    if not token:
        token = session["_csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_exempt(view: F) -> F:
    """Mark a view that authenticates every request itself (never by cookie)."""
    view._csrf_exempt = True  # type: ignore[attr-defined]
    return view


def check_csrf() -> None:
    """Abort with 400 unless an unsafe request carries the session's CSRF token (runs before every request)."""
    if request.method not in UNSAFE_METHODS:
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and getattr(view, "_csrf_exempt", False):
        return
    if bearer_token() and request.blueprint == "api":
        return
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("_csrf") or ""
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(400, CSRF_FAILED)


# --- identities -----------------------------------------------------------------------------

#: Headers a reverse proxy adds; the station's own browser never sends them.
PROXY_HEADERS = ("X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-IP", "Forwarded")


def is_local_request() -> bool:
    """The request came from the station itself (its touchscreen browser).

    A loopback peer is not enough: a reverse proxy on the same machine is a loopback peer too,
    and would make every LAN client the kiosk. A request that carries a proxy's forwarding
    header is therefore never local, whatever the header says.
    """
    if (request.remote_addr or "") not in LOCAL_ADDRESSES:
        return False
    return not any(h in request.headers for h in PROXY_HEADERS)


def is_kiosk_request() -> bool:
    """The kiosk identity: the station's own touchscreen (localhost). Station pages use this."""
    return is_local_request()


def current_coach() -> dict | None:
    """The logged-in coach (id, username), or None.

    The cookie names a server-side session; logout, a password change or deleting the coach
    removes that row, so a copy of the cookie taken before is refused from then on.
    """
    if "coach" in g:
        return g.coach
    coach = None
    sid = session.get("sid")
    if isinstance(sid, str):
        from kiosk.web import get_store

        coach = get_store().session_coach(sid)
        if coach is None:
            session.pop("sid", None)
    g.coach = coach
    return coach


def identity() -> str | None:
    """'coach', 'kiosk' (the station's own screen, not logged in) or None."""
    if current_coach():
        return "coach"
    if is_local_request():
        return "kiosk"
    return None


def login_session(coach: dict) -> None:
    """Start a fresh session for the coach (a new cookie and CSRF token: no session fixation)."""
    from kiosk.web import get_store

    session.clear()
    session.permanent = True
    session["sid"] = get_store().open_session(int(coach["id"]), request.remote_addr or "")
    session["_csrf"] = secrets.token_urlsafe(32)
    g.pop("coach", None)


def logout_session() -> None:
    """End the server-side session too, so a copy of the cookie is worthless."""
    sid = session.get("sid")
    if isinstance(sid, str):
        from kiosk.web import get_store

        get_store().close_session(sid)
    session.clear()
    g.pop("coach", None)


def safe_next(target: str | None, default: str) -> str:
    """A post-login redirect that stays on this site (no scheme, no host, no '//')."""
    if not target:
        return default
    if any(ord(c) < 32 or ord(c) == 127 for c in target) or len(target) > 2000:
        return default  # a CR/LF would split the Location header; nobody needs a 2000-character path
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def coach_required(view: F) -> F:
    """Coach pages: a logged-in coach, or a redirect to the login page (from anywhere)."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_coach() is None:
            nxt = request.full_path if request.method == "GET" else None
            return redirect(url_for("coach.login", next=nxt.rstrip("?") if nxt else None))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def station_required(view: F) -> F:
    """Station pages: the touchscreen on localhost or a logged-in coach; anyone else gets 403."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if identity() is None:
            abort(403, "The station screen only answers its own touchscreen. Coaches: log in at /coach.")
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


# --- API tokens -------------------------------------------------------------------------------

def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def token_coach() -> dict | None:
    token = bearer_token()
    if not token:
        return None
    from kiosk.web import get_store

    return get_store().coach_for_token(token)


# --- login with lockout -------------------------------------------------------------------------

def attempt_login(username: str, password: str) -> tuple[dict | None, str]:
    """Check a login, honouring and updating the lockout; returns (coach or None, message)."""
    from kiosk.web import get_store

    store = get_store()
    ip = request.remote_addr or "?"
    username = (username or "").strip()
    if not username or not password:
        return None, "Enter your coach name and password."
    # The attempt is booked (as a failure) before the password is checked, in one transaction
    # with the lock check, so parallel guesses cannot all slip in under the limit.
    try:
        attempt, until = store.reserve_login(username, ip)
    except DiskFullError:  # the store released its space reserve: there is room now
        attempt, until = store.reserve_login(username, ip)
    if attempt is None:
        assert until is not None
        minutes = max(1, int((until - store.clock()).total_seconds() // 60) + 1)
        return None, f"Too many failed logins. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
    coach = store.authenticate(username, password[:1024])
    if coach is None:
        return None, "Wrong coach name or password."
    store.login_succeeded(attempt)
    return coach, ""
