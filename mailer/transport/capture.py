"""Local SMTP capture sink: keeps every message it receives as an .eml file (plus a JSON envelope).

`flask --app app capture-server` runs it on CAPTURE_SMTP_HOST:CAPTURE_SMTP_PORT. Nothing is relayed:
demo data and development point their sending accounts here, and the admin page "Posta catturata"
reads the files back. AUTH is accepted without TLS for any credentials (it is a local sink).

So that a demo shows failures too, two kinds of address are answered like a real server would refuse
them (the demo data has such contacts): «rifiuta@…» (or «rifiuta.qualcosa@…») gets a permanent
550 5.1.1 every time, «riprova@…» a temporary 451 4.7.1 the first CAPTURE_DEFER_TIMES times (counted per
address while the server runs), then its message is kept.
"""

from __future__ import annotations

import email
import email.parser
import email.policy
import email.utils
import json
import os
import re
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from .mime import decoded_payload

# Names we write: <UTC timestamp>-<random hex>.eml; anything else in the folder is ignored.
MESSAGE_ID_RE = re.compile(r"^\d{8}T\d{6}\d{6}Z-[0-9a-f]{12}$")
DATA_SIZE_LIMIT = 64 * 1024 * 1024
# Demo failures: the local part is the word, alone or followed by . + - _ and more.
REJECT_RE = re.compile(r"^rifiuta(?:[.+_-][^@]*)?@", re.IGNORECASE)
DEFER_RE = re.compile(r"^riprova(?:[.+_-][^@]*)?@", re.IGNORECASE)
REJECT_REPLY = "550 5.1.1 Casella inesistente (rifiuto dimostrativo del server di cattura)"
DEFER_REPLY = "451 4.7.1 Riprova tra poco (rinvio dimostrativo del server di cattura, {n} di {of})"
DEFER_TIMES = 1  # with the default SEND_RETRY_BACKOFF the demo sends it on the 2nd attempt, a minute later


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over the final name."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def store_message(
    directory: str | os.PathLike,
    mail_from: str,
    rcpt_tos: list[str],
    data: bytes,
    peer: str = "",
    auth_user: str = "",
) -> str:
    """Keep one received message; returns its id. The .json envelope is written before the .eml."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    message_id = now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:12]
    envelope = {
        "mail_from": mail_from,
        "rcpt_tos": list(rcpt_tos),
        "peer": peer,
        "auth_user": auth_user,
        "received_at": now.isoformat(timespec="seconds"),
        "size": len(data),
    }
    _write_atomically(folder / f"{message_id}.json", json.dumps(envelope, ensure_ascii=False).encode("utf-8"))
    _write_atomically(folder / f"{message_id}.eml", data)
    return message_id


class CaptureHandler:
    """aiosmtpd handler: accept every recipient (but the demo failures) and store every message."""

    def __init__(self, directory: str | os.PathLike, defer_times: int = DEFER_TIMES):
        self.directory = directory
        self.defer_times = max(0, int(defer_times))
        self.deferred: dict[str, int] = {}  # address -> times answered 451 (the handler runs in one thread)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        """Refuse «rifiuta@…» for good, defer «riprova@…» the first times, accept the rest."""
        if REJECT_RE.match(address or ""):
            return REJECT_REPLY
        if DEFER_RE.match(address or ""):
            key = address.lower()
            done = self.deferred.get(key, 0)
            if done < self.defer_times:
                self.deferred[key] = done + 1
                return DEFER_REPLY.format(n=done + 1, of=self.defer_times)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        """Store the message as received (original bytes, not re-encoded)."""
        data = envelope.original_content or envelope.content or b""
        if isinstance(data, str):
            data = data.encode("utf-8")
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer or "")
        auth_user = ""
        if session.auth_data is not None:
            login = getattr(session.auth_data, "login", b"")
            auth_user = login.decode("utf-8", "replace") if isinstance(login, bytes) else str(login or "")
        store_message(self.directory, envelope.mail_from or "", envelope.rcpt_tos, data, peer, auth_user)
        return "250 2.0.0 Messaggio catturato (non inoltrato)"


def _accept_any(server, session, envelope, mechanism, auth_data):
    """Any user name and password is fine: this is a local sink."""
    return AuthResult(success=True, handled=False, auth_data=auth_data)


def make_controller(
    directory: str, host: str = "127.0.0.1", port: int = 2525, defer_times: int = DEFER_TIMES
) -> Controller:
    """A Controller (background thread) for the capture server; call .start() and .stop()."""
    return Controller(
        CaptureHandler(directory, defer_times),
        hostname=host,
        port=port,
        server_hostname="recapito-cattura.local",
        ident="Recapito capture server",
        authenticator=_accept_any,
        auth_require_tls=False,
        auth_required=False,
        data_size_limit=DATA_SIZE_LIMIT,
        ready_timeout=10,
    )


def serve_forever(directory: str, host: str, port: int, defer_times: int = DEFER_TIMES) -> None:
    """Run the capture server until SIGINT or SIGTERM."""
    stop = threading.Event()
    controller = make_controller(directory, host, port, defer_times)
    controller.start()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(1.0):
            pass
    finally:
        controller.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --- reading back -------------------------------------------------------------------------------


@dataclass
class CapturedPart:
    """One attachment (or inline file) of a captured message."""

    index: int
    filename: str
    content_type: str
    size: int


@dataclass
class CapturedMessage:
    """A captured message as the admin page shows it."""

    id: str
    received_at: datetime | None
    mail_from: str
    rcpt_tos: list[str]
    subject: str
    from_header: str
    to_header: str
    size: int
    auth_user: str = ""
    message: EmailMessage | None = field(default=None, repr=False)

    @property
    def sender(self) -> tuple[str, str]:
        """(display name, address) of the From header, or ("", envelope sender) without one."""
        name, address = email.utils.parseaddr(self.from_header)
        return (name, address) if address else ("", self.mail_from)

    @property
    def headers(self) -> list[tuple[str, str]]:
        """Every header in order, decoded."""
        return [(k, str(v)) for k, v in self.message.items()] if self.message else []

    def body(self, subtype: str) -> str | None:
        """The text/plain or text/html body, decoded, or None."""
        if self.message is None:
            return None
        part = self.message.get_body(preferencelist=(subtype,))
        if part is None:
            return None
        try:
            return part.get_content()
        except (LookupError, UnicodeDecodeError):
            return (decoded_payload(part) or b"").decode("utf-8", "replace")

    def parts(self) -> list[CapturedPart]:
        """Attachments (everything that is not the chosen text/html body)."""
        return [
            CapturedPart(i, name, ctype, len(payload))
            for i, name, ctype, payload in _attachments(self.message)
        ]

    def attachment(self, index: int) -> tuple[str, str, bytes] | None:
        """(filename, content type, bytes) of attachment number `index`, or None."""
        for i, name, ctype, payload in _attachments(self.message):
            if i == index:
                return name, ctype, payload
        return None


def _attachments(message: EmailMessage | None):
    """Yield (index, filename, content type, bytes) for each attachment part."""
    if message is None:
        return
    for index, part in enumerate(message.iter_attachments()):
        payload = part.get_payload(decode=True) or b""
        name = part.get_filename() or f"allegato-{index + 1}"
        yield index, name, part.get_content_type(), payload


def _parse_time(value: str) -> datetime | None:
    """ISO timestamp -> naive UTC datetime."""
    try:
        return datetime.fromisoformat(value).astimezone(UTC).replace(tzinfo=None)
    except (TypeError, ValueError):
        return None


def load_captured(directory: str | os.PathLike, message_id: str, full: bool = True) -> CapturedMessage | None:
    """Read one captured message (None when the id is malformed or the file is gone)."""
    if not MESSAGE_ID_RE.match(message_id or ""):
        return None
    folder = Path(directory)
    eml = folder / f"{message_id}.eml"
    try:
        raw = eml.read_bytes()
    except OSError:
        return None
    try:
        envelope = json.loads((folder / f"{message_id}.json").read_text("utf-8"))
    except (OSError, ValueError):
        envelope = {}
    if full:
        message = email.message_from_bytes(raw, policy=email.policy.default)
    else:  # headers only, for the list
        message = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
    received = _parse_time(envelope.get("received_at", "")) or datetime.fromtimestamp(
        eml.stat().st_mtime, UTC
    ).replace(tzinfo=None)
    return CapturedMessage(
        id=message_id,
        received_at=received,
        mail_from=envelope.get("mail_from", ""),
        rcpt_tos=envelope.get("rcpt_tos", []),
        subject=str(message.get("Subject", "") or ""),
        from_header=str(message.get("From", "") or ""),
        to_header=str(message.get("To", "") or ""),
        size=len(raw),
        auth_user=envelope.get("auth_user", ""),
        message=message if full else None,
    )


def list_captured(
    directory: str | os.PathLike, offset: int = 0, limit: int = 50, query: str = ""
) -> tuple[list[CapturedMessage], int]:
    """Newest first: (one page of messages with headers only, total count matching the query)."""
    folder = Path(directory)
    if not folder.is_dir():
        return [], 0
    ids = sorted((p.stem for p in folder.glob("*.eml") if MESSAGE_ID_RE.match(p.stem)), reverse=True)
    query = (query or "").strip().lower()
    if not query:
        page = [m for m in (load_captured(folder, i, full=False) for i in ids[offset : offset + limit]) if m]
        return page, len(ids)
    matching = []
    for message_id in ids:
        item = load_captured(folder, message_id, full=False)
        if (
            item
            and query
            in " ".join(
                [item.subject, item.from_header, item.to_header, item.mail_from, " ".join(item.rcpt_tos)]
            ).lower()
        ):
            matching.append(item)
    return matching[offset : offset + limit], len(matching)


def clear_captured(directory: str | os.PathLike) -> int:
    """Delete every captured message; returns how many were removed."""
    folder = Path(directory)
    removed = 0
    if not folder.is_dir():
        return 0
    for path in folder.iterdir():
        if path.suffix in (".eml", ".json") and MESSAGE_ID_RE.match(path.stem):
            path.unlink(missing_ok=True)
            removed += path.suffix == ".eml"
    return removed


def wait_for_messages(directory: str | os.PathLike, count: int, timeout: float = 5.0) -> int:
    """Wait until at least `count` messages are stored (for tests and scripts); returns the count."""
    deadline = time.monotonic() + timeout
    found = 0
    while time.monotonic() < deadline:
        found = len(list(Path(directory).glob("*.eml"))) if Path(directory).is_dir() else 0
        if found >= count:
            break
        time.sleep(0.05)
    return found


def register(app) -> None:
    """Add `flask --app app capture-server` to the CLI."""
    import click

    @app.cli.command("capture-server")
    @click.option("--host", default=None, help="Indirizzo (predefinito: CAPTURE_SMTP_HOST).")
    @click.option("--port", default=None, type=int, help="Porta (predefinita: CAPTURE_SMTP_PORT).")
    @click.option(
        "--dir", "directory", default=None, help="Cartella dei messaggi (predefinita: CAPTURE_DIR)."
    )
    def capture_server_command(host, port, directory):
        """Run the local SMTP capture server (keeps every message as .eml; relays nothing)."""
        host = host or app.config["CAPTURE_SMTP_HOST"]
        port = port or app.config["CAPTURE_SMTP_PORT"]
        directory = directory or app.config["CAPTURE_DIR"]
        click.echo(f"Server SMTP di cattura su {host}:{port}, messaggi in {directory} (Ctrl-C per fermarlo).")
        times = int(app.config.get("CAPTURE_DEFER_TIMES", DEFER_TIMES))
        click.echo(
            "Errori dimostrativi: rifiuta@… risponde 550 5.1.1, riprova@… 451 4.7.1 "
            + ("la prima volta." if times == 1 else f"le prime {times} volte.")
        )
        try:
            serve_forever(directory, host, port, times)
        except OSError as exc:
            raise click.ClickException(
                f"Non riesco ad ascoltare su {host}:{port}: {exc.strerror or exc}"
            ) from exc
        click.echo("Server di cattura fermato.")
