"""Roster and athlete records: add, edit, merge duplicates, delete with all data, roster CSV
export and an import that previews its changes, and the audit log of all of these."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for

from kiosk.errors import InputError, KioskError
from kiosk.store import records
from kiosk.store import roster as roster_files
from kiosk.web import auth, get_store
from kiosk.web.coach import _bom, _csv_response, bp

_FORM_FIELDS = ("display_name", "athlete_number", "team", "sex", "birth_year", "notes")


def _by() -> str:
    return (auth.current_coach() or {}).get("username", "")


def _athlete_or_404(athlete_id: int) -> dict:
    athlete = get_store().get_athlete(athlete_id)
    if athlete is None:
        abort(404, "no such athlete")
    return athlete


def _athlete_form() -> dict[str, Any]:
    data: dict[str, Any] = {k: request.form.get(k, "") for k in _FORM_FIELDS}
    data["active"] = request.form.get("active") == "1"
    return data


@bp.route("/roster", methods=["GET", "POST"])
@auth.coach_required
def roster() -> Any:
    store = get_store()
    status = 200
    form: dict[str, Any] = {}
    if request.method == "POST":
        form = _athlete_form()
        try:
            new_id = store.add_athlete(**form)
        except InputError as exc:
            flash(str(exc), "error")
            status = 400
        else:
            with store.tx() as conn:
                records.audit(conn, store, _by(), "athlete.add", new_id, {})
            flash(f"Added {form['display_name'].strip()}.", "ok")
            return redirect(url_for("coach.roster", _anchor=f"a{new_id}"))
    team = request.args.get("team") or None
    return render_template("coach/roster.html", athletes=store.list_athletes(team=team), teams=store.teams(),
                           team=team or "", form=form), status


@bp.route("/roster/<int:athlete_id>/edit", methods=["GET", "POST"])
@auth.coach_required
def edit_athlete(athlete_id: int) -> Any:
    a = _athlete_or_404(athlete_id)
    if request.method == "POST":
        form = _athlete_form()
        try:
            changed = records.edit_athlete(get_store(), athlete_id, form, by=_by())
        except InputError as exc:
            flash(str(exc), "error")
            return render_template("coach/athlete_form.html", athlete={**a, **form}), 400
        flash(f"Saved ({', '.join(changed)})." if changed else "Nothing changed.", "ok")
        return redirect(url_for("coach.athlete", athlete_id=athlete_id))
    return render_template("coach/athlete_form.html", athlete=a)


@bp.route("/athletes/<int:athlete_id>/merge", methods=["GET", "POST"])
@auth.coach_required
def merge_athlete(athlete_id: int) -> Any:
    """Merge the duplicate ``athlete_id`` into the athlete chosen in the form (kept)."""
    dup = _athlete_or_404(athlete_id)
    store = get_store()
    if request.method == "POST":
        try:
            keep_id = int(request.form.get("keep", ""))
            moved = records.merge_athletes(store, keep_id, athlete_id, by=_by())
        except ValueError:
            flash("Choose the athlete to keep.", "error")
        except InputError as exc:
            flash(str(exc), "error")
        else:
            flash(f"Merged {dup['display_name']} into this record: {moved['sessions']} sessions and "
                  f"{moved['trials']} trials moved.", "ok")
            return redirect(url_for("coach.athlete", athlete_id=keep_id))
        return redirect(url_for("coach.merge_athlete", athlete_id=athlete_id))
    others = [a for a in store.list_athletes() if a["id"] != athlete_id]
    first = dup["display_name"].split()[0].casefold() if dup["display_name"].split() else ""
    likely = [a for a in others if first and first in a["display_name"].casefold()]
    return render_template("coach/merge.html", dup=dup, others=others, likely=likely,
                           counts=_counts(athlete_id))


def _counts(athlete_id: int) -> dict[str, int]:
    store = get_store()
    return {"sessions": int(store.query("SELECT COUNT(*) FROM sessions WHERE athlete_id = ?", (athlete_id,))[0][0]),
            "trials": int(store.query("SELECT COUNT(*) FROM trials WHERE athlete_id = ?", (athlete_id,))[0][0])}


@bp.route("/athletes/<int:athlete_id>/delete", methods=["GET", "POST"])
@auth.coach_required
def delete_athlete(athlete_id: int) -> Any:
    a = _athlete_or_404(athlete_id)
    if request.method == "POST":
        if request.form.get("confirm_name", "").strip() != a["display_name"].strip():
            flash("Type the athlete's name exactly to confirm the deletion.", "error")
            return render_template("coach/delete.html", athlete=a, counts=_counts(athlete_id)), 400
        try:
            gone = records.delete_athlete(get_store(), athlete_id, by=_by())
        except KioskError as exc:
            flash(f"Deleted from the database, but: {exc}", "error")
            return redirect(url_for("coach.roster"))
        flash(f"Deleted {a['display_name']}: {gone['sessions']} sessions, {gone['trials']} trials, "
              f"{gone['media_files']} clips and pictures, and their rows in {gone['export_files']} saved export files.",
              "ok")
        return redirect(url_for("coach.roster"))
    return render_template("coach/delete.html", athlete=a, counts=_counts(athlete_id))


@bp.get("/audit")
@auth.coach_required
def audit() -> Any:
    athlete_id = request.args.get("athlete", type=int)
    return render_template("coach/audit.html", entries=records.audit_log(get_store(), athlete_id=athlete_id, limit=300),
                           athlete_id=athlete_id)


# --- roster CSV -----------------------------------------------------------------------------

@bp.get("/roster.csv")
@auth.coach_required
def roster_csv() -> Any:
    return _csv_response(roster_files.roster_csv(get_store().list_athletes(), bom=_bom()), "roster.csv")


@bp.post("/roster/import")
@auth.coach_required
def import_roster() -> Any:
    """Step 1: read the file and show what it would change (nothing is written)."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("Choose a CSV file to import.", "error")
        return redirect(url_for("coach.roster"))
    try:
        text = upload.read().decode("utf-8")
    except UnicodeDecodeError:
        flash("The file is not UTF-8 text. Save it from your spreadsheet as 'CSV UTF-8'.", "error")
        return redirect(url_for("coach.roster"))
    return _preview(text)


def _preview(text: str) -> Any:
    try:
        plans = roster_files.plan_import(get_store(), text)
    except KioskError as exc:
        flash(f"Nothing imported: {exc}", "error")
        return redirect(url_for("coach.roster"))
    counts = {k: sum(p.action == k for p in plans) for k in ("add", "update", "same", "conflict")}
    return render_template("coach/import_preview.html", plans=plans, counts=counts, text=text)


@bp.post("/roster/import/apply")
@auth.coach_required
def import_roster_apply() -> Any:
    """Step 2: the coach confirmed the preview; plan again from the same text and apply it."""
    text = request.form.get("text", "")
    try:
        done = roster_files.apply_import(get_store(), text, by=_by())
    except KioskError as exc:
        flash(f"Nothing imported: {exc}", "error")
        return _preview(text)
    flash(f"Imported: {done['added']} added, {done['updated']} updated, {done['same']} unchanged.", "ok")
    return redirect(url_for("coach.roster"))
