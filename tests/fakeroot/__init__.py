"""A fake Raspberry Pi for setup.sh: a temporary root plus recording fakes of the system commands.

``setup.sh`` prefixes every path with ``$JUMPKIOSK_ROOT`` and calls apt-get, systemctl,
useradd, runuser, curl, raspi-config, ... by name, so putting ``bin/`` first on ``PATH`` lets a
test run the real station steps and read back what they did: each fake appends its argv as one
line to ``calls.log``; package, user and unit state lives in small files in ``state/``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BIN = HERE / "bin"
BUILD_RELEASE = HERE / "build-release"
#: Packages with an install candidate on Raspberry Pi OS; plain Debian lacks the PI_ONLY ones.
PI_ONLY = ("python3-picamera2", "python3-lgpio")
RPI_OS_PACKAGES = ("python3-venv", "python3-pip", "sqlite3", "curl", "ca-certificates", "chromium", *PI_ONLY)


@dataclass
class FakePi:
    tmp: Path
    root: Path
    state: Path
    log: Path
    src: Path
    env: dict[str, str]

    def run(self, *args: str, src: Path | None = None, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        """Runs ``setup.sh ARGS`` from ``src`` (default: the copy made for this fake Pi)."""
        script = (src or self.src) / "setup.sh"
        proc = subprocess.run(["bash", str(script), *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"setup.sh {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def clear_calls(self) -> None:
        self.log.write_text("")

    @property
    def opt(self) -> Path:
        return self.root / "opt" / "jumpkiosk"

    def current(self) -> str:
        return os.readlink(self.opt / "current")

    @property
    def db(self) -> Path:
        return self.root / "var" / "lib" / "jumpkiosk" / "jumpkiosk.sqlite3"

    def applied(self) -> list[str]:
        """Versions whose (fake) migration the database has seen, in order."""
        with sqlite3.connect(self.db) as conn:
            return [r[0] for r in conn.execute("SELECT version FROM applied ORDER BY rowid")]

    def source_tree(self, name: str, version: str) -> Path:
        """A copy of the parts of this repository setup.sh needs, at ``version``."""
        dest = self.tmp / name
        dest.mkdir()
        shutil.copy2(REPO / "setup.sh", dest / "setup.sh")
        shutil.copytree(REPO / "systemd", dest / "systemd")
        (dest / "kiosk").mkdir()
        (dest / "kiosk" / "__init__.py").write_text(f'"""Fake package."""\n\n__version__ = "{version}"\n')
        return dest


def make_fake_pi(tmp: Path, *, fast_build: bool = True) -> FakePi:
    root, state = tmp / "root", tmp / "state"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_CODENAME=bookworm\n')
    (root / "home" / "pi").mkdir(parents=True)
    lists = root / "var" / "lib" / "apt" / "lists"  # apt-get update has run once
    lists.mkdir(parents=True)
    (lists / "archive.raspberrypi.com_debian_dists_bookworm_main_binary-arm64_Packages").write_text("")
    state.mkdir()
    (state / "installed").write_text("labwc\n")
    # What Raspberry Pi OS's sources (Debian's plus the Raspberry Pi archive) offer.
    (state / "available").write_text("\n".join(RPI_OS_PACKAGES) + "\n")
    (state / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\npi:x:1000:1000::/home/pi:/bin/bash\n")
    (state / "group").write_text("root:x:0:\nvideo:x:44:pi\ngpio:x:993:pi\nrender:x:105:pi\npi:x:1000:\n")
    (state / "health").write_text("ok")
    log = tmp / "calls.log"
    env = {k: v for k, v in os.environ.items() if k not in ("SUDO_USER", "JUMPKIOSK_DESKTOP_USER", "NOTIFY_SOCKET")}
    env.update({
        "PATH": f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}",
        "JUMPKIOSK_ROOT": str(root),
        "FAKE_LOG": str(log),
        "FAKE_STATE": str(state),
        "JUMPKIOSK_HEALTH_TIMEOUT": "3",
        "JUMPKIOSK_HEALTH_INTERVAL": "0.2",
        "JUMPKIOSK_PYTHON": "python3",
    })
    if fast_build:
        env["JUMPKIOSK_BUILD_CMD"] = str(BUILD_RELEASE)
    pi = FakePi(tmp=tmp, root=root, state=state, log=log, src=tmp / "src", env=env)
    pi.source_tree("src", "1.0.0")
    return pi
