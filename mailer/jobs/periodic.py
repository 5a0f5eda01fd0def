"""Recurring work, run by `flask --app app scheduler` (an rq CronScheduler enqueuing on our queue)."""
from __future__ import annotations

import time

import click
from flask import Flask, current_app
from rq.cron import CronScheduler
from rq.exceptions import StopRequested

from ..queue import REDIS_DOWN, wait_for_redis

WATCHDOG_SECONDS = 30  # WATCHDOG_SECONDS in the configuration overrides
SCHEDULES_SECONDS = 60
MAILBOX_SECONDS = 120  # PEC receipts and bounces (IMAP_POLL_SECONDS overrides)


def schedules_job() -> list[int]:
    """Prepare the batches whose per-type schedule fell due."""
    from ..services.schedules import run_due_schedules
    return run_due_schedules()


class ResilientCronScheduler(CronScheduler):
    """An rq CronScheduler that waits for Redis (logging once) instead of exiting when it goes away.

    rq's `start()` lets the first Redis error out of its loop (and raises again while signing off), so
    `flask scheduler` died with any Redis restart and stayed dead: no watchdog, no scheduled
    preparations, no spool import, no mailbox reading until someone restarted it.
    """

    def start(self):
        """rq's loop (register, enqueue what is due, heartbeat, sleep), started again after each outage;
        the jobs' next times stay in memory, so what fell due meanwhile is enqueued at once."""
        self.log.info("CronScheduler %s: starting...", self.name)
        self._install_signal_handlers()
        try:
            while True:
                try:
                    self.register_birth()
                    while True:
                        if self.enqueue_jobs():
                            self.save()
                        self.heartbeat()
                        pause = self.calculate_sleep_interval()
                        if pause > 0:
                            time.sleep(pause)
                except REDIS_DOWN:
                    wait_for_redis(self.connection, f"CronScheduler {self.name}", self.log)
        except (KeyboardInterrupt, StopRequested):
            self.log.info("CronScheduler %s: stop requested", self.name)
        finally:
            try:
                self.register_death()
            except REDIS_DOWN:
                pass  # its registration expires on its own
            self.log.info("CronScheduler %s: shutdown complete", self.name)


def build_scheduler():
    """A CronScheduler with every recurring job of Recapito registered."""
    from ..queue import get_redis
    from .sending import watchdog_job
    from .spool import register_cron
    from .tracking import poll_mailboxes_job
    queue = current_app.config["RQ_QUEUE"]
    scheduler = ResilientCronScheduler(connection=get_redis(), name="recapito-cron")
    watchdog = int(current_app.config.get("WATCHDOG_SECONDS", WATCHDOG_SECONDS))
    scheduler.register(watchdog_job, queue, interval=watchdog, job_timeout=300, name="recapito-watchdog")
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
