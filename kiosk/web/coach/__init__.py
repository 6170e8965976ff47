"""Coach pages at ``/coach``. This module holds the blueprint, login, trial detail, media,
downloads and settings; the rest sit in their own modules and register on the same blueprint:
``screens`` (Today by athlete-session, Team), ``athlete`` (trend and printable report),
``records`` (roster, edit, merge, delete, audit log, roster import), ``account`` (own password).
Every route needs a coach login (localhost too: the station's touchscreen stands in a public
gym), and every form carries the CSRF token.

Pages use no JavaScript at all: forms and links only, plots drawn server-side as SVG, so the
strict Content-Security-Policy below costs nothing and the pages work on any phone.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)

from kiosk.analysis.rounding import shown_for_rule
from kiosk.errors import ConfigError, InputError
from kiosk.store import export
from kiosk.store import media as media_files
from kiosk.store.settings import COACH_BOUNDS, coach_keys, field_info, internal_keys, parse_form_value
from kiosk.web import auth, get_config, get_store, get_tz

bp = Blueprint("coach", __name__, url_prefix="/coach", template_folder="templates")

CSP = ("default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; script-src 'none'; "
       "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


@bp.after_request
def _private(resp: Response) -> Response:
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["Cache-Control"] = "no-store"  # personal health data: never in a shared cache
    resp.headers["X-Frame-Options"] = "DENY"
    return resp


@bp.app_template_filter("local")
def _local(iso: str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    lt = export.local_time(iso, get_tz())
    return lt.strftime(fmt) if lt else ""


@bp.app_template_filter("num")
def _num(value: Any, digits: int = 1) -> str:
    return "" if not isinstance(value, (int, float)) or isinstance(value, bool) else f"{value:.{digits}f}"


@bp.app_template_global("rule_num")
def _rule_num(value: Any, limit: Any, rule: str, digits: int = 1) -> str:
    """``value`` shown beside ``limit`` so it never reads on the other side of ``rule``'s verdict."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return ""
    if not isinstance(limit, (int, float)) or isinstance(limit, bool):
        return f"{value:.{digits}f}"
    return f"{shown_for_rule(float(value), float(limit), rule, digits):.{digits}f}"


@bp.app_template_global("reason_text")
def _reason_text(reason: Any) -> str:
    return export.reason_text(reason)


# --- login ----------------------------------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    nxt = auth.safe_next(request.values.get("next"), url_for("coach.today"))
    if request.method == "POST":
        coach, message = auth.attempt_login(request.form.get("username", ""), request.form.get("password", ""))
        if coach:
            auth.login_session(coach)
            return redirect(nxt)
        return render_template("coach/login.html", error=message, next=nxt,
                               username=request.form.get("username", "")), 401
    if auth.current_coach():
        return redirect(nxt)
    return render_template("coach/login.html", error="", next=nxt, username="")


@bp.post("/logout")
@auth.coach_required
def logout() -> Any:
    auth.logout_session()
    return redirect(url_for("coach.login"))


# --- today ----------------------------------------------------------------------------------

def _day_arg(name: str = "date") -> date:
    try:
        return export.parse_day(request.args.get(name), get_tz())
    except InputError as exc:
        abort(400, str(exc))


# --- trial ----------------------------------------------------------------------------------

@bp.get("/trials/<int:trial_id>")
@auth.coach_required
def trial(trial_id: int) -> Any:
    t = get_store().get_trial(trial_id)
    if t is None:
        abort(404, "no such trial")
    items = [{"name": k, "rel": rel, "kind": media_files.kind(rel)} for k, rel in sorted((t["media"] or {}).items())]
    return render_template("coach/trial.html", t=t, m=t["metrics"] or {}, media=items)


@bp.get("/media/<path:relpath>")
@auth.coach_required
def media(relpath: str) -> Any:
    path = media_files.resolve(get_store().media_root, relpath)
    if path is None:
        abort(404)
    return send_file(path, conditional=True, max_age=0)


def _csv_response(text: str, filename: str) -> Response:
    return Response(text.encode("utf-8"), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _bom() -> bool:
    return request.args.get("bom", "1") != "0"


# --- exports --------------------------------------------------------------------------------

def _range() -> tuple[str, str, str, dict[str, Any]]:
    """(start, end, file label, filters) from ?date= or ?from=&to=, plus ?athlete= and ?team=."""
    try:
        r = export.parse_range(request.args, get_tz())
    except InputError as exc:
        abort(400, str(exc))
    return r.start, r.end, r.label, r.filters


@bp.get("/export/trials.csv")
@auth.coach_required
def export_trials() -> Any:
    start, end, label, filters = _range()
    rows = get_store().trials_between(start, end, decode=False, **filters)
    return _csv_response(export.trials_csv(rows, get_tz(), bom=_bom()), f"trials_{label}.csv")


@bp.get("/export/sessions.csv")
@auth.coach_required
def export_sessions() -> Any:
    start, end, label, filters = _range()
    return _csv_response(export.sessions_csv(get_store(), start, end, get_tz(), bom=_bom(), **filters),
                         f"sessions_{label}.csv")


@bp.get("/export/clips.zip")
@auth.coach_required
def export_clips() -> Any:
    start, end, label, filters = _range()
    store = get_store()
    trials = store.trials_between(start, end, **filters)
    body = stream_with_context(export.clips_zip(store, trials, get_tz()))
    return Response(body, mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="clips_{label}.zip"'})


# --- settings -------------------------------------------------------------------------------

@bp.route("/settings", methods=["GET", "POST"])
@auth.coach_required
def settings() -> Any:
    """The FLAG limits and trials per session, inside their coach bounds; station internals are
    shown read-only (an admin changes them on the station); the change log below."""
    from flask import current_app

    store = get_store()
    base = current_app.config["KIOSK_CONFIG"]
    status = 200
    submitted: dict[str, str] = {}
    if request.method == "POST":
        effective = get_config()
        overrides: dict[str, Any] = {}
        try:
            for key in request.form:
                if key == "csrf_token":
                    continue
                if key not in coach_keys():
                    raise InputError(f"{key} is a station setting: an admin changes it on the station "
                                     "(jumpkiosk setting) or in the config file")
                submitted[key] = request.form[key]
                overrides[key] = parse_form_value(field_info(effective, key), request.form[key])
            store.set_settings(base, overrides, by=(auth.current_coach() or {}).get("username", ""), coach=True)
        except (InputError, ConfigError) as exc:
            flash(f"Not saved: {exc}", "error")
            status = 400
        else:
            flash("Settings saved. New trials use them.", "ok")
            return redirect(url_for("coach.settings"))
    effective = get_config()
    overridden = store.get_settings()

    def info(k: str) -> dict[str, Any]:
        return {**field_info(effective, k), "file_value": field_info(base, k)["value"], "overridden": k in overridden,
                "submitted": submitted.get(k), "bounds": COACH_BOUNDS.get(k)}

    return render_template("coach/settings.html", fields=[info(k) for k in coach_keys()],
                           internals=[info(k) for k in internal_keys()], log=store.settings_log(30)), status


@bp.post("/settings/reset")
@auth.coach_required
def reset_settings() -> Any:
    get_store().clear_settings(by=(auth.current_coach() or {}).get("username", ""), keys=coach_keys())
    flash("The limits and trial count are back to the station's config file.", "ok")
    return redirect(url_for("coach.settings"))


# Routes kept in their own modules register on ``bp`` when imported.
from kiosk.web.coach import account, athlete, records, screens  # noqa: E402,F401
