from pathlib import Path

import pytest

from kiosk.config import Config, load_config, render_defaults, replace
from kiosk.errors import ConfigError, KioskError

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "station.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_defaults_load_without_a_file():
    cfg = load_config(None)
    assert isinstance(cfg, Config)
    assert cfg.session.trials == 3
    assert cfg.scoring.valgus_displacement_deg == 10.6


def test_values_are_read_and_coerced(tmp_path):
    cfg = load_config(write(tmp_path, "[camera]\nfps = 60\n\n[scoring]\npeak_fppa_male_deg = 9\n"))
    assert cfg.camera.fps == 60
    assert cfg.scoring.peak_fppa_male_deg == 9.0 and isinstance(cfg.scoring.peak_fppa_male_deg, float)


def test_retired_scoring_keys_warn_and_are_ignored(tmp_path):
    with pytest.warns(UserWarning, match=r":4: kasr_peak_min is no longer used \(KASR decides nothing"):
        cfg = load_config(write(tmp_path, "[camera]\nfps = 60\n[scoring]\nkasr_peak_min = 0.6\n"))
    assert cfg.camera.fps == 60 and not hasattr(cfg.scoring, "kasr_peak_min")


def test_trials_per_session_cannot_go_below_three(tmp_path):
    with pytest.raises(ConfigError, match="trials = 2 is below the minimum 3"):
        load_config(write(tmp_path, "[session]\ntrials = 2\n"))


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("[camera]\nfps = 60\nfsp = 5\n", 3, "unknown key 'fsp'"),
        ("[station]\nname = 'x'\n[kamera]\nfps = 5\n", 3, "unknown section [kamera]"),
        ("[camera]\n\nfps = 500\n", 3, "above the maximum"),
        ("[camera]\nsource = 'webcam'\n", 2, "not one of"),
        ("[web]\nport = 'eighty'\n", 2, "whole number"),
        ("[web]\nallow_quick_add = 1\n", 2, "true or false"),
        ("[camera]\nfps = \n", 2, "not valid TOML"),
    ],
)
def test_bad_files_name_the_line(tmp_path, text, line, words):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert f"{p}:{line}" in str(err.value)
    assert words in str(err.value)
    assert isinstance(err.value, KioskError) and isinstance(err.value, ValueError)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_rendered_defaults_round_trip(tmp_path):
    cfg = load_config(write(tmp_path, render_defaults()))
    assert cfg == Config()


def test_replace_validates():
    cfg = replace(Config(), "session", trials=5)
    assert cfg.session.trials == 5
    with pytest.raises(ConfigError):
        replace(Config(), "session", trials=0)


def test_docs_show_every_default():
    """docs/CONFIG.md embeds `jumpkiosk config --defaults`; regenerate it when a setting changes."""
    doc = (ROOT / "docs" / "CONFIG.md").read_text(encoding="utf-8")
    assert render_defaults().strip() in doc, "docs/CONFIG.md is stale: paste `jumpkiosk config --defaults` into it"
