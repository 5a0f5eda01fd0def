"""Two `flask scheduler` processes by mistake (one per host) on one Redis and one database (issue 19.3):
a due schedule is prepared once, and no periodic job runs twice at the same time."""

from __future__ import annotations

import socket
import threading
import time
from datetime import datetime

import pytest
from rq.cron import get_cron_job_ids
from rq.job import Job
from rq.worker import Worker

from mailer.extensions import db
from mailer.formatting import ROME
from mailer.models import Batch, DocumentType, MailAccount
from mailer.queue import get_queue, get_redis
from mailer.services.crypto import encrypt_secret
from tests.support.batches import office_data
from tests.support.faults import SchedulerProcess, WorkerProcess, wait_until

CRON_NAMES = ("recapito-watchdog", "recapito-schedules", "recapito-spool-import", "recapito-mailboxes")
HOLD_SECONDS = 4.0  # the slow mailbox keeps each reading busy this long


class SlowImapServer:
    """A loopback 'IMAP server' that waits HOLD_SECONDS before a greeting and then hangs up: a mailbox
    reading that takes a while (as a real one over many messages does)."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn):
        time.sleep(HOLD_SECONDS)
        try:
            conn.sendall(b"* BYE busy\r\n")
        finally:
            conn.close()

    def close(self):
        self._stop.set()
        self.sock.close()


@pytest.fixture
def slow_imap():
    server = SlowImapServer()
    yield server
    server.close()


def _runs(name: str, redis) -> list[dict]:
    """Every job the schedulers enqueued under the cron name, with its run window and whether it did
    the work (a run that found the job already running elsewhere returns {"skipped": ...})."""
    runs = []
    for job in Job.fetch_many(get_cron_job_ids(name, redis), connection=redis):
        if job is None:
            continue
        value = job.return_value() if job.is_finished else None
        runs.append(
            {
                "id": job.id,
                "status": job.get_status(),
                "started": job.started_at,
                "ended": job.ended_at,
                "skipped": isinstance(value, dict) and bool(value.get("skipped")),
            }
        )
    return runs


def _overlaps(runs: list[dict]) -> list[tuple[str, str]]:
    """Pairs of working runs of one job whose run windows overlap."""
    working = sorted((r for r in runs if not r["skipped"] and r["started"]), key=lambda r: r["started"])
    pairs = []
    for i, first in enumerate(working):
        for second in working[i + 1 :]:
            if first["ended"] is None or second["started"] < first["ended"]:
                pairs.append((first["id"], second["id"]))
    return pairs


def test_two_schedulers_prepare_once_and_never_run_a_job_twice_at_once(
    app_ctx, smtp_server, slow_imap, tmp_path
):
    office_data(smtp_server)
    now = datetime.now(ROME)
    # Due this very minute and never again today: one due time, so exactly one batch is right.
    db.session.get(DocumentType, "DDT").schedule_cron = f"{now.minute} {now.hour} * * *"
    account = db.session.scalar(db.select(MailAccount).where(MailAccount.kind == "pec"))
    account.imap_host, account.imap_port, account.imap_username = "127.0.0.1", slow_imap.port, "lettore"
    account.imap_password_encrypted = encrypt_secret("segreto")
    db.session.commit()
    redis = get_redis()
    env = {
        "IMAP_PLAINTEXT_LOOPBACK": "1",
        "IMAP_TIMEOUT_SECONDS": "30",
        "WATCHDOG_SECONDS": "2",
        "IMAP_POLL_SECONDS": "3",
        "SPOOL_INTERVAL_SECONDS": "3",
    }
    workers = [WorkerProcess(app_ctx, tmp_path, log_name=f"worker{i}.log", **env).start() for i in (1, 2)]
    schedulers = []
    try:
        wait_until(
            lambda: len(Worker.all(queue=get_queue())) >= 2,
            60,
            lambda: "2 workers: " + " | ".join(w.tail(800) for w in workers),
        )
        # Two schedulers started together, as two hosts would after a reboot.
        schedulers = [
            SchedulerProcess(app_ctx, tmp_path, log_name=f"scheduler{i}.log", **env).start() for i in (1, 2)
        ]

        def enough():
            runs = _runs("recapito-mailboxes", redis)
            return len(runs) >= 4 and len(_runs("recapito-schedules", redis)) >= 2

        wait_until(enough, 90, lambda: " | ".join(p.tail(800) for p in schedulers + workers))
        assert all(p.alive() for p in schedulers), " | ".join(p.tail() for p in schedulers)
    finally:
        for process in schedulers:
            process.stop()
    try:
        queue = get_queue()
        wait_until(
            lambda: queue.count == 0 and queue.started_job_registry.count == 0,
            90,
            lambda: " | ".join(w.tail(800) for w in workers),
        )
    finally:
        for worker in workers:
            worker.stop()

    db.session.remove()
    batches = db.session.scalars(db.select(Batch).where(Batch.name.like("%automatico%"))).all()
    assert len(batches) == 1, [b.name for b in batches]
    assert batches[0].status == "ready"
    for name in CRON_NAMES:
        runs = _runs(name, redis)
        assert len(runs) >= 2, (name, runs)  # both schedulers enqueued it
        assert not _overlaps(runs), (name, runs)
    assert any(r["skipped"] for r in _runs("recapito-mailboxes", redis))  # the second copy stood aside


def test_a_periodic_job_already_running_is_skipped_and_its_lock_freed_after(app_ctx):
    """run_exclusive: a copy that finds the job running returns {"skipped"}; the lock expires on its own
    (TTL in Redis) and is released when the run ends, even when the job raises."""
    from mailer.jobs.periodic import PERIODIC_LOCK_SECONDS, run_exclusive

    redis = get_redis()
    held = redis.lock("recapito:periodic:recapito-watchdog", timeout=PERIODIC_LOCK_SECONDS)
    assert held.acquire(blocking=False)
    assert run_exclusive("recapito-watchdog", "mailer.jobs.sending:watchdog_job") == {
        "skipped": "recapito-watchdog"
    }
    assert 0 < redis.ttl("recapito:periodic:recapito-watchdog") <= PERIODIC_LOCK_SECONDS
    held.release()
    result = run_exclusive("recapito-watchdog", "mailer.jobs.sending:watchdog_job")
    assert "skipped" not in result and "summaries" in result
    assert not redis.exists("recapito:periodic:recapito-watchdog")
    with pytest.raises(AttributeError):
        run_exclusive("recapito-missing", "mailer.jobs.sending:no_such_job")
    assert not redis.exists("recapito:periodic:recapito-missing")


def test_a_due_time_waits_while_a_batch_of_its_type_is_still_being_prepared(app_ctx, smtp_server):
    """Two due times close together (or a catch-up): a preparation still running has not linked its
    documents yet, so a second batch would take the same documents. The later due time waits (it is not
    used up) and runs at the next tick once the first batch is prepared; then nothing is left to send."""
    from mailer.services.schedules import run_due_schedules

    office_data(smtp_server)
    db.session.get(DocumentType, "DDT").schedule_cron = "*/10 * * * *"
    db.session.commit()
    first = run_due_schedules(datetime(2026, 11, 10, 18, 0, 5))
    assert len(first) == 1 and db.session.get(Batch, first[0]).status == "preparing"  # its job not run yet
    assert run_due_schedules(datetime(2026, 11, 10, 18, 10, 5)) == []
    assert db.session.get(DocumentType, "DDT").schedule_last_run == datetime(2026, 11, 10, 18, 0)
    from tests.integration.test_schedules import _work

    _work(app_ctx)
    assert db.session.get(Batch, first[0]).status == "ready"
    assert run_due_schedules(datetime(2026, 11, 10, 18, 11)) == []  # caught up: nothing left to send
    assert db.session.get(DocumentType, "DDT").schedule_last_run == datetime(2026, 11, 10, 18, 10)
    assert db.session.scalar(db.select(db.func.count(Batch.id))) == 1


def test_a_batch_left_preparing_for_hours_does_not_hold_the_schedule_back(app_ctx, smtp_server):
    """A preparation whose job was lost (Redis restarted empty) stays "preparing": past the preparation's
    job timeout it no longer blocks its type's schedule."""
    from datetime import timedelta

    from mailer.models import utcnow
    from mailer.services.schedules import PREPARATION_TIMEOUT, run_due_schedules

    office_data(smtp_server)
    db.session.get(DocumentType, "DDT").schedule_cron = "*/10 * * * *"
    db.session.commit()
    lost = run_due_schedules(datetime(2026, 11, 10, 18, 0, 5))[0]
    db.session.get(Batch, lost).created_at = utcnow() - PREPARATION_TIMEOUT - timedelta(minutes=1)
    db.session.commit()
    assert len(run_due_schedules(datetime(2026, 11, 10, 18, 10, 5))) == 1
