"""Our own patterns for the bounces both readers miss: recipients, status codes, permanence and the reason."""

from __future__ import annotations

import re
from email.message import Message

from ..mime import header as _header
from .report import BouncedRecipient, BounceReport, _clean_address, _status_of
from .words import (
    _ADDRESS,
    _DELAY_WORDS,
    _ENH_CODE,
    _PERMANENT_WORDS,
    _WARNING,
)

_TEXT_PATTERNS = [
    # qmail / vpopmail / many Russian hosts: "<addr>:" then the reason.
    re.compile(r"^<(?P<a>[^<>\s]+@[^<>\s]+)>:\s*$", re.MULTILINE),
    # Exim: "  addr\n    reason" after "following address(es) failed".
    re.compile(r"following address\(es\) failed:\s*\n+\s*<?(?P<a>[^\s<>]+@[^\s<>:]+)>?", re.IGNORECASE),
    # Gmail: "Delivery to the following recipient failed permanently:\n\n     addr"
    re.compile(
        r"(?:delivery to the following recipients?|following recipients?)[^:\n]*:\s*\n+\s*"
        r"(?P<a>[^\s<>]+@[^\s<>]+)",
        re.IGNORECASE,
    ),
    # Gmail (new): "Your message wasn't delivered to addr because ..."
    re.compile(
        r"(?:wasn't|was not|couldn't be|could not be) delivered to\s+<?(?P<a>[^\s<>]+@[^\s<>]+)",
        re.IGNORECASE,
    ),
    # Exchange / Office 365 (text): "Your message to addr couldn't be delivered."
    re.compile(
        r"your message to\s+<?(?P<a>[^\s<>]+@[^\s<>]+?)>?\s+(?:couldn't|could not|can't|cannot) be delivered",
        re.IGNORECASE,
    ),
    # Exchange / Office 365: "Delivery has failed to these recipients or groups:\n\naddr (addr)"
    re.compile(
        r"(?:recipients or groups|following (?:recipients|addresses|recipient)[^:\n]*):\s*\n+\s*"
        r"(?:[^\n<]*<)?(?P<a>[^\s<>()]+@[^\s<>()]+?)>?[\s(]",
        re.IGNORECASE,
    ),
    # "Delivery of email to this address "addr" has failed" (hosted Exchange and others)
    re.compile(
        r"delivery of (?:e-?mail|(?:your )?message) to (?:this|the following) address(?:es)?\s*\n*\s*"
        r"[\"'<]?(?P<a>[^\s<>\"']+@[^\s<>\"']+)",
        re.IGNORECASE,
    ),
    # Domino: "was not delivered to:\n\n  addr"
    re.compile(r"was not delivered to:\s*\n+\s*(?P<a>[^\s<>]+@[^\s<>]+)", re.IGNORECASE),
    # Amazon SES, MDaemon and others: "Recipient: addr", "Failed address: addr", "Original-Recipient: addr"
    re.compile(
        r"^\s*(?:bounced )?(?:failed )?(?:recipient|address|destinatario|empfänger|получатель|宛先)"
        r"(?:\(s\))?(?: address)?\s*[:：]\s*<?(?:rfc822;\s*)?(?P<a>[^\s<>]+@[^\s<>]+?)>?\s*$",
        re.IGNORECASE | re.MULTILINE,
    ),
    # SMTP transcripts (MDaemon, sendmail): "RCPT To:<addr>" answered by an error
    re.compile(r"RCPT TO:\s*<(?P<a>[^\s<>]+@[^\s<>]+)>[^\n]*\n[^\n]*\b[45]\d\d\b", re.IGNORECASE),
    # "addr: reason" / "<addr>... User unknown" (sendmail-like transcripts)
    re.compile(
        r"^\s*<?(?P<a>[^\s<>]+@[^\s<>]+?)>?(?:\.\.\.|:)\s+(?:.*?)(?:unknown|not exist|no such|invalid"
        r"|rejected|unavailable|disabled|full|over quota|not found)",
        re.IGNORECASE | re.MULTILINE,
    ),
]


def _text_permanence(text: str) -> bool:
    """True (permanent) or False (temporary) from the status codes and words of a bounce text."""
    status = _status_of(text)
    if status:
        return status.startswith("5")
    lowered = text.lower()
    if any(word in lowered for word in _PERMANENT_WORDS):
        return True
    return not any(word in lowered for word in _DELAY_WORDS)


def _line_near(text: str, address: str) -> str:
    """The few lines after an address in a bounce text (where its reason stands)."""
    index = text.lower().find(address)
    return text[index : index + 400] if index >= 0 else ""


def read_text(msg: Message, text: str, own_addresses: set[str]) -> list[BouncedRecipient]:
    """Our own patterns over the report's text: the recipients it names (without ours)."""
    recipients: list[BouncedRecipient] = []
    for pattern in _TEXT_PATTERNS:
        for match in pattern.finditer(text):
            address = _clean_address(match.group("a"))
            if address and address not in own_addresses and address not in {r.address for r in recipients}:
                recipients.append(BouncedRecipient(address))
        if recipients:
            break
    return recipients


def _own_addresses(msg: Message) -> set[str]:
    """Addresses that are ours, never the bounced recipient: the report's To/Delivered-To."""
    found = set()
    for name in (
        "To",
        "Delivered-To",
        "X-Original-To",
        "Envelope-To",
        "Return-Path",
        "From",
        "Sender",
        "Reply-To",
    ):
        for value in re.findall(_ADDRESS, _header(msg, name)):
            found.add(value.lower())
    return found


def _fill_codes(report: BounceReport, text: str) -> None:
    """Status codes for recipients found without them (flufl, text), and temporary/permanent for the
    ones our text patterns found (flufl says it itself)."""
    whole = _text_permanence(text)
    for recipient in report.recipients:
        near = _line_near(text, recipient.address)
        if not recipient.status:
            recipient.status = _status_of(near) or _status_of(text)
        if report.detector == "text":
            recipient.action = (
                "failed" if (_text_permanence(near) if _status_of(near) else whole) else "delayed"
            )
        elif recipient.permanent and recipient.status.startswith("4") and _WARNING.search(text):
            # flufl's generic matchers take a delay warning for a failure: a 4.x.x status in a text
            # saying that delivery goes on is temporary.
            recipient.action = "delayed"
    report.permanent = any(r.permanent for r in report.recipients) if report.recipients else whole


def _first_reason(text: str) -> str:
    """The most telling line of a non-standard bounce: one with an SMTP code, or after 'Remote Server returned'."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        match = re.search(r"Remote Server returned '([^']+)'", line, re.IGNORECASE)
        if match:
            return match.group(1)
    for line in lines:
        if (_ENH_CODE.search(line) or re.search(r"\b[45]\d\d[ -]", line)) and not line.lower().startswith(
            ("received:", "date:", "message-id:")
        ):
            return line[:500]
    return ""
