"""Batches: prepare, review, approve, send, follow, results."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from ..extensions import db, htmx
from ..inputs import db_id, db_ids
from ..models import (
    BATCH_STATUSES,
    DELIVERY_STATUSES,
    SDI_KINDS,
    SUMMARY_STATES,
    TRUST_STATUSES,
    Agent,
    Batch,
    Category,
    Delivery,
    DocumentType,
    MailAccount,
    Receipt,
    Zone,
)
from ..security import require_roles
from ..services import (
    approval,
    batch_summary,
    batch_views,
    pec_trust,
    preparation,
    receipt_log,
    sdi,
    sending,
    test_send,
    tracking,
)
from ..services.audit import audit
from ..services.pagination import page_arg, page_count
from ..tracking.routes import receipt_download
from ..transport.message import build_message

bp = Blueprint("batches", __name__)

DELIVERIES_PER_PAGE = 100
VIEWS = {
    "pending": (["pending"], "Da inviare"),
    "norecipient": (["norecipient"], "Senza destinatario"),
    "excluded": (["excluded"], "Esclusi"),
    "warnings": (None, "Con avvisi"),
}
RESULT_FILTERS = {
    "all": (None, "Tutti"),
    "sent": (["sent"], "Inviati"),
    "failed": (["failed", "bounced"], "Falliti"),
    "uncertain": (["uncertain"], "Esito incerto"),
    "waiting": (["queued", "sending", "pending"], "Non ancora tentati"),
    "excluded": (["excluded", "norecipient", "cancelled"], "Esclusi"),
    # After sending: what the PEC receipts and the bounces said (batch_views.TRACKING_FILTERS).
    "accepted": (None, "Accettati (PEC)"),
    "delivered": (None, "Consegnati (PEC)"),
    "notdelivered": (None, "Mancata consegna"),
    "bounced": (None, "Rimbalzati"),
}


@bp.before_request
def office_only():
    """Batches are for operators and managers (admin passes); sales open the campaign batches they
    prepared (_batch applies batch_views.may_open_batch to every batch page and command)."""
    if (
        current_user.is_authenticated
        and current_user.has_role("sales")
        and not current_user.has_role("operator", "manager")
        and (request.view_args or {}).get("batch_id") is not None
    ):
        return  # approval and sending commands still check for a manager further down
    require_roles("operator", "manager")


def _batch(batch_id: int) -> Batch:
    """Load a batch the user may open (batch_views.may_open_batch): every one of its types must be theirs
    to send (the same rule as approving it; it covers the sending commands too: start, resume, retry,
    «esito incerto»), and a campaign batch is for who prepared it and managers only."""
    batch = db.session.get(Batch, batch_id)
    if batch is None:
        abort(404)
    if not batch_views.may_open_batch(current_user, batch):
        abort(403)
    return batch


def _delivery(batch: Batch, delivery_id: int) -> Delivery:
    """A delivery of the batch that the user's clearance allows (its contact's level now)."""
    delivery = batch_views.visible_delivery(batch.id, delivery_id, current_user)
    if delivery is None:
        abort(404)
    return delivery


@bp.route("/")
def index():
    """The batches the user may open, newest first, a page at a time, with their state and counts."""
    filters = BatchFilters.from_args(request.args)
    result = batch_views.batch_page(current_user, [filters.stato] if filters.stato else None, filters.page)
    return render_template(
        "batches/index.html",
        result=result,
        filters=filters,
        status=filters.stato,
        BATCH_STATUSES=BATCH_STATUSES,
    )


@dataclass
class BatchFilters:
    """The batches list's filter (state) and page, read from and written to the query string."""

    stato: str = ""
    page: int = 1

    @classmethod
    def from_args(cls, args) -> BatchFilters:
        """Read leniently: an unknown state or a malformed page is ignored."""
        stato = args.get("stato", "")
        return cls(stato=stato if stato in BATCH_STATUSES else "", page=page_arg(args.get("page")))

    def to_args(self, **override) -> dict:
        """Query-string arguments for links (the pager), without empty values."""
        args = {"stato": self.stato, "page": self.page, **override}
        return {k: v for k, v in args.items() if v not in ("", None) and not (k == "page" and v == 1)}


@bp.route("/nuovo", methods=["GET", "POST"])
def new():
    """Choose what to prepare: types, period, party filters, not yet sent; or documents picked elsewhere."""
    types = [
        t
        for t in db.session.scalars(db.select(DocumentType).order_by(DocumentType.position))
        if current_user.may_send(t.code)
    ]
    errors: dict[str, str] = {}
    form = request.form if request.method == "POST" else request.args
    if request.method == "POST":
        try:
            document_ids = db_ids(request.form.getlist("document_id"))
            selection = preparation.Selection(
                type_codes=request.form.getlist("type"),
                date_from=preparation.parse_date(request.form.get("date_from"), "Dal"),
                date_to=preparation.parse_date(request.form.get("date_to"), "Al"),
                only_unsent=request.form.get("only_unsent", "1") == "1" if not document_ids else False,
                zone_id=request.form.get("zone_id", type=db_id),
                agent_id=request.form.get("agent_id", type=db_id),
                category_id=request.form.get("category_id", type=db_id),
                document_ids=document_ids,
            )
            batch = preparation.create_batch(
                selection,
                current_user,
                name=request.form.get("name", "").strip()[:200],
                base_url=request.host_url,
            )
        except preparation.PreparationError as exc:
            errors["form"] = str(exc)
        except ValueError:
            errors["form"] = "Valori non validi nel modulo."
        else:
            flash("Preparazione avviata: puoi seguirla qui sotto.", "info")
            return redirect(url_for("batches.detail", batch_id=batch.id))
    return render_template(
        "batches/new.html",
        types=types,
        errors=errors,
        form=form,
        zones=db.session.scalars(db.select(Zone).order_by(Zone.name)).all(),
        agents=db.session.scalars(db.select(Agent).order_by(Agent.name)).all(),
        categories=db.session.scalars(db.select(Category).order_by(Category.name)).all(),
    ), (400 if errors else 200)


@bp.route("/<int:batch_id>")
def detail(batch_id: int):
    """The batch page: progress, review (before approval) or results (after)."""
    batch = _batch(batch_id)
    if htmx and htmx.target == "batch-summary":
        return render_template(
            "batches/_summary.html",
            batch=batch,
            SUMMARY_STATES=SUMMARY_STATES,
            can_act=current_user.has_role("manager", "admin"),
        )
    context = _detail_context(batch)
    if htmx and htmx.target == "delivery-table":
        return render_template("batches/_deliveries.html", **context)
    return render_template("batches/detail.html", **context)


def _detail_context(batch: Batch) -> dict:
    """Everything the batch page and its fragments show."""
    reviewing = batch.status in ("ready", "preparing", "failed", "rejected", "approved")
    view = request.args.get("vista", "pending" if reviewing else "all")
    search = request.args.get("q", "").strip()
    page = page_arg(request.args.get("pagina"))
    filters = VIEWS if reviewing else RESULT_FILTERS
    if view not in filters:
        view = next(iter(filters))
    statuses = filters[view][0]
    tracking_view = None if reviewing else view
    counts = batch_views.counts(batch.id, current_user, sending=batch.status == "sending")
    rows, total = batch_views.delivery_rows(
        batch.id,
        current_user,
        statuses,
        search,
        page=page,
        per_page=DELIVERIES_PER_PAGE,
        tracking=tracking_view,
        counts=counts,
    )
    if view == "warnings":
        rows = [r for r in rows if r.warnings]
    problems = approval.approval_problems(batch, current_user) if batch.status == "ready" else []
    accounts = {a.id: a for a in db.session.scalars(db.select(MailAccount))}
    return {
        "batch": batch,
        "rows": rows,
        "total": total,
        "page": page,
        "pager": {"page": page, "pages": page_count(total, DELIVERIES_PER_PAGE)},
        "view": view,
        "search": search,
        "filters": filters,
        "counts": counts,
        "problems": problems,
        "progress": batch_views.progress(batch, current_user, counts),  # counted once: 20,000 rows a time
        "reviewing": reviewing,
        "accounts": accounts,
        "STATUS": DELIVERY_STATUSES,
        "BATCH_STATUSES": BATCH_STATUSES,
        "SUMMARY_STATES": SUMMARY_STATES,
        "can_approve": batch.status == "ready" and not problems,
        "reviewed": approval.review_fingerprint(batch.id) if batch.status == "ready" and not problems else "",
        "can_act": current_user.has_role("manager", "admin"),
        "summary": approval.approval_summary(batch, current_user) if batch.status == "ready" else {},
        "can_discard": approval.may_discard(batch, current_user),
        "receipts": {} if reviewing else tracking.receipts_by_delivery(rows),
        "sdi_states": sdi.sdi_state({doc for r in rows for doc in r.documents}),
        "sdi_discarded": {
            doc_id
            for doc_id, n in sdi.fates(
                {doc for r in rows if r.status in ("pending", "queued") for doc in r.documents}
            ).items()
            if n.kind == "NS"
        },
        "sdi_kinds": SDI_KINDS,
        "resend_notes": preparation.resend_notes(rows, current_user.privacy_clearance),
    }


@bp.route("/<int:batch_id>/avanzamento")
def progress(batch_id: int):
    """The self-replacing progress widget; 286 stops polling, HX-Refresh when the state changed."""
    batch = _batch(batch_id)
    seen = request.args.get("stato", "")
    response = make_response(
        render_template(
            "batches/_progress.html",
            batch=batch,
            progress=batch_views.progress(batch, current_user),
            BATCH_STATUSES=BATCH_STATUSES,
        )
    )
    if seen and seen != batch.status:
        response.headers["HX-Refresh"] = "true"
    elif batch.status not in ("preparing", "sending"):
        response.status_code = 286
    return response


def _act(batch: Batch, action, success: str):
    """Run a state change, flash its outcome, go back to the batch page."""
    try:
        action()
    except (approval.ApprovalError, sending.SendingError, preparation.PreparationError) as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        flash(success, "success")
    return redirect(url_for("batches.detail", batch_id=batch.id))


@bp.route("/<int:batch_id>/approva", methods=["POST"])
def approve(batch_id: int):
    """Approve (and, when asked, start sending at once)."""
    batch = _batch(batch_id)

    def run():
        # The review page's fingerprint: required, so an approval always covers what was seen.
        approval.approve_batch(
            batch,
            current_user,
            reviewed=request.form.get("reviewed", ""),
            confirm_resend=request.form.get("confirm_resend") == "1",
        )
        if request.form.get("send_now") == "1":
            sending.start_sending(batch, current_user)

    return _act(
        batch, run, "Invio approvato." + (" Invio avviato." if request.form.get("send_now") == "1" else "")
    )


@bp.route("/<int:batch_id>/scarta", methods=["POST"])
def discard(batch_id: int):
    """Discard a batch waiting for approval (its preparer, managers, admins): its documents are free again."""
    batch = _batch(batch_id)
    return _act(
        batch,
        lambda: approval.discard_batch(batch, current_user),
        "Invio scartato: nulla partirà e i suoi documenti si possono preparare di nuovo.",
    )


@bp.route("/<int:batch_id>/respingi", methods=["POST"])
def reject(batch_id: int):
    """Reject with a reason."""
    batch = _batch(batch_id)
    return _act(
        batch,
        lambda: approval.reject_batch(batch, current_user, request.form.get("reason", "")),
        "Invio respinto.",
    )


def _manager_only():
    """Sending commands are for managers."""
    if not current_user.has_role("manager", "admin"):
        abort(403)


@bp.route("/<int:batch_id>/invia", methods=["POST"])
def send(batch_id: int):
    """Start sending an approved batch."""
    _manager_only()
    batch = _batch(batch_id)
    return _act(batch, lambda: sending.start_sending(batch, current_user), "Invio avviato.")


@bp.route("/<int:batch_id>/pausa", methods=["POST"])
def pause(batch_id: int):
    """Pause sending."""
    _manager_only()
    batch = _batch(batch_id)
    return _act(batch, lambda: sending.pause_sending(batch, current_user), "Invio in pausa.")


@bp.route("/<int:batch_id>/riprendi", methods=["POST"])
def resume(batch_id: int):
    """Resume sending."""
    _manager_only()
    batch = _batch(batch_id)
    return _act(batch, lambda: sending.resume_sending(batch, current_user), "Invio ripreso.")


@bp.route("/<int:batch_id>/annulla", methods=["POST"])
def cancel(batch_id: int):
    """Cancel what has not left yet."""
    _manager_only()
    batch = _batch(batch_id)
    return _act(batch, lambda: sending.cancel_sending(batch, current_user), "Invio annullato.")


@bp.route("/<int:batch_id>/riepilogo", methods=["POST"])
def resend_summary(batch_id: int):
    """Send the end-of-batch summary again to whoever it did not reach."""
    _manager_only()
    batch = _batch(batch_id)
    return _act(
        batch,
        lambda: batch_summary.resend_summary(batch, current_user),
        "Riepilogo rimesso in coda: parte tra pochi istanti.",
    )


@bp.route("/<int:batch_id>/ritenta", methods=["POST"])
def retry(batch_id: int):
    """Try the failed deliveries again."""
    _manager_only()
    batch = _batch(batch_id)
    result = {}

    def run():
        result["n"] = sending.retry_failed(batch, current_user)

    response = _act(batch, run, "Nuovo tentativo avviato per i falliti.")
    if result.get("n") == 0:
        flash("Nessun recapito fallito da ritentare.", "info")
    return response


@bp.route("/<int:batch_id>/recapiti/<int:delivery_id>/esito", methods=["POST"])
def resolve(batch_id: int, delivery_id: int):
    """Decide an uncertain delivery: resend, or mark as sent."""
    _manager_only()
    batch = _batch(batch_id)
    delivery = _delivery(batch, delivery_id)
    action = request.form.get("action", "")
    return _act(
        batch,
        lambda: sending.resolve_uncertain(delivery, action, current_user),
        "Recapito rimesso in coda." if action == "resend" else "Recapito segnato come inviato.",
    )


@bp.route("/<int:batch_id>/escludi", methods=["POST"])
def exclude(batch_id: int):
    """Exclude or include the chosen deliveries (one or many)."""
    batch = _batch(batch_id)
    ids = db_ids(request.form.getlist("delivery_id"))
    excluded = request.form.get("action", "exclude") == "exclude"
    try:
        n = approval.set_excluded(batch, ids, excluded, current_user)
        message, category = (f"{n} destinatari {'esclusi' if excluded else 'inclusi'}.", "success")
    except approval.ApprovalError as exc:
        db.session.rollback()
        message, category = str(exc), "error"
    if htmx:
        context = _detail_context(batch)
        context["notice"] = (category, message)
        return render_template("batches/_review.html", **context)
    flash(message, category)
    return redirect(url_for("batches.detail", batch_id=batch.id))


@bp.route("/<int:batch_id>/reindirizza/<int:party_id>", methods=["POST"])
def reroute(batch_id: int, party_id: int):
    """Route again one party's documents that had no recipient, after its contacts were fixed."""
    batch = _batch(batch_id)
    result = {}

    def run():
        result["n"] = preparation.reroute_party(batch, party_id)

    response = _act(batch, run, "Anagrafica reindirizzata.")
    if result.get("n") == 0:
        flash("Ancora nessun contatto riceve questi documenti: correggi i contatti e riprova.", "warning")
    return response


@bp.route("/<int:batch_id>/recapiti/<int:delivery_id>")
def preview(batch_id: int, delivery_id: int):
    """The e-mail as the recipient will see it: headers, body, attachments."""
    batch = _batch(batch_id)
    delivery = _delivery(batch, delivery_id)
    account = db.session.get(MailAccount, delivery.account_id) if delivery.account_id else None
    template = "batches/_preview.html" if htmx else "batches/preview.html"
    return render_template(
        template,
        batch=batch,
        d=delivery,
        account=account,
        STATUS=DELIVERY_STATUSES,
        came_back=_came_back(delivery),
        TRUST=TRUST_STATUSES,
    )


@bp.route("/<int:batch_id>/recapiti/<int:delivery_id>/prova", methods=["POST"])
def send_test(batch_id: int, delivery_id: int):
    """«Invia una prova a me»: the delivery's exact message to the user's own address; never counted as sent."""
    batch = _batch(batch_id)
    delivery = _delivery(batch, delivery_id)
    try:
        spec, account = test_send.delivery_test_spec(delivery, current_user)
        result = test_send.send_spec(spec, account, delivery, current_user, batch_id=batch.id)
    except test_send.TestSendError as exc:
        db.session.rollback()
        result = test_send.TestSendResult(False, str(exc))
    return test_send_answer(result, url_for("batches.preview", batch_id=batch.id, delivery_id=delivery.id))


def test_send_answer(result, back: str):
    """The result next to the button (htmx), or flashed on the page it came from (also the template editor's)."""
    if htmx:
        return render_template("_test_send_result.html", result=result)
    flash(result.message, "success" if result.ok else "error")
    return redirect(back)


def _came_back(delivery: Delivery) -> list[tuple[Receipt, pec_trust.CertifiedData | None]]:
    """The delivery's receipts with the data their daticert.xml certifies (None for bounces, or unreadable)."""
    rows = []
    for receipt in receipt_log.delivery_receipts(delivery):
        certified = None
        if receipt.kind == "pec-receipt":
            try:
                certified = pec_trust.certified_data(receipt_log.receipt_original(receipt))
            except receipt_log.ReceiptIntegrityError:
                certified = None
        rows.append((receipt, certified))
    return rows


@bp.route("/<int:batch_id>/recapiti/<int:delivery_id>/corpo")
def body(batch_id: int, delivery_id: int):
    """The HTML body alone, for the preview frame: sandboxed, no scripts, no remote content."""
    batch = _batch(batch_id)
    delivery = _delivery(batch, delivery_id)
    response = Response(delivery.body_html or f"<pre>{delivery.body_text}</pre>", mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'"
    )
    return response


@bp.route("/<int:batch_id>/recapiti/<int:delivery_id>/documenti/<int:document_id>.pdf")
def attachment(batch_id: int, delivery_id: int, document_id: int):
    """The PDF of one document of the delivery (as it went out, if an import replaced it since)."""
    batch = _batch(batch_id)
    delivery = _delivery(batch, delivery_id)
    document = next((d for d in delivery.documents if d.id == document_id), None)
    from ..services.document_versions import files_sent_with

    if document is None:
        abort(404)
    pdf_sha = files_sent_with(document, delivery)[0]
    if not pdf_sha:
        abort(404)
    from ..models import Blob

    blob = db.session.get(Blob, pdf_sha)
    assert blob is not None  # documents reference stored blobs
    response = Response(blob.data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{sending.pdf_filename(document)}"'
    return response


@bp.route("/<int:batch_id>/recapiti/<int:delivery_id>/messaggio.eml")
def message_source(batch_id: int, delivery_id: int):
    """The message that left, rebuilt byte for byte and checked against the digest taken at sending."""
    batch = _batch(batch_id)
    delivery = _delivery(batch, delivery_id)
    if not delivery.message_sha256 or not delivery.account_id:
        abort(404)
    account = db.session.get(MailAccount, delivery.account_id)
    assert account is not None  # account_id is a foreign key
    data = build_message(sending.message_spec(delivery, account))
    if hashlib.sha256(data).hexdigest() != delivery.message_sha256:
        abort(409, "Il messaggio ricostruito non coincide con quello inviato.")
    audit("delivery.download_message", delivery)
    db.session.commit()
    response = Response(data, mimetype="message/rfc822")
    response.headers["Content-Disposition"] = f'attachment; filename="recapito-{delivery.id}.eml"'
    return response


@bp.route("/<int:batch_id>/recapiti/<int:delivery_id>/ricevute/<int:receipt_id>.eml")
def receipt_source(batch_id: int, delivery_id: int, receipt_id: int):
    """A PEC receipt or bounce exactly as received (the legal proof), for who may see the delivery."""
    batch = _batch(batch_id)
    delivery = _delivery(batch, delivery_id)
    receipt = next((r for r in receipt_log.delivery_receipts(delivery) if r.id == receipt_id), None)
    if receipt is None:
        abort(404)
    return receipt_download(receipt)


@bp.route("/<int:batch_id>/esiti.<fmt>")
def export(batch_id: int, fmt: str):
    """Results as CSV or XLSX."""
    batch = _batch(batch_id)
    if fmt == "csv":
        data, mimetype = (
            batch_views.export_csv(batch.id, current_user),
            "text/csv",
        )  # Werkzeug adds "; charset=utf-8"
    elif fmt == "xlsx":
        data = batch_views.export_xlsx(batch.id, current_user)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        abort(404)
    audit("batch.export", batch, format=fmt)
    db.session.commit()
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="invio-{batch.id}-esiti.{fmt}"'
    return response
