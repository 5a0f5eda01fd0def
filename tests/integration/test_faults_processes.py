"""Faults of the machinery around the sender, with real `flask worker` processes: a worker killed with
SIGKILL several times mid-send, Redis restarted during a batch (its queued jobs lost), the database
unavailable for a few seconds. After recovery every delivery is sent exactly once or "esito incerto",
nothing is lost, every failure says why."""

from __future__ import annotations

import sqlite3
import time
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from mailer.extensions import db
from mailer.models import Batch, Delivery, MailAccount
from mailer.services import sending
from tests.support.batches import make_account, make_sending_batch
from tests.support.faults import (
    WorkerProcess,
    batch_counts,
    batch_status,
    check_exactly_once,
    wait_until,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def quick_heartbeat(app):
    """Dead senders are noticed after 2 s; retries do not wait."""
    app.config["SENDER_HEARTBEAT_SECONDS"] = 2
    app.config["SEND_RETRY_BACKOFF"] = "0,0,0"
    return app


def _slow_batch(server, count: int, delay: float, accounts: int = 1) -> tuple[int, list[str]]:
    """An approved batch of `count` deliveries on a server that takes `delay` s to accept each one,
    spread over `accounts` accounts of one connection each."""
    recipients = [f"c{i:03d}@cliente.example" for i in range(count)]
    for address in recipients:
        server.rules[address] = [("slow", delay)]
    account_ids = [make_account(server, name=f"Conto {n}", max_connections=1).id for n in range(accounts)]
    batch = make_sending_batch(db.session.get(MailAccount, account_ids[0]), recipients)
    for delivery in db.session.scalars(db.select(Delivery).where(Delivery.batch_id == batch.id)):
        delivery.account_id = account_ids[delivery.id % accounts]
    db.session.commit()
    return batch.id, recipients


def _recover_until_settled(batch_id: int, timeout: float) -> int:
    """Run the watchdog until no delivery of the batch is left 'sending'; returns how many became uncertain."""
    uncertain = 0

    def settled():
        nonlocal uncertain
        db.session.remove()
        uncertain += sending.recover_stalled()["uncertain"]
        return not batch_counts(batch_id).get("sending")

    wait_until(settled, timeout, "the watchdog to settle the dead sender's claim", every=0.2)
    return uncertain


def test_worker_killed_three_times(app_ctx, faulty_smtp, quick_heartbeat, tmp_path):
    """Three SIGKILLs while a message is in flight; after each the watchdog settles the claim and
    re-dispatches, a new worker goes on; in the end: sent once or uncertain, one uncertain per kill at most."""
    batch_id, recipients = _slow_batch(faulty_smtp, 24, 0.3)
    sending.start_sending(db.session.get(Batch, batch_id))
    worker = WorkerProcess(app_ctx, tmp_path)
    kills = uncertain = 0
    try:
        for _ in range(3):
            before = len(faulty_smtp.messages)
            worker.start()
            wait_until(
                lambda before=before: len(faulty_smtp.messages) >= before + 2,
                30,
                lambda: f"the worker to send again\n{worker.tail()}",
            )
            wait_until(lambda: batch_counts(batch_id).get("sending"), 10, "a message in flight")
            worker.kill()
            kills += 1
            in_flight = batch_counts(batch_id).get("sending", 0)
            assert in_flight <= 1  # one connection, one claim at a time
            uncertain += _recover_until_settled(batch_id, 15)
            assert uncertain <= kills
        worker.start()
        wait_until(
            lambda: batch_status(batch_id) == "done", 60, lambda: f"the batch to finish\n{worker.tail()}"
        )
    finally:
        worker.stop()
    by_rcpt = check_exactly_once(batch_id, faulty_smtp)
    left_uncertain = [d for d in by_rcpt.values() if d.status == "uncertain"]
    assert len(left_uncertain) == uncertain <= kills
    assert len(by_rcpt) == len(recipients)
    for d in left_uncertain:
        assert "potrebbe essere partito" in d.smtp_reason
        assert faulty_smtp.attempts_to(d.recipient_email) <= 1  # never tried again (killed maybe before DATA)


@pytest.mark.parametrize("down_seconds, sender_waits", [(0, 120), (3, 1)], ids=["restart", "down-3s"])
def test_redis_restarted_during_batch(
    app_ctx, faulty_smtp, quick_heartbeat, redis_server, tmp_path, down_seconds, sender_waits
):
    """Redis restarts (losing everything) while one account's sender runs and the other account's job
    waits in the queue. restart: the running sender waits for Redis and carries on. down-3s with a
    sender that waits only 1 s: the sender stops with its outcomes written, its job's failure cannot
    be recorded, and the worker process must survive that. Either way the queued job is lost, the
    watchdog re-dispatches what is left, and nothing is sent twice or left uncertain."""
    # 20 messages per account at 0.15 s: the sender is still at work when its next heartbeat (every
    # 2 s) meets the outage (its rate budget is reserved in blocks, so sending alone may not touch Redis).
    batch_id, recipients = _slow_batch(faulty_smtp, 40, 0.15, accounts=2)
    sending.start_sending(db.session.get(Batch, batch_id))
    worker = WorkerProcess(
        app_ctx, tmp_path, SENDER_REDIS_WAIT_SECONDS=sender_waits
    ).start()  # one job at a time
    try:
        wait_until(
            lambda: len(faulty_smtp.messages) >= 3, 30, lambda: f"the first sender to start\n{worker.tail()}"
        )
        redis_server.stop()
        time.sleep(down_seconds)  # the outage itself: nothing to poll for
        redis_server.start()
        first_account = db.session.scalar(
            db.select(Delivery.account_id).where(
                Delivery.batch_id == batch_id, Delivery.recipient_email == faulty_smtp.messages[0].rcpt_tos[0]
            )
        )

        def first_account_left() -> int:
            db.session.remove()
            return db.session.scalar(
                db.select(db.func.count(Delivery.id)).where(
                    Delivery.batch_id == batch_id,
                    Delivery.account_id == first_account,
                    Delivery.status.in_(["queued", "sending"]),
                )
            )

        if down_seconds:
            wait_until(
                lambda: "Redis lost while finishing job" in worker.tail(100_000),
                30,
                lambda: f"the sender to give up and the worker to wait for Redis\n{worker.tail()}",
            )
            assert first_account_left() > 0  # it stopped half-way…
        else:
            wait_until(
                lambda: first_account_left() == 0,
                30,
                lambda: f"the running sender to carry on after the restart\n{worker.tail()}",
            )
        db.session.remove()
        assert not batch_counts(batch_id).get("sending")  # …with every outcome written
        others = db.session.scalars(
            db.select(Delivery).where(Delivery.batch_id == batch_id, Delivery.account_id != first_account)
        ).all()
        assert others and {d.status for d in others} == {"queued"}  # their job is lost, they are not
        assert all(faulty_smtp.accepted_to(d.recipient_email) == 0 for d in others)
        assert batch_status(batch_id) == "sending"

        def recovered():
            sending.recover_stalled()  # what the scheduler runs every minute
            return batch_status(batch_id) == "done"

        wait_until(recovered, 30, lambda: f"the batch to finish\n{worker.tail()}", every=0.5)
        assert worker.alive()  # the worker process survived the outage
    finally:
        worker.stop()
    by_rcpt = check_exactly_once(batch_id, faulty_smtp, allowed=("sent",))
    assert len(by_rcpt) == len(recipients)


class _Outage:
    """Make the test database unavailable for writes (SQLite: an exclusive transaction held by another
    connection) or entirely (PostgreSQL: connections refused and every backend terminated)."""

    def __init__(self, url: str):
        self.url = url
        self.sqlite = url.startswith("sqlite")
        self._lock: sqlite3.Connection | None = None
        self._admin = None
        self.name = urlsplit(url).path.lstrip("/")

    def begin(self) -> None:
        """Start the outage."""
        if self.sqlite:
            self._lock = sqlite3.connect(
                urlsplit(self.url).path[1:]
                if self.url.startswith("sqlite:////")
                else self.url.removeprefix("sqlite:///"),
                isolation_level=None,
            )
            self._lock.execute("BEGIN EXCLUSIVE")
            return
        base = self.url.rsplit("/", 1)[0] + "/postgres"
        self._admin = sa.create_engine(base, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with self._admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS false'))
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": self.name},
            )

    def end(self) -> None:
        """End the outage."""
        if self._lock is not None:
            self._lock.execute("ROLLBACK")
            self._lock.close()
            self._lock = None
        if self._admin is not None:
            with self._admin.connect() as conn:
                conn.execute(sa.text(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS true'))
            self._admin.dispose()
            self._admin = None


def test_database_unavailable_during_sending(app_ctx, faulty_smtp, quick_heartbeat, tmp_path):
    """The database stops answering for 3 s mid-batch: no message leaves without a durable claim, the
    sender keeps its outcomes and carries on when the database is back; all sent once, no watchdog needed."""
    batch_id, recipients = _slow_batch(faulty_smtp, 30, 0.1)
    sending.start_sending(db.session.get(Batch, batch_id))
    outage = _Outage(app_ctx.config["SQLALCHEMY_DATABASE_URI"])
    worker = WorkerProcess(
        app_ctx, tmp_path, SQLITE_BUSY_TIMEOUT_MS=300, SENDER_DB_WAIT_SECONDS=60, SENDER_HEARTBEAT_SECONDS=30
    ).start()
    try:
        wait_until(
            lambda: len(faulty_smtp.messages) >= 5, 30, lambda: f"the sender to start\n{worker.tail()}"
        )
        db.session.remove()
        db.engine.dispose()  # our own connections must not hold the outage up
        outage.begin()
        try:
            at_start = len(faulty_smtp.messages)
            time.sleep(3.0)  # the outage itself: nothing to poll for
            during = len(faulty_smtp.messages) - at_start
        finally:
            outage.end()
        assert during <= 1  # at most the message in flight when it began: no claim, no send
        wait_until(
            lambda: batch_status(batch_id) == "done", 60, lambda: f"the batch to finish\n{worker.tail()}"
        )
        assert worker.alive()
    finally:
        worker.stop()
    assert "database unavailable" in worker.tail(200_000)  # the outage was really felt by the sender
    by_rcpt = check_exactly_once(batch_id, faulty_smtp, allowed=("sent",))
    assert len(by_rcpt) == len(recipients)
