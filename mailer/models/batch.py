"""Batches of sends and their deliveries (one per recipient message)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model, db
from .base import utcnow

delivery_documents = Table(
    "delivery_documents",
    db.metadata,
    Column("delivery_id", ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True),
    Column("document_id", ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_delivery_documents_document", "document_id"),
)

BATCH_STATUSES = {
    "preparing": "In preparazione",
    "ready": "Da approvare",
    "approved": "Approvato",
    "rejected": "Respinto",
    "sending": "In invio",
    "paused": "In pausa",
    "cancelled": "Annullato",
    "done": "Concluso",
    "failed": "Preparazione fallita",
}

SUMMARY_STATES = {
    "pending": "in attesa di invio",
    "sending": "in invio",
    "retrying": "non ancora partita: nuovo tentativo previsto",
    "sent": "inviata",
    "failed": "non inviata",
    "none": "nessuno da avvisare",
}

DELIVERY_STATUSES = {
    "pending": "Da inviare",
    "excluded": "Escluso",
    "norecipient": "Senza destinatario",
    "queued": "In coda",
    "sending": "In invio",
    "sent": "Inviato",
    "failed": "Fallito",
    "uncertain": "Esito incerto",
    "bounced": "Rimbalzato",
    "cancelled": "Annullato",
}


class Batch(Model):
    """A set of e-mails prepared together, reviewed, approved and sent."""

    __tablename__ = "batches"
    __table_args__ = (Index("ix_batches_status_created", "status", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="documents")  # documents|campaign
    name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(20), default="preparing")
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    type_codes: Mapped[list] = mapped_column(JSON, default=list)
    template_versions: Mapped[dict] = mapped_column(JSON, default=dict)  # type code -> version id
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    job_id: Mapped[str] = mapped_column(String(64), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime)
    rejected_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    rejected_at: Mapped[datetime | None] = mapped_column(DateTime)
    rejected_reason: Mapped[str] = mapped_column(Text, default="")
    sending_started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    summary_sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The end-of-batch e-mail: SUMMARY_STATES key, why it did not (yet) go, attempts, and per reader address
    # {"message_id", "date", "status", "code", "reason", "name"} (fixed Message-ID/Date; a sent reader is never resent).
    summary_status: Mapped[str] = mapped_column(String(12), default="", server_default="")
    summary_error: Mapped[str] = mapped_column(Text, default="", server_default="")
    summary_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    summary_messages: Mapped[dict | None] = mapped_column(JSON, default=dict)

    created_by = relationship("User", foreign_keys=[created_by_id], lazy="joined")
    approved_by = relationship("User", foreign_keys=[approved_by_id], lazy="joined")
    rejected_by = relationship("User", foreign_keys=[rejected_by_id], lazy="joined")


class Delivery(Model):
    """One message to one recipient: what, to whom, through which account, and what happened."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_batch_status_id", "batch_id", "status", "id"),  # a state's page in id order
        Index("ix_deliveries_message_id", "message_id"),
        Index("ix_deliveries_batch_updated", "batch_id", "updated_at"),
        Index("ix_deliveries_batch_sent", "batch_id", "sent_at"),  # the progress widget's rate
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    party_id: Mapped[int | None] = mapped_column(ForeignKey("parties.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    recipient_email: Mapped[str] = mapped_column(String(254), default="")
    recipient_name: Mapped[str] = mapped_column(String(200), default="")
    privacy_level: Mapped[int] = mapped_column(Integer, default=0)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("mail_accounts.id"))
    account_reason: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    exclusion_reason: Mapped[str] = mapped_column(String(255), default="")
    warnings: Mapped[list] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(String(500), default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    smtp_code: Mapped[int | None] = mapped_column(Integer)
    smtp_reason: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str] = mapped_column(String(255), default="")
    # The message is rebuilt byte for byte from the stored inputs (transport.message is
    # deterministic); its SHA-256 proves later that the rebuilt message is the one that left.
    message_sha256: Mapped[str] = mapped_column(String(64), default="")
    message_date: Mapped[str] = mapped_column(String(64), default="")
    extra_headers: Mapped[dict] = mapped_column(JSON, default=dict)
    cc: Mapped[str] = mapped_column(String(500), default="")
    reply_to: Mapped[str] = mapped_column(String(254), default="")
    template_version_id: Mapped[int | None] = mapped_column(Integer)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime)
    claimed_by: Mapped[str] = mapped_column(String(120), default="")
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Set at preparation when a document of the delivery had already gone out (the latest time):
    # a re-send, warned on the page and confirmed explicitly at approval.
    already_sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    pec_accepted_at: Mapped[datetime | None] = mapped_column(DateTime)
    pec_delivered_at: Mapped[datetime | None] = mapped_column(DateTime)
    pec_failed_at: Mapped[datetime | None] = mapped_column(DateTime)
    pec_failure_reason: Mapped[str] = mapped_column(Text, default="")
    bounced_at: Mapped[datetime | None] = mapped_column(DateTime)
    bounce_reason: Mapped[str] = mapped_column(Text, default="")
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Last change of the row (any UPDATE sets it, ORM or bulk): what the API's ?since= filters on.
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    batch = relationship("Batch")
    party = relationship("Party", lazy="joined")
    contact = relationship("Contact")
    account = relationship("MailAccount", lazy="joined")
    documents = relationship("Document", secondary=delivery_documents, lazy="selectin")
