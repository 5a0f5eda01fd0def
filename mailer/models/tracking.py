"""Delivery tracking: what we read from the mailboxes (PEC receipts, bounces) and how far we got."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model
from .base import utcnow

RECEIPT_KINDS = {"pec-receipt": "Ricevuta PEC", "bounce": "Rimbalzo", "other": "Altro messaggio"}

# X-Ricevuta values (DPR 68/2005, DM 2/11/2005, RFC 6109) and how the results page names them.
PEC_RECEIPT_TYPES = {
    "accettazione": "Accettazione",
    "non-accettazione": "Non accettazione",
    "presa-in-carico": "Presa in carico",
    "avvenuta-consegna": "Avvenuta consegna",
    "errore-consegna": "Mancata consegna",
    "preavviso-errore-consegna": "Preavviso di mancata consegna",
    "rilevazione-virus": "Rilevazione virus",
}

# What became of a received message.
RECEIPT_OUTCOMES = {
    "applied": "Registrata sul recapito",
    "recorded": "Conservata (nessun cambio di stato)",
    "unmatched": "Nessun recapito con quel Message-ID",
    "suspect": "Sospetta: non applicata",
    "malformed": "Messaggio non leggibile",
    "ignored": "Non è una ricevuta né un rimbalzo",
    "oversize": "Troppo grande: lasciato nella casella",
}


# How far the trust store vouches for a PEC receipt's signer (mailer.services.pec_trust).
TRUST_STATUSES = {
    "trusted": "Firmatario attendibile",
    "untrusted": "Firmatario non attendibile",
    "expired": "Certificato scaduto",
    "not-yet-valid": "Certificato non ancora valido",
    "invalid": "Firma non valida",
    "unsigned": "Non firmata",
}


class PecTrustedCertificate(Model):
    """A PEC provider's certificate (its CA or its signing certificate) that the administrator trusts."""

    __tablename__ = "pec_trusted_certificates"
    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)  # fingerprint of the DER bytes, hex
    subject: Mapped[str] = mapped_column(String(1000))
    issuer: Mapped[str] = mapped_column(String(1000))
    serial: Mapped[str] = mapped_column(String(80))
    not_before: Mapped[datetime] = mapped_column(DateTime)
    not_after: Mapped[datetime] = mapped_column(DateTime)
    is_ca: Mapped[bool] = mapped_column(Boolean, default=False)
    pem: Mapped[str] = mapped_column(Text)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    added_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class MailboxState(Model):
    """Where the reading of one IMAP folder of one account got to (UIDVALIDITY + last UID seen)."""

    __tablename__ = "mailbox_states"
    __table_args__ = (UniqueConstraint("account_id", "folder", name="uq_mailbox_states_account_folder"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("mail_accounts.id", ondelete="CASCADE"))
    folder: Mapped[str] = mapped_column(String(120))
    uidvalidity: Mapped[int] = mapped_column(BigInteger, default=0)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_polled_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    messages_read: Mapped[int] = mapped_column(Integer, default=0)


class Receipt(Model):
    """One message received back (PEC receipt, bounce, anything else), kept byte for byte as proof."""

    __tablename__ = "receipts"
    __table_args__ = (
        # The same mailbox message is processed once, whoever reads it and however often.
        UniqueConstraint("account_id", "folder", "uidvalidity", "uid", name="uq_receipts_mailbox_uid"),
        # The same bytes (read again from another folder, or imported from a file) are processed once.
        UniqueConstraint("raw_sha256", name="uq_receipts_raw_sha256"),
        Index("ix_receipts_delivery", "delivery_id", "received_at"),
        Index("ix_receipts_outcome", "outcome", "received_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id", ondelete="SET NULL"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("mail_accounts.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(10), default="imap")  # imap|file
    folder: Mapped[str | None] = mapped_column(String(120))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    file_name: Mapped[str] = mapped_column(String(255), default="")
    kind: Mapped[str] = mapped_column(String(20), default="other")  # RECEIPT_KINDS
    receipt_type: Mapped[str] = mapped_column(
        String(40), default=""
    )  # X-Ricevuta, or permanent|temporary for bounces
    outcome: Mapped[str] = mapped_column(String(20), default="ignored")  # RECEIPT_OUTCOMES
    referenced_message_id: Mapped[str] = mapped_column(String(255), default="")  # the original, without <>
    message_id: Mapped[str] = mapped_column(String(255), default="")  # of the receipt itself
    sender: Mapped[str] = mapped_column(String(254), default="")
    subject: Mapped[str] = mapped_column(String(500), default="")
    event_at: Mapped[datetime | None] = mapped_column(
        DateTime
    )  # when the provider/server says it happened (UTC)
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(Text, default="")  # errore-esteso, diagnostic code
    notes: Mapped[str] = mapped_column(Text, default="")  # why suspect / malformed / not applied
    signature_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    signature_status: Mapped[str] = mapped_column(String(20), default="unsigned")  # verified|failed|unsigned
    # A bounce's recipients: [{"address", "status", "action"}] (action failed|delayed).
    bounce_recipients: Mapped[list] = mapped_column(JSON, default=list)
    raw_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    # PEC receipts: who signed it (subject of the signing certificate) and whether the trust store vouches
    # for it (TRUST_STATUSES); a suspect receipt applied by a person says who and when.
    signer: Mapped[str] = mapped_column(String(500), default="", server_default="")
    trust_status: Mapped[str] = mapped_column(String(20), default="", server_default="")
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)

    delivery = relationship("Delivery")

    @property
    def outcome_label(self) -> str:
        """What became of it, in Italian."""
        return RECEIPT_OUTCOMES.get(self.outcome, self.outcome)

    @property
    def label(self) -> str:
        """What the receipt is, in Italian."""
        if self.kind == "pec-receipt":
            return PEC_RECEIPT_TYPES.get(self.receipt_type, self.receipt_type or "Ricevuta PEC")
        if self.kind == "bounce":
            return "Rimbalzo" + (" temporaneo" if self.receipt_type == "temporary" else "")
        return RECEIPT_KINDS.get(self.kind, self.kind)
