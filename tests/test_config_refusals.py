"""Settings that cannot be meant are refused, through the config file (and `jumpkiosk config`)
and through the coach Settings page: NaN and infinities, unknown time zones, a short secret key,
a bad host. A NaN threshold would pass every min/max check and turn FLAGs into PASSes."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.cli import main as cli_main
from kiosk.config import load_config
from kiosk.errors import ConfigError

FILE_CASES = {
    "nan": ("[scoring]\nvalgus_displacement_deg = nan\n", "finite number"),
    "inf": ("[scoring]\npeak_fppa_female_deg = inf\n", "finite number"),
    "-inf": ("[pose]\nmin_score = -inf\n", "finite number"),
    "timezone": ('[station]\ntimezone = "Mars/Olympus_Mons"\n', "IANA time zone"),
    "timezone-path": ('[station]\ntimezone = "../../etc/passwd"\n', "IANA time zone"),
    "secret": ('[web]\nsecret_key = "x"\n', "too short"),
    "host": ('[web]\nhost = "not a host!"\n', "not an IP address or host name"),
    "host-octets": ('[web]\nhost = "999.1.1.1"\n', "not an IP address or host name"),
}


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_config_file_refuses(case: str, tmp_path: Path, capsys) -> None:
    text, why = FILE_CASES[case]
    path = tmp_path / "station.toml"
    path.write_text("# station\n" + text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert why in msg and f"{path}:3" in msg and "\n" not in msg  # the line at fault, one line
    # `jumpkiosk config` checks the same: exit 2 with the one-line message, never "OK".
    assert cli_main(["--config", str(path), "config"]) == 2
    out = capsys.readouterr()
    assert why in out.err and "OK" not in out.out


def test_secret_value_is_not_echoed(tmp_path: Path) -> None:
    path = tmp_path / "station.toml"
    path.write_text('[web]\nsecret_key = "hunter2"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "hunter2" not in str(err.value)


def test_good_values_still_load(tmp_path: Path) -> None:
    path = tmp_path / "station.toml"
    path.write_text('[station]\ntimezone = "Europe/Berlin"\n[web]\nhost = "0.0.0.0"\nsecret_key = "'
                    + "a1" * 32 + '"\n[scoring]\nvalgus_displacement_deg = 12.0\n', encoding="utf-8")
    cfg = load_config(path)
    assert cfg.station.timezone == "Europe/Berlin" and cfg.web.host == "0.0.0.0"
    for host in ("::", "127.0.0.1", "kiosk.local", "jump-station-1"):
        assert load_config(None).__class__  # defaults load
        from kiosk.config import replace

        assert replace(cfg, "web", host=host).web.host == host


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e999"])
def test_settings_page_refuses_non_finite_thresholds(app, client, store, coach, value: str) -> None:
    before = store.get_settings()
    r = client.post("/coach/settings", data={"scoring.valgus_displacement_deg": value, "csrf_token": coach})
    assert r.status_code == 400
    assert "Not saved" in r.get_data(as_text=True) and "finite number" in r.get_data(as_text=True)
    assert store.get_settings() == before
    assert store.effective_config(app.config["KIOSK_CONFIG"]).scoring.valgus_displacement_deg == 10.6 or \
        store.effective_config(app.config["KIOSK_CONFIG"]).scoring == app.config["KIOSK_CONFIG"].scoring


@pytest.mark.parametrize("key,value", [("station.timezone", "Mars/Olympus_Mons"), ("web.secret_key", "x"),
                                       ("web.host", "not a host!")])
def test_settings_page_cannot_set_network_or_clock_settings(app, client, store, coach, key: str, value: str) -> None:
    """Time zone, secret and host belong to the config file only: the page ignores them and the
    store refuses them, so a bad value cannot arrive that way either."""
    r = client.post("/coach/settings", data={key: value, "csrf_token": coach})
    assert r.status_code in (302, 400)
    assert key not in store.get_settings()
    base = app.config["KIOSK_CONFIG"]
    section, name = key.split(".")
    assert getattr(getattr(store.effective_config(base), section), name) == getattr(getattr(base, section), name)
    with pytest.raises(ConfigError, match="cannot be changed from the Settings page"):
        store.set_settings(base, {key: value})


def test_a_bad_override_stored_earlier_is_ignored_not_applied(app, store) -> None:
    """A NaN written into the settings table by an older version never reaches scoring."""
    import json

    with store.tx() as conn:
        conn.execute("INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)",
                     ("scoring.valgus_displacement_deg", json.dumps(float("nan")), store.now_iso()))
    eff = store.effective_config(app.config["KIOSK_CONFIG"])
    assert eff.scoring.valgus_displacement_deg == app.config["KIOSK_CONFIG"].scoring.valgus_displacement_deg
