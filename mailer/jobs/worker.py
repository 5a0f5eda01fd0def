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


def run_worker(burst: bool = False, name: str | None = None, with_scheduler: bool = True) -> bool:
    """Start a worker on the application's queue; returns True when it stopped cleanly."""
    redis = get_redis()
    queue = Queue(current_app.config["RQ_QUEUE"], connection=redis)
    worker_name = name or f"{socket.gethostname()}.{os.getpid()}"
    worker = AppWorker([queue], connection=redis, name=worker_name)
    return bool(worker.work(burst=burst, with_scheduler=with_scheduler, logging_level="INFO"))
