"""Store administration: ``migrate``, coach accounts (``create-coach``, ``coaches``,
``reset-password``, ``delete-coach``, ``coach-token``), ``export-day``, ``prune-media``.

These run on the station itself (over SSH or at its keyboard): coach accounts are made here,
never over the network, so an open station cannot be claimed by whoever finds it first.
On an installed station every command reads /etc/jumpkiosk/station.toml by default (see
:func:`kiosk.cli.default_config_path`), and only ``migrate`` may create a database: any other
command facing a missing database stops with one line, instead of quietly working on a new,
empty one (a coach created there could never log in).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("migrate", help="create or upgrade the results database")
    p.set_defaults(func=run_migrate)

    p = sub.add_parser("create-coach", help="add a coach account (password asked on a terminal, else read from stdin)")
    p.add_argument("name", help="login name: letters, digits, '.', '_' or '-'")
    p.set_defaults(func=run_create_coach)

    p = sub.add_parser("coaches", help="list coach accounts with their open login sessions")
    p.set_defaults(func=run_coaches)

    p = sub.add_parser("reset-password", help="set a coach's new password; their logins and API token end")
    p.add_argument("name")
    p.set_defaults(func=run_reset_password)

    p = sub.add_parser("delete-coach", help="delete a coach account; their logins and API token end at once")
    p.add_argument("name")
    p.set_defaults(func=run_delete_coach)

    p = sub.add_parser("coach-token", help="print a new API token for a coach (the old one stops working)")
    p.add_argument("name")
    p.add_argument("--revoke", action="store_true", help="end the coach's API token without making a new one")
    p.set_defaults(func=run_coach_token)

    p = sub.add_parser("setting", help="show or change a station setting override (coach limits and station "
                                       "internals); logged as cli:USER")
    p.add_argument("key", nargs="?", help="section.key, e.g. scoring.implausible_fppa_deg (none: list them all)")
    p.add_argument("value", nargs="?", help="new value; leave out to show the current one")
    p.add_argument("--reset", action="store_true", help="back to the config file's value")
    p.set_defaults(func=run_setting)

    p = sub.add_parser("tls-cert", help="make the station's HTTPS certificate if missing and print its fingerprint")
    p.add_argument("--force", action="store_true", help="make a new certificate even if one exists")
    p.set_defaults(func=run_tls_cert)

    p = sub.add_parser("export-day", help="write one day's trials CSV, session CSV and clips ZIP to a folder")
    p.add_argument("--date", metavar="YYYY-MM-DD", help="local day (default: today)")
    p.add_argument("--out", metavar="DIR", required=True, help="folder to write into (created if missing)")
    p.add_argument("--no-bom", action="store_true", help="leave out the UTF-8 byte-order mark in the CSVs")
    p.set_defaults(func=run_export_day)

    p = sub.add_parser("prune-media", help="delete trial media older than the retention period (results stay)")
    p.add_argument("--days", type=int, help="override the retention period in days")
    p.add_argument("--exports", metavar="DIR", help="also delete saved clip ZIPs in DIR past the retention")
    p.set_defaults(func=run_prune_media)


def _store(args: argparse.Namespace, *, create: bool = False) -> tuple:
    """Config and migrated store; imported here so that ``--help`` stays fast.

    Without ``create`` a missing database is an error: the command was pointed at the wrong
    place (no --config on a dev checkout, or the wrong user), not at a new station.
    """
    from kiosk.config import load_config
    from kiosk.errors import StoreError
    from kiosk.store import Store
    from kiosk.store.db import DB_NAME, state_dir

    config = load_config(args.config)
    db_path = state_dir(config) / DB_NAME
    if not create and not db_path.exists():
        where = f"config {args.config}" if args.config else "no config file (built-in defaults)"
        raise StoreError(f"no station database at {db_path} ({where}); on an installed station run "
                         "`sudo -u jumpkiosk /opt/jumpkiosk/current/.venv/bin/jumpkiosk ...`, elsewhere pass "
                         "--config FILE, or run `jumpkiosk migrate` to start a new database there")
    store = Store.for_config(config)
    store.migrate()
    return config, store


def run_migrate(args: argparse.Namespace) -> int:
    _, store = _store(args, create=True)
    print(f"{store.db_path}: schema version {store.schema_version()}")
    return 0


def _read_password(name: str) -> str:
    from kiosk.errors import InputError

    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass(f"Password for {name}: ")
        if getpass.getpass("Again: ") != first:
            raise InputError("the two passwords differ; nothing was changed")
        return first
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def run_create_coach(args: argparse.Namespace) -> int:
    _, store = _store(args)
    password = _read_password(args.name)
    store.create_coach(args.name, password)
    print(f"coach {args.name} created in {store.db_path}; log in at /coach on the station")
    return 0


def run_coaches(args: argparse.Namespace) -> int:
    _, store = _store(args)
    coaches = store.list_coaches()
    if not coaches:
        print("no coach accounts yet: jumpkiosk create-coach NAME")
    for c in coaches:
        token = f"API token since {c['token_created_at'][:10]}" if c["token_created_at"] else "no API token"
        seen = f", last seen {c['last_seen_at'][:16].replace('T', ' ')} UTC" if c["last_seen_at"] else ""
        print(f"{c['username']}\tcreated {c['created_at'][:10]}\t{c['sessions']} open login(s){seen}\t{token}")
    return 0


def run_reset_password(args: argparse.Namespace) -> int:
    _, store = _store(args)
    if not any(c["username"].lower() == args.name.lower() for c in store.list_coaches()):
        from kiosk.errors import InputError

        raise InputError(f"no coach named {args.name!r}")
    store.set_password(args.name, _read_password(args.name))
    print(f"password of {args.name} changed; their open logins and API token no longer work")
    return 0


def run_delete_coach(args: argparse.Namespace) -> int:
    _, store = _store(args)
    store.delete_coach(args.name)
    print(f"coach {args.name} deleted; their open logins and API token no longer work")
    return 0


def run_coach_token(args: argparse.Namespace) -> int:
    _, store = _store(args)
    if args.revoke:
        store.revoke_token(args.name)
        print(f"API token of {args.name} revoked")
        return 0
    print(store.new_token(args.name))
    return 0


def run_setting(args: argparse.Namespace) -> int:
    import getpass

    from kiosk.errors import InputError
    from kiosk.store.settings import coach_keys, editable_keys, field_info, parse_form_value

    config, store = _store(args)
    by = f"cli:{getpass.getuser()}"
    effective = store.effective_config(config)
    if not args.key:
        overridden = store.get_settings()
        for key in editable_keys():
            kind = "coach" if key in coach_keys() else "station"
            mark = f" (file: {field_info(config, key)['value']})" if key in overridden else ""
            print(f"{key} = {field_info(effective, key)['value']}{mark}\t[{kind}]")
        return 0
    if args.key not in editable_keys():
        raise InputError(f"{args.key} cannot be overridden here; set it in the config file ({args.config or 'none in use'})")
    if args.reset:
        store.clear_settings(by=by, keys=[args.key])
    elif args.value is not None:
        store.set_settings(config, {args.key: parse_form_value(field_info(effective, args.key), args.value)}, by=by)
    print(f"{args.key} = {field_info(store.effective_config(config), args.key)['value']}")
    return 0


def run_tls_cert(args: argparse.Namespace) -> int:
    from kiosk.config import load_config
    from kiosk.web import tls

    config = load_config(args.config)
    cert, key = tls.cert_paths(config)
    made = tls.make_cert(cert, key, force=args.force)
    print(f"{'made' if made else 'kept'} {cert}")
    print(f"SHA-256 fingerprint: {tls.fingerprint(cert)}")
    return 0


def run_export_day(args: argparse.Namespace) -> int:
    from kiosk.errors import StoreError
    from kiosk.media import atomic_write_bytes
    from kiosk.store import export

    config, store = _store(args)
    tz = export.station_tz(config.station.timezone)
    day = export.parse_day(args.date, tz)
    start, end = export.day_bounds(day, tz=tz)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"{out}: cannot create the folder ({exc.strerror or exc})") from None
    bom = not args.no_bom
    trials = store.trials_between(start, end)
    atomic_write_bytes(out / f"trials_{day}.csv", export.trials_csv(trials, tz, bom=bom).encode("utf-8"))
    atomic_write_bytes(out / f"sessions_{day}.csv", export.sessions_csv(store, start, end, tz, bom=bom).encode("utf-8"))
    zip_path = out / f"clips_{day}.zip"
    tmp = zip_path.with_name(f".{zip_path.name}.tmp")
    try:
        with open(tmp, "wb") as fh:
            for chunk in export.clips_zip(store, trials, tz):
                fh.write(chunk)
        tmp.replace(zip_path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"{zip_path}: cannot write ({exc.strerror or exc})") from None
    print(f"{day}: {len(trials)} trials -> {out}")
    return 0


def run_prune_media(args: argparse.Namespace) -> int:
    config, store = _store(args)
    days = args.days if args.days is not None else store.effective_config(config).store.media_retention_days
    if days <= 0:
        print("media retention is 0 (keep forever): nothing to do")
        return 0
    pruned = store.prune_media(days)
    swept = store.sweep_orphans()
    print(f"media older than {days} days deleted for {pruned} trials; {swept} orphan files moved to quarantine")
    if args.exports:
        from kiosk.store.export import prune_exports

        print(f"{prune_exports(args.exports, store, days)} clip ZIPs older than {days} days deleted from {args.exports}")
    return 0
