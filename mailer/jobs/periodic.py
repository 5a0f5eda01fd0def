"""Recurring work, run by `flask --app app scheduler` (an rq CronScheduler enqueuing on our queue)."""
from __future__ import annotations

import click
from flask import Flask, current_app

WATCHDOG_SECONDS = 30
SCHEDULES_SECONDS = 60
MAILBOX_SECONDS = 120  # PEC receipts and bounces (IMAP_POLL_SECONDS overrides)


def schedules_job() -> list[int]:
    """Prepare the batches whose per-type schedule fell due."""
    from ..services.schedules import run_due_schedules
    return run_due_schedules()


def build_scheduler():
    """A CronScheduler with every recurring job of Recapito registered."""
    from rq.cron import CronScheduler

    from ..queue import get_redis
    from .sending import watchdog_job
    from .spool import register_cron
    from .tracking import poll_mailboxes_job
    queue = current_app.config["RQ_QUEUE"]
    scheduler = CronScheduler(connection=get_redis(), name="recapito-cron")
    scheduler.register(watchdog_job, queue, interval=WATCHDOG_SECONDS, job_timeout=300, name="recapito-watchdog")
    scheduler.register(schedules_job, queue, interval=SCHEDULES_SECONDS, job_timeout=600, name="recapito-schedules")
    register_cron(scheduler, queue)
    scheduler.register(poll_mailboxes_job, queue, interval=int(current_app.config.get("IMAP_POLL_SECONDS", MAILBOX_SECONDS)),
                       job_timeout=1800, name="recapito-mailboxes")
    return scheduler


@click.command("scheduler")
def scheduler_command():
    """Run the scheduler of recurring jobs: watchdog, scheduled preparations, spool import, mailbox reading (one per installation)."""
    build_scheduler().start()


def register(app: Flask) -> None:
    """Attach the scheduler command."""
    app.cli.add_command(scheduler_command)
