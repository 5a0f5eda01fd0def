"""Tokens the ERP uses to call the HTTP API: stored hashed, each with scopes and a privacy clearance."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model
from .base import utcnow

# scope -> Italian description
API_SCOPES: dict[str, str] = {
    "documents:read": "Leggere i documenti",
    "documents:write": "Caricare e aggiornare documenti",
    "parties:read": "Leggere le anagrafiche",
    "parties:write": "Caricare e aggiornare anagrafiche",
    "contacts:read": "Leggere i contatti (fino al livello di riservatezza del token)",
    "contacts:write": "Caricare e aggiornare contatti (fino al livello di riservatezza del token)",
    "sdi:write": "Caricare le notifiche del Sistema di Interscambio (SdI)",
    "batches:read": "Leggere gli invii e i loro esiti (come l'utente del token)",
    "batches:write": "Preparare e avviare invii (come l'utente del token; l'approvazione resta a una persona)",
}


class ApiToken(Model):
    """A bearer token for the ERP; only the SHA-256 of the secret is kept."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16), default="")  # first characters, to recognise it
    scopes: Mapped[str] = mapped_column(String(255), default="")  # comma separated
    privacy_clearance: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The user the token acts as for batches: their send permissions and clearance apply (batches:*).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)

    created_by = relationship("User", foreign_keys=[created_by_id], lazy="joined")
    user = relationship("User", foreign_keys=[user_id], lazy="joined")

    @property
    def scope_list(self) -> list[str]:
        """The token's scopes as a list."""
        return [s for s in (self.scopes or "").split(",") if s]

    def allows(self, scope: str) -> bool:
        """True when the token carries the scope."""
        return scope in self.scope_list


class ApiIdempotencyKey(Model):
    """An `Idempotency-Key` a token sent with POST /batches: the same key again answers the same batch."""

    __tablename__ = "api_idempotency_keys"
    __table_args__ = (UniqueConstraint("token_id", "key", name="uq_api_idempotency_keys_token_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    request_sha256: Mapped[str] = mapped_column(String(64))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
