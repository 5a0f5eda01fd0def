"""Jobs of delivery tracking (thin: the service does the work)."""

from __future__ import annotations

from ..services.tracking import poll_account, poll_all


def poll_mailboxes_job() -> dict:
    """Read the new PEC receipts and bounces of every account with IMAP settings."""
    return poll_all()


def poll_account_job(account_id: int) -> dict:
    """Read the new messages of one account."""
    return poll_account(account_id)
