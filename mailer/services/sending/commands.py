"""What people do to a sending batch (start, pause, resume, cancel, retry, decide an uncertain delivery),
and the dispatch of senders, one job per account connection."""

from __future__ import annotations

from sqlalchemy import update

from ...extensions import db
from ...models import Batch, Delivery, MailAccount, utcnow
from ...queue import SENDER_JOB, enqueue
from .. import webhooks
from ..audit import audit
from .outcomes import _finish_if_complete, _mark_documents_sent
from .settings import CHUNK, SendingError, changed_rows


def start_sending(batch: Batch, user=None) -> None:
    """Queue every pending delivery of an approved batch and start the senders."""
    if batch.status not in ("approved", "paused"):
        raise SendingError("Si può inviare solo un invio approvato.")
    now = utcnow()
    db.session.execute(
        update(Delivery)
        .where(Delivery.batch_id == batch.id, Delivery.status == "pending")
        .values(status="queued", next_attempt_at=None)
    )
    batch.status = "sending"
    batch.sending_started_at = batch.sending_started_at or now
    audit("batch.send", batch, user=user)
    db.session.commit()
    dispatch(batch.id)


def pause_sending(batch: Batch, user=None) -> None:
    """Stop senders after their current message; queued deliveries wait."""
    if batch.status != "sending":
        raise SendingError("Si può mettere in pausa solo un invio in corso.")
    batch.status = "paused"
    audit("batch.pause", batch, user=user)
    db.session.commit()


def resume_sending(batch: Batch, user=None) -> None:
    """Resume a paused batch."""
    if batch.status != "paused":
        raise SendingError("L'invio non è in pausa.")
    batch.status = "sending"
    batch.error = ""
    audit("batch.resume", batch, user=user)
    db.session.commit()
    dispatch(batch.id)


def cancel_sending(batch: Batch, user=None) -> None:
    """Cancel what has not left yet; what is being sent right now finishes."""
    if batch.status not in ("sending", "paused", "approved", "ready"):
        raise SendingError("Questo invio non si può annullare.")
    db.session.execute(
        update(Delivery)
        .where(Delivery.batch_id == batch.id, Delivery.status.in_(["queued", "pending"]))
        .values(status="cancelled")
    )
    batch.status = "cancelled"
    batch.finished_at = utcnow()
    # Who cancelled, for the batch page («Annullato il … da …: 12 invii non partiti»).
    name = (user.full_name or user.username) if user is not None else ""
    batch.params = {**(batch.params or {}), "cancelled_by": name}
    audit("batch.cancel", batch, user=user)
    db.session.commit()


def retry_failed(batch: Batch, user=None, delivery_ids: list[int] | None = None) -> int:
    """Put failed deliveries back in the queue for a new round of attempts; returns how many."""
    if batch.status not in ("done", "sending", "paused"):
        raise SendingError("Si possono ritentare solo gli invii in corso o conclusi.")
    query = update(Delivery).where(Delivery.batch_id == batch.id, Delivery.status == "failed")
    if delivery_ids:
        query = query.where(Delivery.id.in_(delivery_ids))
    count = changed_rows(
        db.session.execute(
            query.values(status="queued", attempts=0, next_attempt_at=None, smtp_code=None, smtp_reason="")
        )
    )
    if count:
        batch.status = "sending"
        batch.finished_at = None
        audit("batch.retry", batch, user=user, count=count)
    db.session.commit()
    if count:
        dispatch(batch.id)
    return count


def resolve_uncertain(delivery: Delivery, action: str, user) -> None:
    """A person decides an uncertain delivery: resend it, or record it as sent."""
    if action not in ("sent", "resend"):
        raise SendingError("Azione sconosciuta.")
    # Compare and set: two people deciding at once (one "sent", one "resend") must not send it again.
    if not changed_rows(
        db.session.execute(
            update(Delivery)
            .where(Delivery.id == delivery.id, Delivery.status == "uncertain")
            .values(status="sent" if action == "sent" else "queued")
            .execution_options(synchronize_session=False)
        )
    ):
        db.session.rollback()
        raise SendingError("Questo recapito non ha un esito incerto.")
    delivery.resolved_by_id = user.id
    delivery.resolved_at = utcnow()
    if action == "sent":
        delivery.status = "sent"
        delivery.sent_at = delivery.sent_at or delivery.claimed_at or utcnow()
        _mark_documents_sent([delivery.id])
        audit("delivery.mark_sent", delivery, user=user)
        webhooks.emit_delivery_outcomes([delivery.id])
        db.session.commit()
        _finish_if_complete(delivery.batch_id)
    elif action == "resend":
        delivery.status = "queued"
        delivery.next_attempt_at = None
        batch = db.session.get(Batch, delivery.batch_id)
        assert batch is not None  # a delivery's batch (foreign key)
        if batch.status == "done":
            batch.status = "sending"
            batch.finished_at = None
        audit("delivery.resend", delivery, user=user)
        db.session.commit()
        dispatch(delivery.batch_id)
    else:
        raise SendingError("Azione sconosciuta.")


def dispatch(batch_id: int) -> int:
    """Enqueue senders for every account that has queued deliveries; returns how many."""
    rows = db.session.execute(
        db.select(Delivery.account_id, db.func.count(Delivery.id))
        .where(Delivery.batch_id == batch_id, Delivery.status == "queued")
        .group_by(Delivery.account_id)
    ).all()
    started = 0
    for account_id, count in rows:
        if account_id is None:
            continue
        account = db.session.get(MailAccount, account_id)
        assert account is not None  # a delivery's account (foreign key)
        senders = max(1, min(account.max_connections or 1, (count + CHUNK - 1) // CHUNK))
        for index in range(senders):
            enqueue(
                SENDER_JOB,
                batch_id,
                account_id,
                index,
                senders,
                job_timeout=6 * 3600,
                description=f"invio {batch_id} account {account_id}",
            )
            started += 1
    return started
