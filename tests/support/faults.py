"""Fault injection for the sending tests: an SMTP server that cuts DATA, real worker processes,
deadline-based waiting, and the exactly-once check every fault test ends with.

    from tests.support.faults import faulty_smtp, WorkerProcess, wait_until, drain, check_exactly_once
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from mailer.extensions import db
from mailer.models import Batch, Delivery

from .batches import run_jobs
from .smtp import SmtpTestServer, _Handler

ROOT = Path(__file__).resolve().parents[2]
REASONLESS_OK = {"sent", "cancelled", "excluded"}


class _CuttingSMTP(SMTP):
    """aiosmtpd's SMTP that can reset the connection in the middle of the message data."""

    def __init__(self, handler, test_server: FaultySmtpServer, **kwargs):
        super().__init__(handler, **kwargs)
        self.test_server = test_server

    async def smtp_DATA(self, arg: str) -> None:
        """("cut", n): answer 354, read about n bytes of the data, then reset the connection (no final dot read)."""
        key = self.envelope.rcpt_tos[0] if self.envelope and self.envelope.rcpt_tos else ""
        behaviour = self.test_server._peek(key) if key else None
        if not (isinstance(behaviour, tuple) and behaviour[0] == "cut"):
            await super().smtp_DATA(arg)
            return
        self.test_server._pop(key)
        self.test_server._record_attempt(key, behaviour)
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        received = 0
        while received < behaviour[1]:
            chunk = await self._reader.read(behaviour[1] - received)
            if not chunk:
                break
            received += len(chunk)
        self.test_server.cut_after.append(received)
        self.transport.abort()  # RST: what the client has not handed over yet can no longer go


class _CuttingController(Controller):
    """Controller building _CuttingSMTP sessions."""

    def __init__(self, test_server, *args, **kwargs):
        self.test_server = test_server
        super().__init__(*args, **kwargs)

    def factory(self):
        """One SMTP session per connection."""
        return _CuttingSMTP(self.handler, self.test_server, **self.SMTP_kwargs)


class FaultySmtpServer(SmtpTestServer):
    """SmtpTestServer plus ("cut", bytes): the connection is reset mid-DATA, before the final dot."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cut_after: list[int] = []

    def start(self) -> FaultySmtpServer:
        """Start listening (no AUTH: the fault tests do not need it)."""
        self._controller = _CuttingController(
            self,
            _Handler(self),
            hostname=self.host,
            port=self.port,
            server_hostname="smtp.test.local",
            ready_timeout=10,
            data_size_limit=None,
        )
        self._controller.start()
        return self


@pytest.fixture
def faulty_smtp():
    """A fresh loopback SMTP server that can also cut DATA."""
    server = FaultySmtpServer().start()
    yield server
    server.stop()


def wait_until(predicate, timeout: float, what, every: float = 0.05):
    """Poll predicate() until it returns something truthy; fail with `what` (a text, or a callable giving
    one at that moment, e.g. the worker's log) after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f} s waiting for: {what() if callable(what) else what}"
            )
        time.sleep(every)


def drain(app, max_wait: float = 20.0) -> None:
    """Run queued and scheduled jobs with in-process burst workers until none is left (or max_wait)."""
    run_jobs(app, max_wait, pause=0.1)


def batch_counts(batch_id: int) -> dict[str, int]:
    """status -> how many deliveries of the batch (fresh read)."""
    db.session.remove()
    rows = db.session.execute(
        db.select(Delivery.status, db.func.count(Delivery.id))
        .where(Delivery.batch_id == batch_id)
        .group_by(Delivery.status)
    ).all()
    return dict(rows)


def batch_status(batch_id: int) -> str:
    """The batch's status (fresh read)."""
    db.session.remove()
    return db.session.scalar(db.select(Batch.status).where(Batch.id == batch_id))


def check_exactly_once(batch_id: int, server, allowed=("sent", "uncertain")) -> dict[str, Delivery]:
    """After recovery: every delivery is final and allowed; sent ones arrived exactly once, uncertain ones
    at most once, nothing arrived that is not sent or uncertain; every non-sent delivery says why."""
    db.session.remove()
    deliveries = db.session.scalars(db.select(Delivery).where(Delivery.batch_id == batch_id)).all()
    assert deliveries, "the batch has no deliveries"
    by_rcpt = {}
    for d in deliveries:
        assert d.status in allowed, f"{d.recipient_email} is {d.status!r} (allowed: {allowed})"
        received = server.accepted_to(d.recipient_email)
        if d.status == "sent":
            assert received == 1, f"{d.recipient_email} is sent but arrived {received} times"
            assert d.sent_at is not None and d.message_sha256
        elif d.status == "uncertain":
            assert received <= 1, f"{d.recipient_email} is uncertain but arrived {received} times"
        else:
            assert received == 0, f"{d.recipient_email} is {d.status} but arrived {received} times"
        if d.status not in REASONLESS_OK:
            assert d.smtp_reason.strip(), f"{d.recipient_email} is {d.status} without a reason"
        by_rcpt[d.recipient_email] = d
    total_received = sum(server.accepted_to(d.recipient_email) for d in deliveries)
    assert total_received == len(server.messages), "a message arrived for someone outside the batch"
    return by_rcpt


class WorkerProcess:
    """A real `flask --app app worker` process on the test's database and Redis."""

    def __init__(self, app, tmp_path: Path, scheduler: bool = False, log_name: str = "worker.log", **env):
        self.env = {
            **os.environ,
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": app.config["REDIS_URL"],
            "RQ_QUEUE": app.config["RQ_QUEUE"],
            "SECRET_KEY": app.config["SECRET_KEY"],
            "SEND_RETRY_BACKOFF": str(app.config.get("SEND_RETRY_BACKOFF", "0,0,0")),
            "SENDER_HEARTBEAT_SECONDS": str(app.config.get("SENDER_HEARTBEAT_SECONDS", 60)),
            "INSTANCE_PATH": str(tmp_path / "worker-instance"),
            **{k: str(v) for k, v in env.items()},
        }
        self.scheduler = scheduler
        self.log = tmp_path / log_name
        self.proc: subprocess.Popen | None = None
        self.started = 0

    def start(self) -> WorkerProcess:
        """Start one worker process."""
        args = self.command()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.started += 1
        return self

    def command(self) -> list[str]:
        """The command line of the process."""
        args = [sys.executable, "-m", "flask", "--app", "app", "worker"]
        return args if self.scheduler else [*args, "--without-scheduler"]

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc is not None and self.proc.poll() is None

    def tail(self, chars: int = 3000) -> str:
        """The end of the worker's log (for assertion messages)."""
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


class SchedulerProcess(WorkerProcess):
    """A real `flask --app app scheduler` process (the recurring jobs' scheduler) on the test's database/Redis."""

    def command(self) -> list[str]:
        """The command line of the process."""
        return [sys.executable, "-m", "flask", "--app", "app", "scheduler"]
