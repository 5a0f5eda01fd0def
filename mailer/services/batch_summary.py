"""The e-mail summary of a finished batch, to who prepared and approved it."""
from __future__ import annotations

from flask import current_app, render_template
from flask_mail import Message

from ..extensions import db, mail
from ..models import Batch, Delivery, DELIVERY_STATUSES, utcnow


def batch_counts(batch_id: int, clearance: int | None = None) -> dict[str, int]:
    """Number of deliveries per state (only those within `clearance`, when given)."""
    query = db.select(Delivery.status, db.func.count(Delivery.id)).where(Delivery.batch_id == batch_id)
    if clearance is not None:
        query = query.where(Delivery.privacy_level <= clearance)
    rows = db.session.execute(query.group_by(Delivery.status)).all()
    return {status: count for status, count in rows}


def send_batch_summary(batch_id: int) -> bool:
    """Send the summary once (summary_sent_at guards against a second run); False if nobody to tell.

    Each reader gets the recipients and counts their own clearance allows, as on the batch page:
    who prepared the batch may see less than who approved it.
    """
    batch = db.session.get(Batch, batch_id)
    if batch is None or batch.summary_sent_at is not None:
        return False
    readers: dict[int, set[str]] = {}
    for user in (batch.created_by, batch.approved_by):
        if user is not None and user.email:
            readers.setdefault(int(user.privacy_clearance), set()).add(user.email)
    if not readers:
        batch.summary_sent_at = utcnow()
        db.session.commit()
        return False
    for clearance, recipients in sorted(readers.items()):
        counts = batch_counts(batch_id, clearance)
        failed = db.session.scalars(
            db.select(Delivery).where(Delivery.batch_id == batch_id, Delivery.status.in_(["failed", "uncertain"]),
                                      Delivery.privacy_level <= clearance)
            .order_by(Delivery.id).limit(200)
        ).all()
        context = {"batch": batch, "counts": counts, "failed": failed, "STATUS": DELIVERY_STATUSES}
        message = Message(
            subject=f"Recapito: esito dell'invio n. {batch.id} – {counts.get('sent', 0)} inviati, "
                    f"{counts.get('failed', 0)} falliti",
            recipients=sorted(recipients),
            sender=current_app.config["MAIL_DEFAULT_SENDER"],
            body=render_template("email/batch_summary.txt", **context),
            html=render_template("email/batch_summary.html", **context),
        )
        mail.send(message)
    batch.summary_sent_at = utcnow()
    db.session.commit()
    return True
