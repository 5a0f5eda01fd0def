"""Reading a mailbox over IMAP: TLS (IMAP4_SSL) always, plain IMAP only to loopback when allowed.

Messages are fetched with BODY.PEEK[] (reading does not mark them) and by UID, so a reader can
remember where it got to (UIDVALIDITY + last UID) and ask only for newer ones.
"""

from __future__ import annotations

import base64
import contextlib
import imaplib
import ipaddress
import re
import ssl
from dataclasses import dataclass

from .tls import client_context, explain_certificate_error, fetch_certificate
from .xoauth2 import OAuthError, TokenProvider, imap_xoauth2

IMAP_TIMEOUT = 60.0


class ImapError(Exception):
    """A mailbox that cannot be read (message in Italian)."""


@dataclass
class ImapSettings:
    """How to reach and log in to an IMAP server."""

    host: str
    port: int = 993
    username: str = ""
    password: str = ""
    allow_plaintext_loopback: bool = False
    ca_file: str = ""  # extra CA to trust (a private server); the system store otherwise
    ca_pem: str = ""  # the account's own CAs (PEM text, stored with the account)
    timeout: float = IMAP_TIMEOUT
    token_provider: TokenProvider | None = None  # XOAUTH2 instead of the password


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def encode_folder(name: str) -> str:
    """A folder name for an IMAP command: modified UTF-7 (RFC 3501 §5.1.3), quoted."""
    out: list[str] = []
    chunk: list[str] = []

    def flush():
        if chunk:
            data = "".join(chunk).encode("utf-16-be")
            out.append("&" + base64.b64encode(data).decode("ascii").rstrip("=").replace("/", ",") + "-")
            chunk.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            chunk.append(char)
    flush()
    encoded = "".join(out).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{encoded}"'


class ImapMailbox:
    """One IMAP connection to one folder."""

    def __init__(self, settings: ImapSettings):
        self.settings = settings
        self.conn: imaplib.IMAP4 | None = None
        self.capabilities: set[str] = set()

    def __enter__(self) -> ImapMailbox:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        """Connect (TLS unless plain loopback is allowed and the host is loopback) and log in."""
        s = self.settings
        try:
            if s.allow_plaintext_loopback and is_loopback(s.host):
                conn: imaplib.IMAP4 = imaplib.IMAP4(s.host, s.port, timeout=s.timeout)
            else:
                context = client_context(s.ca_pem, s.ca_file)
                conn = imaplib.IMAP4_SSL(s.host, s.port, ssl_context=context, timeout=s.timeout)
        except ssl.SSLCertVerificationError as exc:
            cert = fetch_certificate(s.host, s.port, "ssl", timeout=min(s.timeout, 10))
            raise ImapError(
                f"Connessione TLS a {s.host}:{s.port} non sicura: "
                + explain_certificate_error(exc, s.host, cert)
            ) from exc
        except ssl.SSLError as exc:
            raise ImapError(f"Connessione TLS a {s.host}:{s.port} non riuscita: {exc}") from exc
        except (TimeoutError, OSError, imaplib.IMAP4.error) as exc:
            raise ImapError(f"Server IMAP {s.host}:{s.port} non raggiungibile: {exc}") from exc
        try:
            if s.token_provider is not None:
                imap_xoauth2(conn, s.username, s.token_provider)
            else:
                conn.login(s.username, s.password)
        except OAuthError as exc:
            _logout_quietly(conn)
            raise ImapError(f"Accesso IMAP per «{s.username}»: {exc}") from exc
        except imaplib.IMAP4.error as exc:
            _logout_quietly(conn)
            if s.token_provider is not None:
                raise ImapError(f"Accesso IMAP XOAUTH2 rifiutato per «{s.username}»: {exc}") from exc
            raise ImapError(
                f"Accesso IMAP rifiutato per «{s.username}»: controlla utente e password."
            ) from exc
        self.conn = conn
        self.capabilities = {c.upper() for c in (conn.capabilities or ())}

    def close(self) -> None:
        """Log out; ignore errors."""
        if self.conn is not None:
            _logout_quietly(self.conn)
            self.conn = None

    def _ok(self, result, what: str):
        """Return the data of an OK response, raise ImapError otherwise."""
        status, data = result
        if status != "OK":
            detail = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
            raise ImapError(f"{what}: {detail or status}")
        return data

    def select(self, folder: str) -> int:
        """Open a folder read-write; return its UIDVALIDITY."""
        assert self.conn is not None
        try:
            self._ok(self.conn.select(encode_folder(folder)), f"Cartella «{folder}» non disponibile")
        except imaplib.IMAP4.error as exc:
            raise ImapError(f"Cartella «{folder}» non disponibile: {exc}") from exc
        _, values = self.conn.response("UIDVALIDITY")
        try:
            return int(values[0])
        except (TypeError, ValueError, IndexError):
            data = self._ok(self.conn.status(encode_folder(folder), "(UIDVALIDITY)"), "UIDVALIDITY")
            match = re.search(rb"UIDVALIDITY (\d+)", data[0] or b"")
            if not match:
                raise ImapError(f"Il server non indica UIDVALIDITY per «{folder}».") from None
            return int(match.group(1))

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs greater than last_uid, ascending."""
        assert self.conn is not None
        data = self._ok(self.conn.uid("SEARCH", f"UID {int(last_uid) + 1}:*"), "Ricerca dei messaggi")
        uids = sorted({int(x) for x in (data[0] or b"").split() if x.isdigit()})
        # "n:*" includes the last message even when its UID is below n.
        return [uid for uid in uids if uid > last_uid]

    def fetch(self, uid: int) -> bytes | None:
        """The raw bytes of a message (without marking it read); None when it is gone."""
        assert self.conn is not None
        return _literal(
            self._ok(self.conn.uid("FETCH", str(uid), "(BODY.PEEK[])"), f"Lettura del messaggio {uid}")
        )

    def fetch_header(self, uid: int, limit: int = 64 * 1024) -> bytes | None:
        """At most `limit` bytes of a message's header (without marking it read); None when it is gone."""
        assert self.conn is not None
        return _literal(
            self._ok(
                self.conn.uid("FETCH", str(uid), f"(BODY.PEEK[HEADER]<0.{int(limit)}>)"),
                f"Lettura delle intestazioni del messaggio {uid}",
            )
        )

    def size(self, uid: int) -> int | None:
        """A message's size as the server gives it (RFC822.SIZE), before downloading it."""
        assert self.conn is not None
        data = self._ok(self.conn.uid("FETCH", str(uid), "(RFC822.SIZE)"), f"Dimensione del messaggio {uid}")
        for item in data:
            text = item[0] if isinstance(item, tuple) else item
            found = re.search(rb"RFC822\.SIZE (\d+)", text) if isinstance(text, bytes) else None
            if found:
                return int(found.group(1))
        return None

    def mark_seen(self, uid: int) -> None:
        """Set \\Seen on a message."""
        assert self.conn is not None
        self._ok(
            self.conn.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Seen)"),
            f"Messaggio {uid}: segna come letto",
        )

    def move(self, uid: int, folder: str) -> None:
        """Move a message to another folder (created when missing): MOVE, or COPY + \\Deleted + expunge."""
        assert self.conn is not None
        target = encode_folder(folder)
        verb = "MOVE" if "MOVE" in self.capabilities else "COPY"
        status, _ = self.conn.uid(verb, str(uid), target)
        if status != "OK":  # most likely the folder does not exist yet
            self.conn.create(target)
            self._ok(self.conn.uid(verb, str(uid), target), f"Messaggio {uid}: spostamento in «{folder}»")
        if verb == "MOVE":
            return
        self._ok(
            self.conn.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted \\Seen)"),
            f"Messaggio {uid}: cancella",
        )
        if "UIDPLUS" in self.capabilities:
            self._ok(self.conn.uid("EXPUNGE", str(uid)), f"Messaggio {uid}: expunge")
        else:
            self._ok(self.conn.expunge(), "Expunge")

    def apply_after(self, uid: int, after: str) -> None:
        """Leave a processed message as the account says: 'seen', 'move:<folder>' (anything else: untouched)."""
        after = (after or "seen").strip()
        if after == "seen":
            self.mark_seen(uid)
        elif after.startswith("move:") and after[5:].strip():
            self.move(uid, after[5:].strip())


def _literal(data) -> bytes | None:
    """The first literal (the message bytes) of a FETCH answer."""
    for item in data:
        if isinstance(item, tuple) and len(item) >= 2 and isinstance(item[1], bytes):
            return item[1]
    return None


def _logout_quietly(conn: imaplib.IMAP4) -> None:
    """LOGOUT, ignoring a dead connection."""
    with contextlib.suppress(Exception):  # closing a broken connection: any error means it is gone
        conn.logout()
