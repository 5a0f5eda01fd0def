"""Login and logout."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from ..extensions import db
from ..security import local_url
from ..services.audit import audit
from ..services.users import LoginError, LoginThrottled, authenticate, close_session, open_session

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Only allow redirects to a path on this site."""
    return local_url(target) or url_for("main.dashboard")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login form and log the user in."""
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    error = None
    username = ""
    status = 200
    headers: dict[str, str] = {}
    if request.method == "POST":
        username = request.form.get("username", "")
        try:
            user = authenticate(username, request.form.get("password", ""), request.remote_addr or "")
        except LoginError as exc:
            error = str(exc)
            status = 401
            if isinstance(exc, LoginThrottled):
                headers["Retry-After"] = str(exc.seconds)
        else:
            session.clear()
            session["sid"] = open_session(user, request.remote_addr or "")
            db.session.commit()
            login_user(user)
            session.permanent = True
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", error=error, username=username), status, headers


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Log out (POST only, so a link on another site cannot log you out)."""
    audit("logout")
    close_session(session.get("sid"))  # the server forgets it: a copy of the cookie opens nothing
    db.session.commit()
    logout_user()
    session.clear()
    flash("Sei uscito da Recapito.", "info")
    return redirect(url_for("auth.login"))
