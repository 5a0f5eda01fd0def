"""Preparing a batch (the "programma di stampa"): choose documents, route them, render every e-mail.

For each document the recipients are the active contacts of its party that receive its type and
have an address. The account is the PEC account when the type goes by PEC and the address is PEC,
otherwise the ordinary one; the reason is stored with the delivery. Documents with nobody to
receive them become "senza destinatario" rows that name the party, so they can be fixed and
re-routed without preparing the batch again.
"""

from __future__ import annotations

from .resend_safety import (
    attachment_sizes,
    earlier_sends,
    estimate_size,
    resend_notes,
    resend_warnings,
)
from .routing import AccountPicker, Router, blocking_problems, reroute_party
from .run import render_missing_pdfs, run_preparation
from .selection import (
    ACTIVE_BATCH_STATES,
    PROGRESS_EVERY,
    UNPREPARABLE,
    NothingToPrepare,
    PreparationError,
    Selection,
    check_permission,
    create_batch,
    nothing_message,
    parse_date,
    select_documents,
    start_preparation,
)

__all__ = [
    "ACTIVE_BATCH_STATES",
    "PROGRESS_EVERY",
    "UNPREPARABLE",
    "AccountPicker",
    "NothingToPrepare",
    "PreparationError",
    "Router",
    "Selection",
    "attachment_sizes",
    "blocking_problems",
    "check_permission",
    "create_batch",
    "earlier_sends",
    "estimate_size",
    "nothing_message",
    "parse_date",
    "render_missing_pdfs",
    "reroute_party",
    "resend_notes",
    "resend_warnings",
    "run_preparation",
    "select_documents",
    "start_preparation",
]
