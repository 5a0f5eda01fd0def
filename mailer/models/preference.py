"""Requests a recipient makes from the «Gestisci le tue preferenze» page, waiting for an office worker."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model
from .base import utcnow

# What a recipient may ask about business documents (a marketing opt-out applies at once, no request).
PREFERENCE_KINDS = {
    "stop": "Non ricevere più un tipo di documento",
    "redirect": "Inviare un tipo di documento a un altro indirizzo",
    "colleague": "Aggiungere un collega",
}
PREFERENCE_STATUSES = {"pending": "Da esaminare", "accepted": "Accettata", "refused": "Rifiutata"}


class PreferenceRequest(Model):
    """One change a recipient asked for, for one address of one party; applied only when accepted."""

    __tablename__ = "preference_requests"
    __table_args__ = (Index("ix_preference_requests_status_level", "status", "privacy_level"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id", ondelete="CASCADE"), index=True)
    # The address the link was sent to (lower case): the request is about its contacts of the party.
    email: Mapped[str] = mapped_column(String(254))
    kind: Mapped[str] = mapped_column(String(20))  # stop|redirect|colleague
    type_code: Mapped[str] = mapped_column(String(32), default="")  # stop|redirect: the type concerned
    type_codes: Mapped[str] = mapped_column(String(400), default="")  # colleague: codes, comma separated
    new_email: Mapped[str] = mapped_column(String(254), default="")
    new_name: Mapped[str] = mapped_column(String(160), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    # The highest level of the address's contacts when asked: users below it never see the request.
    privacy_level: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    refusal_reason: Mapped[str] = mapped_column(Text, default="")

    party = relationship("Party", lazy="joined")
    decided_by = relationship("User", lazy="joined")

    @property
    def codes(self) -> list[str]:
        """The document types a colleague should receive."""
        return [c for c in self.type_codes.split(",") if c]
