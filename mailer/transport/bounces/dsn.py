"""The RFC 3464 reader: delivery-status blocks, however oddly written, to the failed recipients."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import Message

from ..mime import header as _header
from ..mime import parts as _parts
from .report import BouncedRecipient, BounceReport, _clean_address, _status_of


def _report_type(msg: Message) -> str:
    """The report-type parameter of a multipart/report, lower case."""
    try:
        if msg.get_content_type() != "multipart/report":
            return ""
        value = msg.get_param("report-type")  # a tuple when RFC 2231-encoded: not a type we read
        return value.strip().lower() if isinstance(value, str) else ""
    except Exception:  # noqa: BLE001
        return ""


def status_blocks(msg: Message) -> list[Message] | None:
    """Field blocks of the message/delivery-status part (per-message block first), or None without one."""
    for part in _parts(msg):
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
            payload = part.get_payload()
            if isinstance(payload, list):
                blocks = [p for p in payload if isinstance(p, Message)]
                if len(blocks) == 1 and not blocks[0].keys() and isinstance(blocks[0].get_payload(), str):
                    payload = blocks[0].get_payload()  # a report that starts with a blank line
                else:
                    return blocks
            if isinstance(payload, str):
                try:
                    text = part.get_payload(decode=True)
                    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else payload
                except Exception:  # noqa: BLE001
                    text = payload
                chunks = re.split(r"\r?\n\s*\r?\n", text.strip())
                return [
                    email.message_from_string(c.strip(), policy=email.policy.compat32)
                    for c in chunks
                    if c.strip()
                ]
    return None


def _action(block: Message, status: str) -> str:
    """failed | delayed | delivered from an Action line, however it is written, or from the status class."""
    words = re.findall(r"[a-z]+", _header(block, "Action").lower())
    action = words[0] if words else ""
    if action in ("failed", "failure", "fail", "error", "bounced", "bounce", "rejected", "undeliverable"):
        return "failed"
    if action in ("delayed", "delay", "deferred", "retrying", "warning", "queued"):
        return "delayed"
    if action in ("delivered", "relayed", "expanded", "success", "ok"):
        return "delivered"
    return {"5": "failed", "4": "delayed", "2": "delivered"}.get(status[:1], "")


def read_dsn(msg: Message) -> tuple[BounceReport | None, bool]:
    """RFC 3464: (report, True) when the message carries a delivery-status part; the report is None
    when it names no failure (delivered/relayed) — and is recipient-less when it has no per-recipient
    fields (the caller then looks elsewhere for the addresses)."""
    blocks = status_blocks(msg)
    if blocks is None:
        return None, False
    recipients: list[BouncedRecipient] = []
    reasons, succeeded, last_attempt = [], 0, ""
    for block in blocks:
        final = _clean_address(_header(block, "Final-Recipient"))
        original = _clean_address(_header(block, "Original-Recipient"))
        if not (final or original):
            continue
        raw_status = _header(block, "Status")
        diagnostic = " ".join(_header(block, "Diagnostic-Code").split())
        if diagnostic.lower().startswith("smtp;"):
            diagnostic = diagnostic[5:].strip()
        status = _status_of(raw_status, diagnostic, failures_only=False)
        action = _action(block, status)
        if action == "delivered" or (not action and not diagnostic):
            succeeded += 1
            continue
        action = action or ("delayed" if status.startswith("4") else "failed")
        address = original or final
        if any(r.address == address and r.action == action for r in recipients):
            continue  # the same recipient reported twice (seen in the wild)
        recipients.append(
            BouncedRecipient(address, status, action, [final] if final and final != address else [])
        )
        reasons.append(" ".join(x for x in (raw_status, diagnostic) if x))
        last_attempt = last_attempt or _header(block, "Last-Attempt-Date")
    if not recipients and succeeded:
        return None, True
    permanent = any(r.permanent for r in recipients)
    reason = "; ".join(dict.fromkeys(r for r in reasons if r))
    return BounceReport(
        recipients, permanent, reason, dsn=bool(recipients), detector="rfc3464", last_attempt=last_attempt
    ), True


# ---------------------------------------------------------------- flufl.bounce (GNU Mailman)
