"""Building the MIME message of a delivery, deterministically (same inputs, same bytes)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr


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


def build_message(spec: MessageSpec) -> bytes:
    """Render the message as wire bytes (CRLF line endings)."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = formataddr((spec.from_name, spec.from_address)) if spec.from_name else spec.from_address
    msg["To"] = ", ".join(formataddr((name, addr)) if name else addr for name, addr in spec.to)
    if spec.cc:
        msg["Cc"] = ", ".join(spec.cc)
    if spec.reply_to:
        msg["Reply-To"] = spec.reply_to
    msg["Subject"] = spec.subject
    msg["Date"] = spec.date
    msg["Message-ID"] = spec.message_id
    for name, value in spec.headers.items():
        msg[name] = value
    msg.set_content(spec.text or "", subtype="plain", charset="utf-8")
    if spec.html:
        msg.add_alternative(spec.html, subtype="html", charset="utf-8")
        msg.set_boundary(_boundary(spec, "alt"))
    for attachment in spec.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        msg.add_attachment(attachment.data, maintype=maintype or "application",
                           subtype=subtype or "octet-stream", filename=attachment.filename)
    if spec.attachments:
        msg.set_boundary(_boundary(spec, "mixed"))
        if spec.html:
            for part in msg.iter_parts():
                if part.get_content_type() == "multipart/alternative":
                    part.set_boundary(_boundary(spec, "alt"))
    return msg.as_bytes(policy=SMTP)


def address_domain(address: str) -> str:
    """The domain part of an address (for Message-IDs)."""
    try:
        return Address(addr_spec=address).domain or "localhost"
    except (ValueError, IndexError):
        return "localhost"
