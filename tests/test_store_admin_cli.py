"""`jumpkiosk migrate / create-coach / coach-token / export-day / prune-media` through the CLI."""

from __future__ import annotations

import io
import random
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kiosk.cli import main
from kiosk.store import Store
from kiosk.store.db import _migrations
from kiosk.store.sample import result_json, seed


@pytest.fixture()
def station(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cfg = tmp_path / "station.toml"
    cfg.write_text(f'[station]\nstate_dir = "{(tmp_path / "state").as_posix()}"\ntimezone = "UTC"\n', encoding="utf-8")
    monkeypatch.setenv("JUMPKIOSK_CONFIG", str(cfg))
    return tmp_path / "state"


def test_admin_commands(station: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    assert main(["migrate"]) == 0 and f"schema version {len(_migrations())}" in capsys.readouterr().out
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long password\n"))
    assert main(["create-coach", "anna"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long password\n"))
    assert main(["create-coach", "anna"]) == 2 and "already exists" in capsys.readouterr().err
    assert main(["coach-token", "anna"]) == 0
    token = capsys.readouterr().out.strip()
    store = Store(station)
    assert store.authenticate("anna", "a long password") and store.coach_for_token(token)["username"] == "anna"
    assert main(["coach-token", "nobody"]) == 2

    day = datetime(2026, 11, 21, 9, tzinfo=UTC)
    seed(store, athletes=2, sessions_per_athlete=1, start=day, media={"replay.mp4": b"clip"})
    out = station.parent / "out"
    assert main(["export-day", "--date", "2026-11-21", "--out", str(out)]) == 0
    assert "6 trials" in capsys.readouterr().out
    assert (out / "trials_2026-11-21.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    with zipfile.ZipFile(out / "clips_2026-11-21.zip") as zf:
        assert len([n for n in zf.namelist() if n.endswith("replay.mp4")]) == 6
    assert main(["export-day", "--date", "21.11.2026", "--out", str(out)]) == 2

    old = datetime.now(UTC) - timedelta(days=200)  # older than the default 90-day retention
    sid = store.start_session(store.add_athlete("Old Timer"), started_at=old)
    for k in range(3):
        store.save_trial(sid, result_json(random.Random(k)), {"replay.mp4": b"old"}, recorded_at=old)
    capsys.readouterr()
    assert main(["prune-media"]) == 0 and "deleted for 3 trials" in capsys.readouterr().out
    kept = store.trials_between("0", "9")
    assert sum(t["media"] == {} for t in kept) == 3 and sum(bool(t["media"]) for t in kept) == 6
    store.close()
