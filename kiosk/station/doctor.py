"""``jumpkiosk doctor``: check the station's parts and say plainly what works and what does not.

Each check returns one :class:`Finding` (OK / WARN / FAIL and one line). Hardware that is simply
absent on a laptop is a WARN that names the demo mode, not a FAIL: the demo (synthetic camera,
simulated mat) still works there. A FAIL means the configured station cannot run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from kiosk.errors import KioskError

OK, WARN, FAIL = "OK", "WARN", "FAIL"


@dataclass(frozen=True)
class Finding:
    status: str
    name: str
    message: str

    def line(self) -> str:
        return f"{self.status:<4}  {self.name:<8} {self.message}"


def check_camera(config, seconds: float = 2.0) -> Finding:
    """Open the configured camera and count frames and drops over ``seconds``."""
    from kiosk.station.camera import open_camera
    from kiosk.station.ringbuffer import RingBuffer

    try:
        cam = open_camera(config)
        cam.start()
    except KioskError as exc:
        status = WARN if config.camera.source in ("picamera2", "v4l2") else FAIL
        return Finding(status, "camera", f"{exc}. `jumpkiosk demo` (a replayed camera) still works")
    try:
        ring = RingBuffer(cam.fps, max(seconds, 1.0), cam.shape)
        cam.trigger()  # replay/synthetic: play the jump, so decoding speed is part of the figure
        t_end = time.monotonic() + seconds
        first = last = None
        n = 0
        while time.monotonic() < t_end:
            f = cam.read(timeout=1.0)
            if f is None:
                break
            ring.put(f.image, f.t_ns, f.index)
            first = first if first is not None else f.t_ns
            last = f.t_ns
            n += 1
    except KioskError as exc:
        return Finding(FAIL, "camera", f"{cam.name} opened but failed while reading: {exc}")
    finally:
        try:
            cam.stop()
        except KioskError:
            pass
    if n < 2 or first is None or last is None or last == first:
        return Finding(FAIL, "camera", f"{cam.name}: no frames arrived in {seconds:.0f} s: check the cable and light")
    fps = (n - 1) / ((last - first) / 1e9)
    msg = f"{cam.name} {cam.width}x{cam.height}: {fps:.1f} fps over {seconds:.0f} s (target {cam.fps:.0f}), " \
          f"{ring.dropped} dropped, transform {getattr(cam, 'transform', 'none')} (never mirrored)"
    status = OK if fps >= 0.9 * cam.fps and ring.dropped == 0 else WARN
    return Finding(status, "camera", msg)


def check_mat(config, *, interactive: bool = False, wait_s: float = 10.0,
              prompt: Callable[[str], None] = print, pin_factory=None,
              clock: Callable[[], int] = time.monotonic_ns) -> Finding:
    """The mat's present state; interactively, wait for a step on and a step off."""
    m = config.mat
    if m.kind == "none":
        return Finding(WARN, "mat", "no mat configured: events come from the video (less precise timing)")
    if m.kind == "simulated":
        return Finding(WARN, "mat", "simulated mat (demo mode); set [mat] kind = \"gpio\" on the station")
    from kiosk.station.mat import GpioMat, make_pin_factory

    try:
        factory = pin_factory if pin_factory is not None else make_pin_factory(m.pin_factory)
        mat = GpioMat(m.pin, debounce_ms=m.debounce_ms, pin_factory=factory, sense_pin=m.sense_pin, clock=clock)
    except KioskError as exc:
        return Finding(FAIL, "mat", f"{exc}. `jumpkiosk demo` (a simulated mat) still works")
    try:
        if not mat.connected:
            return Finding(FAIL, "mat", f"the mat on GPIO{m.pin} is unplugged (sense wire GPIO{m.sense_pin} reads high)")
        state = "closed (someone on it, or stuck)" if mat.pressed else "open"
        if not interactive:
            return Finding(OK if not mat.pressed else WARN, "mat", f"GPIO{m.pin}: {state}")
        seen: list[bool] = []
        done = threading.Event()

        def on_edge(ev) -> None:
            seen.append(ev.pressed)
            if True in seen and seen[-1] is False:
                done.set()

        mat.set_listener(on_edge)
        mat.start()
        prompt(f"Step on the mat, then step off (within {wait_s:.0f} s)...")
        if done.wait(wait_s):
            return Finding(OK, "mat", f"GPIO{m.pin}: saw step on and step off ({mat.raw_edges} raw edges)")
        if not seen:
            return Finding(FAIL, "mat", f"GPIO{m.pin}: no change in {wait_s:.0f} s: check the wiring to GND and the pin")
        return Finding(FAIL, "mat", f"GPIO{m.pin}: saw {'on' if seen[-1] else 'off'} but not the step off: stuck closed?")
    finally:
        mat.close()


def check_model(config) -> Finding:
    """Every model the station will run (tracking and refine, e.g. Thunder): manifest check,
    load, and the tracking model's time per frame."""
    try:
        from kiosk.commands.serve import station_models
        from kiosk.pose.movenet import create_estimator
    except ImportError as exc:
        return Finding(FAIL, "model", f"pose code cannot be imported ({exc})")
    import numpy as np

    names = station_models(config)
    timings = []
    for name in names:
        try:
            t0 = time.perf_counter()
            est = create_estimator(name, config.pose.threads)
            load_ms = (time.perf_counter() - t0) * 1e3
            img = np.zeros((config.camera.height, config.camera.width, 3), np.uint8)
            est.estimate(img)  # the first invoke allocates; time the next ones
            t0 = time.perf_counter()
            for _ in range(5):
                est.estimate(img)
            invoke_ms = (time.perf_counter() - t0) / 5 * 1e3
            est.close()
        except KioskError as exc:
            return Finding(FAIL, "model", f"{name}: {exc}")
        timings.append(f"{name} loaded in {load_ms:.0f} ms, {invoke_ms:.1f} ms per frame")
    return Finding(OK, "model", "; ".join(timings) + f" with {config.pose.threads} threads")


def check_disk(config, folder: Path) -> Finding:
    try:
        free_mb = shutil.disk_usage(folder if folder.exists() else Path.cwd()).free / 1e6
    except OSError as exc:
        return Finding(FAIL, "disk", f"cannot read free space ({exc})")
    need = config.store.min_free_mb
    if free_mb < need:
        return Finding(FAIL, "disk", f"{free_mb:.0f} MB free, below [store] min_free_mb = {need}: trials will be refused")
    status = OK if free_mb >= 5 * need else WARN
    return Finding(status, "disk", f"{free_mb / 1000:.1f} GB free")


def check_clock(now: datetime | None = None, run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> Finding:
    now = now or datetime.now()
    if now.year < 2025:
        return Finding(FAIL, "clock", f"the clock says {now:%Y-%m-%d}: results would get wrong dates "
                                      "(a Pi 4 has no RTC: connect to a network for NTP)")
    if shutil.which("timedatectl") is None:
        return Finding(WARN, "clock", f"{now:%Y-%m-%d %H:%M}; timedatectl not found, NTP sync unknown")
    try:
        out = run(["timedatectl", "show", "--property=NTPSynchronized", "--value"],
                  capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = ""
    if out == "yes":
        return Finding(OK, "clock", f"{now:%Y-%m-%d %H:%M}, NTP synchronised")
    if out == "no":
        return Finding(WARN, "clock", f"{now:%Y-%m-%d %H:%M}, not NTP synchronised: dates may drift")
    return Finding(WARN, "clock", f"{now:%Y-%m-%d %H:%M}; NTP state unavailable")


def state_dir(config) -> Path:
    """Where the database lives: [station] state_dir, else $STATE_DIRECTORY, else ./instance
    (the store's own rule, so the doctor probes the folder the store will use)."""
    from kiosk.store.db import state_dir as store_state_dir

    return store_state_dir(config)


def check_database(folder: Path) -> Finding:
    """Write, fsync and delete a probe file in the state folder (as a trial save would)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".doctor-probe-{os.getpid()}"
        with open(probe, "wb") as fh:
            fh.write(b"probe")
            fh.flush()
            os.fsync(fh.fileno())
        probe.unlink()
    except OSError as exc:
        return Finding(FAIL, "database", f"{folder} is not writable ({exc.strerror or exc}): results cannot be saved")
    db = folder / "jumpkiosk.sqlite3"
    if not db.is_file():
        return Finding(OK, "database", f"{folder} is writable (no database yet)")
    import sqlite3

    try:  # read-only: the doctor must not change the station's database
        conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            problems = [str(r[0]) for r in conn.execute("PRAGMA integrity_check") if str(r[0]) != "ok"]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        problems = [str(exc)]
    if problems:
        return Finding(FAIL, "database", f"{db} is damaged (integrity_check: {'; '.join(problems[:3])}): "
                                         "restore it from a backup (docs/OPERATIONS.md)")
    return Finding(OK, "database", f"{folder} is writable; integrity_check ok")


def check_https(config) -> Finding:
    """The HTTPS certificate coaches on the LAN see, and its fingerprint for them to compare."""
    from kiosk.web import tls

    cert, _key = tls.cert_paths(config)
    lan = config.web.host not in tls.LOOPBACK_HOSTS and config.web.tls_port
    if not cert.is_file():
        if lan:
            return Finding(WARN, "https", f"no certificate at {cert}: `jumpkiosk tls-cert` makes one "
                                          "(the station also makes it at start)")
        return Finding(OK, "https", "coach pages on this station only ([web] host is local); no certificate yet")
    try:
        fp = tls.fingerprint(cert)
    except KioskError as exc:
        return Finding(FAIL, "https", f"{exc}; make a new one with `jumpkiosk tls-cert --force`")
    where = f"https://<station>:{config.web.tls_port}/coach" if lan else "not served on the LAN ([web] host is local)"
    return Finding(OK, "https", f"{where}; certificate SHA-256 {fp}")


def run_doctor(config, *, interactive: bool = False, camera_seconds: float = 2.0,
               out: Callable[[str], None] = print) -> list[Finding]:
    """All checks, each printed as it finishes (the camera check takes a few seconds)."""
    folder = state_dir(config)
    checks: list[Callable[[], Finding]] = [
        lambda: check_camera(config, camera_seconds),
        lambda: check_mat(config, interactive=interactive, prompt=out),
        lambda: check_model(config),
        lambda: check_disk(config, folder),
        check_clock,
        lambda: check_database(folder),
        lambda: check_https(config),
    ]
    findings = []
    for check in checks:
        f = check()
        out(f.line())
        findings.append(f)
    hardware_missing = [f.name for f in findings if f.name in ("camera", "mat") and f.status != OK]
    if hardware_missing:
        out(f"note: {' and '.join(hardware_missing)} not ready; `jumpkiosk demo` runs the station with the synthetic "
            "athlete and a simulated mat")
    return findings
