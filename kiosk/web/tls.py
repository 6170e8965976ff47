"""HTTPS for coaches on the LAN: the station's certificate, its fingerprint, the TLS listener,
and the rule that only the station's own touchscreen uses plain HTTP.

Logins and athletes' results must not cross the gym's Wi-Fi in clear text. The station makes a
self-signed certificate once at install (``jumpkiosk tls-cert``, called by setup.sh; the
``openssl`` command line, present on every Raspberry Pi OS, so no extra library), serves the
coach pages over HTTPS on ``[web] tls_port`` with cheroot (a well-kept pure-Python WSGI server
with TLS; waitress has none), and shows the certificate's SHA-256 fingerprint on the station
and in ``jumpkiosk doctor``, so a coach can check, once, that the browser's warning is about this
station's own certificate before accepting it.

Plain HTTP stays for the touchscreen browser on localhost. A coach page or API call over plain
HTTP from any other address is redirected to HTTPS (GET) or refused (anything else). A reverse
proxy on the same machine would be a loopback peer: its forwarded requests are never the kiosk
(see :func:`kiosk.web.auth.is_local_request`), and its headers are trusted only with
``[web] behind_proxy`` (werkzeug's ProxyFix, one hop).
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import ssl
import subprocess
from pathlib import Path
from typing import Any

from flask import Flask, abort, current_app, jsonify, redirect, request

from kiosk.errors import KioskError


class TLSError(KioskError, OSError):
    """The certificate cannot be made or read."""


GUARDED_BLUEPRINTS = ("coach", "api")
CERT_DAYS = 3650  # a station certificate nobody should have to renew during the hardware's life


def cert_paths(config: Any) -> tuple[Path, Path]:
    """(certificate, key): ``[web] tls_cert``/``tls_key``, else ``<state dir>/tls/station.crt|.key``."""
    from kiosk.store.db import state_dir

    folder = state_dir(config) / "tls"
    cert = Path(config.web.tls_cert).expanduser() if config.web.tls_cert else folder / "station.crt"
    key = Path(config.web.tls_key).expanduser() if config.web.tls_key else folder / "station.key"
    return cert, key


def fingerprint(cert: Path) -> str:
    """SHA-256 fingerprint as browsers show it (``AB:CD:...``)."""
    try:
        der = ssl.PEM_cert_to_DER_cert(cert.read_text(encoding="ascii"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise TLSError(f"{cert}: cannot read the TLS certificate ({exc})") from None
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def current_fingerprint(config: Any) -> str:
    """The fingerprint of the station's certificate, or "" when there is none (yet) or it is unreadable."""
    cert, _ = cert_paths(config)
    try:
        return fingerprint(cert) if cert.is_file() else ""
    except TLSError:
        return ""


def station_names() -> list[str]:
    """Names a LAN browser may use for this station: its host name, ``<name>.local`` (mDNS), localhost."""
    host = socket.gethostname().split(".")[0] or "jumpkiosk"
    return list(dict.fromkeys([host, f"{host}.local", "localhost"]))


def make_cert(cert: Path, key: Path, *, names: list[str] | None = None, force: bool = False) -> bool:
    """Make a self-signed certificate and key (P-256) unless both exist; True when made."""
    if cert.is_file() and key.is_file() and not force:
        return False
    openssl = shutil.which("openssl")
    if openssl is None:
        raise TLSError("the openssl command is missing (sudo apt install openssl); no certificate was made")
    names = names or station_names()
    san = ",".join([f"DNS:{n}" for n in names] + ["IP:127.0.0.1"])
    cert.parent.mkdir(parents=True, exist_ok=True)
    tmp_cert, tmp_key = cert.with_name(f".{cert.name}.new"), key.with_name(f".{key.name}.new")
    cmd = [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-sha256", "-days", str(CERT_DAYS), "-subj", f"/CN={names[0]}/O=jumpkiosk station",
           "-addext", f"subjectAltName={san}", "-addext", "basicConstraints=critical,CA:FALSE",
           "-addext", "extendedKeyUsage=serverAuth", "-keyout", str(tmp_key), "-out", str(tmp_cert)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise TLSError(f"openssl could not make the certificate: {done.stderr.strip().splitlines()[-1:]}")
        tmp_key.chmod(0o600)
        tmp_key.replace(key)
        tmp_cert.replace(cert)
    except OSError as exc:
        raise TLSError(f"{cert.parent}: cannot write the certificate ({exc.strerror or exc})") from None
    finally:
        tmp_cert.unlink(missing_ok=True)
        tmp_key.unlink(missing_ok=True)
    return True


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """TLS 1.2+ server context for the certificate (TLSError names the file at fault)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise TLSError(f"{cert}: cannot load the TLS certificate and key ({exc}); make a new pair with "
                       "`jumpkiosk tls-cert --force`") from None
    return ctx


def tls_server(app: Any, host: str, port: int, cert: Path, key: Path, *, threads: int = 8) -> Any:
    """A cheroot WSGI server for ``app`` on ``host:port`` over TLS (not started)."""
    from cheroot import wsgi
    from cheroot.ssl.builtin import BuiltinSSLAdapter

    server_context(cert, key)  # fail here, with the file named, rather than in a server thread
    server = wsgi.Server((host, port), app, numthreads=threads, server_name="jumpkiosk")
    server.ssl_adapter = BuiltinSSLAdapter(str(cert), str(key))
    return server


LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


class Listener:
    """A started HTTPS listener (cheroot in a thread) and its stop."""

    def __init__(self, server: Any, thread: Any, url: str, fingerprint: str) -> None:
        self.server, self.thread, self.url, self.fingerprint = server, thread, url, fingerprint

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(timeout=10)


def start_listener(app: Any, config: Any, *, threads: int = 8) -> Listener | None:
    """Serve ``app`` over HTTPS on ``[web] host:tls_port`` when the station listens beyond itself
    (host not loopback) and tls_port is set; the certificate is made if missing. None otherwise."""
    import threading

    host, port = config.web.host, config.web.tls_port
    if port == 0 or host in LOOPBACK_HOSTS:
        return None
    cert, key = cert_paths(config)
    make_cert(cert, key)
    server = tls_server(app, host, port, cert, key, threads=threads)
    try:
        server.prepare()  # binds now, so a taken port is an error at start, not in a thread
    except OSError as exc:
        raise TLSError(f"cannot listen on {host}:{port} for HTTPS ({exc.strerror or exc})") from None
    thread = threading.Thread(target=server.serve, name="https", daemon=True)
    thread.start()
    bound = server.bind_addr[1]
    shown = station_names()[1] if host in ("0.0.0.0", "::", "") else host
    fp = fingerprint(cert)
    app.config["KIOSK_TLS_FINGERPRINT"] = fp  # the certificate may have been made just now
    return Listener(server, thread, f"https://{shown}:{bound}/coach", fp)


# --- the app side ---------------------------------------------------------------------------------

def init_app(app: Flask) -> None:
    """Trust a local proxy's headers when configured; keep coach pages and the API off plain LAN HTTP."""
    config = app.config["KIOSK_CONFIG"]
    if config.web.behind_proxy:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)  # type: ignore[method-assign]
    app.before_request(require_https_on_lan)


def require_https_on_lan() -> Any:
    """Coach pages and the API answer plain HTTP only on the station itself."""
    from kiosk.web import auth

    if request.blueprint not in GUARDED_BLUEPRINTS or request.is_secure or auth.is_local_request():
        return None
    port = current_app.config["KIOSK_CONFIG"].web.tls_port
    target = f"https://{_hostname(request.host)}:{port}{request.full_path.rstrip('?')}" if port else ""
    if request.blueprint == "api":
        resp = jsonify(error=f"the API answers over HTTPS only: {target or 'HTTPS is off on this station'}")
        resp.status_code = 403
        return resp
    if target and request.method in ("GET", "HEAD"):
        return redirect(target, code=301)
    abort(403, f"Coaches connect over HTTPS: {target}" if target else
          "HTTPS is off on this station ([web] tls_port = 0): log in on the station itself.")


def _hostname(host: str) -> str:
    """The Host header without its port (IPv6 literals keep their brackets)."""
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
