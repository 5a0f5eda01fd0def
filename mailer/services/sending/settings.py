"""Sending settings: the configuration a sender reads, an account's SMTP settings, the commands' error."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import CursorResult, Result
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from ...models import MailAccount
from ...transport.smtp import SMTP_TIMEOUT, SmtpSettings
from .. import oauth_tokens
from ..crypto import decrypt_secret

FINAL_STATES = ("sent", "failed", "uncertain", "cancelled", "excluded", "bounced")
CHUNK = 50


class SendingError(Exception):
    """A sending command that cannot be carried out (message in Italian)."""


def _heartbeat_seconds() -> int:
    """How long a sender's heartbeat lives without being refreshed."""
    return int(current_app.config.get("SENDER_HEARTBEAT_SECONDS", 60))


def _db_wait_seconds() -> float:
    """How long a sender waits for an unavailable database before it gives up (its claims stay safe)."""
    return float(current_app.config.get("SENDER_DB_WAIT_SECONDS", 120))


def _redis_wait_seconds() -> float:
    """How long a sender waits for Redis (rate limits, heartbeat) to come back before it gives up."""
    return float(current_app.config.get("SENDER_REDIS_WAIT_SECONDS", 120))


def database_unavailable(exc: Exception) -> bool:
    """True for errors that say the database cannot be reached or is locked, not that a statement is wrong."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def backoff_schedule() -> list[int]:
    """Seconds to wait before attempt 2, 3, … (SEND_RETRY_BACKOFF, e.g. "60,300,900")."""
    raw = str(current_app.config.get("SEND_RETRY_BACKOFF", "60,300,900"))
    return [int(float(part)) for part in raw.split(",") if part.strip()] or [60]


def max_attempts() -> int:
    """Attempts per delivery, the first included."""
    return int(current_app.config.get("SEND_MAX_ATTEMPTS", len(backoff_schedule()) + 1))


def smtp_settings(account: MailAccount) -> SmtpSettings:
    """SMTP settings of an account, with the password decrypted."""
    return SmtpSettings(
        host=account.host,
        port=account.port,
        tls_mode=account.tls_mode,
        username=account.username,
        password=decrypt_secret(account.password_encrypted),
        timeout=float(current_app.config.get("SMTP_TIMEOUT", SMTP_TIMEOUT)),
        ca_pem=account.tls_ca_pem or "",
        token_provider=oauth_tokens.token_provider(account) if oauth_tokens.is_oauth(account) else None,
    )


def changed_rows(result: Result[Any]) -> int:
    """Rows an UPDATE changed (Session.execute is typed as giving a Result; an UPDATE gives a CursorResult)."""
    assert isinstance(result, CursorResult)
    return result.rowcount
