"""Bounces (non-delivery reports) from every real mail system: which recipients failed, with which
status code, and whether the failure is permanent or temporary. Pure functions over a parsed message.

Order: our RFC 3464 reader first (with the odd forms seen in the wild: missing or unusual `Action:`
values, status codes with comments, reports without per-recipient fields); then GNU Mailman's
detectors (`flufl.bounce`) for the non-standard formats; then our own patterns for what both miss
(Gmail, Exchange/Office 365, Domino, MDaemon, Exim, qmail, Russian and Japanese providers, delay
warnings). Auto-replies, out-of-office messages, read receipts (MDN) and feedback reports (ARF) are
recognised first and are never bounces.
"""

from __future__ import annotations

from email.message import Message

from .dsn import read_dsn, status_blocks
from .flufl import read_flufl
from .kinds import _candidate, looks_like_bounce, not_a_bounce
from .report import BouncedRecipient, BounceReport, decoded_header
from .text import _fill_codes, _first_reason, _own_addresses, read_text
from .words import MAX_SCANNED_TEXT

__all__ = [
    "MAX_SCANNED_TEXT",
    "BounceReport",
    "BouncedRecipient",
    "decoded_header",
    "looks_like_bounce",
    "not_a_bounce",
    "read_bounce",
    "read_dsn",
    "read_flufl",
    "read_text",
    "status_blocks",
]


def read_bounce(msg: Message, text: str) -> BounceReport | None:
    """The bounce a message is, or None (not a bounce, or a delivery report of success)."""
    text = text[:MAX_SCANNED_TEXT].replace("\r\n", "\n")
    if not_a_bounce(msg):
        return None
    report, has_status = read_dsn(msg)
    if has_status and report is None:
        return None  # a report of success: delivered or relayed
    if report is not None and report.recipients:
        if not report.reason:
            report.reason = _first_reason(text)
        return report
    own = _own_addresses(msg)
    fallback = read_flufl(msg) if (has_status or _candidate(msg, text)) else None
    if fallback is not None:
        fallback.recipients = [r for r in fallback.recipients if r.address not in own] or fallback.recipients
    if fallback is None and not has_status and not looks_like_bounce(msg, text):
        return None
    if fallback is None:
        fallback = BounceReport(read_text(msg, text, own), True, detector="text")
    _fill_codes(fallback, text)
    if report is not None and report.reason:
        fallback.reason = report.reason
    fallback.reason = fallback.reason or _first_reason(text)
    return fallback
