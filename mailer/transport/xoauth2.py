"""XOAUTH2 (SASL) for SMTP and IMAP: the initial client response, and logging in with a token that is
fetched again once when the server refuses it (it may have expired or been revoked since it was cached).

A token provider is a callable `provider(force: bool = False) -> str` (mailer.services.oauth_tokens);
`force=True` skips the cache. It raises `OAuthError` (Italian message) when no token can be had.
"""

from __future__ import annotations

import imaplib
import smtplib
from collections.abc import Callable

TokenProvider = Callable[..., str]

TOKEN_REFUSED = (
    "il server ha rifiutato il token OAuth2 anche dopo averne ottenuto uno nuovo: controlla che "
    "l'applicazione abbia il permesso per questa casella (Microsoft: SMTP.SendAsApp/IMAP.AccessAsApp "
    "e il service principal con accesso alla casella; Google: delega a livello di dominio con lo "
    "scope https://mail.google.com/) e che l'utente sia l'indirizzo della casella"
)


class OAuthError(Exception):
    """No token could be obtained; `temporary` when trying again later may work (network)."""

    def __init__(self, message: str, temporary: bool = False):
        super().__init__(message)
        self.temporary = temporary


def xoauth2_string(user: str, token: str) -> str:
    """The XOAUTH2 initial client response (before base64): user=…^Aauth=Bearer …^A^A."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def _authobject(user: str, token: str) -> Callable[..., str]:
    """smtplib/imaplib callback: the credentials first; an empty reply to the server's error challenge."""

    def respond(challenge=None) -> str:
        return xoauth2_string(user, token) if not challenge else ""

    return respond


def _imap_authobject(user: str, token: str) -> Callable[[bytes], bytes]:
    """The same answers for imaplib, which wants bytes."""
    respond = _authobject(user, token)
    return lambda challenge: respond(challenge).encode("ascii")


def smtp_xoauth2(conn: smtplib.SMTP, user: str, provider: TokenProvider):
    """AUTH XOAUTH2 on an open SMTP connection (after EHLO/STARTTLS). A refused token (535 / 334 error
    challenge) is dropped and a fresh one is tried once; a second refusal raises SMTPAuthenticationError
    whose text says what to fix."""
    for force in (False, True):
        token = provider(force=force)
        try:
            return conn.auth("XOAUTH2", _authobject(user, token), initial_response_ok=True)
        except smtplib.SMTPAuthenticationError as exc:
            if force:
                detail = (
                    exc.smtp_error.decode("utf-8", "replace")
                    if isinstance(exc.smtp_error, bytes)
                    else str(exc.smtp_error)
                )
                raise smtplib.SMTPAuthenticationError(exc.smtp_code, f"{detail} — {TOKEN_REFUSED}") from exc
    raise AssertionError("unreachable")


def imap_xoauth2(conn: imaplib.IMAP4, user: str, provider: TokenProvider):
    """AUTHENTICATE XOAUTH2 on an IMAP connection, with one retry on a fresh token; IMAP4.error when refused."""
    for force in (False, True):
        token = provider(force=force)
        try:
            return conn.authenticate("XOAUTH2", _imap_authobject(user, token))
        except imaplib.IMAP4.error as exc:
            if force:
                raise imaplib.IMAP4.error(f"{exc} — {TOKEN_REFUSED}") from exc
    raise AssertionError("unreachable")
