"""SMTP sending with reused connections and precise failure classification.

The outcome of one message is one of:
- ``sent``: the server answered 250 after the data;
- ``temporary``: a 4xx reply, or the connection failed before the whole message was handed over
  (nothing can have been accepted): retry later;
- ``permanent``: a 5xx reply: fail now, keep the server's code and text;
- ``uncertain``: the whole message was transmitted but the server's answer never came (dropped
  connection or timeout after the final dot). The server may have accepted it (RFC 1047), so
  it must not be resent automatically.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import ssl
import time
from dataclasses import dataclass

from .tls import client_context, explain_certificate_error, fetch_certificate
from .xoauth2 import OAuthError, TokenProvider, smtp_xoauth2

SMTP_TIMEOUT = 60
_BARE_EOL = re.compile(rb"(?:\r\n|\n|\r(?!\n))")
_LEADING_DOT = re.compile(rb"(?m)^\.")
# A connection unused for longer than this is checked with NOOP before it is reused.
IDLE_CHECK_SECONDS = 20


@dataclass
class SendOutcome:
    """What happened to one message."""

    kind: str  # sent | temporary | permanent | uncertain
    code: int | None = None
    text: str = ""


@dataclass
class SmtpSettings:
    """How to reach and log in to an SMTP server."""

    host: str
    port: int
    tls_mode: str = "none"  # none | starttls | ssl
    username: str = ""
    password: str = ""
    timeout: float = SMTP_TIMEOUT
    ca_pem: str = ""  # the account's own CAs (PEM), trusted on top of the system's
    token_provider: TokenProvider | None = (
        None  # XOAUTH2 instead of the password (mailer.services.oauth_tokens)
    )


def _reply_text(raw) -> str:
    """Decode a server reply."""
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace")
    return str(raw or "")


class SmtpSession:
    """One SMTP connection, opened lazily and reused for many messages."""

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self.conn: smtplib.SMTP | None = None
        self.last_used = time.monotonic()
        self._data_sent = False

    def open(self) -> None:
        """Connect, secure and log in."""
        s = self.settings
        context = client_context(s.ca_pem)
        if s.tls_mode == "ssl":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
        else:
            conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            conn.ehlo()
            if s.tls_mode == "starttls":
                conn.starttls(context=context)
                conn.ehlo()
            if s.username:
                smtp_login(conn, s.username, s.password, s.token_provider)
        except BaseException:
            _close_quietly(conn)
            raise
        self.conn = conn

    def close(self) -> None:
        """QUIT politely; ignore errors."""
        if self.conn is not None:
            try:
                self.conn.quit()
            except (smtplib.SMTPException, OSError):
                _close_quietly(self.conn)
            self.conn = None

    def send(self, envelope_from: str, recipients: list[str], data: bytes) -> SendOutcome:
        """Send one message; never raises for SMTP or network failures."""
        try:
            if (
                self.conn is not None
                and time.monotonic() - self.last_used > IDLE_CHECK_SECONDS
                and not self._alive()
            ):
                self._drop()
            if self.conn is None:
                self.open()
        except ssl.SSLCertVerificationError as exc:
            self.conn = None
            s = self.settings
            cert = fetch_certificate(s.host, s.port, s.tls_mode, timeout=min(s.timeout, 10))
            return SendOutcome(
                "temporary", None, "Connessione non riuscita: " + explain_certificate_error(exc, s.host, cert)
            )
        except smtplib.SMTPAuthenticationError as exc:
            self.conn = None
            return SendOutcome(
                "permanent", exc.smtp_code, "Autenticazione rifiutata: " + _reply_text(exc.smtp_error)
            )
        except OAuthError as exc:
            self.conn = None
            return SendOutcome("temporary" if exc.temporary else "permanent", None, str(exc))
        except smtplib.SMTPResponseException as exc:
            self.conn = None
            kind = "temporary" if 400 <= exc.smtp_code < 500 else "permanent"
            return SendOutcome(kind, exc.smtp_code, _reply_text(exc.smtp_error))
        except (OSError, smtplib.SMTPException) as exc:
            self.conn = None
            return SendOutcome("temporary", None, f"Connessione non riuscita: {exc}")
        outcome = self._transaction(envelope_from, recipients, data)
        if outcome.kind == "temporary" and outcome.code is None and self.conn is None and not self._data_sent:
            # The reused connection had been closed by the server before MAIL: nothing was sent,
            # so open a new one and try once more straight away.
            try:
                self.open()
            except (OSError, smtplib.SMTPException, OAuthError):
                return outcome
            outcome = self._transaction(envelope_from, recipients, data)
        self.last_used = time.monotonic()
        return outcome

    def _alive(self) -> bool:
        """NOOP to check a reused connection (cheap compared to a failed transaction)."""
        try:
            return self.conn is not None and self.conn.noop()[0] == 250
        except (OSError, smtplib.SMTPException):
            return False

    def _transaction(self, envelope_from: str, recipients: list[str], data: bytes) -> SendOutcome:
        """MAIL, RCPT, DATA by hand, to know whether the message was fully handed over."""
        conn = self.conn
        assert conn is not None
        self._data_sent = False
        try:
            code, resp = conn.mail(envelope_from)
            if code != 250:
                return self._reset_after(code, resp)
            accepted = 0
            last = (250, b"")
            for rcpt in recipients:
                code, resp = conn.rcpt(rcpt)
                if code in (250, 251):
                    accepted += 1
                else:
                    last = (code, resp)
            if accepted < len(recipients):
                # All recipients of a delivery must be accepted, or none is sent.
                return self._reset_after(*last)
            code, resp = conn.docmd("data")
            if code != 354:
                return self._reset_after(code, resp)
            payload = wire_payload(data)
        except smtplib.SMTPServerDisconnected as exc:
            self.conn = None
            return SendOutcome("temporary", None, f"Connessione chiusa dal server prima dell'invio: {exc}")
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            return SendOutcome("temporary", None, f"Errore di rete prima dell'invio: {exc}")
        self._data_sent = True
        try:
            conn.send(payload)
        except (OSError, smtplib.SMTPException) as exc:
            # The final dot did not get out: the server cannot have accepted the message.
            self._drop()
            return SendOutcome("temporary", None, f"Connessione interrotta durante la trasmissione: {exc}")
        try:
            code, resp = conn.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            return SendOutcome(
                "uncertain",
                None,
                f"Messaggio trasmesso ma nessuna risposta dal server ({type(exc).__name__}): "
                "potrebbe essere stato accettato",
            )
        if code == 250:
            return SendOutcome("sent", code, _reply_text(resp))
        if code == 421:
            self._drop()
        return SendOutcome("temporary" if 400 <= code < 500 else "permanent", code, _reply_text(resp))

    def _reset_after(self, code: int, resp) -> SendOutcome:
        """Classify a refusal before DATA, and RSET so the connection can be reused."""
        text = _reply_text(resp)
        if code == 421 or code == -1:
            self._drop()
        else:
            assert self.conn is not None  # refused by the connection this sender holds
            try:
                self.conn.rset()
            except (OSError, smtplib.SMTPException):
                self._drop()
        kind = "temporary" if (400 <= code < 500 or code == -1) else "permanent"
        return SendOutcome(kind, code if code > 0 else None, text)

    def _drop(self) -> None:
        """Forget a broken connection."""
        if self.conn is not None:
            _close_quietly(self.conn)
        self.conn = None


def smtp_login(
    conn: smtplib.SMTP, username: str, password: str = "", token_provider: TokenProvider | None = None
):
    """Log in after EHLO/STARTTLS: XOAUTH2 with a provider's token when given, else the password (LOGIN/PLAIN).
    The sender and «Prova connessione» both log in here."""
    if token_provider is not None:
        return smtp_xoauth2(conn, username, token_provider)
    return conn.login(username, password)


def _close_quietly(conn: smtplib.SMTP) -> None:
    """Close a socket without raising."""
    with contextlib.suppress(OSError, smtplib.SMTPException):
        conn.close()


def wire_payload(data: bytes) -> bytes:
    """The DATA section: CRLF line ends, dot-stuffed (RFC 5321 4.5.2), ending in CRLF.CRLF.

    Messages we build are already CRLF with no line starting with a dot; counting is much cheaper
    than rewriting 20 KB through two regular expressions for every message, so rewrite only if needed.
    """
    crlf = data.count(b"\r\n")
    if data.count(b"\n") != crlf or data.count(b"\r") != crlf:
        data = _BARE_EOL.sub(b"\r\n", data)
    if data.startswith(b".") or b"\n." in data:
        data = _LEADING_DOT.sub(b"..", data)
    if data[-2:] != b"\r\n":
        data += b"\r\n"
    return data + b".\r\n"
