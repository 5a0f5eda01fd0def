"""The RQ worker that runs inside the Flask application context."""
from __future__ import annotations

import os
import socket
import time

from flask import current_app
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, SimpleWorker

from ..extensions import db
from ..queue import get_redis


class AppWorker(SimpleWorker):
    """Runs jobs in this process (kept warm, no fork per job) within the app context.

    Jobs are written to be safe when a worker dies mid-job (deliveries are claimed before
    sending), so running them in-process costs no safety and saves a fork per job.
    """

    def execute_job(self, job, queue):
        """Run one job, then give back the database connection and forget session state.

        If Redis goes away while the job is being recorded (its result, or its failure), rq would let the
        error out of its main loop and the whole worker process would quit: wait for Redis instead and go
        on (the job's record is lost with Redis; its rows are not, and the watchdog re-dispatches).
        """
        try:
            return super().execute_job(job, queue)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            self.log.warning("Worker %s: Redis lost while finishing job %s (%s): waiting for Redis",
                             self.name, job.id, exc)
            wait_for_redis(self.connection)
        finally:
            db.session.remove()


def wait_for_redis(redis, max_delay: float = 5.0) -> None:
    """Block until Redis answers PING (a worker has nothing to do without it)."""
    delay = 0.2
    while True:
        try:
            redis.ping()
            return
        except (RedisConnectionError, RedisTimeoutError):
            time.sleep(delay)
            delay = min(max_delay, delay * 2)


def lower_priority(target: int) -> int:
    """Raise this process's nice value to `target` (never lowers it); returns the nice value now in force."""
    current = os.nice(0)
    if target > current:
        try:
            current = os.nice(min(19, target) - current)
        except OSError:  # not allowed here: keep the current priority
            pass
    return current


def run_worker(burst: bool = False, name: str | None = None, with_scheduler: bool = True) -> bool:
    """Start a worker on the application's queue; returns True when it stopped cleanly."""
    # Measured with benchmarks/load.py on 2 cores: p95 of the pages 460-520 ms at normal priority,
    # about 190 ms with the workers at nice 10, for the same sending rate (~250 msg/s).
    lower_priority(int(current_app.config.get("WORKER_NICE", 10)))
    redis = get_redis()
    queue = Queue(current_app.config["RQ_QUEUE"], connection=redis)
    worker_name = name or f"{socket.gethostname()}.{os.getpid()}"
    restarts = 0
    while True:
        worker = AppWorker([queue], connection=redis, name=f"{worker_name}.{restarts}" if restarts else worker_name)
        try:
            return bool(worker.work(burst=burst, with_scheduler=with_scheduler, logging_level="INFO"))
        except (RedisConnectionError, RedisTimeoutError) as exc:
            # Redis went away where rq does not retry (e.g. while the worker signs off): start again.
            restarts += 1
            current_app.logger.warning("worker %s: Redis unavailable (%s): waiting for it, then starting again",
                                       worker_name, exc)
            wait_for_redis(redis)
