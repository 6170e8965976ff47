"""The web app factory: one Flask app serves the station touchscreen, coach pages and the API.

``create_app(config, runtime)`` opens the results store in the state folder, which is also
Flask's instance folder, and runs its start-up (:meth:`kiosk.store.Store.startup`: migrate,
refuse an empty database beside existing media, close interrupted sessions, move orphan media to
quarantine, apply media retention unless the clock is implausible), then registers the blueprints:

- ``kiosk.web.coach`` at ``/coach`` (login required everywhere, localhost included),
- ``kiosk.web.api`` at ``/api/v1`` (per-coach bearer token),
- ``kiosk.web.station`` at ``/`` when that package is present (the touchscreen UI); it finds
  the runtime in ``app.extensions["station_runtime"]``, the store in
  ``app.extensions["kiosk_store"]`` and the config in ``app.config["KIOSK_CONFIG"]``.

One process owns the camera and GPIO, so the app is served by waitress in that process.
"""

from __future__ import annotations

import csv
import secrets
from datetime import tzinfo
from typing import Any

from flask import Flask, current_app, redirect, url_for

from kiosk.config import Config, load_config
from kiosk.errors import KioskError
from kiosk.store import Store, state_dir
from kiosk.web import auth, limits, tls


def create_app(config: Config | None = None, runtime: Any = None, *, store: Store | None = None,
               accept_empty_database: bool = False) -> Flask:
    """Build the app. ``runtime`` is the station runtime (None: coach pages and API only).
    ``accept_empty_database``: the admin said an empty database beside existing media is meant."""
    config = config or load_config(None)
    root = store.root if store is not None else state_dir(config)
    app = Flask(__name__, instance_path=str(root.absolute()))
    app.config.update(
        SECRET_KEY=config.web.secret_key or secrets.token_hex(32),
        MAX_CONTENT_LENGTH=8 * 1024 * 1024,  # roster CSVs and forms; media never comes in over HTTP
        PERMANENT_SESSION_LIFETIME=12 * 3600,
        KIOSK_CONFIG=config,
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    limits.init_app(app)  # size and rate limits run before auth's CSRF check parses a form
    tls.init_app(app)  # coach pages and API: HTTPS on the LAN, plain HTTP only on the station itself
    auth.init_app(app)
    app.config["KIOSK_TLS_FINGERPRINT"] = tls.current_fingerprint(config)

    if store is None:
        store = Store.for_config(config)
    store.startup(config, accept_empty=accept_empty_database)
    app.extensions["kiosk_store"] = store
    app.extensions["station_runtime"] = runtime

    from kiosk.web.api import bp as api_bp
    from kiosk.web.coach import bp as coach_bp

    app.register_blueprint(coach_bp)
    app.register_blueprint(api_bp)
    station_bp = _station_blueprint()
    if station_bp is not None:
        app.register_blueprint(station_bp)
    else:
        app.add_url_rule("/", "index", lambda: redirect(url_for("coach.today")))

    @app.errorhandler(KioskError)
    def _kiosk_error(exc: KioskError) -> Any:
        # A KioskError that escaped a view is a person-readable message; never a stack trace.
        return {"error": str(exc)}, 400

    @app.errorhandler(OverflowError)
    def _overflow(exc: OverflowError) -> Any:
        # int(1e308), a date past year 9999: a number from a request that no view range-checked.
        return {"error": "a number or date in the request is out of range"}, 400

    @app.errorhandler(csv.Error)
    def _csv_error(exc: csv.Error) -> Any:
        # e.g. a field over the csv module's 128 KB limit in an uploaded roster
        return {"error": f"the CSV file cannot be read ({exc})"}, 400

    @app.after_request
    def _headers(resp: Any) -> Any:
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        return resp

    return app


def _station_blueprint() -> Any:
    """The touchscreen blueprint, if this build has it (it is optional for coach-only tests)."""
    try:
        from kiosk.web import station
    except ModuleNotFoundError as exc:
        if exc.name == "kiosk.web.station":
            return None
        raise
    return station.bp


def get_store() -> Store:
    return current_app.extensions["kiosk_store"]


def get_config() -> Config:
    """The config file's values with the coach Settings overrides applied."""
    return get_store().effective_config(current_app.config["KIOSK_CONFIG"])


def get_tz() -> tzinfo | None:
    from kiosk.store.export import station_tz

    return station_tz(current_app.config["KIOSK_CONFIG"].station.timezone)


__all__ = ["create_app", "get_config", "get_store", "get_tz"]
