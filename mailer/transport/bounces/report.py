"""What a bounce reports (recipients, status, permanence) and the header and address helpers the readers share."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import Message

from ..mime import header as _header
from .words import (
    _ADDRESS,
    _ENH_CODE,
    _FAILURE_CODE,
    _SMTP_CODE,
)


@dataclass
class BouncedRecipient:
    """One recipient a bounce reports: its address, status code (e.g. 5.1.1) and action."""

    address: str
    status: str = ""
    action: str = "failed"  # failed | delayed
    also: list[str] = field(default_factory=list)  # the other name of the same recipient (Original/Final)

    @property
    def permanent(self) -> bool:
        """True when the server gave up on this recipient."""
        return self.action == "failed"

    def as_dict(self) -> dict:
        """{address, status, action} as stored and printed."""
        return {"address": self.address, "status": self.status, "action": self.action}


@dataclass
class BounceReport:
    """What a bounce says: the recipients and whether it is final."""

    recipients: list[BouncedRecipient]
    permanent: bool
    reason: str = ""
    dsn: bool = False  # the recipients come from an RFC 3464 report
    detector: str = ""  # rfc3464 | flufl:<name> | text
    last_attempt: str = ""  # the report's Last-Attempt-Date, as written

    def addresses(self, permanent_only: bool = False) -> set[str]:
        """Every address named (Final-Recipient and Original-Recipient alike), lower case."""
        found = set()
        for recipient in self.recipients:
            if permanent_only and not recipient.permanent:
                continue
            found.add(recipient.address)
            found.update(recipient.also)
        return found


# ---------------------------------------------------------------- small helpers


def decoded_header(msg: Message, name: str) -> str:
    """A header with its RFC 2047 words decoded, on one line."""
    value = _header(msg, name)
    with contextlib.suppress(Exception):  # an undecodable word stays as it is
        value = str(make_header(decode_header(value)))
    return " ".join(value.split())


def _clean_address(value: str) -> str:
    """A bare address, lower case, without rfc822; prefix, brackets or quotes ('' when not one)."""
    value = value.split(";", 1)[-1] if ";" in value[:12] else value
    value = value.strip().strip("<>\"' ").rstrip(".,;:)").lstrip("(")
    match = _ADDRESS.search(value)
    return match.group(0).lower().rstrip(".") if match else ""


def _status_of(*texts: str, failures_only: bool = True) -> str:
    """The enhanced status code (5.1.1) in the texts, else the SMTP reply code (550), else ''."""
    for text in texts:
        match = (_FAILURE_CODE if failures_only else _ENH_CODE).search(text or "")
        if match:
            return ".".join(match.groups())
    for text in texts:
        match = _SMTP_CODE.search(text or "")
        if match:
            return match.group(1) + match.group(2)
    return ""
