"""«Ricevute e rimbalzi»: every received message (also those that matched nothing), and the mailbox reading."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from redis.exceptions import RedisError

from ..extensions import db, htmx
from ..models import RECEIPT_KINDS, RECEIPT_OUTCOMES, TRUST_STATUSES, Receipt
from ..security import require_roles
from ..services import receipt_log as svc
from ..services import tracking as tracking_service
from ..services.audit import audit

bp = Blueprint("tracking", __name__)


@bp.before_request
def office_only():
    """The same people who follow batch results: operators and managers (admin passes)."""
    require_roles("operator", "manager")


@bp.route("/")
def index():
    """Received messages newest first, with filters; the mailbox reading state on top; the list is also a fragment."""
    filters = svc.ReceiptFilters.from_args(request.args)
    result = svc.search_receipts(filters, current_user)
    context = {
        "filters": filters,
        "result": result,
        "OUTCOMES": RECEIPT_OUTCOMES,
        "KINDS": RECEIPT_KINDS,
        "PROBLEM_OUTCOMES": svc.PROBLEM_OUTCOMES,
        "account_names": svc.account_names(),
        "mask": svc.mask_addresses,
        "TRUST": TRUST_STATUSES,
    }
    if htmx and htmx.target == "receipt-results":
        return render_template("tracking/_results.html", **context)
    return render_template(
        "tracking/index.html",
        mailboxes=svc.mailbox_rows(),
        poll_seconds=int(current_app.config.get("IMAP_POLL_SECONDS", 120)),
        **context,
    )


@bp.route("/<int:receipt_id>.eml")
def source(receipt_id: int):
    """One received message exactly as it arrived, for who may see the delivery it concerns (an unmatched
    one only for the highest clearance: its original may quote a confidential address)."""
    receipt = svc.downloadable_receipt(receipt_id, current_user)
    if receipt is None:
        abort(404)
    return receipt_download(receipt)


def receipt_download(receipt: Receipt) -> Response:
    """The original of a receipt as an .eml attachment, audited (also used by the batch results page)."""
    try:
        data = svc.receipt_original(receipt)
    except svc.ReceiptIntegrityError as exc:
        abort(409, str(exc))
    audit("receipt.download", receipt, delivery_id=receipt.delivery_id)
    db.session.commit()
    response = Response(data, mimetype="message/rfc822")
    response.headers["Content-Disposition"] = f'attachment; filename="{svc.receipt_filename(receipt)}"'
    return response


@bp.route("/<int:receipt_id>/conferma", methods=["POST"])
def confirm(receipt_id: int):
    """«Conferma e applica»: a manager vouches for a «sospetta» PEC receipt after reading its reasons;
    it is applied to its delivery and the confirmation audited. Back to the delivery page or the list."""
    require_roles("manager")
    receipt = svc.visible_receipt(receipt_id, current_user)
    if receipt is None:
        abort(404)
    delivery = tracking_service.confirmable_delivery(receipt)
    try:
        data = svc.receipt_original(receipt)
        outcome = tracking_service.confirm_receipt(receipt, current_user, data)
    except (svc.ReceiptIntegrityError, tracking_service.ConfirmError) as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        flash(f"Ricevuta confermata: {RECEIPT_OUTCOMES.get(outcome, outcome).lower()}.", "success")
    if request.form.get("back") == "delivery" and delivery is not None:
        return redirect(url_for("batches.preview", batch_id=delivery.batch_id, delivery_id=delivery.id))
    return redirect(url_for("tracking.index", _anchor=f"ricevuta-{receipt.id}"))


@bp.route("/caselle/<int:account_id>/leggi", methods=["POST"])
def poll_now(account_id: int):
    """«Leggi ora»: queue the reading of one account's mailbox, as the scheduler does."""
    account = svc.readable_account(account_id)
    if account is None:
        abort(404)
    try:
        job = svc.enqueue_poll(account)
    except RedisError:
        current_app.logger.exception("mailbox poll of account %s not queued", account.id)
        flash("La coda dei lavori non risponde: la lettura non è partita. Riprova tra poco.", "error")
        return redirect(url_for("tracking.index"))
    audit("mailbox.poll", account, job_id=job.id)
    db.session.commit()
    flash(
        f"Lettura della casella di «{account.name}» in coda: i messaggi nuovi compariranno qui tra poco "
        "(ricarica la pagina).",
        "info",
    )
    return redirect(url_for("tracking.index"))
