"""Jobs of the webhooks to the ERP (thin: ids in, the service does the work)."""

from __future__ import annotations

from ..services import webhooks


def deliver_webhook_job(message_id: int) -> str:
    """Post one outbox message to its endpoint (a retry is scheduled by the service, not by RQ)."""
    return webhooks.deliver_message(message_id)


def webhook_outbox_job() -> int:
    """Enqueue the messages still pending and due: nothing is lost to a crash or a lost enqueue."""
    return webhooks.enqueue_due()
