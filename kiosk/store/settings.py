"""Settings a coach may change from the Settings page, stored as overrides of the config file.

Only a few keys are editable (scoring thresholds, trials per session, media retention): the
rest of the station config is hardware and network and belongs in the TOML file. Overrides are
validated through :func:`kiosk.config.replace`, so the page refuses exactly what the file would,
with the same limits, and :meth:`SettingsMixin.effective_config` gives the config the station
runtime should use.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import TYPE_CHECKING, Any

from kiosk.config import Config, replace
from kiosk.errors import ConfigError, InputError

if TYPE_CHECKING:
    from kiosk.store.db import Store

log = logging.getLogger(__name__)


def editable_keys() -> list[str]:
    """The "section.key" names the Settings page may override, in display order."""
    from kiosk.analysis.thresholds import Thresholds

    keys = [f"scoring.{f.name}" for f in dataclasses.fields(Thresholds)]
    return keys + ["session.trials", "store.media_retention_days"]


def field_info(config: Config, key: str) -> dict[str, Any]:
    """Doc, limits, source, type and current value of one editable key."""
    section, name = key.split(".", 1)
    sec = getattr(config, section)
    fld = {f.name: f for f in dataclasses.fields(sec)}[name]
    meta = dict(fld.metadata)
    return {"key": key, "section": section, "name": name, "doc": meta.get("doc", ""), "min": meta.get("min"),
            "max": meta.get("max"), "source": meta.get("source"), "type": type(fld.default).__name__,
            "default": fld.default, "value": getattr(sec, name)}


def apply_overrides(base: Config, overrides: dict[str, Any]) -> Config:
    """``base`` with the overrides applied and validated (ConfigError names the bad key)."""
    by_section: dict[str, dict[str, Any]] = {}
    allowed = set(editable_keys())
    for key, value in overrides.items():
        if key not in allowed:
            raise ConfigError(f"setting {key} cannot be changed from the Settings page")
        section, name = key.split(".", 1)
        by_section.setdefault(section, {})[name] = value
    cfg = base
    for section, changes in by_section.items():
        cfg = replace(cfg, section, **changes)
    return cfg


def parse_form_value(info: dict[str, Any], text: str) -> Any:
    """A typed value from a form field, with a plain message naming the setting."""
    text = (text or "").strip()
    try:
        return int(text) if info["type"] == "int" else float(text)
    except ValueError:
        raise InputError(f"{info['key']}: {text!r} is not a number") from None


class SettingsMixin:
    """The settings table; mixed into :class:`kiosk.store.db.Store`."""

    def get_settings(self: Store) -> dict[str, Any]:
        return {r["key"]: json.loads(r["value"]) for r in self.query("SELECT key, value FROM settings ORDER BY key")}

    def set_settings(self: Store, base: Config, overrides: dict[str, Any], *, by: str = "") -> Config:
        """Validate and store overrides (all or nothing); returns the new effective config.

        A value equal to the config file's value removes the override, so later edits of the
        file take effect again for keys nobody changed on the page.
        """
        merged = {**self.get_settings(), **overrides}
        effective = apply_overrides(base, merged)
        now = self.now_iso()
        with self.tx() as conn:
            for key, value in overrides.items():
                section, name = key.split(".", 1)
                if getattr(getattr(base, section), name) == value:
                    conn.execute("DELETE FROM settings WHERE key = ?", (key,))
                else:
                    conn.execute("INSERT INTO settings (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?) "
                                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                                 "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                                 (key, json.dumps(value), now, by))
        return effective

    def clear_settings(self: Store) -> None:
        with self.tx() as conn:
            conn.execute("DELETE FROM settings")

    def effective_config(self: Store, base: Config) -> Config:
        """The config file's values with the Settings page's overrides on top.

        An override that the current config no longer accepts (e.g. a key was renamed) is
        ignored rather than stopping the station.
        """
        cfg = base
        for key, value in self.get_settings().items():
            try:
                cfg = apply_overrides(cfg, {key: value})
            except ConfigError as exc:
                log.warning("ignoring the stored setting %s: %s", key, exc)
                continue
        return cfg
