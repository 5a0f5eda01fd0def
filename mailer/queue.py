"""Redis and RQ access shared by the web app, the CLI and the workers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import current_app, g, has_app_context
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue
from rq.job import Job

_clients: dict[str, Redis] = {}


def get_redis() -> Redis:
    """A Redis client for REDIS_URL (one per URL and process)."""
    url = current_app.config["REDIS_URL"]
    client = _clients.get(url)
    if client is None:
        client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)
        _clients[url] = client
    return client


def get_queue(name: str | None = None) -> Queue:
    """The RQ queue of this installation."""
    if has_app_context() and "rq_queue" in g and name is None:
        return g.rq_queue
    return Queue(name or current_app.config["RQ_QUEUE"], connection=get_redis())


# The job functions services enqueue, by dotted name: RQ imports them in the worker, so services never
# import mailer.jobs (which imports services). tests/unit/test_job_names.py checks each one resolves.
SENDER_JOB = "mailer.jobs.sending.run_sender_job"
SUMMARY_JOB = "mailer.jobs.sending.batch_summary_job"
PREPARE_BATCH_JOB = "mailer.jobs.batches.prepare_batch_job"
PREPARE_CAMPAIGN_JOB = "mailer.jobs.campaigns.prepare_campaign_job"
POLL_ACCOUNT_JOB = "mailer.jobs.tracking.poll_account_job"
WEBHOOK_JOB = "mailer.jobs.webhooks.deliver_webhook_job"
JOB_NAMES = frozenset(
    {SENDER_JOB, SUMMARY_JOB, PREPARE_BATCH_JOB, PREPARE_CAMPAIGN_JOB, POLL_ACCOUNT_JOB, WEBHOOK_JOB}
)


def _known(job_name: str) -> str:
    """The job name itself, or ValueError when it is not one of JOB_NAMES (a typo fails at the caller)."""
    if job_name not in JOB_NAMES:
        raise ValueError(f"unknown job {job_name!r}: add it to mailer.queue.JOB_NAMES")
    return job_name


def enqueue(job_name: str, *args: Any, **kwargs: Any) -> Job:
    """Enqueue the job `job_name` (one of JOB_NAMES) with RQ's options (job_timeout, job_id, retry, …)."""
    name = _known(job_name)
    return get_queue().enqueue(name, *args, **kwargs)


def enqueue_in(delay: timedelta, job_name: str, *args: Any, **kwargs: Any) -> Job:
    """Enqueue the job `job_name` (one of JOB_NAMES) to run after `delay`."""
    name = _known(job_name)
    return get_queue().enqueue_in(delay, name, *args, **kwargs)


REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)


def wait_for_redis(
    redis: Redis,
    who: str,
    logger: logging.Logger | logging.LoggerAdapter | None = None,
    stop: Callable[[], bool] | None = None,
    max_delay: float = 5.0,
) -> bool:
    """Block until Redis answers PING, polling with a growing pause (up to max_delay s); False when
    stop() asked to give up first. Logs once when the wait starts and once when Redis is back, never
    a line per try: an outage of minutes must not flood the log."""
    logger = logger or logging.getLogger("mailer")
    delay, started, announced = 0.2, time.monotonic(), False
    while True:
        try:
            redis.ping()
        except REDIS_DOWN as exc:
            if not announced:
                logger.warning("%s: Redis unavailable (%s): waiting for it", who, type(exc).__name__)
                announced = True
        else:
            if announced:
                logger.warning("%s: Redis is back after %.0f s: resuming", who, time.monotonic() - started)
            return True
        if stop is not None and stop():
            return False
        time.sleep(delay)
        delay = min(max_delay, delay * 2)
