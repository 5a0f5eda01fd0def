"""Generic documents (price lists, notices…) with versions, saved contact filters, campaigns."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model, db
from .base import utcnow

campaign_documents = Table(
    "campaign_documents",
    db.metadata,
    Column("campaign_id", ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True),
    # The exact version chosen when the campaign was prepared: a later upload does not change it.
    Column("version_id", ForeignKey("generic_document_versions.id"), primary_key=True),
)


class GenericDocument(Model):
    """A file made elsewhere (price list, promotion, notice) that campaigns attach; its versions are kept."""

    __tablename__ = "generic_documents"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # Commercial documents (price lists, promotions) may only go in commercial campaigns.
    commercial: Mapped[bool] = mapped_column(Boolean, default=True)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    created_by = relationship("User", lazy="joined")
    versions = relationship(
        "GenericDocumentVersion",
        back_populates="document",
        lazy="selectin",
        order_by="GenericDocumentVersion.number.desc()",
        cascade="all, delete-orphan",
    )

    @property
    def current(self) -> GenericDocumentVersion | None:
        """The latest version (what a new campaign attaches)."""
        return self.versions[0] if self.versions else None


class GenericDocumentVersion(Model):
    """One uploaded file of a generic document; never changed after insert."""

    __tablename__ = "generic_document_versions"
    __table_args__ = (UniqueConstraint("document_id", "number", name="uq_generic_document_versions_number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("generic_documents.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))  # pdf|docx|doc|odt|xlsx|png|jpeg|gif|webp
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    blob_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    note: Mapped[str] = mapped_column(String(200), default="")
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    document = relationship("GenericDocument", back_populates="versions", lazy="joined")
    uploaded_by = relationship("User", lazy="joined")


class SavedFilter(Model):
    """A named set of conditions on parties and contacts (segment), personal or shared."""

    __tablename__ = "saved_filters"
    __table_args__ = (Index("ix_saved_filters_owner", "owner_id", "shared"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    conditions: Mapped[list] = mapped_column(JSON, default=list)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    owner = relationship("User", lazy="joined")


class Campaign(Model):
    """A mailing: a filter, generic documents, subject and body, an account; sent through a Batch."""

    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    filter_id: Mapped[int | None] = mapped_column(ForeignKey("saved_filters.id", ondelete="SET NULL"))
    # The conditions as they were when the campaign was prepared (the saved filter may change later).
    conditions: Mapped[list] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(String(500))
    body_html: Mapped[str] = mapped_column(Text)
    commercial: Mapped[bool] = mapped_column(Boolean, default=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("mail_accounts.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id", ondelete="SET NULL"), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    saved_filter = relationship("SavedFilter", lazy="joined")
    account = relationship("MailAccount", lazy="joined")
    batch = relationship("Batch", lazy="joined")
    created_by = relationship("User", lazy="joined")
    versions = relationship("GenericDocumentVersion", secondary=campaign_documents, lazy="selectin")
