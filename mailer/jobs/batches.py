"""Jobs of batch preparation."""

from __future__ import annotations

from ..services import preparation


def prepare_batch_job(batch_id: int) -> str:
    """Prepare one batch (safe to run twice: a finished batch is left alone)."""
    return preparation.run_preparation(batch_id).status
