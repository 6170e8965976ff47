"""HTTPS on the LAN: coach pages and the API answer plain HTTP only on the station itself; a LAN
browser is redirected to HTTPS and a plain-HTTP login refused; a proxy in front does not make
every client the kiosk; the station's certificate, its fingerprint and a real TLS listener."""

from __future__ import annotations

import hashlib
import http.client
import shutil
import ssl
from pathlib import Path

import pytest
from conftest import COACH_PASSWORD, csrf_from

from kiosk.cli import main
from kiosk.config import config_from_dict
from kiosk.web import create_app, tls

LAN = {"REMOTE_ADDR": "192.168.1.50"}
LOCAL = {"REMOTE_ADDR": "127.0.0.1"}


def test_lan_plain_http_is_sent_to_https_and_login_refused(app, client, store) -> None:
    store.create_coach("anna", COACH_PASSWORD)
    r = client.get("/coach/login?next=/coach/team", environ_base=LAN, base_url="http://gym-station.local:8080")
    assert r.status_code == 301 and r.headers["Location"] == "https://gym-station.local:8443/coach/login?next=/coach/team"
    token = csrf_from(client.get("/coach/login", environ_base=LOCAL).get_data(as_text=True))
    r = client.post("/coach/login", environ_base=LAN, data={"username": "anna", "password": COACH_PASSWORD,
                                                            "csrf_token": token})
    assert r.status_code == 403 and "HTTPS" in r.get_data(as_text=True)
    assert "jumpkiosk_session" not in r.headers.get("Set-Cookie", "") or "sid" not in r.headers.get("Set-Cookie", "")
    api = client.get("/api/v1/athletes", environ_base=LAN, headers={"Authorization": "Bearer x"})
    assert api.status_code == 403 and "HTTPS" in api.get_json()["error"]
    # over HTTPS from the LAN, and over HTTP on the station itself, the pages answer
    assert client.get("/coach/login", environ_base=LAN, base_url="https://gym-station.local:8443").status_code == 200
    assert client.get("/coach/login", environ_base=LOCAL).status_code == 200


def test_login_over_https_from_the_lan_sets_a_secure_cookie(app, store) -> None:
    store.create_coach("anna", COACH_PASSWORD)
    c = app.test_client()
    base = "https://gym-station.local:8443"
    token = csrf_from(c.get("/coach/login", environ_base=LAN, base_url=base).get_data(as_text=True))
    r = c.post("/coach/login", environ_base=LAN, base_url=base,
               data={"username": "anna", "password": COACH_PASSWORD, "csrf_token": token})
    assert r.status_code == 302 and "Secure" in r.headers["Set-Cookie"]


def test_a_proxy_on_the_station_does_not_make_its_clients_the_kiosk(app, client) -> None:
    forwarded = {"X-Forwarded-For": "192.168.1.77", "X-Forwarded-Proto": "https"}
    r = client.get("/coach/login", environ_base=LOCAL, headers=forwarded)
    assert r.status_code == 301  # not trusted: a LAN request over plain HTTP
    r = client.get("/", environ_base=LOCAL, headers={"X-Forwarded-For": "127.0.0.1"})
    assert r.status_code in (302, 403) and "/station" not in r.headers.get("Location", "/x")
    # with [web] behind_proxy the proxy's one hop is trusted: HTTPS from the client, still not the kiosk
    cfg = config_from_dict({"station": {"state_dir": str(Path(app.instance_path)), "timezone": "UTC"},
                            "web": {"secret_key": "k" * 40, "behind_proxy": True}})
    proxied = create_app(cfg, store=app.extensions["kiosk_store"]).test_client()
    assert proxied.get("/coach/login", environ_base=LOCAL, headers=forwarded).status_code == 200
    r = proxied.get("/", environ_base=LOCAL, headers=forwarded)
    assert r.status_code in (302, 403) and "/station" not in r.headers.get("Location", "/x")  # not the touchscreen


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command makes the station certificate")
def test_certificate_fingerprint_and_a_real_https_listener(tmp_path: Path, capsys) -> None:
    cfg_file = tmp_path / "station.toml"
    cfg_file.write_text(f'[station]\nstate_dir = "{(tmp_path / "state").as_posix()}"\ntimezone = "UTC"\n'
                        f'[web]\nhost = "127.0.0.2"\ntls_port = 0\nsecret_key = "{"s" * 40}"\n', encoding="utf-8")
    assert main(["--config", str(cfg_file), "tls-cert"]) == 0
    out = capsys.readouterr().out
    cert, key = tmp_path / "state" / "tls" / "station.crt", tmp_path / "state" / "tls" / "station.key"
    assert f"made {cert}" in out and (key.stat().st_mode & 0o777) == 0o600
    fp = tls.fingerprint(cert)
    assert f"SHA-256 fingerprint: {fp}" in out and len(fp) == 95
    assert main(["--config", str(cfg_file), "tls-cert"]) == 0 and "kept" in capsys.readouterr().out

    from kiosk.config import load_config

    cfg = load_config(cfg_file)
    app = create_app(cfg)
    assert app.config["KIOSK_TLS_FINGERPRINT"] == fp
    server = tls.tls_server(app, "127.0.0.1", 0, cert, key, threads=2)
    server.prepare()
    import threading

    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        ctx = ssl.create_default_context(cafile=str(cert))  # the browser after the coach accepted this certificate
        conn = http.client.HTTPSConnection("localhost", server.bind_addr[1], context=ctx, timeout=30)
        conn.request("GET", "/coach/login")
        resp = conn.getresponse()
        body = resp.read().decode()
        assert resp.status == 200 and "Coach login" in body and fp in body  # the login page shows the fingerprint
        der = conn.sock.getpeercert(binary_form=True)
        assert ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest()) == fp
        conn.close()
    finally:
        server.stop()
        thread.join(timeout=10)
        app.extensions["kiosk_store"].close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command makes the station certificate")
def test_doctor_shows_the_certificate_fingerprint(tmp_path: Path) -> None:
    from kiosk.station.doctor import OK, WARN, check_https

    cfg = config_from_dict({"station": {"state_dir": str(tmp_path / "state")}, "web": {"host": "0.0.0.0"}})
    assert check_https(cfg).status == WARN and "jumpkiosk tls-cert" in check_https(cfg).message
    cert, key = tls.cert_paths(cfg)
    assert tls.make_cert(cert, key)
    found = check_https(cfg)
    assert found.status == OK and tls.fingerprint(cert) in found.message and ":8443/coach" in found.message
    cert.write_text("not a certificate", encoding="ascii")
    assert check_https(cfg).status == "FAIL"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command makes the station certificate")
def test_serve_starts_https_when_listening_beyond_localhost(tmp_path: Path) -> None:
    """start_listener (what `jumpkiosk serve` calls): makes the certificate if missing, serves TLS;
    nothing for a station that listens on localhost only."""
    sock = __import__("socket").socket()
    sock.bind(("127.0.0.2", 0))
    port = sock.getsockname()[1]
    sock.close()
    base = {"station": {"state_dir": str(tmp_path / "state"), "timezone": "UTC"}}
    local_only = config_from_dict({**base, "web": {"host": "127.0.0.1", "tls_port": port}})
    plain = create_app(local_only)
    assert tls.start_listener(plain, local_only) is None
    plain.extensions["kiosk_store"].close()
    cfg = config_from_dict({**base, "web": {"host": "127.0.0.2", "tls_port": port, "secret_key": "k" * 40}})
    app = create_app(cfg)
    listener = tls.start_listener(app, cfg, threads=2)
    assert listener is not None
    try:
        cert, _ = tls.cert_paths(cfg)
        assert cert.is_file() and listener.fingerprint == tls.fingerprint(cert) and listener.url.endswith(f":{port}/coach")
        assert app.config["KIOSK_TLS_FINGERPRINT"] == listener.fingerprint  # shown on the login page from now on
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # only the fingerprint identifies this certificate
        conn = http.client.HTTPSConnection("127.0.0.2", port, context=ctx, timeout=30)
        conn.request("GET", "/coach/login")
        resp = conn.getresponse()
        assert resp.status == 200 and "Coach login" in resp.read().decode()
        der = conn.sock.getpeercert(binary_form=True)
        assert ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest()) == listener.fingerprint
        conn.close()
    finally:
        listener.stop()
        app.extensions["kiosk_store"].close()
