"""Long-running processes for the Redis-restart tests: `flask scheduler` next to the real worker, and a
Redis of the test's own that can be restarted without disturbing the other tests."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .faults import ROOT, WorkerProcess
from .services import PrivateRedis


class SchedulerProcess(WorkerProcess):
    """A real `flask --app app scheduler` (the rq CronScheduler of the recurring jobs)."""

    def __init__(self, app, tmp_path, **env):
        super().__init__(app, tmp_path, **env)
        self.log = tmp_path / "scheduler.log"

    def start(self) -> SchedulerProcess:
        """Start the scheduler process."""
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "app", "scheduler"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.started += 1
        return self


@pytest.fixture
def own_redis(app, tmp_path):
    """A redis-server for this test only (restarting it touches no other test); the app uses it."""
    server = PrivateRedis(str(tmp_path)).start()
    shared = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = server.url
    yield server
    app.config["REDIS_URL"] = shared
    server.stop()
