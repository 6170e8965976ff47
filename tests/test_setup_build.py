"""setup.sh builds a real release: a venv with system site packages and this repository installed.

The one test here that runs pip for real (a wheel built from the tree, dependencies from the
package index or pip's cache); the other setup tests use a fast stand-in.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fakeroot import REPO, make_fake_pi


def test_build_makes_a_working_release(tmp_path: Path):
    py = shutil.which("python3")
    if py is None or subprocess.run([py, "-c", "import ensurepip, venv"]).returncode != 0:
        pytest.skip("python3 with venv/ensurepip is needed to build a release")
    pi = make_fake_pi(tmp_path, fast_build=False)
    proc = pi.run("build", src=REPO, timeout=600)
    releases = [p for p in (pi.opt / "releases").iterdir()]
    assert len(releases) == 1, proc.stdout + proc.stderr
    rel = releases[0]
    version = subprocess.run([sys.executable, "-c", "import kiosk; print(kiosk.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert rel.name.startswith(version + "-")
    assert (rel / ".complete").is_file()
    assert "include-system-site-packages = true" in (rel / ".venv" / "pyvenv.cfg").read_text()
    # Installed, not linked to the checkout: the package lives inside the release's venv.
    where = subprocess.run([str(rel / ".venv" / "bin" / "python"), "-c", "import kiosk; print(kiosk.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path).stdout.strip()
    assert where.startswith(str(rel / ".venv"))
    out = subprocess.run([str(rel / ".venv" / "bin" / "jumpkiosk"), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"jumpkiosk {version}"
    # The release carries its own models, units and browser launcher; `build` switches nothing.
    assert (rel / "src" / "models" / "manifest.json").is_file()
    assert (rel / "src" / "systemd" / "jumpkiosk.service").is_file()
    assert not (rel / "src" / ".venv").exists() and not (rel / "src" / ".git").exists()
    assert not (pi.opt / "current").exists()
