"""Amministrazione › Webhook: the ERP's HTTPS endpoints, the events each receives, the attempts of each
message (HTTP status, answer, duration), re-send, a test event, secret rotation (shown once)."""

from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import WEBHOOK_EVENTS, WebhookAttempt, WebhookEndpoint, WebhookMessage
from ..services import webhooks
from ..services.pagination import page_arg, paginate
from ..services.webhooks import endpoints as endpoint_service
from .blueprint import bp, wants

MESSAGES_PER_PAGE = 25


def _list_page(
    form: endpoint_service.EndpointInput, errors: dict, secret: str = "", created=None, status=200
):
    """The list of endpoints with the form to add one."""
    rows = db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)).unique().all()
    return render_template(
        "admin/webhooks.html",
        endpoints=rows,
        events=WEBHOOK_EVENTS,
        owners=endpoint_service.owners(),
        form=form,
        errors=errors,
        secret=secret,
        created=created,
        http_allowed=endpoint_service.http_allowed(),
    ), status


@bp.route("/webhook", methods=["GET", "POST"])
def webhooks_index():
    """List the endpoints; POST adds one (its secret is shown once)."""
    if request.method == "GET":
        return _list_page(endpoint_service.EndpointInput(owner_id=str(current_user.id)), {})
    data = endpoint_service.EndpointInput.from_form(request.form)
    clean, errors = endpoint_service.validate(data)
    if errors:
        return _list_page(data, errors, status=422)
    endpoint, secret = endpoint_service.create_endpoint(clean, current_user)
    db.session.commit()
    fresh = endpoint_service.EndpointInput(owner_id=str(current_user.id))
    return _list_page(fresh, {}, secret=secret, created=endpoint)


def _messages(endpoint: WebhookEndpoint):
    """The endpoint's messages, newest first, one page, with their attempts."""
    query = (
        select(WebhookMessage)
        .where(WebhookMessage.endpoint_id == endpoint.id)
        .order_by(WebhookMessage.id.desc())
    )
    pager = paginate(query, page_arg(request.args.get("page")), MESSAGES_PER_PAGE)
    ids = [m.id for m in pager.items]
    attempts: dict[int, list[WebhookAttempt]] = {}
    if ids:
        for attempt in db.session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.message_id.in_(ids))
            .order_by(WebhookAttempt.id.desc())
        ):
            attempts.setdefault(attempt.message_id, []).append(attempt)
    return pager, attempts


def _detail_page(endpoint: WebhookEndpoint, form=None, errors=None, secret: str = "", status: int = 200):
    """An endpoint: its settings form and its messages (just the messages for the polling fragment)."""
    pager, attempts = _messages(endpoint)
    waiting = any(m.status == "pending" for m in pager.items)
    context = {
        "endpoint": endpoint,
        "pager": pager,
        "attempts": attempts,
        "waiting": waiting,
        "events": WEBHOOK_EVENTS,
    }
    if wants("webhook-messages"):
        response = make_response(render_template("admin/_webhook_messages.html", **context))
        if not waiting:
            response.status_code = 286  # htmx: stop polling, nothing is on its way
        response.headers["Vary"] = "HX-Request"
        return response
    form = form or endpoint_service.EndpointInput(
        url=endpoint.url,
        description=endpoint.description,
        events=tuple(endpoint.event_list),
        owner_id=str(endpoint.owner_id),
        active=endpoint.active,
    )
    response = make_response(
        render_template(
            "admin/webhook.html",
            **context,
            form=form,
            errors=errors or {},
            owners=endpoint_service.owners(),
            secret=secret,
            http_allowed=endpoint_service.http_allowed(),
        ),
        status,
    )
    response.headers["Vary"] = "HX-Request"
    return response


def _endpoint(endpoint_id: int) -> WebhookEndpoint:
    """The endpoint, or 404."""
    return db.session.get(WebhookEndpoint, endpoint_id) or abort(404)


@bp.route("/webhook/<int:endpoint_id>", methods=["GET", "POST"])
def webhook(endpoint_id: int):
    """An endpoint's page; POST saves its settings (the secret stays)."""
    endpoint = _endpoint(endpoint_id)
    if request.method == "GET":
        return _detail_page(endpoint)
    data = endpoint_service.EndpointInput.from_form(request.form)
    clean, errors = endpoint_service.validate(data)
    if errors:
        return _detail_page(endpoint, data, errors, status=422)
    endpoint_service.update_endpoint(endpoint, clean)
    db.session.commit()
    flash("Indirizzo salvato.", "success")
    return redirect(url_for("admin.webhook", endpoint_id=endpoint.id))


@bp.route("/webhook/<int:endpoint_id>/segreto", methods=["POST"])
def webhook_rotate(endpoint_id: int):
    """A new secret for the endpoint, shown once; the old one stops signing at once."""
    endpoint = _endpoint(endpoint_id)
    secret = endpoint_service.rotate_secret(endpoint)
    db.session.commit()
    return _detail_page(endpoint, secret=secret)


@bp.route("/webhook/<int:endpoint_id>/prova", methods=["POST"])
def webhook_test(endpoint_id: int):
    """Send a «webhook.test» event to the endpoint now."""
    endpoint = _endpoint(endpoint_id)
    webhooks.emit_test(endpoint)
    db.session.commit()
    if endpoint.active:
        flash("Evento di prova in invio: l'esito compare qui sotto tra pochi secondi.", "success")
    else:
        flash("Evento di prova registrato: partirà quando riattivi l'indirizzo.", "info")
    return redirect(url_for("admin.webhook", endpoint_id=endpoint.id))


@bp.route("/webhook/messaggi/<int:webhook_message_id>/reinvia", methods=["POST"])
def webhook_resend(webhook_message_id: int):
    """Send one message again (same event id: the ERP drops it if it already had it)."""
    message = db.session.scalars(
        select(WebhookMessage)
        .where(WebhookMessage.id == webhook_message_id)
        .options(selectinload(WebhookMessage.endpoint))
    ).first() or abort(404)
    webhooks.resend(message)
    db.session.commit()
    flash(f"Evento {message.event_type} rimesso in invio.", "success")
    return redirect(url_for("admin.webhook", endpoint_id=message.endpoint_id))
