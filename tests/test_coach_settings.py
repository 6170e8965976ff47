"""Settings split: a coach changes the FLAG limits and the trial count inside safe bounds; station
internals only change on the station (CLI) or in the config file; every change is logged."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.cli import main
from kiosk.store import Store
from kiosk.store.settings import coach_keys, internal_keys


def test_settings_page_validates_and_applies(app, client, store, coach) -> None:
    page = client.get("/coach/settings").get_data(as_text=True)
    assert "Holden et al. 2017" in page  # each limit names its source
    r = client.post("/coach/settings", data={"scoring.valgus_displacement_deg": "12.5", "session.trials": "4",
                                             "csrf_token": coach})
    assert r.status_code == 302
    eff = store.effective_config(app.config["KIOSK_CONFIG"])
    assert eff.scoring.valgus_displacement_deg == 12.5 and eff.session.trials == 4
    r = client.post("/coach/settings", data={"session.trials": "4", "scoring.valgus_displacement_deg": "x",
                                             "csrf_token": coach})
    assert r.status_code == 400 and "Not saved" in r.get_data(as_text=True)
    for bad in ("50", "1", "2"):  # the session verdict is a median of >= 3 trials
        r = client.post("/coach/settings", data={"session.trials": bad, "csrf_token": coach})
        assert r.status_code == 400 and "outside what a coach may set" in r.get_data(as_text=True)
    r = client.post("/coach/settings", data={"scoring.valgus_displacement_deg": "40", "csrf_token": coach})
    assert r.status_code == 400
    assert store.effective_config(app.config["KIOSK_CONFIG"]).session.trials == 4
    log = store.settings_log()
    assert [(e["by"], e["key"], e["old"], e["new"]) for e in log] == [
        ("anna", "session.trials", None, 4), ("anna", "scoring.valgus_displacement_deg", None, 12.5)]
    page = client.get("/coach/settings").get_data(as_text=True)
    assert "Changes" in page and "anna" in page
    client.post("/coach/settings/reset", data={"csrf_token": coach})
    assert store.get_settings() == {}
    assert store.settings_log()[0]["new"] is None


@pytest.mark.parametrize("key,value", [("store.media_retention_days", "1"), ("scoring.implausible_fppa_deg", "80"),
                                       ("session.max_attempts", "20"), ("web.host", "0.0.0.0")])
def test_a_coach_cannot_change_station_internals(app, client, store, coach, key, value) -> None:
    before = store.effective_config(app.config["KIOSK_CONFIG"])
    r = client.post("/coach/settings", data={key: value, "csrf_token": coach})
    assert r.status_code == 400 and "station setting" in r.get_data(as_text=True)
    assert store.get_settings() == {} and store.settings_log() == []
    assert store.effective_config(app.config["KIOSK_CONFIG"]) == before
    # nor slipped in next to an allowed change
    r = client.post("/coach/settings", data={"session.trials": "4", key: value, "csrf_token": coach})
    assert r.status_code == 400 and store.get_settings() == {}


def test_the_split_covers_every_override_once() -> None:
    assert "scoring.valgus_displacement_deg" in coach_keys() and "session.trials" in coach_keys()
    assert "store.media_retention_days" in internal_keys()
    assert not set(coach_keys()) & set(internal_keys())


def test_admin_changes_internals_on_the_station(tmp_path: Path, monkeypatch, capsys) -> None:
    cfg = tmp_path / "station.toml"
    cfg.write_text(f'[station]\nstate_dir = "{(tmp_path / "state").as_posix()}"\n', encoding="utf-8")
    monkeypatch.setenv("JUMPKIOSK_CONFIG", str(cfg))
    assert main(["migrate"]) == 0
    assert main(["setting", "store.media_retention_days", "30"]) == 0
    assert capsys.readouterr().out.strip().endswith("store.media_retention_days = 30")
    store = Store(tmp_path / "state")
    assert store.get_settings() == {"store.media_retention_days": 30}
    assert store.settings_log()[0]["by"].startswith("cli:")
    assert main(["setting", "store.media_retention_days", "--reset"]) == 0 and store.get_settings() == {}
    assert main(["setting", "web.host", "0.0.0.0"]) == 2
    assert main(["setting"]) == 0 and "[station]" in capsys.readouterr().out
