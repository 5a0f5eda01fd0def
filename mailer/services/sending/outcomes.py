"""What follows the messages that left: documents marked sent, the batch closed and its summary queued."""

from __future__ import annotations

from sqlalchemy import update

from ...extensions import db
from ...models import Batch, Delivery, Document, delivery_documents, utcnow
from .settings import changed_rows


def _mark_documents_sent(delivery_ids: list[int]) -> None:
    """Record on each document that it left (the next preparation skips it)."""
    now = utcnow()
    doc_ids = db.select(delivery_documents.c.document_id).where(
        delivery_documents.c.delivery_id.in_(delivery_ids)
    )
    db.session.execute(
        update(Document).where(Document.id.in_(doc_ids), Document.sent_at.is_(None)).values(sent_at=now)
    )


def _finish_if_complete(batch_id: int) -> bool:
    """Close a sending batch when no delivery is queued or in sending; e-mail the summary."""
    open_count = db.session.scalar(
        db.select(db.func.count(Delivery.id)).where(
            Delivery.batch_id == batch_id, Delivery.status.in_(["queued", "sending"])
        )
    )
    if open_count:
        return False
    done = changed_rows(
        db.session.execute(
            update(Batch)
            .where(Batch.id == batch_id, Batch.status == "sending")
            .values(
                status="done",
                finished_at=utcnow(),
                summary_status=db.case((Batch.summary_status == "sent", "sent"), else_="pending"),
            )
        )
    )
    db.session.commit()
    if done:
        from ..batch_summary import enqueue_summary

        enqueue_summary(batch_id)
    return bool(done)
