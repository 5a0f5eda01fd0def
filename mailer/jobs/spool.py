"""Scheduled import of the spool folder (RQ job, plus its rq 3 cron registration)."""

from __future__ import annotations

from flask import current_app

SPOOL_JOB_NAME = "recapito-spool-import"


def import_spool_job() -> dict:
    """RQ job: import what is ready in SPOOL_DIR; safe to run twice (a second run waits its turn)."""
    from ..services.spool import import_spool

    report = import_spool()
    return {
        "imported": len(report.imported),
        "errors": len(report.errors),
        "resumed": report.resumed,
        "skipped_busy": report.skipped_busy,
    }


def register_cron(scheduler, queue_name: str | None = None, interval: int | None = None):
    """Register the spool import on an rq ``CronScheduler`` (rq 3: ``rq.cron``), every `interval` s."""
    seconds = int(interval or current_app.config.get("SPOOL_INTERVAL_SECONDS", 60))
    return scheduler.register(
        import_spool_job,
        queue_name or current_app.config["RQ_QUEUE"],
        interval=seconds,
        job_timeout=1800,
        name=SPOOL_JOB_NAME,
    )


def run_cron_scheduler(interval: int | None = None) -> None:
    """Run an rq CronScheduler that enqueues the spool import every `interval` seconds (blocks)."""
    from ..queue import get_redis
    from .periodic import ResilientCronScheduler

    scheduler = ResilientCronScheduler(connection=get_redis(), name="recapito-spool-cron")
    register_cron(scheduler, interval=interval)
    scheduler.start()
