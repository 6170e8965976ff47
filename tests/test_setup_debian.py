"""setup.sh away from a stock Raspberry Pi OS image: no uid-1000 user, apt sources without the
Raspberry Pi archive, a plain Debian box with a USB camera, a crash while the models verify.

Same fake root as test_setup_station.py (tests/fakeroot): the real station steps, recording fakes
of apt-get, systemctl, useradd, ...; package availability is what ``apt-cache policy`` answers.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fakeroot import BIN, PI_ONLY, RPI_OS_PACKAGES, FakePi, make_fake_pi

NOT_PI_OS = "not Raspberry Pi OS, or the Raspberry Pi archive is not configured"


@pytest.fixture
def pi(tmp_path: Path) -> FakePi:
    return make_fake_pi(tmp_path)


def _debian_sources(pi: FakePi) -> None:
    """Apt sources of plain Debian: everything but the Raspberry Pi archive's packages."""
    (pi.state / "available").write_text("\n".join(p for p in RPI_OS_PACKAGES if p not in PI_ONLY) + "\n")


def _config(pi: FakePi) -> str:
    return (pi.root / "etc" / "jumpkiosk" / "station.toml").read_text()


def test_image_without_uid_1000_warns_and_goes_on(pi: FakePi):
    # An image prepared by root only: no first-boot user, setup run as root (no sudo caller).
    (pi.state / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    check = pi.run("--check")
    assert "no desktop user found (set JUMPKIOSK_DESKTOP_USER)" in check.stdout
    assert "dry run done" in check.stdout
    proc = pi.run("install")
    assert "no desktop user found (set JUMPKIOSK_DESKTOP_USER)" in proc.stdout
    # The steps after the browser still ran: start, health, doctor.
    assert "systemctl restart jumpkiosk.service" in pi.calls()
    assert any(c.startswith("jumpkiosk[1.0.0] doctor") for c in pi.calls())
    assert "installed: 1.0.0-" in proc.stdout


def test_sources_without_the_pi_archive_install_the_rest_and_say_why(pi: FakePi):
    _debian_sources(pi)
    check = pi.run("--check")
    assert f"no install candidate for python3-picamera2 python3-lgpio: {NOT_PI_OS}" in check.stdout
    assert "would: apt-get install python3-venv python3-pip sqlite3 curl ca-certificates chromium" in check.stdout

    proc = pi.run("install")
    assert f"no install candidate for python3-picamera2 python3-lgpio: {NOT_PI_OS}" in proc.stdout
    install = next(c for c in pi.calls() if c.startswith("apt-get install")).split()
    for pkg in ("python3-venv", "python3-pip", "sqlite3", "curl", "ca-certificates", "chromium"):
        assert pkg in install
    assert not set(PI_ONLY) & set(install)
    # Without picamera2/lgpio the config asks for a USB camera and events from the video.
    cfg = _config(pi)
    assert 'source = "v4l2"' in cfg and 'kind = "none"' in cfg
    assert "installed: 1.0.0-" in proc.stdout


def test_a_needed_package_without_candidate_is_named(pi: FakePi):
    (pi.state / "available").write_text("\n".join(p for p in RPI_OS_PACKAGES if p != "python3-venv") + "\n")
    proc = pi.run("install", check=False)
    assert proc.returncode == 1
    assert "no install candidate for python3-venv in the configured apt sources" in proc.stderr
    assert not any(c.startswith("apt-get install") for c in pi.calls())


def test_check_on_an_image_whose_lists_were_never_updated(pi: FakePi):
    # No package lists yet: nothing has a candidate. The dry run says why and does not stop.
    shutil.rmtree(pi.root / "var" / "lib" / "apt" / "lists")
    (pi.state / "available").write_text("")
    proc = pi.run("--check")
    assert "apt's package lists are empty (apt-get update never ran here)" in proc.stdout
    assert "no install candidate for python3-venv python3-pip sqlite3 curl ca-certificates" in proc.stdout
    assert "the install would stop here" in proc.stdout
    assert "dry run done" in proc.stdout


def test_plain_debian_box_with_a_usb_camera(pi: FakePi, tmp_path: Path):
    """x86 or arm64 Debian trixie: no Pi archive, no raspi-config, no gpio group, no desktop user yet."""
    (pi.root / "etc" / "os-release").write_text('PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nVERSION_CODENAME=trixie\n')
    _debian_sources(pi)
    (pi.state / "group").write_text("root:x:0:\nvideo:x:44:\nrender:x:105:\n")
    (pi.state / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\nanna:x:1000:1000::/home/anna:/bin/bash\n")
    (pi.root / "home" / "anna").mkdir(parents=True)
    bin_without_raspi = tmp_path / "bin"
    shutil.copytree(BIN, bin_without_raspi)
    (bin_without_raspi / "raspi-config").unlink()
    pi.env["PATH"] = pi.env["PATH"].replace(str(BIN), str(bin_without_raspi))

    proc = pi.run("install")
    out = proc.stdout
    assert "ok: Debian/Raspberry Pi OS trixie" in out
    assert NOT_PI_OS in out
    assert "group 'gpio' does not exist on this system (not a Raspberry Pi?); skipped" in out
    assert "usermod -aG video jumpkiosk" in pi.calls() and "usermod -aG render jumpkiosk" in pi.calls()
    assert "raspi-config not found: turn screen blanking off and desktop auto-login on by hand" in out
    cfg = _config(pi)
    assert 'source = "v4l2"' in cfg and 'kind = "none"' in cfg
    assert "JUMPKIOSK_URL=http://127.0.0.1:8080/" in (pi.root / "home" / "anna" / ".config" / "labwc" / "autostart").read_text()
    assert "systemctl enable jumpkiosk.service" in pi.calls()

    # A re-run is quiet: the missing Pi packages are named again, nothing is installed twice.
    pi.clear_calls()
    again = pi.run("install")
    assert NOT_PI_OS in again.stdout
    assert not any(c.startswith(("apt-get install", "useradd")) for c in pi.calls())


def test_pi_os_config_keeps_the_pi_camera_and_gpio_mat(pi: FakePi):
    pi.run("install")
    cfg = _config(pi)
    assert 'source = "picamera2"' in cfg and 'kind = "gpio"' in cfg


def test_a_crash_while_the_models_verify_names_the_signal(pi: FakePi):
    (pi.state / "crash-verify").touch()
    proc = pi.run("install", check=False)
    assert proc.returncode == 1
    assert "do not verify: jumpkiosk models --verify was killed by SIGSEGV (status 139)" in proc.stderr
    assert not list((pi.opt / "releases").iterdir())  # the broken build is not kept
