"""setup.sh's station modes (install, --check, update, rollback) on a fake Raspberry Pi.

The releases here are built by a fast stand-in (tests/fakeroot/build-release) whose fake
``jumpkiosk migrate`` writes into a real SQLite file; test_setup_build.py builds a real venv.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest
from fakeroot import FakePi, make_fake_pi


@pytest.fixture
def pi(tmp_path: Path) -> FakePi:
    return make_fake_pi(tmp_path)


def _tree(root: Path) -> dict[str, tuple[str, int]]:
    """Every path under root with its type and size (or link target), to compare states."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = (os.readlink(p), 0)
        elif p.is_dir():
            out[rel] = ("dir", 0)
        else:
            out[rel] = (p.read_bytes().hex()[:64], p.stat().st_size)
    return out


def _autostart(pi: FakePi) -> str:
    return (pi.root / "home" / "pi" / ".config" / "labwc" / "autostart").read_text()


def test_fresh_install_does_every_step(pi: FakePi):
    proc = pi.run("install")
    calls = pi.calls()
    # apt: the missing packages, with the browser under the name this image offers.
    install = next(c for c in calls if c.startswith("apt-get install"))
    for pkg in ("python3-venv", "python3-picamera2", "python3-lgpio", "sqlite3", "curl", "chromium"):
        assert pkg in install.split()
    assert "chromium-browser" not in install
    assert calls.index("apt-get update -q") < calls.index(install)
    # The service user, in the camera/GPIO/GPU groups.
    assert any(c.startswith("useradd --system") and c.endswith(" jumpkiosk") for c in calls)
    for g in ("video", "gpio", "render"):
        assert f"usermod -aG {g} jumpkiosk" in calls
    # Versioned release, current symlink (relative, so the tree can move).
    name = pi.current()
    assert name.startswith("releases/1.0.0-")
    assert (pi.opt / name / ".complete").is_file()
    # Config: written with a 64-hex-digit secret, readable by root and the service group only.
    cfg = pi.root / "etc" / "jumpkiosk" / "station.toml"
    text = cfg.read_text()
    secret = next(line.split('"')[1] for line in text.splitlines() if line.startswith("secret_key"))
    assert len(secret) == 64 and int(secret, 16) >= 0
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o640
    assert f"chown root:jumpkiosk {cfg}" in calls
    # Migration as the service user, against the state dir, before the service starts.
    assert any(c.startswith("runuser -u jumpkiosk --") and c.endswith("/jumpkiosk migrate") for c in calls)
    assert pi.applied() == ["1.0.0"]
    # Units installed as shipped, enabled, started.
    units = pi.root / "etc" / "systemd" / "system"
    for unit in ("jumpkiosk.service", "jumpkiosk-nightly.service", "jumpkiosk-nightly.timer"):
        assert (units / unit).read_bytes() == (pi.src / "systemd" / unit).read_bytes()
    assert "systemctl daemon-reload" in calls
    assert "systemctl enable jumpkiosk.service" in calls
    assert "systemctl enable jumpkiosk-nightly.timer" in calls
    assert calls.index("systemctl restart jumpkiosk.service") > calls.index("systemctl enable jumpkiosk.service")
    # Browser in the desktop user's labwc autostart; blanking off; desktop auto-login.
    auto = _autostart(pi)
    assert "JUMPKIOSK_URL=http://127.0.0.1:8080/ /opt/jumpkiosk/current/src/systemd/jumpkiosk-browser &" in auto
    assert "raspi-config nonint do_blanking 1" in calls
    assert "raspi-config nonint do_boot_behaviour B4" in calls
    # Doctor ran and its failure (no camera here) is reported, not fatal.
    assert any(c.startswith("jumpkiosk[1.0.0] doctor") for c in calls)
    assert "doctor reported problems" in proc.stdout
    # Everything went to the log file too.
    assert "setup.sh install" in (pi.root / "var" / "log" / "jumpkiosk-setup.log").read_text()


def test_rerun_is_idempotent(pi: FakePi):
    autostart = pi.root / "home" / "pi" / ".config" / "labwc" / "autostart"
    autostart.parent.mkdir(parents=True)
    autostart.write_text("lwrespawn wf-panel-pi &\n")
    pi.run("install")
    cfg = pi.root / "etc" / "jumpkiosk" / "station.toml"
    first_cfg, first_release, first_auto = cfg.read_text(), pi.current(), _autostart(pi)
    cfg.write_text(first_cfg + "\n[session]\ntrials = 5\n")  # an admin's edit must survive
    edited = cfg.read_text()
    pi.clear_calls()

    proc = pi.run("install")
    calls = pi.calls()
    assert cfg.read_text() == edited  # secret and edits preserved
    assert pi.current() == first_release  # no rebuild
    assert _autostart(pi) == first_auto
    assert _autostart(pi).count("jumpkiosk-browser") == 1
    assert _autostart(pi).startswith("lwrespawn wf-panel-pi &\n")  # the user's own lines stay
    assert not any(c.startswith(("apt-get", "useradd", "usermod", "systemctl enable", "systemctl daemon-reload")) for c in calls)
    assert "systemctl restart jumpkiosk.service" not in calls  # nothing changed, running
    assert len(list((pi.opt / "releases").iterdir())) == 1
    assert "ok: installed: 1.0.0-" in proc.stdout


def test_check_on_a_fresh_pi_changes_nothing(pi: FakePi):
    before = _tree(pi.root)
    proc = pi.run("--check")
    assert _tree(pi.root) == before
    changing = [c for c in pi.calls() if not c.startswith(("apt-cache", "systemctl is-"))]
    assert changing == []
    for words in ("would: apt-get install", "would: useradd --system jumpkiosk", "would: build a release",
                  "would: write it with a new random [web] secret_key", "would: jumpkiosk migrate",
                  "would: install jumpkiosk.service", "would: systemctl enable jumpkiosk.service",
                  "would: add the browser block", "would: raspi-config: screen blanking off", "would: run jumpkiosk doctor"):
        assert words in proc.stdout


def test_check_after_install_reports_done(pi: FakePi):
    pi.run("install")
    before = _tree(pi.root)
    pi.clear_calls()
    proc = pi.run("--check")
    assert _tree(pi.root) == before
    assert "ok: installed: 1.0.0-" in proc.stdout
    assert "ok: present (kept as it is)" in proc.stdout
    assert "ok: jumpkiosk.service up to date" in proc.stdout
    assert "starts the browser on http://127.0.0.1:8080/" in proc.stdout
    assert "would: apt-get" not in proc.stdout and "would: useradd" not in proc.stdout


def test_older_image_gets_chromium_browser(pi: FakePi):
    available = ["python3-venv", "python3-pip", "sqlite3", "curl", "ca-certificates", "python3-picamera2", "python3-lgpio",
                 "chromium-browser"]
    (pi.state / "available").write_text("".join(f"{name}\n" for name in available))
    pi.run("install")
    install = next(c for c in pi.calls() if c.startswith("apt-get install"))
    assert "chromium-browser" in install.split() and "chromium" not in install.split()


def test_update_switches_and_keeps_a_backup(pi: FakePi):
    pi.run("install")
    old = pi.current()
    new_src = pi.source_tree("src2", "1.1.0")
    pi.clear_calls()
    proc = pi.run("update", src=new_src)
    calls = pi.calls()
    new = pi.current()
    assert new.startswith("releases/1.1.0-") and new != old
    assert os.readlink(pi.opt / "previous") == old
    assert pi.applied() == ["1.0.0", "1.1.0"]
    # Stop, then back up, then migrate with the new code, then start and ask /healthz.
    assert calls.index("systemctl stop jumpkiosk.service") < calls.index("jumpkiosk[1.1.0] migrate")
    assert calls.index("jumpkiosk[1.1.0] migrate") < calls.index("systemctl start jumpkiosk.service")
    assert any(c.startswith("curl") and "http://127.0.0.1:8080/healthz" in c for c in calls)
    backups = list((pi.root / "var" / "lib" / "jumpkiosk" / "backups").glob("*-pre-1.1.0-*/jumpkiosk.sqlite3"))
    assert len(backups) == 1
    with sqlite3.connect(backups[0]) as conn:
        assert [r[0] for r in conn.execute("SELECT version FROM applied")] == ["1.0.0"]
    assert 'healthy: http://127.0.0.1:8080/healthz says {"status": "ok", "version": "1.1.0"}' in proc.stdout


def test_unhealthy_update_rolls_back_by_itself(pi: FakePi):
    pi.run("install")
    old = pi.current()
    new_src = pi.source_tree("src2", "2.0.0")
    (pi.state / "health").write_text("bad 2.0.0")  # the new version answers 500
    proc = pi.run("update", src=new_src, check=False)
    assert proc.returncode != 0
    assert "rolled back to" in proc.stderr
    assert pi.current() == old
    assert pi.applied() == ["1.0.0"]  # the new version's migration was undone
    assert not (pi.db.parent / "jumpkiosk.sqlite3-wal").exists() or (pi.db.parent / "jumpkiosk.sqlite3-wal").stat().st_size == 0
    # The failed build stays for inspection.
    assert any(p.name.startswith("2.0.0-") for p in (pi.opt / "releases").iterdir())
    assert "(healthy)" in proc.stderr  # the old version was started again and answered
    calls = pi.calls()
    assert calls.count("systemctl stop jumpkiosk.service") == 2  # before migrating, before rolling back


@pytest.mark.parametrize(("health", "switched", "says"), [
    ("noversion", True, "healthy: http://127.0.0.1:8080/healthz says"),
    ("fault", True, "reports a hardware fault (camera)"),
    ("404", True, "jumpkiosk.service is active (http://127.0.0.1:8080/healthz is not there)"),
    ("error", False, "not healthy within"),
])
def test_health_answers(pi: FakePi, health: str, switched: bool, says: str):
    pi.run("install")
    old = pi.current()
    (pi.state / "health").write_text(health)
    proc = pi.run("update", src=pi.source_tree("src2", "1.1.0"), check=False)
    assert says in proc.stdout
    assert (proc.returncode == 0) == switched
    assert (pi.current() != old) == switched


def test_failed_migration_keeps_the_old_version(pi: FakePi):
    pi.run("install")
    old = pi.current()
    (pi.state / "fail-migrate-3.0.0").touch()
    proc = pi.run("update", src=pi.source_tree("src3", "3.0.0"), check=False)
    assert proc.returncode != 0
    assert "failed at the migration" in proc.stderr
    assert pi.current() == old
    assert pi.applied() == ["1.0.0"]
    assert pi.calls()[-1] == "systemctl start jumpkiosk.service"


def test_rollback_goes_to_the_previous_release(pi: FakePi):
    pi.run("install")
    first = pi.current()
    pi.run("update", src=pi.source_tree("src2", "1.1.0"))
    second = pi.current()
    proc = pi.run("rollback")
    assert pi.current() == first
    assert os.readlink(pi.opt / "previous") == second
    assert pi.applied() == ["1.0.0", "1.1.0"]  # kept: trials since the update stay
    assert "rolled back" in proc.stdout
    # --restore-db brings back the database as it was before 1.1.0 was installed.
    pi.run("rollback")  # forward again to 1.1.0
    assert pi.current() == second
    pi.run("rollback", "--restore-db")
    assert pi.current() == first
    assert pi.applied() == ["1.0.0"]


def test_rollback_without_previous_is_refused(pi: FakePi):
    pi.run("install")
    proc = pi.run("rollback", check=False)
    assert proc.returncode == 1
    assert "no previous release" in proc.stderr


def test_update_before_install_is_refused(pi: FakePi):
    proc = pi.run("update", check=False)
    assert proc.returncode == 1
    assert "no station installed" in proc.stderr


def test_old_releases_are_pruned(pi: FakePi):
    pi.env["JUMPKIOSK_KEEP_RELEASES"] = "1"
    pi.run("install")
    for n in range(1, 4):
        pi.run("update", src=pi.source_tree(f"s{n}", f"1.{n}.0"))
    names = sorted(p.name.split("-")[0] for p in (pi.opt / "releases").iterdir())
    # current (1.3.0), previous (1.2.0), and the newest other one (1.1.0).
    assert names == ["1.1.0", "1.2.0", "1.3.0"]
