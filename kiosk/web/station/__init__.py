"""The station blueprint: the athlete's self-service touch UI, its live feeds, and ``/healthz``.

One page (``/``) holds every screen; ``static/app.js`` renders whichever one the runtime's state
calls for, fed by server-sent events (``/station/events``, one runtime ``wait_for_change`` per
open stream) with polling of ``/station/state`` as the fallback. The page only ever receives
:func:`kiosk.web.station.view.station_view` output: the current athlete's first name and this
session's results, never anybody else's.

Station routes answer the kiosk (the browser on the Pi itself) only; the auth module decides
who that is, and everybody else is sent to the coach login. ``/healthz`` is open and carries no
personal data, so a supervisor or a coach's monitor can poll it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, redirect, render_template, request, url_for

from kiosk.web.station import checkin, media
from kiosk.web.station.view import station_view

log = logging.getLogger(__name__)

bp = Blueprint("station", __name__, template_folder="templates", static_folder="static",
               static_url_path="/station/static")

#: Longest a single SSE response stays open; the browser reconnects by itself. Bounded so a
#: vanished client cannot hold a server thread for long.
SSE_MAX_S = 55.0
SSE_WAIT_S = 10.0
_STARTED = time.monotonic()


# --- plumbing --------------------------------------------------------------------------------

def _runtime() -> Any:
    rt = current_app.extensions.get("station_runtime")
    if rt is None:
        abort(503, "no station runtime in this server (coach-only mode)")
    return rt


def _config() -> Any:
    """The config file with the coach Settings overrides (trials, thresholds) applied, as the
    runtime read it at this visit's check-in: the limits shown are those the verdicts used."""
    visit = getattr(current_app.extensions.get("station_runtime"), "visit_config", None)
    if visit is not None:
        return visit
    from kiosk.web import get_config

    return get_config()


def _is_kiosk() -> bool:
    """Is this request from the station's own screen? The auth module decides; it is the one
    place that knows about proxies and localhost."""
    from kiosk.web import auth

    return bool(auth.is_kiosk_request())


def _csrf_token() -> str:
    from kiosk.web import auth

    return str(auth.csrf_token())


@bp.before_request
def _kiosk_only() -> Any:
    if request.endpoint in ("station.healthz", "station.static"):
        return None
    if not _is_kiosk():
        # Not the touchscreen: the station's screens are not for the LAN; coaches log in.
        return redirect(url_for("coach.login", next=request.path if request.method == "GET" else None))
    return None  # CSRF on POSTs is checked app-wide by kiosk.web.auth


def _tracker() -> checkin.SessionTracker:
    return current_app.extensions.setdefault("station_tracker", checkin.SessionTracker())


def _view(snapshot: dict) -> dict:
    cfg = _config()
    tracker = _tracker()
    tracker.observe(snapshot)
    athlete = snapshot.get("athlete") if isinstance(snapshot.get("athlete"), dict) else {}
    if snapshot.get("state") == "result" and athlete:
        _keep_pictures(snapshot, tracker)

    def summary() -> dict:
        from kiosk.analysis.result import TrialResult
        from kiosk.analysis.session import summarize_session
        from kiosk.web.station.summary import summary_view

        attempts = tracker.by_attempt()
        session = summarize_session([TrialResult.from_json(r) for _, r in attempts], thresholds=cfg.scoring,
                                    sex=athlete.get("sex"), trials_needed=cfg.session.trials).to_json()
        return summary_view(session, attempts, cfg.scoring, athlete.get("sex"), picture_url=_picture_url,
                            replay=lambda attempt: _replay_urls(tracker, attempt), guidance=_guidance)

    return station_view(snapshot, thresholds=cfg.scoring, trials_per_session=cfg.session.trials, summary=summary,
                        this_year=time.localtime().tm_year, adult_age=cfg.session.adult_age)


def _keep_pictures(snapshot: dict, tracker: checkin.SessionTracker) -> None:
    """Each counted jump's peak frame and replay, kept for the summary (the runtime and the
    recorder hold only the last trial's)."""
    attempt = int(snapshot.get("attempts") or 0)
    if not attempt or (snapshot.get("last_outcome") or {}).get("kind") == "practice" or not tracker.wants_pictures(attempt):
        return
    record = _runtime().last_record
    if record is None or record.attempt != attempt or record.verdict == "RETAKE":
        return
    recorder = current_app.extensions.get("station_recorder")
    ui = recorder.ui_media(attempt) if recorder is not None else None
    tracker.keep_pictures(attempt, {"peak": media.peak_picture(record), "replay": list((ui or {}).get("replay") or []),
                                    "replay_fps": float((ui or {}).get("replay_fps") or 8.0)})


def _picture_url(attempt: int, flagged: tuple[str, ...]) -> str | None:
    pictures = _tracker().pictures(attempt)
    if not pictures or not pictures.get("peak"):
        return None
    return f"/station/summary/{attempt}/freeze.jpg" + (f"?ring={','.join(flagged)}" if flagged else "")


def _replay_urls(tracker: checkin.SessionTracker, attempt: int) -> dict | None:
    pictures = tracker.pictures(attempt)
    if not pictures or not pictures.get("replay"):
        return None
    return {"urls": [f"/station/summary/{attempt}/replay-{i}.jpg" for i in range(len(pictures["replay"]))],
            "fps": round(float(pictures["replay_fps"]), 2)}


def _guidance(result: dict) -> dict | None:
    """What it means / exercises / when to see a professional, from the analysis' guidance data."""
    from kiosk.analysis.guidance import guidance_for
    from kiosk.analysis.result import SessionResult, TrialResult

    record = SessionResult.from_json(result) if "trials_needed" in result else TrialResult.from_json(result)
    return guidance_for(record)


# --- pages -----------------------------------------------------------------------------------

@bp.get("/")
def index() -> str:
    cfg = _config()
    boot = {
        "idle_timeout_s": cfg.web.idle_timeout_s,
        "allow_quick_add": cfg.web.allow_quick_add,
        "trials": cfg.session.trials,
        "practice": cfg.session.practice_jump,
        "countdown_s": cfg.mat.countdown_s,
        "arm_timeout_s": cfg.session.arm_timeout_s,
        "adult_age": cfg.session.adult_age,
        "has_button": cfg.mat.kind == "gpio" and cfg.mat.button_pin >= 0,
        "station_name": cfg.station.name,
        "this_year": time.localtime().tm_year,
    }
    # "<" escaped so no configured name can close the <script> block the JSON sits in
    boot_json = json.dumps(boot).replace("<", "\\u003c")
    return render_template("station/index.html", boot=boot_json, csrf_token=_csrf_token(),
                           station_name=cfg.station.name, boot_values=boot,
                           tls_fingerprint=current_app.config.get("KIOSK_TLS_FINGERPRINT", ""))


@bp.get("/station/state")
def state() -> Response:
    return _nocache(jsonify(_view(_runtime().snapshot())))


@bp.get("/station/events")
def events() -> Response:
    """Server-sent events: one ``state`` event per runtime change, comment pings in between."""
    rt = _runtime()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        since = int(request.args.get("since", "-1"))
    except ValueError:
        since = -1

    def stream() -> Iterator[str]:
        with app.app_context():
            deadline = time.monotonic() + SSE_MAX_S
            snap = rt.snapshot()
            yield "retry: 1000\n\n"
            if snap.get("seq") != since:
                yield _sse(_view(snap))
            seq = snap.get("seq", 0)
            while time.monotonic() < deadline:
                snap = rt.wait_for_change(seq, SSE_WAIT_S)
                if snap.get("seq") == seq:
                    yield ": ping\n\n"
                    continue
                seq = snap.get("seq", 0)
                yield _sse(_view(snap))

    resp = Response(stream(), mimetype="text/event-stream")
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Accel-Buffering"] = "no"
    return resp


def _sse(view: dict) -> str:
    return f"id: {view.get('seq', 0)}\nevent: state\ndata: {json.dumps(view, separators=(',', ':'))}\n\n"


@bp.get("/station/preview.jpg")
def preview() -> Response:
    """The latest downscaled camera JPEG with the skeleton drawn; 204 when none is ready.

    It only reads what the runtime already encoded, so polling it never slows the capture."""
    jpeg = _runtime().preview_jpeg()
    if not jpeg:
        return Response(status=204, headers={"Cache-Control": "no-store"})
    return Response(jpeg, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})


@bp.get("/station/howto/<int:index>.jpg")
def howto_frame(index: int) -> Response:
    frames = media.howto_frames(current_app)
    if not frames or not 0 <= index < len(frames):
        abort(404)
    return Response(frames[index], mimetype="image/jpeg", headers={"Cache-Control": "max-age=3600"})


@bp.get("/station/howto.json")
def howto_index() -> Response:
    frames = media.howto_frames(current_app)
    return _nocache(jsonify({"count": len(frames or []), "fps": media.HOWTO_FPS}))


@bp.get("/station/summary/<int:attempt>/<name>.jpg")
def summary_image(attempt: int, name: str) -> Response:
    """The summary's pictures of one of this visit's jumps: the peak frame (``freeze``, the
    knees in ``?ring=`` ringed) or a slow-motion frame (``replay-N``). Only once the session is
    complete: between jumps the athlete sees no picture of their landing."""
    snap = _runtime().snapshot()
    pictures = _tracker().pictures(attempt)
    if not snap.get("athlete") or not snap.get("session_done") or not pictures:
        abort(404)
    if name == "freeze" and pictures.get("peak"):
        from kiosk.media import encode_jpeg

        ring = tuple(s for s in request.args.get("ring", "").split(",") if s in ("left", "right"))
        peak = pictures["peak"]
        image = media.annotate_peak(peak["image"], peak["keypoints"], peak["angles"], min_score=_config().pose.min_score,
                                    flagged=ring)
        return Response(encode_jpeg(image, 82), mimetype="image/jpeg", headers={"Cache-Control": "no-store"})
    jpeg = media.pick_jpeg({"replay": pictures.get("replay")}, name) if name.startswith("replay-") else None
    if jpeg is None:
        abort(404)
    return Response(jpeg, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})


# --- actions ---------------------------------------------------------------------------------

@bp.get("/station/roster")
def roster() -> Response:
    """Names matching what the athlete typed (2+ letters), for the check-in picker: no results."""
    q = request.args.get("q", "")
    return _nocache(jsonify({"athletes": checkin.search_roster(_store(), q)}))


@bp.post("/station/readiness")
def readiness() -> Response:
    """The readiness answers. A "yes" (pain today, a recent injury or operation, rehab) ends the
    visit before check-in: nothing about the person is kept, only that a visit ended here."""
    data = request.get_json(silent=True) or {}
    if not data.get("ready"):
        log.info("visit ended at the readiness check (nothing recorded)")
    return _nocache(jsonify({"ok": True}))


@bp.post("/station/check-in")
def check_in() -> Response:
    data = request.get_json(silent=True) or {}
    if not data.get("consent"):
        return _error("Please tick the consent box first.", 400)
    cfg = _config()
    try:
        athlete = checkin.resolve_athlete(_store(), data, allow_quick_add=cfg.web.allow_quick_add)
    except checkin.NameExists as exc:
        resp = jsonify({"error": str(exc), "existing": exc.matches})
        resp.status_code = 409
        return _nocache(resp)
    _tracker().reset()
    _end_visit()
    _runtime().check_in(athlete)
    return _nocache(jsonify(_view(_runtime().snapshot())))


@bp.post("/station/about")
def about() -> Response:
    """The optional sex and birth year, stored on the checked-in athlete before the first jump
    (the limit the analysis applies depends on them)."""
    snap = _runtime().snapshot()
    athlete = snap.get("athlete") if isinstance(snap.get("athlete"), dict) else None
    if not athlete or athlete.get("id") is None or snap.get("state") != "ready" or snap.get("attempts"):
        return _error("Please check in first.", 409)
    fields = checkin.about_fields(request.get_json(silent=True) or {}, this_year=time.localtime().tm_year)
    updated = checkin.save_about(_store(), int(athlete["id"]), fields)
    _runtime().check_in(updated)   # the runtime scores with what is stored now
    return _nocache(jsonify(_view(_runtime().snapshot())))


@bp.post("/station/start")
def start() -> Response:
    """The on-screen Start: the station arms itself and counts down once the athlete stands
    still on the box (the start button at the box starts at once)."""
    _runtime().arm()
    return _nocache(jsonify({"ok": True}))


@bp.post("/station/cancel")
def cancel() -> Response:
    """End the athlete's visit: runtime back to idle, and the session view forgotten (privacy)."""
    _runtime().cancel()
    _tracker().reset()
    _end_visit()
    return _nocache(jsonify({"ok": True}))


@bp.errorhandler(checkin.CheckInError)
def _checkin_error(exc: Exception) -> Response:
    return _error(str(exc), 400)


def _end_visit() -> None:
    recorder = current_app.extensions.get("station_recorder")
    if recorder is not None:
        recorder.end_visit()


def _store() -> Any:
    store = current_app.extensions.get("kiosk_store")
    if store is None:
        abort(503, "no results store")
    return store


def _error(message: str, status: int) -> Response:
    resp = jsonify({"error": message})
    resp.status_code = status
    return resp


def _nocache(resp: Response) -> Response:
    resp.headers["Cache-Control"] = "no-store"
    return resp


# --- health ----------------------------------------------------------------------------------

@bp.get("/healthz")
def healthz() -> Response:
    """Liveness for systemd/ops: runtime state and fault kind only, no names, no results."""
    rt = current_app.extensions.get("station_runtime")
    from kiosk import __version__

    # The version lets `setup.sh update` confirm the new release is the one answering.
    body: dict[str, Any] = {"status": "ok", "version": __version__, "uptime_s": round(time.monotonic() - _STARTED, 1)}
    if rt is not None:
        try:
            snap = rt.snapshot()
        except Exception as exc:  # noqa: BLE001 - health must answer whatever broke
            body.update(status="error", runtime="unavailable", detail=type(exc).__name__)
        else:
            fault = snap.get("fault")
            body["state"] = snap.get("state")
            if fault:
                from kiosk.web.station.view import fault_kinds

                body["status"] = "fault"
                kinds = fault_kinds(snap)
                body["fault"] = ",".join(kinds) if kinds else (
                    (fault.get("kind") if isinstance(fault, dict) else None) or "fault")
                # The cause in the station's own words (paths, SQLite's error): never a name.
                causes = snap.get("faults") if isinstance(snap.get("faults"), dict) else {}
                body["cause"] = "; ".join(f"{src}: {msg}" for src, msg in causes.items()) or str(fault)
    else:
        body["runtime"] = "none"
    recorder = current_app.extensions.get("station_recorder")
    if recorder is not None:
        body["outbox"] = recorder.pending()  # trials kept until the database takes them
    code = 200 if body["status"] == "ok" else 503
    resp = jsonify(body)
    resp.status_code = code
    return _nocache(resp)
