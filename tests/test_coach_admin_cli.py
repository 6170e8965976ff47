"""Coach accounts from the station's CLI (list, reset, delete), and admin commands that find the
station's data instead of quietly making a new empty database."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from kiosk import cli
from kiosk.cli import main
from kiosk.store import Store


@pytest.fixture()
def station(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cfg = tmp_path / "station.toml"
    cfg.write_text(f'[station]\nstate_dir = "{(tmp_path / "state").as_posix()}"\ntimezone = "UTC"\n', encoding="utf-8")
    monkeypatch.setenv("JUMPKIOSK_CONFIG", str(cfg))
    return tmp_path / "state"


def _password(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text + "\n"))


def test_list_reset_and_delete_coaches(station: Path, monkeypatch, capsys) -> None:
    assert main(["migrate"]) == 0
    _password(monkeypatch, "first password")
    assert main(["create-coach", "anna"]) == 0
    store = Store(station)
    sid = store.open_session(store.list_coaches()[0]["id"], "192.168.1.9")
    token = store.new_token("anna")
    capsys.readouterr()
    assert main(["coaches"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("anna\t") and "1 open login(s)" in out and "API token since" in out

    _password(monkeypatch, "second password")
    assert main(["reset-password", "anna"]) == 0
    assert store.session_coach(sid) is None and store.coach_for_token(token) is None
    assert store.authenticate("anna", "second password") and not store.authenticate("anna", "first password")
    _password(monkeypatch, "whatever else")
    assert main(["reset-password", "nobody"]) == 2 and "no coach named 'nobody'" in capsys.readouterr().err

    sid = store.open_session(store.list_coaches()[0]["id"])
    assert main(["delete-coach", "anna"]) == 0
    assert store.session_coach(sid) is None and store.list_coaches() == []
    assert main(["delete-coach", "anna"]) == 2
    store.close()


def test_commands_refuse_to_make_a_new_database(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("JUMPKIOSK_CONFIG", raising=False)
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "INSTALLED_CONFIG", str(tmp_path / "etc" / "station.toml"))
    _password(monkeypatch, "a long password")
    assert main(["create-coach", "anna"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no station database at" in err and "sudo -u jumpkiosk" in err
    assert main(["export-day", "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "instance" / "jumpkiosk.sqlite3").exists()


def test_the_installed_config_is_the_default(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("JUMPKIOSK_CONFIG", raising=False)
    installed = tmp_path / "etc" / "station.toml"
    installed.parent.mkdir()
    installed.write_text(f'[station]\nstate_dir = "{(tmp_path / "var").as_posix()}"\n', encoding="utf-8")
    monkeypatch.setattr(cli, "INSTALLED_CONFIG", str(installed))
    monkeypatch.chdir(tmp_path)
    assert main(["migrate"]) == 0
    assert str(tmp_path / "var") in capsys.readouterr().out
    _password(monkeypatch, "a long password")
    assert main(["create-coach", "anna"]) == 0
    assert Store(tmp_path / "var").authenticate("anna", "a long password")
