"""``jumpkiosk doctor``: check camera, mat, model, disk, clock and database; one line each."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check the station's camera, mat, model, disk, clock and database",
                       description="One line per check (OK / WARN / FAIL). Exits 1 when any check fails.")
    p.add_argument("--interactive", action="store_true", help="also ask for a step on and off the mat")
    p.add_argument("--camera-seconds", type=float, default=2.0, metavar="S", help="how long to measure the camera")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kiosk.config import load_config
    from kiosk.station.doctor import FAIL, run_doctor

    config = load_config(args.config)
    findings = run_doctor(config, interactive=args.interactive, camera_seconds=args.camera_seconds)
    return 1 if any(f.status == FAIL for f in findings) else 0
