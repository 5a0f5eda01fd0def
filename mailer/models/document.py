"""Document types, documents from the ERP, their lines, products and stored files."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.expression import false

from ..extensions import Model
from .base import utcnow

Money = Numeric(14, 2)
Qty = Numeric(14, 3)


class Blob(Model):
    """File content stored in the database, addressed by its SHA-256 (PDFs, attachments, messages)."""

    __tablename__ = "blobs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(100), default="application/octet-stream")
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class DocumentType(Model):
    """One of the 12 document types, with its sending settings."""

    __tablename__ = "document_types"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120), default="")
    counterpart: Mapped[str] = mapped_column(String(10), default="customer")  # customer|supplier|any
    position: Mapped[int] = mapped_column(Integer, default=0)
    by_pec: Mapped[bool] = mapped_column(Boolean, default=False)
    attach_pdf: Mapped[bool] = mapped_column(Boolean, default=True)
    group_per_recipient: Mapped[bool] = mapped_column(Boolean, default=False)
    reply_to: Mapped[str] = mapped_column(String(254), default="")
    cc_address: Mapped[str] = mapped_column(String(254), default="")
    account_id: Mapped[int | None] = mapped_column(ForeignKey("mail_accounts.id", ondelete="SET NULL"))
    auto_approve: Mapped[bool] = mapped_column(Boolean, default=False)
    schedule_cron: Mapped[str] = mapped_column(String(60), default="")
    # The last due time (Italian local time) the schedule ran for: a later one is caught up however late.
    schedule_last_run: Mapped[datetime | None] = mapped_column(DateTime)
    commercial: Mapped[bool] = mapped_column(Boolean, default=False)
    # Messages of this type end with the signed «Gestisci le tue preferenze» link (mailer.services.preferences).
    preferences_link: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Invoices and credit notes: the courtesy copy leaves only once the SdI delivered (RC) or could not (MC).
    wait_for_sdi: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # What the e-mail says after an MC ({{ avviso_sdi }}); empty = sdi.MC_TEXT.
    sdi_mc_text: Mapped[str] = mapped_column(Text, default="", server_default="")


class ProductCategory(Model):
    """A product category, used by sales-statistics filters."""

    __tablename__ = "product_categories"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120))


class Product(Model):
    """An article sold or bought."""

    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    description: Mapped[str] = mapped_column(String(250), default="")
    unit: Mapped[str] = mapped_column(String(10), default="PZ")
    category_id: Mapped[int | None] = mapped_column(ForeignKey("product_categories.id"), index=True)
    category = relationship("ProductCategory", lazy="joined")


class Document(Model):
    """A business document handed over by the ERP."""

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("type_code", "year", "number", name="uq_documents_type_year_number"),
        # Sales statistics (segments): a period's invoices with party and id from the index alone, and the
        # line -> invoice look-up without the table. Trigram indexes for text search: migration 0013.
        Index("ix_documents_sales", "type_code", "date", "party_id", "id"),
        Index("ix_documents_id_sales", "id", "type_code", "date", "party_id"),
        Index("ix_documents_party_date", "party_id", "date"),
        Index("ix_documents_sent", "type_code", "sent_at"),
        Index("ix_documents_date_id", "date", "id"),  # the documents list, newest first
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    type_code: Mapped[str] = mapped_column(ForeignKey("document_types.code"))
    number: Mapped[str] = mapped_column(String(40))
    year: Mapped[int] = mapped_column(Integer)
    date: Mapped[date] = mapped_column(Date)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id"))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    total_net: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    total_vat: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    open_amount: Mapped[Decimal | None] = mapped_column(Money)
    # [{"date": "YYYY-MM-DD", "amount": "123.45", "method": "..."}]
    due_dates: Mapped[list] = mapped_column(JSON, default=list)
    # Everything else the renderer and templates need (VAT summary, payment terms, open items...)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)
    source: Mapped[str] = mapped_column(String(20), default="api")  # api|fatturapa|spool|demo|upload
    source_ref: Mapped[str] = mapped_column(String(255), default="")
    # The name the FatturaPA file had when it went to the SdI: SdI notifications name it (NomeFile).
    sdi_file_name: Mapped[str | None] = mapped_column(String(255), index=True)
    pdf_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"))
    pdf_rendered: Mapped[bool] = mapped_column(Boolean, default=False)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    type = relationship("DocumentType", lazy="joined")
    party = relationship("Party", lazy="joined")
    lines = relationship(
        "DocumentLine",
        order_by="DocumentLine.line_no",
        cascade="all, delete-orphan",
        back_populates="document",
    )
    attachments = relationship("DocumentAttachment", cascade="all, delete-orphan")
    versions = relationship(
        "DocumentVersion", order_by="DocumentVersion.number", cascade="all, delete-orphan", lazy="select"
    )


class DocumentLine(Model):
    """A line of a document; the source of the sales statistics."""

    __tablename__ = "document_lines"
    __table_args__ = (
        Index("ix_document_lines_product_doc", "product_id", "document_id"),
        # Covering index of the sales-statistics filters (segments): lines of a product without the table.
        Index("ix_document_lines_product_sales", "product_id", "document_id", "amount", "quantity"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    line_no: Mapped[int] = mapped_column(Integer, default=1)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    product_code: Mapped[str] = mapped_column(String(40), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    quantity: Mapped[Decimal] = mapped_column(Qty, default=Decimal("0"))
    unit: Mapped[str] = mapped_column(String(10), default="")
    unit_price: Mapped[Decimal] = mapped_column(Numeric(16, 5), default=Decimal("0"))
    discount_pct: Mapped[Decimal] = mapped_column(Numeric(7, 3), default=Decimal("0"))
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=Decimal("22"))
    amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))

    document = relationship("Document", back_populates="lines")


class DocumentAttachment(Model):
    """A file that travels with a document (e.g. FatturaPA Allegati)."""

    __tablename__ = "document_attachments"
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    blob_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    blob = relationship("Blob", lazy="select")


class DocumentVersion(Model):
    """What a document was before an import replaced it: kept when it had been sent (the PDF that went out).

    ``number`` counts from 1 (the oldest); the document itself is the current version. A delivery sent
    before ``superseded_at`` carried this version's PDF and attachments.
    """

    __tablename__ = "document_versions"
    __table_args__ = (UniqueConstraint("document_id", "number", name="uq_document_versions_number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    party_id: Mapped[int | None] = mapped_column(ForeignKey("parties.id", ondelete="SET NULL"))
    party_name: Mapped[str] = mapped_column(String(200), default="")
    party_code: Mapped[str] = mapped_column(String(32), default="")
    date: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    pdf_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"))
    # [{"filename": ..., "sha256": ...}] as they travelled with the document
    attachments: Mapped[list] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(20), default="")
    source_ref: Mapped[str] = mapped_column(String(255), default="")
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    superseded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    superseded_by: Mapped[str] = mapped_column(
        String(120), default=""
    )  # source of the replacement (api, spool...)


SDI_KINDS = {
    "RC": "Ricevuta di consegna",
    "MC": "Mancata consegna",
    "NS": "Notifica di scarto",
    "NE": "Notifica di esito",
    "DT": "Decorrenza termini",
    "AT": "Attestazione di trasmissione",
}


class SdiNotification(Model):
    """A notification of the Sistema di Interscambio about an invoice file (matched by NomeFile)."""

    __tablename__ = "sdi_notifications"
    __table_args__ = (UniqueConstraint("kind", "sdi_id", "message_id", name="uq_sdi_notifications_message"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(2))  # SDI_KINDS
    sdi_id: Mapped[str] = mapped_column(String(20))  # IdentificativoSdI
    invoice_file: Mapped[str] = mapped_column(String(255), index=True)  # NomeFile
    message_id: Mapped[str] = mapped_column(String(20))
    file_name: Mapped[str] = mapped_column(String(255), default="")
    # DataOraConsegna (RC) or DataOraRicezione, in UTC; NE/DT carry none
    notified_at: Mapped[datetime | None] = mapped_column(DateTime)
    errors: Mapped[list] = mapped_column(JSON, default=list)  # NS: [{"code", "description", "hint"}]
    outcome: Mapped[str] = mapped_column(String(10), default="")  # NE: EC01 accettata / EC02 rifiutata
    description: Mapped[str] = mapped_column(Text, default="")  # Descrizione / Note of the file
    blob_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    source: Mapped[str] = mapped_column(String(20), default="cli")  # cli|api|spool
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
