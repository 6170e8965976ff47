"""JSON API v1 at ``/api/v1``, for a club's own spreadsheets and scripts.

Authentication is a per-coach bearer token made with ``jumpkiosk coach-token NAME``
(``Authorization: Bearer TOKEN``); the cookie session is not accepted here, so no page on another
site can make a coach's browser call the API. Read-only; times are UTC ISO 8601; left/right are
the athlete's own legs; ``metrics`` is the analysis' result record unchanged.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, g, jsonify, request, url_for
from werkzeug.exceptions import HTTPException

from kiosk.errors import InputError
from kiosk.store import export
from kiosk.store.screens import screens
from kiosk.web import auth, get_config, get_store, get_tz

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.before_request
def _require_token() -> Any:
    coach = auth.token_coach()
    if coach is None:
        resp = jsonify(error="a valid API token is required: send 'Authorization: Bearer TOKEN' "
                             "(make one with jumpkiosk coach-token NAME)")
        resp.status_code = 401
        resp.headers["WWW-Authenticate"] = 'Bearer realm="jumpkiosk"'
        return resp
    g.api_coach = coach
    return None


@bp.after_request
def _private(resp: Response) -> Response:
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Any:
    return jsonify(error=exc.description or exc.name), exc.code or 500


def _athlete_json(a: dict) -> dict:
    return {"id": a["id"], "display_name": a["display_name"],
            "athlete_number": a["athlete_number"], "team": a["team"], "sex": a["sex"], "birth_year": a["birth_year"]}


def trial_json(t: dict) -> dict:
    return {
        "id": t["id"], "recorded_at": t["recorded_at"], "session_id": t["session_id"], "trial_no": t["trial_no"],
        "station": t["station_name"],
        "athlete": {"id": t["athlete_id"], "display_name": t["display_name"], "athlete_number": t["athlete_number"],
                    "team": t["team"], "sex": t["sex"], "birth_year": t["birth_year"]},
        "verdict": t["verdict"], "reasons": t["reasons"], "metrics": t["metrics"], "quality": t["quality"],
        "timings": t["timings"], "scoring_version": t["scoring_version"],
        # the limit that applied and why, and the thresholds/trial count in force (schema 3; {} before)
        "limit": (t["metrics"] or {}).get("limit") if isinstance(t["metrics"], dict) else None,
        "scoring": t.get("scoring") or {},
        "media": {k: url_for("coach.media", relpath=rel, _external=True) for k, rel in (t["media"] or {}).items()},
        "media_pruned_at": t["media_pruned_at"],
    }


def _range() -> tuple[str, str, dict[str, Any]]:
    try:
        r = export.parse_range(request.args, get_tz())
    except InputError as exc:
        abort(400, str(exc))
    return r.start, r.end, r.filters


@bp.get("/trials")
def trials() -> Any:
    """Trials of a local day (``?date=YYYY-MM-DD``, default today) or ``?from=&to=``, filterable
    by ``athlete`` (id), ``team`` and ``verdict``."""
    start, end, filters = _range()
    verdict = (request.args.get("verdict") or "").upper() or None
    if verdict and verdict not in ("PASS", "FLAG", "RETAKE"):
        abort(400, "verdict must be PASS, FLAG or RETAKE")
    rows = get_store().trials_between(start, end, verdict=verdict, **filters)
    return jsonify(start=start, end=end, count=len(rows), trials=[trial_json(t) for t in rows])


@bp.get("/trials/<int:trial_id>")
def trial(trial_id: int) -> Any:
    t = get_store().get_trial(trial_id)
    if t is None:
        abort(404, "no such trial")
    return jsonify(trial_json(t))


@bp.get("/sessions")
def sessions() -> Any:
    """Session summaries with per-metric medians over valid trials, same filters as /trials; each also
    with what the coach pages show: borderline, flagged side, findings, the limits it was scored
    with, per-leg medians and the change since the athlete's previous completed screen."""
    start, end, filters = _range()
    rows = export.session_records(get_store(), start, end, **filters)
    by_id = {sc["session_id"]: sc for sc in screens(get_store(), start, end, get_config().scoring,
                                                      team=filters.get("team"), athlete_id=filters.get("athlete_id"))}
    for row in rows:
        sc = by_id.get(row["session_id"])
        if sc is not None:  # as the Today page and the sessions CSV read the session
            row.update(borderline=sc["borderline"], flagged_side=sc["flagged_side"] or None, findings=sc["findings"],
                       limits={k: sc["limits"][k] for k in ("valgus_displacement_deg", "peak_fppa_deg", "why", "stored")},
                       leg_medians={leg: sc["medians"][leg] for leg in ("left", "right")},
                       change_since_previous=sc["change"], previous_verdict=sc["previous_verdict"])
    return jsonify(start=start, end=end, count=len(rows), sessions=rows)


@bp.get("/athletes")
def athletes() -> Any:
    team = request.args.get("team") or None
    rows = get_store().list_athletes(team=team)
    return jsonify(count=len(rows), athletes=[{**_athlete_json(a), "notes": a["notes"], "active": bool(a["active"])}
                                              for a in rows])


@bp.get("/athletes/<int:athlete_id>")
def athlete(athlete_id: int) -> Any:
    a = get_store().get_athlete(athlete_id)
    if a is None:
        abort(404, "no such athlete")
    return jsonify({**_athlete_json(a), "notes": a["notes"], "active": bool(a["active"]), "created_at": a["created_at"]})


@bp.get("/athletes/<int:athlete_id>/trials")
def athlete_trials(athlete_id: int) -> Any:
    if get_store().get_athlete(athlete_id) is None:
        abort(404, "no such athlete")
    rows = get_store().athlete_trials(athlete_id)
    return jsonify(count=len(rows), trials=[trial_json(t) for t in rows])
