"""Building the MIME message of a delivery, deterministically (same inputs, same bytes)."""

from __future__ import annotations

import base64
import hashlib
import io
import uuid
from dataclasses import dataclass, field
from email import encoders
from email._policybase import Compat32
from email.charset import QP, SHORTEST, Charset
from email.generator import BytesGenerator
from email.header import Header
from email.headerregistry import Address
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr


class _WirePolicy(Compat32):
    """compat32 generation with CRLF; plain ASCII headers are left on one line (up to the 998
    limit of RFC 5322) instead of being folded right after the name when a token is long (URLs)."""

    def _fold(self, name, value, sanitize):
        """Fold only what needs it: encoded (non-ASCII) values and overlong lines."""
        if (
            isinstance(value, str)
            and value.isascii()
            and "\n" not in value
            and len(name) + len(value) + 2 <= 998
        ):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)  # type: ignore[misc]  # Compat32's private hook, not in typeshed


_WIRE = _WirePolicy(linesep="\r\n", max_line_length=78)
# SMTP allows 998 bytes a line (RFC 5321 4.5.3.1.6); a server refuses longer ones ("500 Line too long").
MAX_LINE_BYTES = 998


def _utf8(body: str) -> Charset:
    """The charset of a text part, fixed here rather than read from the process-wide registry (Flask-Mail
    rewrites it at import): 8bit, as messages have always left, when every line fits the SMTP limit, so a
    rebuild of what already left gives its stored SHA-256; quoted-printable (wrapped at 76) when a line is longer.
    """
    charset = Charset("utf-8")
    charset.header_encoding = SHORTEST
    long_line = len(body) > MAX_LINE_BYTES // 4 and any(
        len(line.encode("utf-8")) > MAX_LINE_BYTES for line in body.splitlines()
    )
    # None: no transfer encoding (8bit); the stdlib allows it, typeshed types the attribute as int.
    charset.body_encoding = QP if long_line else None  # type: ignore[assignment]
    return charset


@dataclass
class Attachment:
    """A file attached to a message."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class MessageSpec:
    """Everything that goes into one e-mail."""

    from_address: str
    from_name: str
    to: list[tuple[str, str]]  # (name, address)
    subject: str
    html: str
    text: str
    message_id: str
    date: str
    cc: list[str] = field(default_factory=list)
    reply_to: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)


def _boundary(spec: MessageSpec, part: str) -> str:
    """A MIME boundary derived from the Message-ID, so rebuilding gives identical bytes."""
    return "=_rcp_" + hashlib.sha256(f"{spec.message_id}:{part}".encode()).hexdigest()[:32]


def _header(value: str) -> str | Header:
    """A header value, RFC 2047-encoded when it is not plain ASCII."""
    return value if value.isascii() else Header(value, "utf-8")


def _addr(name: str, address: str) -> str:
    """Name <address>, the name encoded when needed."""
    return formataddr((name, address), charset="utf-8") if name else address


def build_message(spec: MessageSpec) -> bytes:
    """Render the message as wire bytes (CRLF line endings).

    Built with the classic email.mime classes: several times faster than the header-parsing
    EmailMessage API, which matters when a worker builds hundreds of messages a second.
    """
    # The MIMEText charset may be a Charset object (the stdlib reads its encodings); typeshed says str only.
    text = MIMEText(spec.text or "", "plain", _utf8(spec.text or ""))  # type: ignore[arg-type]
    body: MIMEBase
    if spec.html:
        body = MIMEMultipart("alternative", boundary=_boundary(spec, "alt"))
        body.attach(text)
        body.attach(MIMEText(spec.html, "html", _utf8(spec.html)))  # type: ignore[arg-type]
    else:
        body = text
    msg: MIMEBase
    # Each attachment's base64 body goes in after flattening, in place of a marker: the generator writes
    # a payload line by line (250 writes for a 14 KB PDF), which was most of the time spent building a message.
    marker = f"\0{uuid.uuid4().hex}:%d\0"
    encoded: list[bytes] = []
    if spec.attachments:
        msg = MIMEMultipart("mixed", boundary=_boundary(spec, "mixed"))
        msg.attach(body)
        for attachment in spec.attachments:
            maintype, _, subtype = attachment.content_type.partition("/")
            part = (
                MIMEApplication(b"", _subtype=subtype or "octet-stream")
                if maintype in ("", "application")
                else MIMEBase(maintype, subtype or "octet-stream")
            )
            if maintype not in ("", "application"):
                part.set_payload(b"")
                encoders.encode_base64(part)
            # What encode_base64 would give, with the generator's CRLF line ends.
            encoded.append(base64.encodebytes(attachment.data).replace(b"\n", b"\r\n"))
            part.set_payload(marker % (len(encoded) - 1))
            part.add_header(
                "Content-Disposition",
                "attachment",
                filename=("utf-8", "", attachment.filename)
                if not attachment.filename.isascii()
                else attachment.filename,
            )
            msg.attach(part)
    else:
        msg = body
    msg["From"] = _addr(spec.from_name, spec.from_address)
    msg["To"] = ", ".join(_addr(name, addr) for name, addr in spec.to)
    if spec.cc:
        msg["Cc"] = ", ".join(spec.cc)
    if spec.reply_to:
        msg["Reply-To"] = spec.reply_to
    # compat32 takes a Header (RFC 2047 encoded words) as a value; typeshed says str only.
    msg["Subject"] = _header(spec.subject)  # type: ignore[assignment]
    msg["Date"] = spec.date
    msg["Message-ID"] = spec.message_id
    for name, value in spec.headers.items():
        msg[name] = _header(value)  # type: ignore[assignment]
    # Headers first, as a reader expects (the MIME classes add theirs at creation).
    for name in ("Content-Type", "MIME-Version", "Content-Transfer-Encoding"):
        values = msg.get_all(name)
        if values:
            del msg[name]
            for value in values:
                msg[name] = value
    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=_WIRE).flatten(msg)
    data = out.getvalue()
    for n, body_bytes in enumerate(encoded):
        data = data.replace((marker % n).encode("ascii"), body_bytes, 1)
    return data


def address_domain(address: str) -> str:
    """The domain part of an address (for Message-IDs)."""
    try:
        return Address(addr_spec=address).domain or "localhost"
    except (ValueError, IndexError):
        return "localhost"
