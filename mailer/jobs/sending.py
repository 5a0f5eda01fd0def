"""Jobs of the sending pipeline (thin: ids in, services do the work)."""

from __future__ import annotations

from ..services import sending
from ..services.batch_summary import SummaryRetry, note_summary_crash, recover_summaries, send_batch_summary


def run_sender_job(batch_id: int, account_id: int, index: int = 0, of: int = 1) -> str:
    """Send the batch's queued deliveries for one account over one connection."""
    return sending.Sender(batch_id, account_id, index, of).run()


def watchdog_job() -> dict:
    """Find dead senders' claims, batches that lost their senders, summaries that lost their job."""
    return {**sending.recover_stalled(), "summaries": recover_summaries()}


def batch_summary_job(batch_id: int) -> str:
    """E-mail the outcome of a finished batch to who prepared and approved it; raise to be retried."""
    try:
        state = send_batch_summary(batch_id)
    except Exception as exc:
        note_summary_crash(batch_id, exc)  # the page says it; the job still fails (and RQ retries it)
        raise
    if state == "retrying":
        raise SummaryRetry(f"riepilogo dell'invio {batch_id}: errore temporaneo, nuovo tentativo previsto")
    return state
