"""Reading parsed messages safely: a header that never raises, the MIME parts in order (shared by
the PEC receipt reader in inbound.py and the bounce reader in bounces.py)."""

from __future__ import annotations

from email.message import Message


def header(msg: Message, name: str) -> str:
    """A header as text, or '' (never raises on broken encodings)."""
    try:
        value = msg.get(name)
    except Exception:  # noqa: BLE001 - a defective header is as good as absent
        return ""
    return str(value).strip() if value is not None else ""


def decoded_payload(part: Message) -> bytes | None:
    """The transfer-decoded body of a single part (None for a multipart one)."""
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else None


def parts(msg: Message, into_messages: bool = False):
    """Every MIME part, without descending into attached messages (postacert.eml, a returned
    original) unless asked."""
    yield msg
    if msg.is_multipart():
        payload = msg.get_payload()
        if isinstance(payload, list):
            for part in payload:
                if isinstance(part, Message):
                    if part.get_content_type() in ("message/rfc822", "message/global") and not into_messages:
                        yield part
                        continue
                    yield from parts(part, into_messages)
