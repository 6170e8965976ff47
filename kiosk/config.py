"""The station config file: one TOML file, validated at load.

Each section is a frozen dataclass whose fields carry their default, a one-line doc, and limits
(choices, min, max) in ``metadata``. Loading refuses unknown sections and keys and bad values
with the file's line at fault. ``render_defaults()`` writes the documented default file that
``docs/CONFIG.md`` shows, so the docs cannot drift from the code (a test checks).
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
import types
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk.analysis.thresholds import RETIRED as RETIRED_SCORING
from kiosk.analysis.thresholds import Thresholds
from kiosk.errors import ConfigError
from kiosk.schema import setting

#: Shortest ``[web] secret_key`` accepted: setup.sh writes 64 hex digits; a short key lets anyone
#: who guesses it sign a coach's session cookie.
MIN_SECRET_CHARS = 32
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def check_timezone(name: str) -> str | None:
    """None for "" (the system's zone) or a zone the IANA database knows."""
    if not name:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return "is not a known IANA time zone (e.g. 'Europe/Berlin'; empty: the system's)"
    return None


def check_secret(key: str) -> str | None:
    if key and len(key) < MIN_SECRET_CHARS:
        return (f"is too short ({len(key)} characters, needs {MIN_SECRET_CHARS}+; "
                "`head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'` makes one; empty: random per start)")
    return None


def check_host(host: str) -> str | None:
    """None for an IPv4/IPv6 address or a host name the server can listen on."""
    import ipaddress

    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    labels = host.rstrip(".").split(".") if host else []
    if labels and len(host) <= 253 and all(_HOST_LABEL.match(label) for label in labels) \
            and not labels[-1].isdigit():
        return None
    return "is not an IP address or host name (e.g. 127.0.0.1, or 0.0.0.0 for the LAN)"


@dataclass(frozen=True)
class StationSection:
    name: str = setting("Jump station", "Name shown on screens and in exports.")
    state_dir: str = setting(
        "", "Folder for the database and media. Empty: $STATE_DIRECTORY (systemd), else ./instance.")
    timezone: str = setting("", "IANA time zone for 'today' on coach pages. Empty: the system's.",
                            check=check_timezone)


@dataclass(frozen=True)
class CameraSection:
    source: str = setting("synthetic", "Where frames come from.",
                          choices=("picamera2", "v4l2", "replay", "synthetic"))
    width: int = setting(640, "Analysis frame width in pixels.", min=160, max=4096)
    height: int = setting(480, "Analysis frame height in pixels.", min=120, max=4096)
    fps: int = setting(120, "Capture frame rate. 120 fps catches the ~50 ms from contact to valgus.",
                       min=15, max=240)
    exposure_us: int = setting(2000, "Fixed exposure (picamera2) in microseconds; short against motion blur. 0 = auto.",
                               min=0, max=100000)
    ring_seconds: float = setting(4.0, "Length of the capture ring buffer in seconds.", min=1.0, max=30.0)
    device: str = setting("/dev/video0", "V4L2 device for a USB camera.")
    replay_path: str = setting("", "Clip to replay (source = replay). Empty: the built-in demo clip.")
    analogue_gain: float = setting(4.0, "Fixed sensor gain (picamera2) used with exposure_us; raise it in dim rooms.",
                                   min=1.0, max=16.0)


@dataclass(frozen=True)
class MatSection:
    kind: str = setting("simulated", "Contact mat: wired to GPIO, simulated from a clip's mat.csv, or none (video-only events).",
                        choices=("gpio", "simulated", "none"))
    pin: int = setting(17, "BCM GPIO number of the mat switch (to ground, internal pull-up).", min=0, max=27)
    debounce_ms: float = setting(10.0, "Software debounce: edges closer than this after the first are ignored.",
                                 min=0.0, max=200.0)
    pin_factory: str = setting("default", "gpiozero pin factory: default (lgpio on a Pi), lgpio, or mock (tests).",
                               choices=("default", "lgpio", "mock"))
    sense_pin: int = setting(-1, "BCM GPIO of the mat plug's loop wire (reads high when unplugged). -1: none.",
                             min=-1, max=27)
    button_pin: int = setting(27, "BCM GPIO of the start button (to ground). -1: on-screen Start only.", min=-1, max=27)
    led_pin: int = setting(-1, "BCM GPIO of the 'recording' LED (through a resistor). -1: none.", min=-1, max=27)
    buzzer_pin: int = setting(-1, "BCM GPIO of an active buzzer for countdown and result beeps. -1: none.",
                              min=-1, max=27)
    countdown_s: float = setting(3.0, "Countdown after Start before the athlete may drop.", min=0.0, max=10.0)
    drop_timeout_s: float = setting(15.0, "No landing this long after the countdown: back to ready with a prompt.",
                                    min=3.0, max=120.0)
    stuck_s: float = setting(30.0, "Mat closed this long between trials: prompt that it may be stuck.", min=5.0, max=600.0)
    buzzer_cues: bool = setting(True, "Where a buzzer is wired (buzzer_pin): beep each countdown second, at Go and at the result.")


@dataclass(frozen=True)
class PoseSection:
    model: str = setting("lightning", "MoveNet model for tracking every frame (_int8: the INT8-quantised file, "
                                      "docs/PERFORMANCE.md).",
                         choices=("lightning", "thunder", "lightning_int8", "thunder_int8"))
    refine_model: str = setting("thunder", "Model that re-runs the frames that decide the verdict, or none.",
                                choices=("thunder", "lightning", "thunder_int8", "lightning_int8", "none"))
    threads: int = setting(4, "Interpreter threads (4 on a Pi).", min=1, max=16)
    min_score: float = setting(0.3, "Keypoint score below which a joint counts as not seen.", min=0.0, max=1.0)


@dataclass(frozen=True)
class SessionSection:
    trials: int = setting(3, "Valid trials per session; the session verdict is the per-metric median (at least 3: "
                             "the reference ranges are means of three trials).", min=3, max=10)
    max_attempts: int = setting(6, "Attempts (including RETAKEs) before a session ends incomplete.", min=1, max=20)
    practice_jump: bool = setting(True, "An unscored practice jump before the jumps that count.")
    rearm_on_still: bool = setting(True, "After a jump the next one arms itself when the athlete stands still on the box "
                                         "again; false: every jump needs Start.")
    arm_timeout_s: float = setting(30.0, "After the on-screen Start: nobody standing still on the box this long ends the wait.",
                                   min=5.0, max=300.0)
    still_s: float = setting(1.0, "How long the athlete stands still on the box before the countdown starts by itself.",
                             min=0.3, max=5.0)
    adult_age: int = setting(16, "Athletes younger than this see the supervision note; a parent or guardian consents for them.",
                             min=0, max=21)


@dataclass(frozen=True)
class WebSection:
    host: str = setting("127.0.0.1", "Address to listen on. 0.0.0.0 lets coaches on the LAN reach /coach.",
                        check=check_host)
    port: int = setting(8080, "TCP port of plain HTTP: the station's own touchscreen; LAN browsers are sent to tls_port.",
                        min=1, max=65535)
    tls_port: int = setting(8443, "HTTPS port for coaches on the LAN (with host = 0.0.0.0). 0: no HTTPS listener.",
                            min=0, max=65535)
    tls_cert: str = setting("", "TLS certificate (PEM). Empty: <state_dir>/tls/station.crt, made by setup.sh "
                                "(jumpkiosk tls-cert).")
    tls_key: str = setting("", "TLS private key (PEM). Empty: <state_dir>/tls/station.key.")
    behind_proxy: bool = setting(False, "A reverse proxy on this machine serves the LAN: trust one hop of its "
                                        "X-Forwarded-For/-Proto headers. Off: such headers make a request a LAN one.")
    secret_key: str = setting("", "Signs session cookies (32+ characters). setup.sh writes a random one; "
                              "empty: random per start.", check=check_secret)
    idle_timeout_s: int = setting(60, "Seconds without a touch before the station returns to Welcome.", min=10, max=3600)
    allow_quick_add: bool = setting(True, "Athletes may add themselves at check-in.")


@dataclass(frozen=True)
class StoreSection:
    media_retention_days: int = setting(90, "Delete trial media older than this; results stay. 0 = keep forever.",
                                        min=0, max=3650)
    min_free_mb: int = setting(200, "Refuse new trials below this much free disk space.", min=10, max=100000)
    outbox_dir: str = setting("", "Folder for trials the database could not take yet (kept, retried, then stored). "
                                  "Best on another partition or a USB stick. Empty: 'outbox' in the state folder.")


@dataclass(frozen=True)
class Config:
    station: StationSection = field(default_factory=StationSection)
    camera: CameraSection = field(default_factory=CameraSection)
    mat: MatSection = field(default_factory=MatSection)
    pose: PoseSection = field(default_factory=PoseSection)
    session: SessionSection = field(default_factory=SessionSection)
    web: WebSection = field(default_factory=WebSection)
    store: StoreSection = field(default_factory=StoreSection)
    scoring: Thresholds = field(default_factory=Thresholds)


def sections() -> dict[str, type]:
    """Section name -> its dataclass, in file order."""
    return {f.name: f.default_factory for f in dataclasses.fields(Config)}  # type: ignore[misc]


# --- loading -----------------------------------------------------------------------------------

def _line_of(text: str, section: str, key: str | None) -> int | None:
    """1-based line of ``[section]`` or of ``key = ...`` inside it, if it can be found."""
    current = None
    header = re.compile(r"^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]")
    for n, line in enumerate(text.splitlines(), start=1):
        m = header.match(line)
        if m:
            current = m.group(1)
            if key is None and current == section:
                return n
            continue
        if key is not None and current == section and re.match(rf"^\s*{re.escape(key)}\s*=", line):
            return n
    return None


def _where(path: str, text: str, section: str, key: str | None) -> str:
    line = _line_of(text, section, key)
    return f"{path}:{line}" if line else path


def _field_type(cls: type, name: str) -> Any:
    return typing.get_type_hints(cls)[name]


def _coerce(value: Any, typ: Any, meta: dict, where: str, key: str) -> Any:
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        if value is None:
            return None
        typ = args[0]
    if typ is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {key} must be true or false, not {value!r}")
    elif typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: {key} must be a whole number, not {value!r}")
    elif typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: {key} must be a number, not {value!r}")
        value = float(value)
        if not math.isfinite(value):
            # nan passes every min/max comparison and turns a FLAG into a PASS; inf is no limit either
            raise ConfigError(f"{where}: {key} must be a finite number, not {value!r}")
    elif typ is str and not isinstance(value, str):
        raise ConfigError(f"{where}: {key} must be a string in quotes, not {value!r}")
    if meta.get("choices") and value not in meta["choices"]:
        allowed = ", ".join(repr(c) for c in meta["choices"])
        raise ConfigError(f"{where}: {key} = {value!r} is not one of {allowed}")
    if meta.get("min") is not None and value < meta["min"]:
        raise ConfigError(f"{where}: {key} = {value!r} is below the minimum {meta['min']}")
    if meta.get("max") is not None and value > meta["max"]:
        raise ConfigError(f"{where}: {key} = {value!r} is above the maximum {meta['max']}")
    if meta.get("check") is not None:
        why = meta["check"](value)
        if why:
            shown = "(hidden)" if key == "secret_key" else repr(value)
            raise ConfigError(f"{where}: {key} = {shown} {why}")
    return value


def config_from_dict(data: dict, *, path: str = "<config>", text: str = "") -> Config:
    """Validate a parsed TOML mapping into a :class:`Config` (unknown keys are refused)."""
    known = sections()
    built: dict[str, Any] = {}
    for sec_name, sec_value in data.items():
        if sec_name not in known:
            names = ", ".join(sorted(known))
            raise ConfigError(f"{_where(path, text, sec_name, None)}: unknown section [{sec_name}] "
                              f"(known: {names})")
        if not isinstance(sec_value, dict):
            raise ConfigError(f"{_where(path, text, sec_name, None)}: {sec_name} must be a [section]")
        cls = known[sec_name]
        fields = {f.name: f for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, value in sec_value.items():
            where = _where(path, text, sec_name, key)
            if sec_name == "scoring" and key in RETIRED_SCORING:
                # a rule that no longer exists: say so, but do not stop the station over it
                warnings.warn(f"{where}: {key} is no longer used ({RETIRED_SCORING[key]}); remove the line",
                              stacklevel=2)
                continue
            if key not in fields:
                raise ConfigError(f"{where}: unknown key '{key}' in [{sec_name}] "
                                  f"(known: {', '.join(fields)})")
            kwargs[key] = _coerce(value, _field_type(cls, key), dict(fields[key].metadata), where, key)
        built[sec_name] = cls(**kwargs)
    return Config(**built)


def load_config(path: str | Path | None) -> Config:
    """Load and validate a station config file; ``None`` gives the defaults."""
    if path is None:
        return config_from_dict({})
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read config file ({exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        loc = f"{p}:{m.group(1)}" if m else str(p)
        raise ConfigError(f"{loc}: not valid TOML ({exc})") from None
    return config_from_dict(data, path=str(p), text=text)


def replace(cfg: Config, section_name: str, **changes: Any) -> Config:
    """A copy of ``cfg`` with some values of one section changed, validated like the file."""
    data = dataclasses.asdict(cfg)
    data[section_name] = {**data[section_name], **changes}
    return config_from_dict(data)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if value is None:
        return '""'
    return repr(value)


def render_defaults() -> str:
    """The full default config as commented TOML: every key, its default, limits and source."""
    lines = ["# Jump-landing screening kiosk: station config. Every key is optional;",
             "# the values shown are the defaults.", ""]
    for name, cls in sections().items():
        lines.append(f"[{name}]")
        for f in dataclasses.fields(cls):
            meta = f.metadata
            lines.append(f"# {meta.get('doc', '')}")
            limits = []
            if meta.get("choices"):
                limits.append("one of: " + ", ".join(str(c) for c in meta["choices"]))
            if meta.get("min") is not None or meta.get("max") is not None:
                limits.append(f"range: {meta.get('min')} .. {meta.get('max')}")
            if meta.get("source"):
                limits.append(f"source: {meta['source']}")
            if limits:
                lines.append("# " + "; ".join(limits))
            lines.append(f"{f.name} = {_toml_value(f.default)}")
        lines.append("")
    return "\n".join(lines)
