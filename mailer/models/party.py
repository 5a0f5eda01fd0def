"""Customers and suppliers (anagrafiche) and their classification."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model
from .base import utcnow


class Zone(Model):
    """A sales zone."""

    __tablename__ = "zones"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120))


class Agent(Model):
    """A sales agent."""

    __tablename__ = "agents"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(254), default="")


class Category(Model):
    """A party category (e.g. ingrosso, dettaglio, GDO)."""

    __tablename__ = "categories"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120))


class Party(Model):
    """A customer or supplier of the ERP (anagrafica)."""

    __tablename__ = "parties"
    __table_args__ = (
        Index("ix_parties_kind_name", "kind", "name"),
        Index("ix_parties_zone_agent", "zone_id", "agent_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    erp_code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(10), default="customer")  # customer|supplier|both
    name: Mapped[str] = mapped_column(String(200), index=True)
    vat_number: Mapped[str] = mapped_column(String(20), default="", index=True)  # P.IVA
    tax_code: Mapped[str] = mapped_column(String(20), default="", index=True)  # codice fiscale
    address: Mapped[str] = mapped_column(String(200), default="")
    zip_code: Mapped[str] = mapped_column(String(10), default="")
    city: Mapped[str] = mapped_column(String(100), default="", index=True)
    province: Mapped[str] = mapped_column(String(2), default="", index=True)
    country: Mapped[str] = mapped_column(String(2), default="IT")
    language: Mapped[str] = mapped_column(String(2), default="it")
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    zone = relationship("Zone", lazy="joined")
    agent = relationship("Agent", lazy="joined")
    category = relationship("Category", lazy="joined")
    contacts = relationship(
        "Contact", back_populates="party", order_by="Contact.name", cascade="all, delete-orphan"
    )

    @property
    def is_customer(self) -> bool:
        """True for customers (and parties that are both)."""
        return self.kind in ("customer", "both")

    @property
    def is_supplier(self) -> bool:
        """True for suppliers (and parties that are both)."""
        return self.kind in ("supplier", "both")
