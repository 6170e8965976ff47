"""The coach's own account page: change the password (every other login and the API token end)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for

from kiosk.errors import InputError
from kiosk.web import auth, get_store
from kiosk.web.coach import bp


@bp.route("/account", methods=["GET", "POST"])
@auth.coach_required
def account() -> Any:
    coach = auth.current_coach() or {}
    store = get_store()
    if request.method == "POST":
        current, new, again = (request.form.get(k, "") for k in ("current", "new", "again"))
        error = ""
        if store.authenticate(coach["username"], current[:1024]) is None:
            error = "The current password is not right."
        elif new != again:
            error = "The two new passwords differ."
        else:
            try:
                store.set_password(coach["username"], new)
            except InputError as exc:
                error = str(exc).capitalize() + "."
        if error:
            flash(f"Password not changed: {error}", "error")
            return render_template("coach/account.html", coach=coach), 400
        # set_password ended every session, this one included: give this browser a new one.
        auth.login_session(coach)
        flash("Password changed. Other logins and your API token no longer work.", "ok")
        return redirect(url_for("coach.account"))
    return render_template("coach/account.html", coach=coach)
