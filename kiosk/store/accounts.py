"""Coach accounts: scrypt password hashes, hashed API tokens, and the login lockout record.

Results are personal health data, so nobody on the LAN sees them without an account. Passwords
use ``hashlib.scrypt`` with a per-user random salt (no extra dependency); API tokens are long
random strings, so a plain SHA-256 of them is enough and lets a token be looked up directly.
Failed logins are stored in the database (not in memory) so a restart does not reset a lockout.

Login sessions live here too (``coach_sessions``): the browser's cookie carries only a random
session id whose SHA-256 is the row's key, so logging out, changing the password or deleting
the coach deletes the row and every copy of that cookie stops working at once. A password
change or a deleted coach also ends the API token. Coach ids are never reused (AUTOINCREMENT).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from kiosk.errors import InputError

if TYPE_CHECKING:
    from kiosk.store.db import Store

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1  # ~16 MB, ~50 ms on a Pi 4: slow for guessing, fine for a login
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,39}$")
MIN_PASSWORD = 8
#: Lockout rule: this many failures for one username from one address inside the window lock
#: that pair for LOCK_FOR; an address trying many usernames is locked at IP_MAX_FAILURES.
MAX_FAILURES = 5
IP_MAX_FAILURES = 20
WINDOW = timedelta(minutes=15)
LOCK_FOR = timedelta(minutes=15)
#: A login session ends this long after it began, however active, and after IDLE without a request.
SESSION_LIFETIME = timedelta(hours=12)
SESSION_IDLE = timedelta(hours=2)
#: last_seen_at is written at most this often, so browsing does not write the SD card per request.
_SEEN_EVERY = timedelta(minutes=1)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(want))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


# A real hash to check against when the username is unknown, so both cases take as long.
_DUMMY_HASH = hash_password(secrets.token_hex(8))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InputError(f"the password needs at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise InputError("the password is longer than 1024 characters")


class AccountsMixin:
    """Coach accounts and login attempts; mixed into :class:`kiosk.store.db.Store`."""

    def create_coach(self: Store, username: str, password: str) -> int:
        if not USERNAME.match(username or ""):
            raise InputError("a coach name is 2-40 letters, digits, '.', '_' or '-', starting with a letter or digit")
        validate_password(password)
        with self.tx() as conn:
            if conn.execute("SELECT 1 FROM coaches WHERE username = ?", (username,)).fetchone():
                raise InputError(f"a coach named {username!r} already exists")
            return int(conn.execute("INSERT INTO coaches (username, password_hash, created_at) VALUES (?, ?, ?)",
                                    (username, hash_password(password), self.now_iso())).lastrowid)

    def set_password(self: Store, username: str, password: str) -> None:
        """A new password; every login session and the API token of the coach end with the old one."""
        validate_password(password)
        with self.tx() as conn:
            row = conn.execute("SELECT id FROM coaches WHERE username = ?", (username,)).fetchone()
            if row is None:
                raise InputError(f"no coach named {username!r}")
            conn.execute("UPDATE coaches SET password_hash = ?, password_changed_at = ?, token_hash = NULL, "
                         "token_created_at = NULL WHERE id = ?", (hash_password(password), self.now_iso(), row[0]))
            conn.execute("DELETE FROM coach_sessions WHERE coach_id = ?", (row[0],))

    def delete_coach(self: Store, username: str) -> None:
        """Remove a coach: their sessions and API token go with the row; the id is never given out again."""
        with self.tx() as conn:
            row = conn.execute("SELECT id FROM coaches WHERE username = ?", (username,)).fetchone()
            if row is None:
                raise InputError(f"no coach named {username!r}")
            conn.execute("DELETE FROM coach_sessions WHERE coach_id = ?", (row[0],))
            conn.execute("DELETE FROM coaches WHERE id = ?", (row[0],))

    def get_coach(self: Store, coach_id: int) -> dict | None:
        rows = self.query("SELECT id, username, created_at, token_created_at FROM coaches WHERE id = ?", (coach_id,))
        return dict(rows[0]) if rows else None

    def list_coaches(self: Store) -> list[dict]:
        """Coaches with their open login sessions and when they last used one."""
        now = self.now_iso()
        return [dict(r) for r in self.query(
            "SELECT c.id, c.username, c.created_at, c.token_created_at, c.password_changed_at, "
            "COUNT(s.id_hash) AS sessions, MAX(s.last_seen_at) AS last_seen_at FROM coaches c "
            "LEFT JOIN coach_sessions s ON s.coach_id = c.id AND s.expires_at > ? "
            "GROUP BY c.id ORDER BY c.username", (now,))]

    def authenticate(self: Store, username: str, password: str) -> dict | None:
        """The coach for a correct username and password, else None (constant work either way)."""
        rows = self.query("SELECT id, username, password_hash FROM coaches WHERE username = ?", (username,))
        ok = check_password(password, rows[0]["password_hash"] if rows else _DUMMY_HASH)
        if not rows or not ok:
            return None
        return {"id": rows[0]["id"], "username": rows[0]["username"]}

    def new_token(self: Store, username: str) -> str:
        """A fresh API token for the coach; the previous one stops working. Only its hash is kept."""
        token = "jk_" + secrets.token_urlsafe(32)
        with self.tx() as conn:
            if conn.execute("UPDATE coaches SET token_hash = ?, token_created_at = ? WHERE username = ?",
                            (token_hash(token), self.now_iso(), username)).rowcount == 0:
                raise InputError(f"no coach named {username!r}")
        return token

    # --- login sessions ---------------------------------------------------------------------

    def open_session(self: Store, coach_id: int, address: str = "") -> str:
        """A new login session for the coach; returns the id the cookie carries (only its hash is kept)."""
        sid = secrets.token_urlsafe(32)
        now = self.clock()
        with self.tx() as conn:
            conn.execute("DELETE FROM coach_sessions WHERE expires_at <= ?", (_iso(now),))
            conn.execute("INSERT INTO coach_sessions (id_hash, coach_id, created_at, last_seen_at, expires_at, address) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         (token_hash(sid), coach_id, _iso(now), _iso(now), _iso(now + SESSION_LIFETIME), address[:64]))
        return sid

    def session_coach(self: Store, sid: str) -> dict | None:
        """The coach of a live session id, or None (logged out, expired, idle too long, coach gone)."""
        from kiosk.store.db import parse_iso

        if not sid or len(sid) > 200:
            return None
        now = self.clock()
        rows = self.query("SELECT c.id, c.username, s.last_seen_at, s.id_hash FROM coach_sessions s "
                          "JOIN coaches c ON c.id = s.coach_id WHERE s.id_hash = ? AND s.expires_at > ?",
                          (token_hash(sid), _iso(now)))
        if not rows:
            return None
        seen = parse_iso(rows[0]["last_seen_at"])
        if now - seen > SESSION_IDLE:
            self.close_session(sid)
            return None
        if now - seen > _SEEN_EVERY:
            with self.tx() as conn:
                conn.execute("UPDATE coach_sessions SET last_seen_at = ? WHERE id_hash = ?", (_iso(now), rows[0]["id_hash"]))
        return {"id": rows[0]["id"], "username": rows[0]["username"]}

    def close_session(self: Store, sid: str) -> None:
        with self.tx() as conn:
            conn.execute("DELETE FROM coach_sessions WHERE id_hash = ?", (token_hash(sid),))

    def revoke_token(self: Store, username: str) -> None:
        with self.tx() as conn:
            if conn.execute("UPDATE coaches SET token_hash = NULL, token_created_at = NULL WHERE username = ?",
                            (username,)).rowcount == 0:
                raise InputError(f"no coach named {username!r}")

    def coach_for_token(self: Store, token: str) -> dict | None:
        if not token or len(token) > 200:
            return None
        rows = self.query("SELECT id, username FROM coaches WHERE token_hash = ?", (token_hash(token),))
        return dict(rows[0]) if rows else None

    # --- lockout ----------------------------------------------------------------------------

    def reserve_login(self: Store, username: str, ip: str) -> tuple[int | None, datetime | None]:
        """Book a login attempt before the password is checked: (attempt id, None), or (None, locked until).

        The attempt is written as a failure in the same write transaction that checks the lock
        (BEGIN IMMEDIATE serialises them), so parallel guesses cannot all pass the check before
        any of them is counted; :meth:`login_succeeded` turns it into a success.
        """
        with self.tx() as conn:
            until = self.locked_until(username, ip)
            if until is not None:
                return None, until
            attempt = conn.execute("INSERT INTO login_attempts (username, ip, at, ok) VALUES (?, ?, ?, 0)",
                                   (username.strip().lower()[:100], ip, self.now_iso())).lastrowid
            # Keep the table small: a day of history is plenty for a 15-minute rule.
            conn.execute("DELETE FROM login_attempts WHERE at < ?", (_iso(self.clock() - timedelta(days=1)),))
        return int(attempt), None

    def record_login(self: Store, username: str, ip: str, ok: bool) -> None:
        """Record a finished attempt (logins go through :meth:`reserve_login` instead)."""
        with self.tx() as conn:
            conn.execute("INSERT INTO login_attempts (username, ip, at, ok) VALUES (?, ?, ?, ?)",
                         (username.strip().lower()[:100], ip, self.now_iso(), 1 if ok else 0))

    def login_succeeded(self: Store, attempt: int) -> None:
        with self.tx() as conn:
            conn.execute("UPDATE login_attempts SET ok = 1 WHERE id = ?", (attempt,))

    def locked_until(self: Store, username: str, ip: str) -> datetime | None:
        """When the (username, address) pair may try again, or None when it is not locked."""
        from kiosk.store.db import parse_iso

        now = self.clock()
        since = _iso(now - WINDOW - LOCK_FOR)
        user = username.strip().lower()[:100]
        last_ok = self.query("SELECT MAX(at) FROM login_attempts WHERE username = ? AND ip = ? AND ok = 1", (user, ip))
        floor = max(since, last_ok[0][0] or "")
        per_user = [parse_iso(r[0]) for r in self.query(
            "SELECT at FROM login_attempts WHERE username = ? AND ip = ? AND ok = 0 AND at > ? ORDER BY at",
            (user, ip, floor))]
        per_ip = [parse_iso(r[0]) for r in self.query(
            "SELECT at FROM login_attempts WHERE ip = ? AND ok = 0 AND at > ? ORDER BY at", (ip, since))]
        ends = [e for e in (_lock_end(per_user, MAX_FAILURES), _lock_end(per_ip, IP_MAX_FAILURES)) if e]
        until = max(ends) if ends else None
        return until if until and until > now else None


def _lock_end(times: list[datetime], limit: int) -> datetime | None:
    """End of the latest lock: ``limit`` failures within WINDOW lock until LOCK_FOR after the last of them."""
    end = None
    for i in range(limit - 1, len(times)):
        if times[i] - times[i - limit + 1] <= WINDOW:
            end = times[i] + LOCK_FOR
    return end


def _iso(when: datetime) -> str:
    from kiosk.store.db import iso_utc

    return iso_utc(when)

