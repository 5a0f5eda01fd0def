"""Events for the ERP: one outbox row per subscribed endpoint, written in the caller's transaction and
enqueued only after it commits (a crash before the commit loses the change and its event together; one
after it leaves the row pending for the outbox job to pick up)."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterable
from typing import Any

from flask import has_app_context
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from ...extensions import db
from ...models import (
    TEST_EVENT,
    WEBHOOK_EVENTS,
    Batch,
    Contact,
    Delivery,
    Document,
    Party,
    WebhookEndpoint,
    WebhookMessage,
    delivery_documents,
    utcnow,
)
from ...queue import WEBHOOK_JOB, enqueue
from .subscriptions import subscribed_events

log = logging.getLogger(__name__)

_TO_ENQUEUE = "recapito_webhook_messages"
# Fields that name a person: left out of an event for an endpoint whose owner may not see the contact.
PRIVATE_FIELDS = (
    "recipient_email",
    "recipient_name",
    "contact_email",
    "contact_name",
    "new_email",
    "new_name",
)
HIDDEN = "[riservato]"
# Delivery status -> event type (other statuses emit nothing: queued for a retry, excluded, …).
DELIVERY_EVENTS = {
    "sent": "delivery.sent",
    "failed": "delivery.failed",
    "uncertain": "delivery.uncertain",
    "bounced": "delivery.bounced",
}
# PEC receipt type -> event type
PEC_EVENTS = {
    "accettazione": "pec.accepted",
    "avvenuta-consegna": "pec.delivered",
    "non-accettazione": "pec.not_delivered",
    "errore-consegna": "pec.not_delivered",
    "rilevazione-virus": "pec.not_delivered",
}


def _iso(value) -> str | None:
    """A naive UTC datetime as ISO 8601 with Z (None stays None)."""
    return value.replace(microsecond=0).isoformat() + "Z" if value is not None else None


def _subscribers(event_type: str) -> list[WebhookEndpoint]:
    """Active endpoints that want this event type (no query when this process knows none does)."""
    if event_type not in subscribed_events():
        return []
    endpoints = db.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True))).unique()
    return [e for e in endpoints if event_type in e.event_list]


def _body(event_id: str, event_type: str, when, data: dict, hide: bool) -> str:
    """The JSON body of one event for one endpoint (personal fields left out when `hide`)."""
    shown = dict(data)
    if hide:
        secrets_ = [str(shown.pop(name)) for name in PRIVATE_FIELDS if shown.get(name)]
        # Server replies and reasons quote the address («550 <anna@…>: User unknown»): masked there too.
        for key, value in shown.items():
            if isinstance(value, str):
                for secret in secrets_:
                    value = re.sub(re.escape(secret), HIDDEN, value, flags=re.IGNORECASE)
                shown[key] = value
        shown["contact_hidden"] = True
    payload = {"id": event_id, "type": event_type, "timestamp": _iso(when), "data": shown}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def emit(event_type: str, data: dict[str, Any], privacy_level: int = 0) -> str | None:
    """Record the event for every active endpoint subscribed to it, in the caller's transaction (the caller
    commits); the messages are enqueued after that commit. Personal fields (PRIVATE_FIELDS) are left out
    for an endpoint whose owner's clearance is below `privacy_level`. Returns the event id, or None when
    no endpoint wants the event."""
    if event_type not in WEBHOOK_EVENTS:
        raise ValueError(f"unknown webhook event {event_type!r}: add it to WEBHOOK_EVENTS")
    endpoints = _subscribers(event_type)
    if not endpoints:
        return None
    return _write(endpoints, event_type, data, privacy_level)


def emit_test(endpoint: WebhookEndpoint) -> str:
    """A «webhook.test» event for one endpoint (whatever it subscribed to), to check the ERP's receiver."""
    data = {"message": "Evento di prova inviato da Recapito", "endpoint_id": endpoint.id}
    return _write([endpoint], TEST_EVENT, data, 0)


def _write(endpoints: list[WebhookEndpoint], event_type: str, data: dict, privacy_level: int) -> str:
    """Add the outbox rows of one event and remember them for the enqueue after commit."""
    event_id, when = str(uuid.uuid4()), utcnow()
    rows = [
        WebhookMessage(
            endpoint_id=e.id,
            event_id=event_id,
            event_type=event_type,
            body=_body(event_id, event_type, when, data, privacy_level > (e.owner.privacy_clearance or 0)),
            status="pending",
            attempts=0,
            next_attempt_at=when,
            created_at=when,
        )
        for e in endpoints
    ]
    db.session.add_all(rows)
    db.session.flush()
    enqueue_after_commit([r.id for r in rows])
    return event_id


def enqueue_after_commit(message_ids: list[int]) -> None:
    """Enqueue these outbox messages once the current transaction commits (forgotten if it rolls back)."""
    db.session.info.setdefault(_TO_ENQUEUE, []).extend(message_ids)


@event.listens_for(Session, "after_commit")
def _enqueue_committed(session: Session) -> None:
    """After the commit that made them durable, hand the new messages to the workers (best effort: the
    outbox job enqueues whatever is still pending if Redis is away now)."""
    ids = session.info.pop(_TO_ENQUEUE, None)
    if not ids or not has_app_context():
        return
    for message_id in ids:
        try:
            enqueue(WEBHOOK_JOB, message_id, job_timeout=120)
        except Exception as exc:  # noqa: BLE001 - Redis away: the row stays pending, the outbox job retries
            log.warning("webhook message %s: not enqueued now (%s), the outbox job will", message_id, exc)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    """Rows rolled back are gone: nothing to enqueue."""
    session.info.pop(_TO_ENQUEUE, None)


def _delivery_data(delivery_ids: Iterable[int]) -> dict[int, tuple[str, int, dict]]:
    """delivery id -> (status, privacy level, event data), read fresh with column queries (the caller
    may have changed the rows with Core statements the ORM's objects do not know of)."""
    ids = list(delivery_ids)
    rows = db.session.execute(
        select(
            Delivery.id,
            Delivery.status,
            Delivery.privacy_level,
            Delivery.batch_id,
            Delivery.recipient_email,
            Delivery.recipient_name,
            Delivery.smtp_code,
            Delivery.smtp_reason,
            Delivery.message_id,
            Delivery.sent_at,
            Delivery.bounce_reason,
            Delivery.pec_failure_reason,
            Party.erp_code,
            Batch.kind,
        )
        .join(Batch, Batch.id == Delivery.batch_id)
        .outerjoin(Party, Party.id == Delivery.party_id)
        .where(Delivery.id.in_(ids))
    ).all()
    documents: dict[int, list[dict]] = {}
    for delivery_id, type_code, number, year in db.session.execute(
        select(delivery_documents.c.delivery_id, Document.type_code, Document.number, Document.year)
        .join(Document, Document.id == delivery_documents.c.document_id)
        .where(delivery_documents.c.delivery_id.in_(ids))
        .order_by(Document.id)
    ):
        documents.setdefault(delivery_id, []).append({"type": type_code, "number": number, "year": year})
    out = {}
    for r in rows:
        out[r.id] = (
            r.status,
            r.privacy_level or 0,
            {
                "delivery_id": r.id,
                "batch_id": r.batch_id,
                "batch_kind": r.kind,
                "status": r.status,
                "party_code": r.erp_code,
                "documents": documents.get(r.id, []),
                "recipient_email": r.recipient_email,
                "recipient_name": r.recipient_name,
                "smtp_code": r.smtp_code,
                "smtp_reply": r.smtp_reason or "",
                "message_id": r.message_id,
                "sent_at": _iso(r.sent_at),
                "bounce_reason": r.bounce_reason or "",
                "pec_failure_reason": r.pec_failure_reason or "",
            },
        )
    return out


def emit_delivery_outcomes(delivery_ids: Iterable[int]) -> int:
    """One event per delivery that reached sent / failed / uncertain / bounced (by its current status, so a
    delivery queued again for a retry emits nothing); returns how many events were written."""
    ids = list(delivery_ids)
    wanted = subscribed_events()
    if not ids or not wanted & set(DELIVERY_EVENTS.values()):
        return 0
    written = 0
    for status, level, data in _delivery_data(ids).values():
        event_type = DELIVERY_EVENTS.get(status)
        if event_type in wanted and emit(event_type, data, level):
            written += 1
    return written


def emit_pec_receipt(delivery_id: int, receipt_type: str, reason: str = "") -> str | None:
    """The event of a PEC receipt applied to a delivery (accepted, delivered, not delivered)."""
    event_type = PEC_EVENTS.get(receipt_type)
    if event_type is None or not _subscribers(event_type):
        return None
    found = _delivery_data([delivery_id]).get(delivery_id)
    if found is None:
        return None
    _status, level, data = found
    return emit(event_type, {**data, "receipt_type": receipt_type, "receipt_reason": reason}, level)


def emit_receipt(delivery_id: int, kind: str, receipt_type: str, reason: str = "") -> None:
    """The event of a receipt applied to a delivery: a PEC receipt's, or delivery.bounced for a bounce."""
    if kind == "pec-receipt":
        emit_pec_receipt(delivery_id, receipt_type, reason)
    else:
        emit_delivery_outcomes([delivery_id])


def emit_contact(event_type: str, contact: Contact, **extra: Any) -> str | None:
    """An event about a contact (opted out, preferences submitted); `extra` joins its data
    (e.g. via="link", preferences={...}). Name and address are left out above the owner's clearance."""
    if not _subscribers(event_type):
        return None
    db.session.flush()
    party_code = db.session.scalar(select(Party.erp_code).where(Party.id == contact.party_id))
    data = {
        "contact_id": contact.id,
        "contact_erp_code": contact.erp_code or "",
        "party_code": party_code,
        "contact_email": contact.email,
        "contact_name": contact.name,
        "opted_out_at": _iso(contact.opted_out_at),
        **extra,
    }
    return emit(event_type, data, contact.privacy_level or 0)
