""""Prova connessione": connect and log in to a sending account's SMTP server, and report, step by
step and in Italian, what the server answered. Nothing is sent.
"""
from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass, field

from flask_babel import gettext as _

from .smtp import smtp_login
from .xoauth2 import OAuthError

CHECK_TIMEOUT = 8.0


@dataclass
class CheckStep:
    """One step of the conversation: what we did, whether it worked, what the server said."""

    label: str
    ok: bool
    detail: str = ""


@dataclass
class CheckResult:
    """The whole check: ok only when every step worked."""

    steps: list[CheckStep] = field(default_factory=list)
    capabilities: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when connection, TLS (if asked) and login all succeeded."""
        return bool(self.steps) and all(step.ok for step in self.steps)

    @property
    def summary(self) -> str:
        """One Italian sentence for the result."""
        if self.ok:
            return _("Connessione riuscita: il server ha accettato le credenziali.")
        failed = next((s for s in self.steps if not s.ok), None)
        return _("Connessione non riuscita: %(step)s.", step=failed.label.lower() if failed else "")

    def add(self, label: str, ok: bool, detail: str = "") -> bool:
        """Append a step; returns ok so callers can stop at the first failure."""
        self.steps.append(CheckStep(label, ok, detail))
        return ok


def _reply(code: int | None, message: bytes | str | None) -> str:
    """'250 text' from an smtplib (code, message) pair."""
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return f"{code} {message or ''}".strip() if code is not None else (message or "")


def explain_error(exc: BaseException, host: str, port: int, timeout: float) -> str:
    """An Italian explanation of a connection or protocol error (never includes the password)."""
    if isinstance(exc, OAuthError):
        return str(exc)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return _("Credenziali rifiutate dal server: %(reply)s", reply=_reply(exc.smtp_code, exc.smtp_error))
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return _("Il server non offre questa funzione: %(error)s", error=str(exc))
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return _("Il server ha chiuso la connessione (%(error)s).", error=str(exc) or "senza risposta")
    if isinstance(exc, smtplib.SMTPResponseException):
        return _("Il server ha risposto con un errore: %(reply)s", reply=_reply(exc.smtp_code, exc.smtp_error))
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _("Certificato TLS non valido: %(error)s", error=getattr(exc, "verify_message", None) or str(exc))
    if isinstance(exc, ssl.SSLError):
        return _("Errore TLS (%(error)s): la porta o la modalità TLS sono giuste? "
                 "Di solito 465 = SSL, 587 = STARTTLS, 25 = nessuna.", error=getattr(exc, "reason", None) or str(exc))
    if isinstance(exc, socket.gaierror):
        return _("Nome host sconosciuto: «%(host)s» non si risolve.", host=host)
    if isinstance(exc, ConnectionRefusedError):
        return _("Connessione rifiutata: nessun server in ascolto su %(host)s:%(port)s.", host=host, port=port)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return _("Il server non ha risposto entro %(seconds)s secondi.", seconds=int(timeout))
    if isinstance(exc, OSError):
        return _("Errore di rete: %(error)s", error=exc.strerror or str(exc))
    return _("Errore imprevisto: %(error)s", error=type(exc).__name__)


def check_smtp(host: str, port: int, tls_mode: str, username: str = "", password: str = "",
               timeout: float = CHECK_TIMEOUT, token_provider=None) -> CheckResult:
    """Connect, greet (EHLO), start TLS when asked, log in when a user is set; then QUIT."""
    result = CheckResult()
    conn: smtplib.SMTP | None = None
    step = _("Connessione a %(host)s:%(port)s", host=host, port=port)
    try:
        context = ssl.create_default_context()
        if tls_mode == "ssl":
            conn = smtplib.SMTP_SSL(timeout=timeout, context=context)
        else:
            conn = smtplib.SMTP(timeout=timeout)
        code, greeting = conn.connect(host, port)
        if not result.add(step, code == 220, _reply(code, greeting)):
            return result
        step = "EHLO"
        code, text = conn.ehlo()
        if code != 250:
            code, text = conn.helo()
        result.capabilities = sorted(f"{k.upper()} {v.strip()}".strip() for k, v in conn.esmtp_features.items())
        # First line only (the server's name); the capabilities are listed separately.
        first = (text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)).splitlines()[:1]
        detail = _reply(code, first[0] if first else "")
        if result.capabilities:
            detail += " · " + _("%(n)s funzioni annunciate", n=len(result.capabilities))
        if not result.add(step, code == 250, detail):
            return result
        if tls_mode == "starttls":
            step = "STARTTLS"
            if not conn.has_extn("starttls"):
                result.add(step, False, _("Il server non offre STARTTLS: scegli «nessuna» o «SSL/TLS»."))
                return result
            code, text = conn.starttls(context=context)
            cipher = conn.sock.cipher() if hasattr(conn.sock, "cipher") else None
            detail = _reply(code, text) + (f" · {cipher[1]} {cipher[0]}" if cipher else "")
            result.add(step, True, detail)
            code, text = conn.ehlo()
            result.capabilities = sorted(f"{k.upper()} {v.strip()}".strip() for k, v in conn.esmtp_features.items())
        if username:
            step = _("Autenticazione come «%(user)s»", user=username)
            if not conn.has_extn("auth"):
                result.add(step, False, _("Il server non offre AUTH su questa connessione "
                                          "(serve STARTTLS o SSL?)."))
                return result
            if token_provider is not None:
                step = _("Autenticazione XOAUTH2 come «%(user)s»", user=username)
            code, text = smtp_login(conn, username, password, token_provider)
            result.add(step, code in (235, 503), _reply(code, text))
        else:
            result.add(_("Autenticazione"), True, _("Nessun utente impostato: il server non è stato messo alla prova "
                                                     "con credenziali."))
    except Exception as exc:  # every failure is reported to the admin, nothing else happens
        result.add(step, False, explain_error(exc, host, port, timeout))
    finally:
        if conn is not None:
            try:
                conn.quit()
            except Exception:  # the server may already have closed the connection
                conn.close()
    return result
