"""Sending accounts (ordinary SMTP and PEC) and company settings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, false, true
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model
from .base import utcnow


class MailAccount(Model):
    """An SMTP server we send through (ordinary or PEC), with its limits and IMAP mailbox."""

    __tablename__ = "mail_accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(10), default="smtp")  # smtp|pec
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer, default=587)
    tls_mode: Mapped[str] = mapped_column(String(10), default="starttls")  # none|starttls|ssl
    username: Mapped[str] = mapped_column(String(254), default="")
    password_encrypted: Mapped[str] = mapped_column(Text, default="")
    from_address: Mapped[str] = mapped_column(String(254))
    from_name: Mapped[str] = mapped_column(String(120), default="")
    max_connections: Mapped[int] = mapped_column(Integer, default=2)
    rate_per_minute: Mapped[int] = mapped_column(Integer, default=60)
    rate_per_day: Mapped[int] = mapped_column(Integer, default=5000)
    max_message_bytes: Mapped[int] = mapped_column(Integer, default=20 * 1024 * 1024)
    max_recipients: Mapped[int] = mapped_column(Integer, default=50)
    signature_html: Mapped[str] = mapped_column(Text, default="")
    imap_host: Mapped[str] = mapped_column(String(255), default="")
    imap_port: Mapped[int] = mapped_column(Integer, default=993)
    imap_username: Mapped[str] = mapped_column(String(254), default="")
    imap_password_encrypted: Mapped[str] = mapped_column(Text, default="")
    imap_folder: Mapped[str] = mapped_column(String(120), default="INBOX")
    imap_after: Mapped[str] = mapped_column(String(120), default="seen")  # seen|move:<folder>
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    # Ordinary accounts only: envelope sender `local+rcp<ID>-<sig>@domain`, so that a bounce names its
    # delivery even when it quotes nothing of the original (the server must deliver sub-addresses).
    verp: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # PEC accounts only: the domains of the provider's certified system (one a line), the only senders
    # whose receipts may change a delivery (mailer.services.pec_trust).
    pec_system_domains: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Extra certificate authorities (PEM) trusted for this account's SMTP and IMAP servers, e.g. an
    # on-premises server with a company CA; stored here so every worker on any host uses the same.
    tls_ca_pem: Mapped[str] = mapped_column(Text, default="", server_default="")
    # How SMTP and IMAP log in: password (LOGIN/PLAIN) or XOAUTH2 with a token from the provider
    # (ms_app | ms_delegated | google_service | google_delegated: mailer.services.oauth_tokens).
    auth_kind: Mapped[str] = mapped_column(String(20), default="password", server_default="password")
    oauth_tenant: Mapped[str] = mapped_column(String(120), default="", server_default="")
    oauth_client_id: Mapped[str] = mapped_column(String(255), default="", server_default="")
    # Client secret (Microsoft, Google delegated) or the service account's JSON key (Google), encrypted.
    oauth_secret_encrypted: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Delegated kinds: the refresh token obtained once by an administrator, encrypted.
    oauth_refresh_token_encrypted: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Authority host (Microsoft) or token endpoint (Google); empty = the provider's public one.
    oauth_endpoint: Mapped[str] = mapped_column(String(255), default="", server_default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    @property
    def is_pec(self) -> bool:
        """True for a PEC account."""
        return self.kind == "pec"


class Company(Model):
    """Our own company: used by every PDF and e-mail (a single row, id 1)."""

    __tablename__ = "company"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="La mia azienda S.r.l.")
    address: Mapped[str] = mapped_column(String(200), default="")
    zip_code: Mapped[str] = mapped_column(String(10), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    province: Mapped[str] = mapped_column(String(2), default="")
    vat_number: Mapped[str] = mapped_column(String(20), default="")
    tax_code: Mapped[str] = mapped_column(String(20), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    website: Mapped[str] = mapped_column(String(254), default="")
    iban: Mapped[str] = mapped_column(String(40), default="")
    logo_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"))
    four_eyes: Mapped[bool] = mapped_column(Boolean, default=True)
    soft_spam_allowed: Mapped[bool] = mapped_column(Boolean, default=False)
    # Campaign messages end with the signed «Gestisci le tue preferenze» link.
    preferences_link: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
