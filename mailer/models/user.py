"""Users, roles, send permissions and login throttling."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model, db
from .base import utcnow

user_document_types = Table(
    "user_document_types",
    db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("document_type_code", ForeignKey("document_types.code"), primary_key=True),
)


class User(UserMixin, Model):
    """A person who logs in; roles and clearances decide what they see and do."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(120), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    roles: Mapped[str] = mapped_column(String(120), default="operator")  # comma separated
    privacy_clearance: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Bumped when the password changes or the user is deactivated: old sessions stop working.
    session_version: Mapped[int] = mapped_column(Integer, default=1)

    send_types = relationship("DocumentType", secondary=user_document_types, lazy="selectin")

    def get_id(self) -> str:
        """Flask-Login id: user id plus session version, so a password change logs out everywhere."""
        return f"{self.id}:{self.session_version}"

    @property
    def is_active(self) -> bool:
        """Inactive users cannot log in."""
        return bool(self.active)

    @property
    def role_list(self) -> list[str]:
        """The user's roles as a list."""
        return [r for r in (self.roles or "").split(",") if r]

    def has_role(self, *roles: str) -> bool:
        """True when the user has any of the roles (admin has every role)."""
        mine = set(self.role_list)
        return "admin" in mine or bool(mine.intersection(roles))

    @property
    def send_type_codes(self) -> set[str]:
        """Codes of the document types this user may send."""
        return {t.code for t in self.send_types}

    def may_send(self, type_code: str) -> bool:
        """True when the user may prepare or approve sends of this document type."""
        return type_code in self.send_type_codes

    def may_open_types(self, type_codes) -> bool:
        """A batch of these document types is the user's to see: administrators, or whoever may send
        every one of them (one type is not enough: its pages show the other types' PDFs and messages)."""
        return self.has_role("admin") or all(self.may_send(code) for code in type_codes or [])


class LoginFailure(Model):
    """A failed login, kept to throttle guessing by user name and by address."""

    __tablename__ = "login_failures"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    ip: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class UserSession(Model):
    """An open login: the session cookie carries its secret, the row says it is still valid.

    Kept in the database (not on one web host's disk) so every web host sees a logout at once.
    """

    __tablename__ = "user_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the secret in the cookie
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ip: Mapped[str] = mapped_column(String(64), default="")
