"""The systemd units: systemd-analyze verify clean, consistent with setup.sh's layout; and the
two helper scripts they start (nightly upkeep, kiosk browser) run against recording fakes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
UNITS = ["jumpkiosk.service", "jumpkiosk-nightly.service", "jumpkiosk-nightly.timer"]
SYSTEM_UNITS = Path("/usr/lib/systemd/system")


def _settings(unit: str) -> dict[str, list[str]]:
    """KEY -> every value it is given (systemd allows repeats, e.g. Environment=)."""
    out: dict[str, list[str]] = {}
    for line in (REPO / "systemd" / unit).read_text().splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            out.setdefault(m.group(1), []).append(m.group(2))
    return out


def _verify(tmp_path: Path, units: dict[str, str]) -> subprocess.CompletedProcess:
    """systemd-analyze verify in a root holding the system's units, ours, and our binaries."""
    if shutil.which("systemd-analyze") is None or not SYSTEM_UNITS.is_dir():
        pytest.skip("systemd-analyze is not installed (apt-get install systemd; CI installs it)")
    root = tmp_path / "root"
    shutil.copytree(SYSTEM_UNITS, root / "usr" / "lib" / "systemd" / "system", symlinks=True)
    for exe in ("opt/jumpkiosk/current/.venv/bin/jumpkiosk", "opt/jumpkiosk/current/src/systemd/jumpkiosk-nightly"):
        (root / exe).parent.mkdir(parents=True, exist_ok=True)
        (root / exe).write_text("#!/bin/sh\n")
        (root / exe).chmod(0o755)
    etc = root / "etc" / "systemd" / "system"
    etc.mkdir(parents=True)
    for name, text in units.items():
        (etc / name).write_text(text)
    return subprocess.run(["systemd-analyze", "verify", "--man=no", f"--root={root}",
                           *(f"/etc/systemd/system/{n}" for n in units)], capture_output=True, text=True, timeout=120)


def test_units_verify_clean(tmp_path: Path):
    proc = _verify(tmp_path, {u: (REPO / "systemd" / u).read_text() for u in UNITS})
    # verify exits 0 on mere warnings (a mistyped value is "ignored"), so any output is a failure.
    assert proc.returncode == 0 and proc.stderr.strip() == "" and proc.stdout.strip() == "", proc.stderr + proc.stdout


def test_verify_catches_a_broken_unit(tmp_path: Path):
    text = (REPO / "systemd" / "jumpkiosk.service").read_text().replace("WatchdogSec=30", "WatchdogSec=thirty")
    proc = _verify(tmp_path, {"jumpkiosk.service": text})
    assert "WatchdogSec" in proc.stderr or "sec value" in proc.stderr


def test_station_unit_matches_the_install_layout():
    s = _settings("jumpkiosk.service")
    setup = (REPO / "setup.sh").read_text()
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    assert int(s["WatchdogSec"][0]) >= 10
    assert s["Restart"] == ["on-failure"]
    assert s["User"] == ["jumpkiosk"] and 'SERVICE_USER=jumpkiosk' in setup
    assert s["StateDirectory"] == ["jumpkiosk"] and 'STATE_DIR="$ROOT/var/lib/jumpkiosk"' in setup
    assert s["ExecStart"] == ["/opt/jumpkiosk/current/.venv/bin/jumpkiosk serve"]
    assert 'CURRENT="$OPT_DIR/current"' in setup and 'OPT_DIR="$ROOT/opt/jumpkiosk"' in setup
    assert "JUMPKIOSK_CONFIG=/etc/jumpkiosk/station.toml" in s["Environment"]
    assert 'CONFIG_FILE="$ETC_DIR/station.toml"' in setup
    assert set(s["SupplementaryGroups"][0].split()) == {"video", "gpio", "render"}
    # Camera access: no private /dev and no device allow-list (ProtectClock would add one).
    assert s["PrivateDevices"] == ["no"] and "DeviceAllow" not in s and "ProtectClock" not in s
    assert s["CapabilityBoundingSet"] == [""] and s["ProtectSystem"] == ["strict"]


def test_nightly_timer_catches_up_after_power_off():
    t = _settings("jumpkiosk-nightly.timer")
    assert t["Persistent"] == ["true"] and t["OnCalendar"]
    n = _settings("jumpkiosk-nightly.service")
    assert n["Type"] == ["oneshot"] and n["User"] == ["jumpkiosk"]


def _fake_bin(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_nightly_exports_recent_days_prunes_and_tidies(tmp_path: Path):
    log = tmp_path / "calls"
    fake = _fake_bin(tmp_path / "bin", "jumpkiosk", f'echo "$*" >>{log}\n')
    out = tmp_path / "exports"
    old = out / "2001-01-01"
    old.mkdir(parents=True)
    os.utime(old, (time.time() - 40 * 86400,) * 2)
    fresh = out / "recent"
    fresh.mkdir()
    env = {**os.environ, "JUMPKIOSK_BIN": str(fake), "JUMPKIOSK_EXPORT_DIR": str(out),
           "JUMPKIOSK_EXPORT_DAYS": "3", "JUMPKIOSK_EXPORT_KEEP_DAYS": "30"}
    proc = subprocess.run([str(REPO / "systemd" / "jumpkiosk-nightly")], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    today = date.today()
    days = [(today - timedelta(days=n)).isoformat() for n in (3, 2, 1)]
    assert log.read_text().splitlines() == [f"export-day --date {d} --out {out}" for d in days] + [f"prune-media --exports {out}"]
    assert not old.exists() and fresh.exists()


def test_nightly_reports_a_failed_export_but_still_prunes(tmp_path: Path):
    log = tmp_path / "calls"
    fake = _fake_bin(tmp_path / "bin", "jumpkiosk", f'echo "$*" >>{log}\ncase "$*" in export-day*) exit 2;; esac\n')
    env = {**os.environ, "JUMPKIOSK_BIN": str(fake), "JUMPKIOSK_EXPORT_DIR": str(tmp_path / "x"), "JUMPKIOSK_EXPORT_DAYS": "1"}
    proc = subprocess.run([str(REPO / "systemd" / "jumpkiosk-nightly")], env=env, capture_output=True, text=True)
    assert proc.returncode == 1
    assert "export of" in proc.stderr
    assert log.read_text().splitlines()[-1] == f"prune-media --exports {tmp_path / 'x'}"


def test_browser_waits_for_the_station_then_keeps_chromium_up(tmp_path: Path):
    bin_dir = tmp_path / "bin"
    calls = tmp_path / "chromium.calls"
    up = tmp_path / "station-up"
    _fake_bin(bin_dir, "chromium", f'echo "$*" >>{calls}\n')  # "crashes" at once
    polls = tmp_path / "curl.calls"
    _fake_bin(bin_dir, "curl", f'echo "$*" >>{polls}\n[ -e {up} ]\n')
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
           "JUMPKIOSK_URL": "http://127.0.0.1:9123/", "XDG_RUNTIME_DIR": str(tmp_path)}
    proc = subprocess.Popen([str(REPO / "systemd" / "jumpkiosk-browser")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (not polls.exists() or len(polls.read_text().splitlines()) < 2):
            time.sleep(0.1)
        assert "http://127.0.0.1:9123/healthz" in polls.read_text()
        assert not calls.exists()  # station not answering yet: no error page shown
        up.touch()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (not calls.exists() or len(calls.read_text().splitlines()) < 2):
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    runs = calls.read_text().splitlines()
    assert len(runs) >= 2  # started again after it exited
    args = runs[0].split()
    assert {"--kiosk", "--ozone-platform=wayland", "--noerrdialogs"} <= set(args)
    assert f"--user-data-dir={tmp_path}/jumpkiosk-chromium" in args
    assert args[-1] == "http://127.0.0.1:9123/"
