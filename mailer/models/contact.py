"""Contacts of a party: who receives which documents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model, db
from .base import utcnow

contact_document_types = Table(
    "contact_document_types",
    db.metadata,
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    Column("document_type_code", ForeignKey("document_types.code"), primary_key=True),
    Index("ix_contact_document_types_type", "document_type_code", "contact_id"),
)

contact_tags = Table(
    "contact_tags",
    db.metadata,
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_contact_tags_tag", "tag_id", "contact_id"),
)

function_document_types = Table(
    "function_document_types",
    db.metadata,
    Column("function_id", ForeignKey("contact_functions.id", ondelete="CASCADE"), primary_key=True),
    Column("document_type_code", ForeignKey("document_types.code"), primary_key=True),
)


class ContactFunction(Model):
    """A configurable contact function, with the document types a new contact starts with."""

    __tablename__ = "contact_functions"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    default_types = relationship("DocumentType", secondary=function_document_types, lazy="selectin")


class Tag(Model):
    """A characteristic of contacts, used by filters."""

    __tablename__ = "tags"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)


class Contact(Model):
    """A person or mailbox at a party."""

    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_party_active", "party_id", "active"),
        Index("ix_contacts_privacy", "privacy_level"),
        # Covering index of the party search: privacy filter, then name/e-mail without the table.
        Index("ix_contacts_search", "privacy_level", "party_id", "name", "email"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id", ondelete="CASCADE"))
    # The ERP's own id of the contact, when it has one (key of the contacts import).
    erp_code: Mapped[str] = mapped_column(String(40), default="", server_default="")
    name: Mapped[str] = mapped_column(String(160), default="", index=True)
    function_id: Mapped[int | None] = mapped_column(ForeignKey("contact_functions.id"), index=True)
    phone: Mapped[str] = mapped_column(String(40), default="")
    email: Mapped[str] = mapped_column(String(254), default="", index=True)
    is_pec: Mapped[bool] = mapped_column(Boolean, default=False)
    pec_flag_manual: Mapped[bool] = mapped_column(Boolean, default=False)
    from_inipec: Mapped[bool] = mapped_column(Boolean, default=False)
    privacy_level: Mapped[int] = mapped_column(Integer, default=0)
    marketing_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_date: Mapped[datetime | None] = mapped_column(DateTime)
    consent_source: Mapped[str] = mapped_column(String(120), default="")
    opted_out_at: Mapped[datetime | None] = mapped_column(DateTime)
    bounce_count: Mapped[int] = mapped_column(Integer, default=0)
    notes: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    party = relationship("Party", back_populates="contacts")
    function = relationship("ContactFunction", lazy="joined")
    document_types = relationship("DocumentType", secondary=contact_document_types, lazy="selectin")
    tags = relationship("Tag", secondary=contact_tags, lazy="selectin")

    @property
    def document_type_codes(self) -> set[str]:
        """Codes of the document types this contact receives."""
        return {t.code for t in self.document_types}


class ContactChange(Model):
    """One change to a contact: who, when, what (field, old, new)."""

    __tablename__ = "contact_changes"
    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(20))  # create|update|delete
    # The highest privacy level of the data this entry shows: users below it do not see the entry.
    privacy_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    changes: Mapped[str] = mapped_column(Text, default="{}")  # JSON {field: [old, new]}
