"""Jobs of campaign preparation."""

from __future__ import annotations

from ..services import campaigns


def prepare_campaign_job(batch_id: int) -> str:
    """Prepare one campaign batch (safe to run twice: a finished batch is left alone)."""
    return campaigns.run_preparation(batch_id).status
