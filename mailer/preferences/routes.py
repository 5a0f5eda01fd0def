"""«Gestisci le tue preferenze»: the public page a signed link opens, and the office queue of the requests."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from ..extensions import db
from ..models import PREFERENCE_KINDS, PREFERENCE_STATUSES, PreferenceRequest
from ..security import public_endpoint, require_roles
from ..services import preferences as svc

bp = Blueprint("preferences", __name__)
PUBLIC = {"preferences.manage"}
OFFICE = ("operator", "manager")


@bp.before_request
def office_only():
    """The queue is for operators and managers (admin passes); the recipients' page is for anyone with a link."""
    if request.endpoint in PUBLIC:
        return
    require_roles(*OFFICE)


@bp.app_context_processor
def pending_requests():
    """The number of requests waiting, for the menu and the dashboard (a callable: counted only where shown)."""

    def count() -> int:
        if not current_user.is_authenticated or not current_user.has_role(*OFFICE):
            return 0
        return svc.pending_count(current_user)

    return {"preference_requests_pending": count}


# ---------------------------------------------------------------- public


def _public(template_state: str, status: int, **context):
    """A page of the public area: no caching, the link's token never sent on as a referrer."""
    response = make_response(
        render_template("preferences/manage.html", state=template_state, **context), status
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/<token>", methods=["GET", "POST"])
@public_endpoint
def manage(token: str):
    """GET shows what comes to the link's address; POST opts out of promotions at once or records a request."""
    if not svc.allow_hit(request.remote_addr or "", token, submit=request.method == "POST"):
        return _public("busy", 429)
    try:
        target = svc.read_token(token)
    except svc.LinkExpired:
        return _public("expired", 410)
    if target is None:
        return _public("invalid", 404)
    errors: dict[str, str] = {}
    form: dict = {}
    if request.method == "POST":
        action = request.form.get("action", "")
        if action == "opt_out":
            svc.opt_out(target)
            flash("Fatto: da ora non ricevi più comunicazioni promozionali a questo indirizzo.", "success")
            return redirect(url_for("preferences.manage", token=token), 303)
        form = {
            "kind": action,
            "type_code": request.form.get("type_code", ""),
            "type_codes": request.form.getlist("type_codes"),
            "new_email": request.form.get("new_email", ""),
            "new_name": request.form.get("new_name", ""),
            "note": request.form.get("note", ""),
        }
        try:
            made, errors = svc.submit_request(target, form)
        except svc.PreferenceError as exc:
            flash(str(exc), "info")
            return redirect(url_for("preferences.manage", token=token), 303)
        if made is not None:
            flash(
                "Richiesta ricevuta: un nostro collega la esamina e la applica nei prossimi giorni.",
                "success",
            )
            return redirect(url_for("preferences.manage", token=token), 303)
    return _public(
        "page", 422 if errors else 200, token=token, view=svc.page_view(target), errors=errors, form=form
    )


# ---------------------------------------------------------------- office queue


@bp.route("/richieste/")
def queue():
    """Requests waiting (or decided: ?stato=accepted|refused), within the user's clearance, old → new value."""
    status = request.args.get("stato", "pending")
    if status not in PREFERENCE_STATUSES:
        status = "pending"
    rows = [(r, *svc.describe(r, current_user)) for r in svc.visible_requests(current_user, status)]
    return render_template(
        "preferences/queue.html",
        rows=rows,
        status=status,
        STATUSES=PREFERENCE_STATUSES,
        KINDS=PREFERENCE_KINDS,
        section="preferences",
    )


def _request_or_404(request_id: int) -> PreferenceRequest:
    """The request if the user's clearance reaches it; 404 for hidden and missing alike."""
    found = svc.get_visible_request(request_id, current_user)
    if found is None:
        abort(404)
    return found


@bp.route("/richieste/<int:request_id>/accetta", methods=["POST"])
def accept(request_id: int):
    """Apply the request to the contacts (their history records it) and mark it accepted."""
    return _decide(
        request_id, lambda found: svc.accept(found, current_user), "accettata: contatti aggiornati"
    )


@bp.route("/richieste/<int:request_id>/rifiuta", methods=["POST"])
def refuse(request_id: int):
    """Refuse the request with a reason; the contacts stay as they are."""
    reason = request.form.get("reason", "")
    return _decide(request_id, lambda found: svc.refuse(found, current_user, reason), "rifiutata")


def _decide(request_id: int, decision: Callable[[PreferenceRequest], object], done: str):
    """Run a decision on a request the user may see: committed with a message, or rolled back with the reason."""
    found = _request_or_404(request_id)
    try:
        decision(found)
    except svc.PreferenceError as exc:
        db.session.rollback()
        flash(f"Richiesta n. {request_id} non decisa: {exc}", "error")
        return redirect(url_for("preferences.queue"))
    db.session.commit()
    flash(f"Richiesta n. {request_id} {done}.", "success")
    return redirect(url_for("preferences.queue"))
