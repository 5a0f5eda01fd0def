"""Sending a batch: senders per account, at-most-once claims, retries, rate limits, recovery.

Delivery states while sending:
  queued    approved, waiting for a sender (or for its next attempt, `next_attempt_at`)
  sending   claimed by a sender *before* its SMTP transaction; marked right after it
  sent / failed / uncertain / cancelled   final (uncertain waits for a person)

A delivery is claimed with a conditional UPDATE (only one sender can win it) and committed before
any byte goes to the SMTP server. If the sender dies, the delivery stays "sending"; the watchdog
turns it into "uncertain" once the sender's heartbeat has expired. Nothing is ever resent on its own
after it may have left.
"""

from __future__ import annotations

from .commands import (
    cancel_sending,
    dispatch,
    pause_sending,
    resolve_uncertain,
    resume_sending,
    retry_failed,
    start_sending,
)
from .limits import reserve_one
from .messages import document_attachments, message_spec, pdf_filename
from .sender import Sender
from .settings import (
    CHUNK,
    FINAL_STATES,
    SendingError,
    backoff_schedule,
    database_unavailable,
    max_attempts,
    smtp_settings,
)
from .watchdog import recover_stalled

__all__ = [
    "CHUNK",
    "FINAL_STATES",
    "Sender",
    "SendingError",
    "backoff_schedule",
    "cancel_sending",
    "database_unavailable",
    "dispatch",
    "document_attachments",
    "max_attempts",
    "message_spec",
    "pause_sending",
    "pdf_filename",
    "recover_stalled",
    "reserve_one",
    "resolve_uncertain",
    "resume_sending",
    "retry_failed",
    "smtp_settings",
    "start_sending",
]
