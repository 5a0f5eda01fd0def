"""The RQ worker that runs inside the Flask application context, and survives Redis restarts."""

from __future__ import annotations

import contextlib
import os
import socket
import time

from flask import current_app
from rq import Queue, SimpleWorker, worker_registration
from rq.scheduler import RQScheduler

from ..extensions import db
from ..queue import REDIS_DOWN, get_redis, wait_for_redis


class ResilientRQScheduler(RQScheduler):
    """rq's scheduler (moves due deferred jobs — rate-limit waits, retries — to the queue), which waits
    for Redis instead of dying with it.

    rq runs it in a forked process that ends at the first Redis error; its worker starts it again only at
    its next maintenance (every 10 minutes): deferred jobs waited that long after any Redis restart.
    """

    def work(self):
        """rq's loop; on a Redis error, wait for Redis (logging once) and start the loop again, which
        registers the scheduler and re-acquires the queue locks lost with Redis's data."""
        while True:
            try:
                return super().work()
            except REDIS_DOWN:
                if not wait_for_redis(
                    self.connection, f"scheduler {self.name}", self.log, stop=lambda: self._stop_requested
                ):
                    return None


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
        except REDIS_DOWN as exc:
            self.log.warning(
                "Worker %s: Redis lost while finishing job %s (%s): waiting for Redis", self.name, job.id, exc
            )
            wait_for_redis(self.connection, f"worker {self.name}", self.log)
        finally:
            db.session.remove()

    def heartbeat(self, timeout=None, pipeline=None):
        """rq's heartbeat; when Redis came back empty (a restart), register this worker again, so health
        checks and `rq info` see it (rq itself registers a worker only when it starts)."""
        super().heartbeat(timeout, pipeline)
        if pipeline is None and not self.connection.sismember(self.redis_workers_keys, self.key):
            with self.connection.pipeline() as again:
                again.hset(self.key, mapping=self.serialize())
                worker_registration.register(self, again)
                again.expire(self.key, (timeout or self.worker_ttl + 60))
                again.execute()
            self.log.warning("Worker %s: registered again (Redis had lost it)", self.name)

    def _start_scheduler(self, burst=False, logging_level="INFO", date_format=None, log_format=None):
        """rq's own start of the scheduler, with the scheduler that outlives Redis outages."""
        from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT

        self.scheduler = ResilientRQScheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format or DEFAULT_LOGGING_DATE_FORMAT,
            log_format=log_format or DEFAULT_LOGGING_FORMAT,
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks()
        if self.scheduler.acquired_locks:
            if burst:
                try:
                    self.scheduler.register_birth()
                    self.scheduler.enqueue_scheduled_jobs()
                finally:
                    self.scheduler.release_locks()
                    self.scheduler.register_death()
            else:
                self.scheduler.start()


def lower_priority(target: int) -> int:
    """Raise this process's nice value to `target` (never lowers it); returns the nice value now in force."""
    current = os.nice(0)
    if target > current:
        with contextlib.suppress(OSError):  # not allowed here: keep the current priority
            current = os.nice(min(19, target) - current)
    return current


def run_worker(burst: bool = False, name: str | None = None, with_scheduler: bool = True) -> bool:
    """Start a worker on the application's queue; returns True when it stopped cleanly.

    A long-running worker outlives Redis: rq quits its loop on some Redis errors (a timeout, an error
    outside the wait for jobs) as if it had been asked to stop; unless a stop was really asked (a signal),
    wait for Redis and start a new worker.
    """
    # Measured with benchmarks/load.py on 2 cores: p95 of the pages 460-520 ms at normal priority,
    # about 190 ms with the workers at nice 10, for the same sending rate (~250 msg/s).
    lower_priority(int(current_app.config.get("WORKER_NICE", 10)))
    redis = get_redis()
    queue = Queue(current_app.config["RQ_QUEUE"], connection=redis)
    worker_name = name or f"{socket.gethostname()}.{os.getpid()}"
    restarts = 0
    while True:
        worker = AppWorker(
            [queue], connection=redis, name=f"{worker_name}.{restarts}" if restarts else worker_name
        )
        try:
            worked = bool(worker.work(burst=burst, with_scheduler=with_scheduler, logging_level="INFO"))
            # rq marks a signal either way: _stop_requested when busy, only the request date when idle.
            if burst or worker._stop_requested or worker._shutdown_requested_date is not None:
                return worked
            current_app.logger.warning("worker %s: rq left its loop without a stop request", worker.name)
        except REDIS_DOWN as exc:
            # Redis went away where rq does not retry (e.g. while the worker starts or signs off).
            current_app.logger.warning("worker %s: Redis unavailable (%s)", worker.name, type(exc).__name__)
        restarts += 1
        time.sleep(min(5.0, 0.5 * restarts))  # a worker that keeps failing must not spin
        wait_for_redis(redis, f"worker {worker_name}", current_app.logger)
