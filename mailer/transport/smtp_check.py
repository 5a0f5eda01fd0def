""" "Prova connessione": reach a sending account's SMTP server (and its IMAP mailbox) step by step —
DNS, TCP, TLS and certificate, greeting, EHLO, AUTH; IMAP connect, login, folder — and report in Italian
what each step answered and, when one fails, what to do. Nothing is sent.
"""

from __future__ import annotations

import contextlib
import imaplib
import smtplib
import socket
import ssl
import time
from dataclasses import asdict, dataclass, field

from .imap import ImapSettings, encode_folder, is_loopback
from .smtp import smtp_login
from .tls import client_context, explain_certificate_error, fetch_certificate, peer_certificate
from .xoauth2 import OAuthError, imap_xoauth2

CHECK_TIMEOUT = 8.0

LABELS = {
    "dns": "Risoluzione DNS",
    "tcp": "Connessione TCP",
    "tls": "TLS e certificato",
    "greeting": "Saluto del server",
    "ehlo": "EHLO (funzioni del server)",
    "auth": "Autenticazione",
    "password": "Password salvata",
    "imap_connect": "IMAP: connessione e certificato",
    "imap_login": "IMAP: accesso",
    "imap_select": "IMAP: cartella",
}
# What to do when a step fails (the detail says what happened).
HINTS = {
    "dns": "Controlla il nome del server (errori di battitura, «smtp.» mancante) e il DNS di questa rete.",
    "tcp": "Controlla porta e firewall: di solito 587 (STARTTLS) o 465 (SSL/TLS); molte reti bloccano la 25 "
    "in uscita. Se il server è interno, verifica che sia acceso e raggiungibile da qui.",
    "tls": "Verifica la modalità di sicurezza (465 = SSL/TLS, 587 = STARTTLS) e il certificato del server; "
    "per un server interno carica il certificato della sua CA nell'account («Certificati CA aggiuntivi»).",
    "greeting": "Il server non accetta connessioni ora: riprova più tardi o contatta chi lo gestisce.",
    "ehlo": "Il server ha rifiutato il saluto: contatta chi lo gestisce, potrebbe non accettare questo indirizzo IP.",
    "auth": "Controlla utente e password (spesso l'utente è l'indirizzo completo); verifica che l'invio SMTP "
    "autenticato sia abilitato per la casella (Microsoft 365 e Google richiedono OAuth2 o una password "
    "per le app).",
    "password": "Reinserisci la password nel modulo dell'account e salva.",
    "imap_connect": "Controlla server e porta IMAP (di solito 993, SSL/TLS) e, per un server interno, la CA "
    "caricata nell'account.",
    "imap_login": "Controlla utente e password IMAP (vuoti: si usano quelli SMTP) e che l'accesso IMAP sia "
    "abilitato sulla casella.",
    "imap_select": "Controlla il nome della cartella (di solito INBOX): deve esistere sulla casella.",
}


@dataclass
class CheckStep:
    """One step of the conversation: what we did, whether it worked, what the server said, what to do."""

    step: str
    label: str
    ok: bool
    detail: str = ""
    hint: str = ""


@dataclass
class CheckResult:
    """The whole check: ok only when every step worked."""

    steps: list[CheckStep] = field(default_factory=list)
    capabilities: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every step succeeded."""
        return bool(self.steps) and all(step.ok for step in self.steps)

    @property
    def summary(self) -> str:
        """One Italian sentence for the result."""
        if self.ok:
            return "Connessione riuscita: tutti i passi sono andati a buon fine."
        failed = next((s for s in self.steps if not s.ok), None)
        return f"Connessione non riuscita al passo «{failed.label if failed else ''}»."

    def add(self, step: str, ok: bool, detail: str = "", label: str = "") -> bool:
        """Append a step (a failed one gets its hint); returns ok so callers can stop at the first failure."""
        self.steps.append(
            CheckStep(step, label or LABELS.get(step, step), ok, detail, "" if ok else HINTS.get(step, ""))
        )
        return ok

    def as_dict(self) -> dict:
        """{"ok": bool, "steps": [{"step", "label", "ok", "detail", "hint"}]} (for the CLI's --json)."""
        return {"ok": self.ok, "steps": [asdict(s) for s in self.steps]}


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
        return f"Credenziali rifiutate dal server: {_reply(exc.smtp_code, exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return f"Il server non offre questa funzione: {exc}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"Il server ha chiuso la connessione ({str(exc) or 'senza risposta'})."
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"Il server ha risposto con un errore: {_reply(exc.smtp_code, exc.smtp_error)}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return explain_certificate_error(exc, host, None)
    if isinstance(exc, ssl.SSLError):
        reason = getattr(exc, "reason", None) or str(exc)
        return (
            f"Errore TLS ({reason}): la porta o la modalità TLS sono giuste? "
            "Di solito 465 = SSL, 587 = STARTTLS, 25 = nessuna."
        )
    if isinstance(exc, socket.gaierror):
        return f"Nome host sconosciuto: «{host}» non si risolve."
    if isinstance(exc, ConnectionRefusedError):
        return f"Connessione rifiutata: nessun server in ascolto su {host}:{port}."
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"Il server non ha risposto entro {int(timeout)} secondi."
    if isinstance(exc, OSError):
        return f"Errore di rete: {exc.strerror or exc}"
    return f"Errore imprevisto: {type(exc).__name__}"


def _tls_detail(sock) -> str:
    """Protocol, cipher and the certificate (subject, issuer, validity) of a verified TLS socket."""
    cipher = sock.cipher() if hasattr(sock, "cipher") else None
    cert = peer_certificate(sock)
    parts = [f"{cipher[1]} {cipher[0]}" if cipher else "TLS"]
    if cert is not None:
        parts.append("certificato verificato: " + cert.describe())
    return " · ".join(parts)


def _tls_failure(exc: BaseException, host: str, port: int, tls_mode: str, timeout: float) -> str:
    """Italian detail of a failed TLS handshake; for a certificate, what the certificate says."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return explain_certificate_error(exc, host, fetch_certificate(host, port, tls_mode, timeout))
    return explain_error(exc, host, port, timeout)


def _resolve(result: CheckResult, host: str, port: int) -> bool:
    """DNS step: the addresses the name resolves to."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        error = getattr(exc, "strerror", None) or str(exc)
        return result.add("dns", False, f"«{host}» non si risolve ({error}).")
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    return result.add("dns", True, f"«{host}» → {', '.join(addresses)}")


def _connect(result: CheckResult, host: str, port: int, timeout: float) -> socket.socket | None:
    """TCP step: connect and time it."""
    started = time.monotonic()
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        result.add("tcp", False, explain_error(exc, host, port, timeout))
        return None
    peer = raw.getpeername()[0]
    ms = int((time.monotonic() - started) * 1000)
    result.add("tcp", True, f"connesso a {peer} porta {port} in {ms} ms")
    return raw


def _authenticate(result: CheckResult, conn: smtplib.SMTP, username: str, password: str) -> None:
    """AUTH step with smtplib's preferred mechanism among those offered; says which one was used."""
    if not conn.has_extn("auth"):
        result.add("auth", False, "Il server non offre AUTH su questa connessione (serve STARTTLS o SSL?).")
        return
    offered = conn.esmtp_features.get("auth", "").upper().split()
    usable = [m for m in ("CRAM-MD5", "PLAIN", "LOGIN") if m in offered]
    if not usable:
        result.add(
            "auth",
            False,
            f"Nessun meccanismo con password offerto dal server (offre: {' '.join(offered) or '-'}).",
        )
        return
    conn.user, conn.password = username, password
    failure: smtplib.SMTPAuthenticationError | None = None
    for mechanism in usable:
        method = getattr(conn, "auth_" + mechanism.lower().replace("-", "_"))
        try:
            code, text = conn.auth(mechanism, method, initial_response_ok=True)
        except smtplib.SMTPAuthenticationError as exc:
            failure = exc
            continue
        result.add(
            "auth",
            True,
            f"{_reply(code, text)} · utente «{username}», meccanismo {mechanism} (offerti: {' '.join(offered)})",
        )
        return
    assert failure is not None
    result.add(
        "auth",
        False,
        f"{explain_error(failure, '', 0, 0)} · meccanismi provati: {', '.join(usable)}",
    )


def _capabilities(conn: smtplib.SMTP) -> list[str]:
    return sorted(f"{k.upper()} {v.strip()}".strip() for k, v in conn.esmtp_features.items())


def check_smtp(
    host: str,
    port: int,
    tls_mode: str,
    username: str = "",
    password: str = "",
    timeout: float = CHECK_TIMEOUT,
    ca_pem: str = "",
    result: CheckResult | None = None,
    token_provider=None,
) -> CheckResult:
    """DNS, TCP, TLS (implicit or STARTTLS) with the certificate, greeting, EHLO, AUTH; then QUIT."""
    result = result if result is not None else CheckResult()
    if not _resolve(result, host, port):
        return result
    raw = _connect(result, host, port, timeout)
    if raw is None:
        return result
    context = client_context(ca_pem)
    conn = smtplib.SMTP(timeout=timeout)
    conn._host = host  # type: ignore[attr-defined]  # smtplib's private: the name STARTTLS checks the certificate against
    step = "tls"
    try:
        if tls_mode == "ssl":
            try:
                sock = context.wrap_socket(raw, server_hostname=host)
            except (ssl.SSLError, OSError) as exc:
                raw.close()
                result.add("tls", False, _tls_failure(exc, host, port, tls_mode, timeout))
                return result
            result.add("tls", True, _tls_detail(sock))
            conn.sock = sock
        else:
            conn.sock = raw
        step = "greeting"
        code, greeting = conn.getreply()
        if not result.add("greeting", code == 220, _reply(code, greeting)):
            return result
        step = "ehlo"
        code, text = conn.ehlo()
        if code != 250:
            code, text = conn.helo()
        result.capabilities = _capabilities(conn)
        first = (text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)).splitlines()[:1]
        detail = _reply(code, first[0] if first else "")
        if result.capabilities:
            detail += " · funzioni: " + ", ".join(result.capabilities)
        if not result.add("ehlo", code == 250, detail):
            return result
        if tls_mode == "starttls":
            step = "tls"
            if not conn.has_extn("starttls"):
                result.add(
                    "tls",
                    False,
                    "Il server non offre STARTTLS: scegli «SSL/TLS implicito» (porta 465) "
                    "o, solo su una rete interna, «nessuna».",
                )
                return result
            try:
                code, text = conn.starttls(context=context)
            except (ssl.SSLError, OSError) as exc:
                result.add("tls", False, _tls_failure(exc, host, port, tls_mode, timeout))
                return result
            result.add("tls", True, "STARTTLS " + _reply(code, text) + " · " + _tls_detail(conn.sock))
            conn.ehlo()
            result.capabilities = _capabilities(conn)
        if username:
            step = "auth"
            if token_provider is None:
                _authenticate(result, conn, username, password)
            elif not conn.has_extn("auth"):
                result.add(
                    "auth",
                    False,
                    "Il server non offre AUTH su questa connessione (serve STARTTLS o SSL?).",
                )
            else:
                code, text = smtp_login(conn, username, password, token_provider)
                result.add(
                    "auth",
                    code in (235, 503),
                    f"{_reply(code, text)} · XOAUTH2 come «{username}»",
                )
        else:
            result.add(
                "auth",
                True,
                "Nessun utente impostato: il server non è stato messo alla prova con credenziali.",
            )
    except Exception as exc:  # noqa: BLE001 - every failure is reported to the admin, nothing else happens
        result.add(step, False, explain_error(exc, host, port, timeout))
    finally:
        try:
            conn.quit()
        except Exception:  # noqa: BLE001 - the server may already have closed the connection
            conn.close()
    return result


def check_imap(settings: ImapSettings, folder: str, result: CheckResult | None = None) -> CheckResult:
    """IMAP: connect (TLS with the certificate, or plain on loopback when allowed), log in, open the folder."""
    result = result if result is not None else CheckResult()
    s = settings
    folder = folder or "INBOX"
    conn: imaplib.IMAP4 | None = None
    try:
        if s.allow_plaintext_loopback and is_loopback(s.host):
            conn = imaplib.IMAP4(s.host, s.port, timeout=s.timeout)
            detail = "connesso in chiaro (solo loopback)"
        else:
            conn = imaplib.IMAP4_SSL(
                s.host, s.port, ssl_context=client_context(s.ca_pem, s.ca_file), timeout=s.timeout
            )
            detail = _tls_detail(conn.sock)
        welcome = (
            conn.welcome.decode("utf-8", "replace") if isinstance(conn.welcome, bytes) else str(conn.welcome)
        )
        result.add("imap_connect", True, f"{s.host}:{s.port} · {detail} · {welcome[:120]}")
    except ssl.SSLCertVerificationError as exc:
        result.add(
            "imap_connect",
            False,
            explain_certificate_error(exc, s.host, fetch_certificate(s.host, s.port, "ssl", s.timeout)),
        )
        return result
    except (OSError, imaplib.IMAP4.error) as exc:
        result.add("imap_connect", False, explain_error(exc, s.host, s.port, s.timeout))
        return result
    try:
        try:
            if s.token_provider is not None:
                imap_xoauth2(conn, s.username, s.token_provider)
            else:
                conn.login(s.username, s.password)
        except (imaplib.IMAP4.error, OAuthError) as exc:
            result.add(
                "imap_login",
                False,
                f"Accesso rifiutato per «{s.username}»: {exc}",
            )
            return result
        result.add("imap_login", True, f"accesso come «{s.username}»")
        status, data = conn.select(encode_folder(folder), readonly=True)
        if status != "OK":
            reason = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
            result.add(
                "imap_select",
                False,
                f"Cartella «{folder}» non disponibile: {reason or status}",
                label=LABELS["imap_select"],
            )
            return result
        count = data[0].decode() if data and isinstance(data[0], bytes) else "?"
        result.add(
            "imap_select",
            True,
            f"cartella «{folder}» aperta: {count} messaggi",
        )
    except (OSError, imaplib.IMAP4.error) as exc:
        result.add("imap_select", False, explain_error(exc, s.host, s.port, s.timeout))
    finally:
        with contextlib.suppress(Exception):  # closing a broken connection: any error means it is gone
            conn.logout()
    return result
