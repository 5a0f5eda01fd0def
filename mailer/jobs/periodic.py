"""Recurring work, run by `flask --app app scheduler` (an rq CronScheduler enqueuing on our queue)."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from importlib import import_module

import click
from flask import Flask, current_app
from redis.exceptions import LockError
from rq.cron import CronScheduler
from rq.exceptions import StopRequested

from ..queue import REDIS_DOWN, get_redis, wait_for_redis

log = logging.getLogger(__name__)

WATCHDOG_SECONDS = 30  # WATCHDOG_SECONDS in the configuration overrides
SCHEDULES_SECONDS = 60
MAILBOX_SECONDS = 120  # PEC receipts and bounces (IMAP_POLL_SECONDS overrides)
WEBHOOK_OUTBOX_SECONDS = 60  # webhook messages still pending and due (WEBHOOK_OUTBOX_SECONDS overrides)


def schedules_job() -> list[int]:
    """Prepare the batches whose per-type schedule fell due."""
    from ..services.schedules import run_due_schedules

    return run_due_schedules()


# A periodic job holds its lock for this long and renews it every third of it while it runs: a worker
# killed mid-job frees the job within this time, whatever the job's own timeout.
PERIODIC_LOCK_SECONDS = 60


def run_exclusive(name: str, target: str) -> object:
    """Run the periodic job `target` ("module:function") unless a run of it is going on anywhere.

    Every `flask scheduler` enqueues its own copy of each recurring job (two by mistake, one per host,
    means two copies per tick): the copy that finds the job's Redis lock held returns {"skipped": name}
    without doing anything. The lock expires by itself (Redis clock, not the host's) if its holder dies.
    """
    lock = get_redis().lock(f"recapito:periodic:{name}", timeout=PERIODIC_LOCK_SECONDS, blocking=False)
    if not lock.acquire():
        log.info("periodic job %s: already running elsewhere, this copy is skipped", name)
        return {"skipped": name}
    done = threading.Event()

    def renew():
        while not done.wait(PERIODIC_LOCK_SECONDS / 3):
            try:
                lock.reacquire()
            except (LockError, *REDIS_DOWN):
                log.warning("periodic job %s: its lock could not be renewed", name)

    threading.Thread(target=renew, name=f"lock-{name}", daemon=True).start()
    try:
        module, function = target.split(":")
        return getattr(import_module(module), function)()
    finally:
        done.set()
        try:
            lock.release()
        except (LockError, *REDIS_DOWN):
            pass  # expired or Redis away: it frees itself


def _register(scheduler, func, queue: str, interval: int, job_timeout: int, name: str):
    """Register `func` to be run every `interval` s through `run_exclusive` (one run at a time)."""
    return scheduler.register(
        run_exclusive,
        queue,
        args=(name, f"{func.__module__}:{func.__name__}"),
        interval=interval,
        job_timeout=job_timeout,
        name=name,
    )


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
            with contextlib.suppress(*REDIS_DOWN):  # its registration expires on its own
                self.register_death()
            self.log.info("CronScheduler %s: shutdown complete", self.name)


def build_scheduler():
    """A CronScheduler with every recurring job of Recapito registered."""
    from .sending import watchdog_job
    from .spool import SPOOL_JOB_NAME, import_spool_job
    from .tracking import poll_mailboxes_job
    from .webhooks import webhook_outbox_job

    config = current_app.config
    queue = config["RQ_QUEUE"]
    # One name per process: two schedulers must not share (and unregister) one registration in Redis.
    scheduler = ResilientCronScheduler(
        connection=get_redis(), name=f"recapito-cron:{socket.gethostname()}:{os.getpid()}"
    )
    _register(
        scheduler,
        watchdog_job,
        queue,
        int(config.get("WATCHDOG_SECONDS", WATCHDOG_SECONDS)),
        300,
        "recapito-watchdog",
    )
    _register(scheduler, schedules_job, queue, SCHEDULES_SECONDS, 600, "recapito-schedules")
    _register(
        scheduler,
        import_spool_job,
        queue,
        int(config.get("SPOOL_INTERVAL_SECONDS", 60)),
        1800,
        SPOOL_JOB_NAME,
    )
    _register(
        scheduler,
        poll_mailboxes_job,
        queue,
        int(config.get("IMAP_POLL_SECONDS", MAILBOX_SECONDS)),
        1800,
        "recapito-mailboxes",
    )
    _register(
        scheduler,
        webhook_outbox_job,
        queue,
        int(config.get("WEBHOOK_OUTBOX_SECONDS", WEBHOOK_OUTBOX_SECONDS)),
        300,
        "recapito-webhooks",
    )
    return scheduler


@click.command("scheduler")
def scheduler_command():
    """Run the scheduler of recurring jobs: watchdog, scheduled preparations, spool import, mailbox reading, webhook outbox (one per installation)."""
    build_scheduler().start()


def register(app: Flask) -> None:
    """Attach the scheduler command."""
    app.cli.add_command(scheduler_command)
