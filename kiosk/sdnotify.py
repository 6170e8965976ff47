"""A small sd_notify client: tell systemd the station is up, alive, and what it is doing.

``jumpkiosk.service`` is ``Type=notify`` with ``WatchdogSec=30``: systemd waits for ``READY=1``
before it counts the start as done, and restarts the service when ``WATCHDOG=1`` stops arriving
(a hung camera read or a deadlocked request thread, not only a crash). This module speaks the
protocol directly (one datagram per message on ``$NOTIFY_SOCKET``) so the kiosk needs no extra
package, and it is a silent no-op when started outside systemd (``$NOTIFY_SOCKET`` unset), so
``jumpkiosk serve`` behaves the same on a laptop.

Integration in a main loop is one object::

    wd = Watchdog()          # reads $NOTIFY_SOCKET and $WATCHDOG_USEC
    wd.ready("serving on :8080")
    while running:
        ...                  # one turn of the loop
        wd.ping()            # sends WATCHDOG=1 at most every interval/2
    wd.stopping()

``status()`` may be called from any thread (the web handlers, the trial state machine).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

from kiosk.errors import KioskError


class NotifyError(KioskError, OSError):
    """``$NOTIFY_SOCKET`` is set but unusable (bad address)."""


def _address(raw: str) -> str | bytes:
    """The socket address for ``$NOTIFY_SOCKET``: a path, or ``@name`` for an abstract socket."""
    if raw.startswith("@"):
        # Linux abstract namespace: a leading NUL byte instead of '@'.
        return b"\0" + raw[1:].encode()
    if raw.startswith("/"):
        return raw
    raise NotifyError(f"NOTIFY_SOCKET={raw!r} is neither a path nor an abstract '@' socket")


def notify(message: str, *, environ: Mapping[str, str] | None = None, timeout: float = 1.0) -> bool:
    """Send one sd_notify message (e.g. ``"READY=1"``); ``False`` when not run by systemd.

    Send errors (systemd gone during shutdown) return ``False`` rather than raise: the watchdog
    must never be the reason the station stops. A datagram send blocks while the receiver's
    queue is full (10 messages by default), so ``timeout`` bounds it: a stuck systemd costs the
    caller at most that long, not the main loop forever.
    """
    env = os.environ if environ is None else environ
    raw = env.get("NOTIFY_SOCKET", "")
    if not raw:
        return False
    addr = _address(raw)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(timeout)
            sock.sendto(message.encode(), addr)
    except OSError:
        return False
    return True


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """The watchdog timeout in seconds from ``$WATCHDOG_USEC``, or ``None`` when there is none.

    ``$WATCHDOG_PID``, when set, names the process meant to ping; any other process (e.g. a
    child that inherited the environment) gets ``None`` so it does not ping on the parent's
    behalf and hide a hang.
    """
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    if not usec:
        return None
    pid = env.get("WATCHDOG_PID", "")
    if pid and pid.strip() != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1e6 if value > 0 else None


class Watchdog:
    """Feeds systemd from a main loop: ``ready()`` once, ``ping()`` every turn, ``status()`` anytime.

    ``ping()`` rate-limits itself to half the watchdog interval (systemd's advice), so calling it
    every loop turn costs one clock read. A lock serialises messages from several threads.
    """

    def __init__(self, environ: Mapping[str, str] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        env = dict(os.environ if environ is None else environ)
        self._env = env
        self._clock = clock
        self._lock = threading.Lock()
        self.enabled = bool(env.get("NOTIFY_SOCKET"))
        if self.enabled:
            _address(env["NOTIFY_SOCKET"])  # refuse a bad address now, not at the first ping
        self.interval = watchdog_interval(env)
        self._last_ping: float | None = None
        self._status = ""

    def _send(self, message: str) -> bool:
        if not self.enabled:
            return False
        with self._lock:
            return notify(message, environ=self._env)

    def ready(self, status: str | None = None) -> bool:
        """Tell systemd start-up is complete (the service counts as started only now)."""
        msg = "READY=1"
        if status:
            self._status = _one_line(status)
            msg += f"\nSTATUS={self._status}"
        sent = self._send(msg)
        self._last_ping = self._clock()
        return sent

    def ping(self, force: bool = False) -> bool:
        """Send ``WATCHDOG=1`` if half the interval has passed since the last one (or ``force``)."""
        if not self.enabled or self.interval is None:
            return False
        now = self._clock()
        if not force and self._last_ping is not None and now - self._last_ping < self.interval / 2:
            return False
        self._last_ping = now
        return self._send("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """Show ``text`` in ``systemctl status`` (only sent when it changes)."""
        line = _one_line(text)
        if line == self._status:
            return False
        self._status = line
        return self._send(f"STATUS={line}")

    def stopping(self, status: str | None = None) -> bool:
        """Tell systemd a clean stop has begun, so a slow shutdown is not taken for a hang."""
        msg = "STOPPING=1"
        if status:
            msg += f"\nSTATUS={_one_line(status)}"
        return self._send(msg)


def _one_line(text: str) -> str:
    """Status text is one line: newlines would start a new ``KEY=`` assignment."""
    return " ".join(text.split())
