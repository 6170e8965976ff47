"""A damaged refine model (Thunder, the default) is caught at start and by `doctor`, not by every
trial failing its analysis later: the station serves its fault screen and /healthz answers 503
naming the model; `doctor` fails on it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import write_bar_clip

from kiosk.cli import main
from kiosk.matcsv import MatEdge
from kiosk.pose.models import MODELS_ENV, default_models_dir, load_manifest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def damaged_thunder(tmp_path: Path) -> Path:
    """A copy of the models folder whose Thunder file has 4 KB overwritten in the middle."""
    folder = tmp_path / "models"
    shutil.copytree(default_models_dir(), folder)
    thunder = folder / load_manifest(folder)["thunder"].path.name
    data = bytearray(thunder.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 4096] = bytes(4096)
    thunder.write_bytes(bytes(data))
    return folder


def _config(tmp_path: Path) -> Path:
    clip = write_bar_clip(tmp_path, 60, [MatEdge(0.6, True), MatEdge(0.9, False), MatEdge(1.35, True)],
                          crf=23, background=40)
    cfg = tmp_path / "station.toml"
    cfg.write_text(f'[station]\nstate_dir = "{tmp_path / "state"}"\n'
                   f'[camera]\nsource = "replay"\nreplay_path = "{clip}"\nwidth = 160\nheight = 120\nfps = 60\n'
                   '[mat]\nkind = "simulated"\npin_factory = "mock"\n'
                   '[pose]\nmodel = "lightning"\nrefine_model = "thunder"\nthreads = 1\n'
                   f'[web]\nsecret_key = "{"k" * 40}"\n', encoding="utf-8")
    return cfg


def test_doctor_fails_on_a_damaged_thunder(tmp_path: Path, damaged_thunder: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv(MODELS_ENV, str(damaged_thunder))
    rc = main(["--config", str(_config(tmp_path)), "doctor", "--camera-seconds", "0.3"])
    out = capsys.readouterr().out
    model_line = next(ln for ln in out.splitlines() if ln.split()[1:2] == ["model"])
    assert rc == 1 and model_line.startswith("FAIL") and "thunder" in model_line.lower(), out


def test_station_starts_on_its_fault_screen_with_a_damaged_thunder(tmp_path: Path, damaged_thunder: Path) -> None:
    cfg = _config(tmp_path)
    env = {**os.environ, MODELS_ENV: str(damaged_thunder)}
    proc = subprocess.Popen([sys.executable, "-m", "kiosk", "--config", str(cfg), "serve", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        assert proc.stdout is not None
        url = None
        for line in proc.stdout:  # the server prints its address once it listens
            if "open http://" in line:
                url = line.split("open ", 1)[1].split()[0].rstrip("/")
                break
        assert url, proc.stderr.read() if proc.stderr else "no output"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{url}/healthz", timeout=30)
        assert err.value.code == 503
        health = json.loads(err.value.read())
        assert "model" in health["fault"].split(",") and "thunder" in health["cause"].lower()
        # The touchscreen (this machine is localhost) gets the model fault screen.
        with urllib.request.urlopen(f"{url}/station/state", timeout=30) as resp:
            state = json.loads(resp.read())
        assert state["state"] == "fault" and state["fault"]["kind"] == "model"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
