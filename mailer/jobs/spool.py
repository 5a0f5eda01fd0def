"""Scheduled import of the spool folder (the RQ job `flask scheduler` registers in periodic.py)."""

from __future__ import annotations

from ..services.spool import import_spool

SPOOL_JOB_NAME = "recapito-spool-import"


def import_spool_job() -> dict:
    """RQ job: import what is ready in SPOOL_DIR; safe to run twice (a second run waits its turn)."""
    report = import_spool()
    return {
        "imported": len(report.imported),
        "errors": len(report.errors),
        "resumed": report.resumed,
        "skipped_busy": report.skipped_busy,
    }
