"""Signed webhooks back to the ERP: events (outbox rows written with the change), their signed delivery
with retries, and the endpoints an administrator registers.

Other areas call `emit(event_type, data, privacy_level)` (or one of the helpers below) inside the
transaction that makes the change, and commit as usual: the messages leave after the commit.
"""

from __future__ import annotations

from .events import (
    DELIVERY_EVENTS,
    PEC_EVENTS,
    PRIVATE_FIELDS,
    emit,
    emit_contact,
    emit_delivery_outcomes,
    emit_pec_receipt,
    emit_receipt,
    emit_test,
)
from .posting import deliver_message, enqueue_due, resend, signature, signed_headers

__all__ = [
    "DELIVERY_EVENTS",
    "PEC_EVENTS",
    "PRIVATE_FIELDS",
    "deliver_message",
    "emit",
    "emit_contact",
    "emit_delivery_outcomes",
    "emit_pec_receipt",
    "emit_receipt",
    "emit_test",
    "enqueue_due",
    "resend",
    "signature",
    "signed_headers",
]
