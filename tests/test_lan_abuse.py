"""Abuse from the LAN while an athlete jumps: the station's real waitress server (with its
serve-time limits) under half-open connections and form floods from other loopback addresses
(127.0.0.2 and up stand in for LAN hosts; only 127.0.0.1 is the touchscreen). Bounded: under
300 sockets and 60 s, loopback only. The trial completes and ``/healthz`` keeps answering."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import BarEstimator, write_bar_clip
from conftest import sample_analyzer as _analyzer

from kiosk.commands.serve import THREADS
from kiosk.config import config_from_dict
from kiosk.matcsv import MatEdge
from kiosk.station.camera import ReplayCamera
from kiosk.station.mat import SimulatedMat
from kiosk.station.runtime import StationRuntime
from kiosk.station.statemachine import Timing
from kiosk.store import Store
from kiosk.web import create_app, limits
from kiosk.web.station.recorder import StationRecorder

FPS = 60
EDGES = [MatEdge(0.60, True), MatEdge(0.90, False), MatEdge(1.35, True)]


def _connect_from(address: str, port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    s.bind((address, 0))
    s.connect(("127.0.0.1", port))
    return s


def _closed_by_server(s: socket.socket, wait: float = 0.5) -> bool:
    s.settimeout(wait)
    try:
        return s.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


@pytest.fixture()
def station(tmp_path: Path):
    clip = write_bar_clip(tmp_path, FPS, EDGES, crf=18, background=40)
    store = Store(tmp_path / "state")
    store.migrate()
    cfg = config_from_dict({"station": {"name": "Gym", "state_dir": str(tmp_path / "state")},
                            "web": {"secret_key": "l" * 40}})
    recorder = StationRecorder(store, cfg)
    cam = ReplayCamera(clip, 160, 120)
    rt = StationRuntime(cam, SimulatedMat(cam.mat_edges), BarEstimator, _analyzer, timing=Timing(countdown_s=0.2),
                        on_trial_done=recorder.on_trial_done)
    app = create_app(cfg, rt, store=store)
    app.extensions["station_recorder"] = recorder
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=THREADS, **limits.SERVER_SETTINGS)
    limits.guard_server(server)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    rt.begin()
    try:
        yield rt, store, recorder, int(server.effective_port)
    finally:
        server.close()
        rt.close()
        recorder.close()
        store.close()


def test_a_trial_completes_and_healthz_answers_under_lan_abuse(station) -> None:
    rt, store, recorder, port = station
    base = f"http://127.0.0.1:{port}"
    t_start = time.monotonic()
    sockets: list[socket.socket] = []
    try:
        # 1. Half-open connections: 70 from one LAN host, 8 each from two more (a body promised,
        #    never sent), then hosts until the LAN-wide cap refuses them.
        for _ in range(70):
            s = _connect_from("127.0.0.2", port)
            s.sendall(b"GET /coach HTTP/1.1\r\nHost: station\r\n")  # never finished
            sockets.append(s)
        refused = sum(_closed_by_server(s, 0.2) for s in sockets)
        assert refused >= 70 - limits.LAN_PER_ADDRESS, f"only {refused} of 70 from one host were refused"
        for host in (3, 4):
            for _ in range(8):
                s = _connect_from(f"127.0.0.{host}", port)
                s.sendall(b"POST /coach/login HTTP/1.1\r\nHost: station\r\nContent-Length: 100000\r\n\r\nusername=")
                sockets.append(s)
        assert not any(_closed_by_server(s, 0.05) for s in sockets[-16:])  # within both caps: held open

        # 2. Form floods from other hosts, in parallel: 700k-field forms and many small POSTs.
        codes: list[int] = []
        lock = threading.Lock()
        big = "&".join(f"f{i}=1" for i in range(350_000)).encode()  # 3.4 MB: under the server cap, over the form cap

        done = threading.Event()

        def flood(host: str, body: bytes, n: int) -> None:
            for _ in range(n):  # until the trial is over, at most n
                if done.is_set():
                    break
                try:
                    s = _connect_from(host, port)
                    s.sendall(b"POST /coach/login HTTP/1.1\r\nHost: station\r\nConnection: close\r\n"
                              b"Content-Type: application/x-www-form-urlencoded\r\n"
                              + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                    head = s.recv(64)
                    s.close()
                    code = int(head.split()[1]) if head.startswith(b"HTTP/") else 0
                except OSError:
                    code = -1  # refused or reset: the server would not take it
                with lock:
                    codes.append(code)

        floods = [threading.Thread(target=flood, args=(f"127.0.1.{i}", big, 25)) for i in range(1, 5)]
        floods += [threading.Thread(target=flood, args=(f"127.0.2.{i}", b"username=a&password=b", 150))
                   for i in range(1, 5)]
        for th in floods:
            th.start()

        # 3. Meanwhile the athlete jumps, and the touchscreen (127.0.0.1) polls the station.
        aid = store.add_athlete("Flood Athlete", sex="female")
        health: list[int] = []
        rt.check_in({"id": aid, "display_name": "Flood Athlete", "sex": "female"})
        deadline = time.monotonic() + 45
        while rt.snapshot()["mat_pressed"] and time.monotonic() < deadline:
            time.sleep(0.05)
        t_trial = time.monotonic()
        rt.start()
        while rt.snapshot()["state"] != "result":
            assert time.monotonic() < deadline, f"trial stuck in {rt.snapshot()['state']}"
            with urllib.request.urlopen(f"{base}/healthz", timeout=10) as resp:
                health.append(resp.status)
            with urllib.request.urlopen(f"{base}/station/state", timeout=10) as resp:
                assert json.loads(resp.read())["state"]
            time.sleep(0.1)
        trial_s = time.monotonic() - t_trial
        flooded = len(codes)
        done.set()
        for th in floods:
            th.join(timeout=60)
        print(f"trial Start->result {trial_s:.1f} s under {flooded} flood requests; healthz polls {len(health)}")
        assert flooded >= 20, "the floods did not run during the trial"
        assert health and set(health) == {200}
        assert recorder.flush(30)
        assert store.query("SELECT COUNT(*) FROM trials")[0][0] == 1  # the trial was stored
        assert 413 in codes and 429 in codes and not [c for c in codes if c >= 500], sorted(set(codes))
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as resp:
            assert resp.status == 200

        # 4. The LAN-wide cap: more hosts' connections are refused once it is reached, while
        #    the touchscreen still gets in.
        extra = []
        for host in range(5, 5 + limits.LAN_TOTAL // limits.LAN_PER_ADDRESS + 2):
            for _ in range(limits.LAN_PER_ADDRESS):
                s = _connect_from(f"127.0.0.{host}", port)
                s.sendall(b"GET / HTTP/1.1\r\nHost: station\r\n")
                extra.append(s)
        sockets.extend(extra)
        assert sum(_closed_by_server(s, 0.05) for s in extra) >= len(extra) + 16 + 8 - limits.LAN_TOTAL - 8
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as resp:
            assert resp.status == 200
    finally:
        for s in sockets:
            s.close()
    assert time.monotonic() - t_start < 120
