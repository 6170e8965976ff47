"""``jumpkiosk``: one console script, one subcommand per module in ``kiosk.commands``.

Each command module defines ``register(subparsers)``, which adds its parser and sets
``func=run``; modules import heavy libraries inside ``run`` only, so ``--help`` stays fast and
works without a camera, GPIO or model runtime. Errors the kiosk raises on purpose
(:class:`~kiosk.errors.KioskError`) print as one line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from kiosk import __version__
from kiosk.errors import KioskError

COMMAND_MODULES = (
    "kiosk.commands.analyze",
    "kiosk.commands.score",
    "kiosk.commands.simulate",
    "kiosk.commands.validate",
    "kiosk.commands.serve",
    "kiosk.commands.doctor",
    "kiosk.commands.admin",
    "kiosk.commands.config_cmd",
    "kiosk.commands.models_cmd",
)


#: Where setup.sh installs the station's config; every command uses it by default on a station.
INSTALLED_CONFIG = "/etc/jumpkiosk/station.toml"


def default_config_path() -> str | None:
    """$JUMPKIOSK_CONFIG, else the installed station's config when present, else None (defaults)."""
    env = os.environ.get("JUMPKIOSK_CONFIG")
    if env:
        return env
    return INSTALLED_CONFIG if os.path.exists(INSTALLED_CONFIG) else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jumpkiosk", description="Drop-vertical-jump knee valgus screening kiosk.")
    parser.add_argument("--version", action="version", version=f"jumpkiosk {__version__}")
    parser.add_argument("--config", metavar="FILE", default=default_config_path(),
                        help=f"station config (TOML); default: $JUMPKIOSK_CONFIG, else {INSTALLED_CONFIG} "
                             "when it exists (an installed station), else built-in defaults")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a command not built yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KioskError as exc:
        print(f"jumpkiosk: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jumpkiosk: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
