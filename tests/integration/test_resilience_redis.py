"""Issue 14.1: a Redis restart under a running batch, with the real long-running processes: a `flask worker`
(with rq's scheduler of deferred jobs) and `flask scheduler` (the watchdog). Redis keeps nothing on disk,
so the restart loses the queue: the queued job of the second account, the registrations of worker and
schedulers, the scheduler locks. Every process must wait for Redis, say so once, and carry on by itself;
the batch finishes with every message delivered exactly once, deferred retries included; /healthz tells
the truth throughout."""

from __future__ import annotations

import time

import pytest

from mailer.extensions import db
from mailer.models import Batch, Delivery, MailAccount
from mailer.services import sending
from tests.support.batches import make_account, make_sending_batch
from tests.support.faults import WorkerProcess, batch_status, check_exactly_once, wait_until
from tests.support.resilience import SchedulerProcess

pytestmark = pytest.mark.slow

PER_ACCOUNT = 15
OUTAGE_SECONDS = 6


def _batch(server) -> tuple[int, list[str]]:
    """Two accounts of one connection each, 0.2 s per message; the last recipients of each account
    answer 451 once, so their retries are deferred jobs (rq's scheduler starts them)."""
    recipients = [f"c{i:03d}@cliente.example" for i in range(2 * PER_ACCOUNT)]
    for i, address in enumerate(recipients):
        server.rules[address] = ([451] if i % PER_ACCOUNT >= PER_ACCOUNT - 2 else []) + [("slow", 0.2)]
    accounts = [make_account(server, name=f"Conto {n}", max_connections=1).id for n in range(2)]
    batch = make_sending_batch(db.session.get(MailAccount, accounts[0]), recipients)
    for i, delivery in enumerate(
        db.session.scalars(db.select(Delivery).where(Delivery.batch_id == batch.id).order_by(Delivery.id))
    ):
        delivery.account_id = accounts[i // PER_ACCOUNT]
    db.session.commit()
    return batch.id, recipients


def test_redis_restart_under_a_running_batch(app_ctx, client, faulty_smtp, own_redis, tmp_path):
    """Worker, its rq scheduler and `flask scheduler` outlive a Redis restart; the batch finishes by
    itself (no test-side watchdog), exactly once; health is 503 'redis down' during the outage and 200
    with the busy worker counted while it sends afterwards."""
    app_ctx.config.update(SENDER_HEARTBEAT_SECONDS=2, SEND_RETRY_BACKOFF="2,2,2")
    batch_id, recipients = _batch(faulty_smtp)
    sending.start_sending(db.session.get(Batch, batch_id))
    worker = WorkerProcess(app_ctx, tmp_path, scheduler=True).start()
    scheduler = SchedulerProcess(app_ctx, tmp_path, WATCHDOG_SECONDS=2).start()
    try:
        wait_until(
            lambda: len(faulty_smtp.messages) >= 3, 60, lambda: f"the first sender to start\n{worker.tail()}"
        )
        assert client.get("/healthz").status_code == 200

        own_redis.stop()
        outage_started = time.monotonic()
        during = client.get("/healthz")
        assert during.status_code == 503
        assert during.get_json()["redis"]["ok"] is False and during.get_json()["workers"]["ok"] is False
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - outage_started)))
        own_redis.start()

        def healthy():
            response = client.get("/healthz")
            return response.status_code == 200 and (response.get_json(), batch_status(batch_id))

        body, status_then = wait_until(
            healthy, 30, lambda: f"/healthz to be 200 again\n{worker.tail()}", every=0.2
        )
        assert body["workers"]["count"] >= 1 and status_then == "sending"  # the busy worker counts

        wait_until(
            lambda: batch_status(batch_id) == "done",
            120,
            lambda: (
                f"the batch to finish by itself\n--- worker\n{worker.tail()}\n--- scheduler\n"
                f"{scheduler.tail()}"
            ),
            every=0.5,
        )
        assert worker.alive(), worker.tail()
        assert scheduler.alive(), scheduler.tail()
        wait_until(
            lambda: client.get("/healthz").status_code == 200,
            30,
            lambda: f"the idle worker to be registered again\n{worker.tail()}",
        )
    finally:
        worker.stop()
        scheduler.stop()
    by_rcpt = check_exactly_once(batch_id, faulty_smtp, allowed=("sent",))
    assert len(by_rcpt) == len(recipients)
    retried = [r for i, r in enumerate(recipients) if i % PER_ACCOUNT >= PER_ACCOUNT - 2]
    assert all(faulty_smtp.attempts_to(r) == 2 for r in retried)  # deferred retries ran after the restart
    log = scheduler.log.read_text(errors="replace")
    assert log.count("Redis unavailable") == 1 and log.count("Redis is back") == 1, log[-3000:]
    worker_log = worker.log.read_text(errors="replace")
    assert "raised an exception" not in worker_log, worker_log[
        -3000:
    ]  # rq's scheduler of deferred jobs lived
    assert "Redis is back" in worker_log


def test_healthz_counts_a_worker_busy_sending(app_ctx, client):
    """A worker deep in a send (rq has not refreshed, or after a Redis restart not yet renewed, its
    registration) still counts: its sender's heartbeat is alive. Without it, no worker: 503."""
    from mailer.queue import get_redis

    assert client.get("/healthz").get_json()["workers"] == {"ok": False, "count": 0}
    get_redis().set("recapito:sender:7:1:7:1:0123456789ab", "1", ex=30)
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json()["workers"] == {"ok": True, "count": 1}
