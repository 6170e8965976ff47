"""setup.sh as a script: shellcheck-clean, its help, and its refusals."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = ["setup.sh", "systemd/jumpkiosk-browser", "systemd/jumpkiosk-nightly"]


def test_shellcheck_clean():
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck; CI installs it)")
    proc = subprocess.run(["shellcheck", *SCRIPTS], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_help_lists_every_mode():
    out = subprocess.run(["bash", "setup.sh", "--help"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    for mode in ("--dev", "install", "update [REF]", "rollback", "--check", "build"):
        assert mode in out


def test_unknown_option_is_refused():
    proc = subprocess.run(["bash", "setup.sh", "--bogus"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 1
    assert "unknown option '--bogus'" in proc.stderr


@pytest.mark.parametrize("mode", ["install", "update", "rollback", "build"])
def test_station_modes_need_root(tmp_path: Path, mode: str):
    # A fake `id` makes this run look like a normal user's, whoever runs the tests.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "id").write_text("#!/bin/sh\necho 1000\n")
    (fake / "id").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "JUMPKIOSK_ROOT"}
    env["PATH"] = f"{fake}:{env.get('PATH', '/usr/bin:/bin')}"
    env["JUMPKIOSK_LOG"] = str(tmp_path / "setup.log")
    proc = subprocess.run(["bash", "setup.sh", mode], cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 1
    assert "run it as root (sudo ./setup.sh" in proc.stderr
    assert not (tmp_path / "setup.log").exists()  # refused before touching anything
