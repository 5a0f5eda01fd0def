"""Signed webhooks back to the ERP: endpoints, the outbox of messages to them, and each HTTP attempt."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model
from .base import utcnow

# event type -> Italian description (the order is the one of the admin form)
WEBHOOK_EVENTS: dict[str, str] = {
    "delivery.sent": "Invio riuscito (il server del destinatario ha accettato il messaggio)",
    "delivery.failed": "Invio non riuscito",
    "delivery.uncertain": "Invio incerto (il processo si è interrotto durante la trasmissione)",
    "delivery.bounced": "Messaggio rimbalzato dopo l'invio",
    "pec.accepted": "PEC: ricevuta di accettazione",
    "pec.delivered": "PEC: ricevuta di avvenuta consegna",
    "pec.not_delivered": "PEC: mancata consegna o non accettazione",
    "contact.opted_out": "Contatto disiscritto dalle comunicazioni commerciali",
    "contact.preference_submitted": "Contatto che ha indicato le sue preferenze",
}
TEST_EVENT = "webhook.test"  # sent by «Invia evento di prova» only, whatever the endpoint subscribed to
MESSAGE_STATUSES = ("pending", "delivered", "failed")


class WebhookEndpoint(Model):
    """An HTTPS address of the ERP that receives the events it chose, signed with its own secret."""

    __tablename__ = "webhook_endpoints"
    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    events: Mapped[str] = mapped_column(String(500), default="")  # comma separated event types
    # The endpoint sees what its owner's clearance allows (read at emit time).
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    secret_encrypted: Mapped[str] = mapped_column(Text, default="")  # mailer.services.crypto
    secret_rotated_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    owner = relationship("User", foreign_keys=[owner_id], lazy="joined")

    @property
    def event_list(self) -> list[str]:
        """The event types the endpoint subscribed to."""
        return [e for e in (self.events or "").split(",") if e]


class WebhookMessage(Model):
    """One event for one endpoint (the outbox row): written with the change that caused it, sent after commit.

    The body is fixed when the event happens (with the owner's clearance of that moment), so every retry
    sends the same bytes under the same `webhook-id`.
    """

    __tablename__ = "webhook_messages"
    __table_args__ = (Index("ix_webhook_messages_due", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[str] = mapped_column(String(36), index=True)  # UUID, shared by the event's endpoints
    event_type: Mapped[str] = mapped_column(String(60))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)  # a worker is posting it until then
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)

    endpoint = relationship("WebhookEndpoint", lazy="joined")


class WebhookAttempt(Model):
    """One HTTP POST of a message: its answer (truncated) and how long it took."""

    __tablename__ = "webhook_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("webhook_messages.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_excerpt: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str] = mapped_column(String(12), default="")  # delivered | retry | failed
