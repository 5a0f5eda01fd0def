"""E-mail templates per document type and language, with immutable numbered versions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model
from .base import utcnow

TEMPLATE_LANGUAGES: dict[str, str] = {"it": "Italiano", "en": "Inglese"}


class EmailTemplate(Model):
    """The template of one document type in one language; its current text is its latest version."""

    __tablename__ = "email_templates"
    __table_args__ = (UniqueConstraint("type_code", "language", name="uq_email_templates_type_language"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    type_code: Mapped[str] = mapped_column(ForeignKey("document_types.code"))
    language: Mapped[str] = mapped_column(String(2), default="it")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    type = relationship("DocumentType", lazy="joined")
    versions = relationship(
        "TemplateVersion", back_populates="template", order_by="TemplateVersion.number.desc()", lazy="select"
    )


class TemplateVersion(Model):
    """One saved text of a template. Never changed after insert: batches point at it."""

    __tablename__ = "template_versions"
    # The unique constraint also serves as the (template, number) index.
    __table_args__ = (UniqueConstraint("template_id", "number", name="uq_template_versions_template_number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("email_templates.id"))
    number: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(500))
    body_html: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text, default="")  # empty: derived from the HTML
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    template = relationship("EmailTemplate", back_populates="versions", lazy="joined")
    created_by = relationship("User", lazy="joined")


@event.listens_for(TemplateVersion, "before_update")
def _versions_are_immutable(mapper, connection, target):
    """A saved version is what old batches show: refuse to change it."""
    raise ValueError("Una versione di modello salvata non si modifica: salvarne una nuova.")
