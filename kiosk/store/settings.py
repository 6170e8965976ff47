"""Settings changed on the station without editing its config file, stored as overrides.

Two kinds: what a coach may change on the Settings page (the FLAG limits and the trials per
session, each only inside ``COACH_BOUNDS``, a band around the published values), and station
internals (the quality gates, borderline bands, media retention) that only an admin changes,
with ``jumpkiosk setting`` on the station or in the config file. The rest of the config is
hardware and network and belongs in the TOML file. Overrides are validated through
:func:`kiosk.config.replace`, so they are refused exactly as the file would be, and every change
is written to ``settings_log`` (who, when, old and new value).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
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


#: The keys a coach may change, and the band they may move in (inside the config's own limits).
#: The limits stay near their published values; trials stay >= 3 because the session verdict is a
#: median of at least three trials.
COACH_BOUNDS: dict[str, tuple[float, float]] = {
    "scoring.valgus_displacement_deg": (6.0, 16.0),
    "scoring.peak_fppa_female_deg": (8.0, 20.0),
    "scoring.peak_fppa_male_deg": (4.0, 16.0),
    "scoring.peak_fppa_unknown_deg": (8.0, 20.0),
    "scoring.kasr_peak_min": (0.4, 0.9),
    "session.trials": (3, 5),
}


def coach_keys() -> list[str]:
    """The keys on the coach's Settings page (those of COACH_BOUNDS this build has)."""
    known = set(editable_keys())
    return [k for k in COACH_BOUNDS if k in known]


def internal_keys() -> list[str]:
    """Station internals: changed with ``jumpkiosk setting`` or in the config file only."""
    coach = set(coach_keys())
    return [k for k in editable_keys() if k not in coach]


def check_coach_change(key: str, value: Any) -> None:
    """InputError unless a coach may set ``key`` to ``value`` from the Settings page."""
    if key not in coach_keys():
        raise InputError(f"{key} is a station setting: an admin changes it on the station "
                         "(jumpkiosk setting) or in the config file")
    low, high = COACH_BOUNDS[key]
    if not low <= value <= high:
        raise InputError(f"{key}: {value:g} is outside what a coach may set ({low:g} to {high:g})")


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
        value = int(text) if info["type"] == "int" else float(text)
    except ValueError:
        raise InputError(f"{info['key']}: {text[:40]!r} is not a number") from None
    if not math.isfinite(value):  # "nan" passes every comparison: a FLAG would become a PASS
        raise InputError(f"{info['key']}: {text[:40]!r} must be a finite number")
    return value


class SettingsMixin:
    """The settings table; mixed into :class:`kiosk.store.db.Store`."""

    def get_settings(self: Store) -> dict[str, Any]:
        return {r["key"]: json.loads(r["value"]) for r in self.query("SELECT key, value FROM settings ORDER BY key")}

    def set_settings(self: Store, base: Config, overrides: dict[str, Any], *, by: str = "",
                     coach: bool = False) -> Config:
        """Validate and store overrides (all or nothing); returns the new effective config.

        ``coach``: the change comes from the Settings page, so only :func:`coach_keys` inside
        their bounds are accepted. A value equal to the config file's value removes the
        override, so later edits of the file take effect again for keys nobody changed. Every
        actual change is logged with ``by``.
        """
        current = self.get_settings()
        effective_before = self.effective_config(base)
        if coach:
            for key, value in overrides.items():
                section, name = key.split(".", 1)
                if key in COACH_BOUNDS and getattr(getattr(effective_before, section), name) == value:
                    continue  # an unchanged field of the form is no change, even outside the band
                check_coach_change(key, value)
        merged = {**current, **overrides}
        effective = apply_overrides(base, merged)
        now = self.now_iso()
        with self.tx() as conn:
            for key, value in overrides.items():
                section, name = key.split(".", 1)
                old = current.get(key)
                if getattr(getattr(base, section), name) == value:
                    conn.execute("DELETE FROM settings WHERE key = ?", (key,))
                    new = None
                else:
                    conn.execute("INSERT INTO settings (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?) "
                                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                                 "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                                 (key, json.dumps(value), now, by))
                    new = value
                if old != new:
                    _log(conn, now, by, key, old, new)
        return effective

    def clear_settings(self: Store, *, by: str = "", keys: list[str] | None = None) -> None:
        """Back to the config file's values, for ``keys`` (default: all); logged with ``by``."""
        current = self.get_settings()
        now = self.now_iso()
        with self.tx() as conn:
            for key, old in current.items():
                if keys is None or key in keys:
                    conn.execute("DELETE FROM settings WHERE key = ?", (key,))
                    _log(conn, now, by, key, old, None)

    def settings_log(self: Store, limit: int = 50) -> list[dict]:
        """The latest setting changes, newest first (old/new None: the config file's value)."""
        rows = self.query("SELECT at, by, key, old_value, new_value FROM settings_log ORDER BY id DESC LIMIT ?",
                          (limit,))
        return [{"at": r["at"], "by": r["by"], "key": r["key"],
                 "old": json.loads(r["old_value"]) if r["old_value"] is not None else None,
                 "new": json.loads(r["new_value"]) if r["new_value"] is not None else None} for r in rows]

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


def _log(conn: Any, at: str, by: str, key: str, old: Any, new: Any) -> None:
    conn.execute("INSERT INTO settings_log (at, by, key, old_value, new_value) VALUES (?, ?, ?, ?, ?)",
                 (at, by, key, None if old is None else json.dumps(old), None if new is None else json.dumps(new)))
