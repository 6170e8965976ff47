"""Today (sessions of a day or date range) and the team view (latest screen per athlete).

One row per athlete-session with the session's verdict, the one that counts; its trials open
beneath it. See :mod:`kiosk.store.screens` for what each row holds.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import abort, render_template, request, url_for

from kiosk.errors import InputError
from kiosk.store import export
from kiosk.store import screens as screen_data
from kiosk.web import auth, get_config, get_store, get_tz
from kiosk.web.coach import bp


def _days() -> tuple[Any, Any]:
    """(first, last) local day from ?date= or ?from=&to= (default: today)."""
    tz = get_tz()
    try:
        if request.args.get("from") or request.args.get("to"):
            first = export.parse_day(request.args.get("from"), tz)
            last = export.parse_day(request.args.get("to") or request.args.get("from"), tz)
        else:
            first = last = export.parse_day(request.args.get("date"), tz)
        if last < first:
            raise InputError(f"the range ends ({last}) before it starts ({first})")
        if (last - first).days > export.MAX_RANGE_DAYS:
            raise InputError(f"a range is at most {export.MAX_RANGE_DAYS} days")
    except InputError as exc:
        abort(400, str(exc))
    return first, last


@bp.get("/")
@auth.coach_required
def today() -> Any:
    first, last = _days()
    team = request.args.get("team") or None
    start, end = export.day_bounds(first, last, tz=get_tz())
    store = get_store()
    rows = screen_data.sort_for_coach(screen_data.screens(store, start, end, get_config().scoring, team=team))
    counts = {v: sum(r["verdict"] == v for r in rows) for v in ("FLAG", "PASS", "INCOMPLETE", screen_data.IN_PROGRESS)}
    span = timedelta(days=(last - first).days + 1)

    def url(endpoint: str, a: Any, b: Any) -> str:
        return url_for(endpoint, team=team, **{"from": a.isoformat(), "to": b.isoformat()})

    links = {"prev": url("coach.today", first - span, last - span), "next": url("coach.today", first + span, last + span),
             **{k: url(f"coach.export_{k}", first, last) for k in ("sessions", "trials", "clips")}}
    return render_template("coach/today.html", rows=rows, first=first, last=last, single=first == last, team=team or "",
                           teams=store.teams(), counts=counts, missing_sex=store_missing_sex(store, team), links=links)


def store_missing_sex(store: Any, team: str | None) -> list[dict]:
    """Active athletes without a recorded sex (self-added at check-in): the coach should complete them."""
    return [a for a in store.list_athletes(active_only=True, team=team) if not a.get("sex")]


@bp.get("/team")
@auth.coach_required
def team() -> Any:
    store = get_store()
    team_name = request.args.get("team") or None
    _, last = _days() if request.args.get("to") or request.args.get("date") else (None, export.parse_day(None, get_tz()))
    _, end = export.day_bounds(last, tz=get_tz())
    screened, not_screened = screen_data.team_view(store, end, get_config().scoring, team=team_name)
    return render_template("coach/team.html", screened=screened, not_screened=not_screened, team=team_name or "",
                           teams=store.teams(), last=last)
