"""jumpkiosk doctor: each check's findings on this machine, with mock pins and fake clocks."""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path

import numpy as np
from gpiozero.pins.mock import MockFactory

from kiosk.cli import main
from kiosk.config import config_from_dict
from kiosk.matcsv import MatEdge, format_mat_csv
from kiosk.media import VideoWriter
from kiosk.station.doctor import FAIL, OK, WARN, check_camera, check_clock, check_database, check_mat


def _run_stub(out: str):
    def run(cmd, **kw):
        assert cmd[0] == "timedatectl"
        return subprocess.CompletedProcess(cmd, 0, stdout=out + "\n", stderr="")
    return run


def test_clock_checks():
    assert check_clock(datetime(2024, 1, 1)).status == FAIL
    if check_clock(datetime(2026, 5, 1)).message.endswith("timedatectl not found, NTP sync unknown"):
        return  # no systemd here; the parsing below needs timedatectl on PATH
    assert check_clock(datetime(2026, 5, 1), run=_run_stub("yes")).status == OK
    assert check_clock(datetime(2026, 5, 1), run=_run_stub("no")).status == WARN


def test_database_probe(tmp_path: Path):
    assert check_database(tmp_path / "state").status == OK
    assert not list((tmp_path / "state").iterdir())  # the probe is gone
    blocker = tmp_path / "file"
    blocker.write_text("x")
    bad = check_database(blocker / "sub")
    assert bad.status == FAIL and "not writable" in bad.message


def test_mat_interactive_step_on_off():
    factory = MockFactory()
    cfg = config_from_dict({"mat": {"kind": "gpio", "pin": 17}})

    clock = [0]

    def athlete(message: str) -> None:  # the prompt is where a person would step on and off
        pin = factory.pin(17)
        clock[0] = 1_000_000_000
        pin.drive_low()
        clock[0] = 1_400_000_000
        pin.drive_high()
        clock[0] = 1_500_000_000  # quiet: the debouncer closes the step-off

    f = check_mat(cfg, interactive=True, wait_s=5.0, prompt=athlete, pin_factory=factory, clock=lambda: clock[0])
    assert f.status == OK and "step on and step off" in f.message
    f = check_mat(cfg, interactive=True, wait_s=0.3, prompt=lambda m: None, pin_factory=factory)
    assert f.status == FAIL and "no change" in f.message
    f = check_mat(cfg, pin_factory=factory)
    assert f.status == OK and f.message == "GPIO17: open"


def test_mat_not_configured_is_a_warning():
    assert check_mat(config_from_dict({"mat": {"kind": "simulated"}})).status == WARN


def test_camera_replay_measures_fps(tmp_path: Path):
    clip = tmp_path / "clip.mp4"
    with VideoWriter(clip, 60, 64, 48) as w:
        for k in range(90):
            w.write(np.full((48, 64, 3), k, np.uint8))
    (tmp_path / "mat.csv").write_text(format_mat_csv([MatEdge(0.5, True)]))
    cfg = config_from_dict({"camera": {"source": "replay", "replay_path": str(clip), "width": 640, "height": 480,
                                       "fps": 60}})
    f = check_camera(cfg, seconds=1.0)
    assert f.status == OK, f.message
    assert "0 dropped" in f.message


def test_missing_camera_is_warned_with_demo_hint():
    cfg = config_from_dict({"camera": {"source": "v4l2", "device": "/dev/video-none"}})
    f = check_camera(cfg, seconds=0.5)
    assert f.status == WARN and "demo" in f.message


def test_doctor_command_exit_code(tmp_path: Path, capsys):
    cfg = tmp_path / "station.toml"
    cfg.write_text(f'[station]\nstate_dir = "{tmp_path / "state"}"\n[camera]\nsource = "v4l2"\n'
                   'device = "/dev/video-none"\n[mat]\nkind = "none"\n')
    rc = main(["--config", str(cfg), "doctor", "--camera-seconds", "0.5"])
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln[:4] in ("OK  ", "WARN", "FAIL")]
    assert [ln.split()[1] for ln in lines] == ["camera", "mat", "model", "disk", "clock", "database", "https"]
    assert "`jumpkiosk demo`" in out
    assert rc == (1 if any(ln.startswith("FAIL") for ln in lines) else 0)


def test_database_integrity_check_fails_a_damaged_database(tmp_path: Path):
    import sqlite3

    from kiosk.station.doctor import FAIL, OK, check_database

    folder = tmp_path / "state"
    folder.mkdir()
    db = folder / "jumpkiosk.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("CREATE INDEX t_name ON t (name)")
    conn.executemany("INSERT INTO t (name) VALUES (?)", [(f"athlete {i:05d}",) for i in range(3000)])
    conn.commit()
    conn.close()
    assert check_database(folder).status == OK
    data = bytearray(db.read_bytes())
    page = 4096
    data[page * 3 + 200: page * 3 + 1200] = bytes(range(256)) * 3 + bytes(232)  # a page scribbled on
    db.write_bytes(bytes(data))
    finding = check_database(folder)
    assert finding.status == FAIL and "integrity_check" in finding.message, finding.line()
