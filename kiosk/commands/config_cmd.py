"""``jumpkiosk config``: check a config file, or print the documented defaults."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="check the station config, or print the documented defaults")
    p.add_argument("--defaults", action="store_true", help="print every key with its default and doc")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kiosk.config import load_config, render_defaults

    if args.defaults:
        print(render_defaults())
        return 0
    load_config(args.config)
    print(f"{args.config or 'built-in defaults'}: OK")
    return 0
