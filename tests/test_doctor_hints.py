"""doctor's hints must be followable: the commands it names exist, the packages it names are the
apt packages to install, and no line tells the user to run doctor while doctor runs."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest

from kiosk.cli import build_parser, main


def _pi_config(tmp_path: Path, pin_factory: str) -> Path:
    cfg = tmp_path / "station.toml"
    cfg.write_text(f'[station]\nstate_dir = "{tmp_path / "state"}"\n[camera]\nsource = "picamera2"\n'
                   f'[mat]\nkind = "gpio"\npin_factory = "{pin_factory}"\n')
    return cfg


@pytest.mark.skipif(importlib.util.find_spec("picamera2") is not None or importlib.util.find_spec("lgpio") is not None,
                    reason="needs a machine without picamera2 and lgpio (a Pi has them)")
@pytest.mark.parametrize("pin_factory", ["default", "lgpio"])
def test_pi_config_without_pi_libraries(tmp_path: Path, capsys: pytest.CaptureFixture[str], pin_factory: str):
    rc = main(["--config", str(_pi_config(tmp_path, pin_factory)), "doctor", "--camera-seconds", "0.5"])
    out = capsys.readouterr().out
    assert rc == 1
    camera = next(ln for ln in out.splitlines() if ln.split()[1:2] == ["camera"])
    mat = next(ln for ln in out.splitlines() if ln.split()[1:2] == ["mat"])
    assert camera.startswith("WARN") and "sudo apt install python3-picamera2" in camera
    assert mat.startswith("FAIL") and "sudo apt install python3-lgpio" in mat
    assert "jumpkiosk doctor" not in out  # doctor is what runs
    # Every `jumpkiosk ...` the output names is a command the CLI takes as written.
    named = re.findall(r"`(jumpkiosk [^`]*)`", out)
    assert "jumpkiosk demo" in named
    for cmd in named:
        build_parser().parse_args(shlex.split(cmd)[1:])
