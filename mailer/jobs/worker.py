"""The RQ worker that runs inside the Flask application context."""
from __future__ import annotations

import os
import socket

from flask import current_app
from rq import Queue, SimpleWorker

from ..extensions import db
from ..queue import get_redis


class AppWorker(SimpleWorker):
    """Runs jobs in this process (kept warm, no fork per job) within the app context.

    Jobs are written to be safe when a worker dies mid-job (deliveries are claimed before
    sending), so running them in-process costs no safety and saves a fork per job.
    """

    def execute_job(self, job, queue):
        """Run one job, then give back the database connection and forget session state."""
        try:
            return super().execute_job(job, queue)
        finally:
            db.session.remove()


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
    worker = AppWorker([queue], connection=redis, name=worker_name)
    return bool(worker.work(burst=burst, with_scheduler=with_scheduler, logging_level="INFO"))
