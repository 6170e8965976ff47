"""What the station's web server takes from the LAN, so nobody on it can starve the touchscreen.

Two layers, both before any request body is parsed:

- the server (waitress): at most :data:`LAN_PER_ADDRESS` open connections per LAN address and
  :data:`LAN_TOTAL` for the whole LAN, refused at accept; the touchscreen (127.0.0.1 / ::1)
  is never counted against them, so it always gets in. Idle and half-sent requests are closed
  after :data:`SERVER_SETTINGS` ``channel_timeout``; headers and bodies are bounded there too;
- the app (a ``before_request`` hook that runs before the CSRF check reads a form): request
  bodies over :data:`FORM_MAX_BYTES` (:data:`UPLOAD_MAX_BYTES` for the roster upload), and
  urlencoded forms of :data:`MAX_FORM_FIELDS` fields or more (counted on the raw bytes), are
  refused with 413; multipart forms are capped at 500 parts; POSTs are rate limited per address: logins :data:`LOGIN_PER_MINUTE`,
  other POSTs without a coach session :data:`ANON_POST_PER_MINUTE` (429). The kiosk's own
  requests are not rate limited (except logins).

Why no library: Flask-Limiter would bring its storage layer for two counters in one process,
and waitress has no per-address limit; both fit in this module.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from flask import Flask, abort, request, session
from waitress.channel import HTTPChannel

LOCAL = ("127.0.0.1", "::1", "::ffff:127.0.0.1")
LAN_PER_ADDRESS = 8
LAN_TOTAL = 40
#: waitress settings (see its Adjustments): the touchscreen's SSE stream pings every 10 s, so an
#: idle channel_timeout of 20 s never cuts it, and a half-sent request is dropped after it.
SERVER_SETTINGS: dict[str, Any] = {
    "connection_limit": 100,
    "channel_timeout": 20,
    "cleanup_interval": 5,
    "max_request_header_size": 32 * 1024,
    "max_request_body_size": 4 * 1024 * 1024,
    "asyncore_use_poll": True,   # select() cannot watch more than 1024 sockets
}
FORM_MAX_BYTES = 64 * 1024
#: Fields in one urlencoded form, counted on the raw body before parsing (the longest form, the
#: Settings page, has about 25): parsing 30 000 fields costs a Pi core a second.
MAX_FORM_FIELDS = 300
UPLOAD_MAX_BYTES = 4 * 1024 * 1024
UPLOAD_PATHS = ("/coach/roster/import",)
LOGIN_ENDPOINTS = frozenset({"coach.login"})
LOGIN_PER_MINUTE = 10
ANON_POST_PER_MINUTE = 30
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


def is_local(address: str | None) -> bool:
    return (address or "") in LOCAL


class GuardedChannel(HTTPChannel):
    """waitress' channel that refuses (closes at once) a LAN connection over the limits."""

    def __init__(self, server: Any, sock: Any, addr: Any, adj: Any, map: Any = None) -> None:  # noqa: A002
        ip = addr[0] if isinstance(addr, tuple) and addr else ""
        if not is_local(ip):
            mine = lan = 0
            for ch in list((map or {}).values()):
                if isinstance(ch, HTTPChannel) and ch.connected:
                    other = ch.addr[0] if isinstance(ch.addr, tuple) and ch.addr else ""
                    if not is_local(other):
                        lan += 1
                        mine += other == ip
            if mine >= LAN_PER_ADDRESS or lan >= LAN_TOTAL:
                try:
                    sock.close()
                except OSError:
                    pass
                return
        super().__init__(server, sock, addr, adj, map=map)


def guard_server(server: Any) -> None:
    """Use :class:`GuardedChannel` on a waitress server (or each server of a multi-socket one)."""
    for srv in [server, *getattr(server, "map", {}).values()]:
        if hasattr(srv, "channel_class"):
            srv.channel_class = GuardedChannel


class RateLimiter:
    """Sliding one-minute window of request times per (kind, address)."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self._hits: dict[tuple[str, str], deque] = {}
        self._lock = threading.Lock()

    def allow(self, kind: str, address: str, per_minute: int) -> bool:
        now = self.clock()
        with self._lock:
            if len(self._hits) > 10_000:  # many addresses: forget the idle ones
                self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - 60}
            hits = self._hits.setdefault((kind, address), deque())
            while hits and hits[0] <= now - 60:
                hits.popleft()
            if len(hits) >= per_minute:
                return False
            hits.append(now)
            return True


def init_app(app: Flask) -> None:
    """Register the request guard; call before anything that reads request bodies (auth)."""
    limiter = RateLimiter()
    app.extensions["rate_limiter"] = limiter
    app.config.setdefault("MAX_FORM_PARTS", 500)
    app.config.setdefault("MAX_FORM_MEMORY_SIZE", FORM_MAX_BYTES)

    @app.before_request
    def _guard_request() -> None:
        if request.method not in UNSAFE:
            return
        limit = UPLOAD_MAX_BYTES if request.path.startswith(UPLOAD_PATHS) else FORM_MAX_BYTES
        length = request.content_length
        if length is not None and length > limit:
            abort(413, f"The request is too large (over {limit // 1024} KB).")
        if request.mimetype == "application/x-www-form-urlencoded":
            body = request.get_data(cache=True)  # bounded by the limit above; parsed later from the cache
            if body.count(b"&") >= MAX_FORM_FIELDS:
                abort(413, f"The form has too many fields (over {MAX_FORM_FIELDS}).")
        address = request.remote_addr or "?"
        if request.endpoint in LOGIN_ENDPOINTS:
            if not limiter.allow("login", address, LOGIN_PER_MINUTE):
                abort(429, "Too many login attempts from this address: wait a minute and try again.")
            return
        if is_local(address) or session.get("sid") is not None:  # a coach login (kiosk.web.auth)
            return
        if request.headers.get("Authorization", "").lower().startswith("bearer "):
            return  # the API checks the token; a wrong one is refused there
        if not limiter.allow("post", address, ANON_POST_PER_MINUTE):
            abort(429, "Too many requests from this address: wait a minute and try again.")
