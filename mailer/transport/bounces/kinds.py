"""What an automatic message is: never a bounce (read receipt, feedback report, auto-reply) or a likely one."""

from __future__ import annotations

import re
from email.message import Message
from email.utils import parseaddr

from ..mime import header as _header
from ..mime import parts as _parts
from .dsn import _report_type, status_blocks
from .report import decoded_header
from .words import (
    _AUTOREPLY_SUBJECT,
    _BOUNCE_BODY,
    _BOUNCE_NAMES,
    _BOUNCE_SENDERS,
    _BOUNCE_SUBJECT,
)


def _sender_is_daemon(msg: Message) -> bool:
    """From a mailer daemon / postmaster (by address or display name), or sent with a null return path."""
    name, address = parseaddr(_header(msg, "From"))
    if not address or re.search(r"<\s*>", _header(msg, "From")):
        return True  # From: MAILER-DAEMON <> and the like
    local = address.split("@", 1)[0].lower()
    if local in _BOUNCE_SENDERS or local.startswith(("mailer-daemon", "postmaster", "mail-daemon")):
        return True
    if _BOUNCE_NAMES.search(name or "") or _BOUNCE_NAMES.search(_header(msg, "From").split("<", 1)[0]):
        return True
    return _header(msg, "Return-Path").replace(" ", "") == "<>"


# ---------------------------------------------------------------- never bounces


def _mdn_rejection(msg: Message) -> bool:
    """An MDN that says the message was deleted unread or failed (a Sieve reject, a full mailbox:
    Dovecot sends those as MDNs) — a non-delivery, unlike a read receipt."""
    for part in _parts(msg):
        if part.get_content_type() == "message/disposition-notification":
            payload = part.get_payload()
            block = payload[0] if isinstance(payload, list) and payload else None
            text = _header(block, "Disposition") if isinstance(block, Message) else str(payload)
            found = re.search(r"Disposition:\s*([^\r\n]*)", text, re.IGNORECASE)
            if found:
                text = found.group(1)
            disposition = text.lower()
            return bool(re.search(r";\s*(deleted|failed|rejected)|/\s*error", disposition))
    return False


def not_a_bounce(msg: Message) -> str:
    """Why an automatic message is not a bounce (read receipt, feedback report, auto-reply), or ''."""
    report = _report_type(msg)
    content_types = {part.get_content_type() for part in _parts(msg)}
    if (
        report == "disposition-notification" or "message/disposition-notification" in content_types
    ) and not _mdn_rejection(msg):
        return "conferma di lettura (MDN), non un rimbalzo"
    if report == "feedback-report" or "message/feedback-report" in content_types:
        return "segnalazione di abuso (ARF), non un rimbalzo"
    if status_blocks(msg) is not None:
        return ""
    subject = decoded_header(msg, "Subject")
    autoreply_headers = (
        _header(msg, "X-Autoreply")
        or _header(msg, "X-Autorespond")
        or _header(msg, "X-Autoresponse")
        or _header(msg, "X-Vacation")
        or _header(msg, "Precedence").lower() == "auto_reply"
        or _header(msg, "Auto-Submitted").lower().startswith("auto-replied")
    )
    if _AUTOREPLY_SUBJECT.search(subject) and not _BOUNCE_SUBJECT.search(subject):
        return "risposta automatica (fuori sede), non un rimbalzo"
    if autoreply_headers and not _sender_is_daemon(msg):
        return "risposta automatica, non un rimbalzo"
    return ""


def looks_like_bounce(msg: Message, text: str) -> bool:
    """A non-standard bounce: a known report body, or a bounce subject from a mailer daemon/postmaster
    (or from an automatic sender / a null return path)."""
    lowered = text.lower()
    subject = decoded_header(msg, "Subject")
    daemon = _sender_is_daemon(msg)
    automatic = _header(msg, "Auto-Submitted").lower().startswith("auto-")
    bounce_subject = bool(_BOUNCE_SUBJECT.search(subject))
    known_body = any(marker in lowered for marker in _BOUNCE_BODY)
    returned = any(
        part.get_content_type() in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers")
        for part in _parts(msg)
    )
    return (bounce_subject and (daemon or automatic or returned or known_body)) or (
        known_body and (daemon or automatic)
    )


def _candidate(msg: Message, text: str) -> bool:
    """Worth GNU Mailman's detectors: from a mailer daemon or a null sender, automatic, with a bounce
    subject or body, or returning a message (an ordinary e-mail is not scanned line by line)."""
    if _sender_is_daemon(msg) or _header(msg, "Auto-Submitted").lower().startswith("auto-"):
        return True
    if _BOUNCE_SUBJECT.search(decoded_header(msg, "Subject")) or looks_like_bounce(msg, text):
        return True
    return any(
        part.get_content_type() in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers")
        for part in _parts(msg)
    )
