"""Scale-out: four real worker processes (as on four hosts) share one batch of one account; one of them is
killed with SIGKILL in the middle. The others finish the batch, nothing arrives twice, only the dead
worker's message in flight is left "esito incerto". And senders that finished their own share help with
the rest without racing each other for the same deliveries (benchmarks/scaleout.py measures the rate)."""

from __future__ import annotations

import itertools

import pytest
from rq import Worker

from mailer.extensions import db
from mailer.models import Batch, Delivery
from mailer.queue import get_redis
from mailer.services import sending
from tests.support.batches import make_account, make_sending_batch
from tests.support.faults import WorkerProcess, batch_counts, batch_status, check_exactly_once, wait_until

pytestmark = pytest.mark.slow

LATENCY = ("slow", 0.04)  # the server waits 40 ms before answering each message's data


def _busy_worker_pids() -> list[int]:
    """Pids of the rq workers running a job now (their names end with the pid)."""
    workers = Worker.all(connection=get_redis())
    return [int(w.name.rsplit(".", 1)[-1]) for w in workers if w.get_state() == "busy"]


def test_helpers_take_different_deliveries(app_ctx, smtp_server):
    """Four senders of 8 whose own shares are done each get a different slice of what is left
    (they all used to get the same first ids and race for every claim)."""
    account = make_account(smtp_server, max_connections=8)
    batch = make_sending_batch(account, [f"h{i:03d}@cliente.example" for i in range(240)], with_pdf=False)
    batch_id, account_id = batch.id, account.id
    db.session.execute(
        db.update(Delivery).where(Delivery.batch_id == batch_id, Delivery.id % 8 < 4).values(status="sent")
    )
    db.session.execute(
        db.update(Delivery)
        .where(Delivery.batch_id == batch_id, Delivery.status == "pending")
        .values(status="queued")
    )
    db.session.commit()
    chunks = [set(sending.Sender(batch_id, account_id, index, 8)._next_ids()) for index in range(4)]
    for chunk in chunks:
        assert chunk, "a helper got nothing while deliveries are left"
        assert all(did % 8 >= 4 for did in chunk)  # only what is left
    for a, b in itertools.combinations(chunks, 2):
        assert not a & b, f"two helpers got the same deliveries: {sorted(a & b)[:5]}"
    # Own share first: a sender whose share still has deliveries takes those, lowest first.
    db.session.execute(db.update(Delivery).where(Delivery.batch_id == batch_id).values(status="queued"))
    db.session.commit()
    own = sending.Sender(batch_id, account_id, 2, 8)._next_ids()
    assert own and all(did % 8 == 2 for did in own) and own == sorted(own)


def test_four_workers_one_killed_mid_batch(app_ctx, faulty_smtp, tmp_path):
    """300 deliveries, an account allowing 8 connections, four worker processes; one SIGKILLed while
    all four are sending. The other three send the rest; each delivery arrives once, only the dead
    worker's claim becomes uncertain (after its heartbeat expired), nothing is lost."""
    app_ctx.config["SENDER_HEARTBEAT_SECONDS"] = 3
    faulty_smtp.default = LATENCY
    recipients = [f"s{i:03d}@cliente.example" for i in range(300)]
    account = make_account(faulty_smtp, max_connections=8)
    batch = make_sending_batch(account, recipients)
    batch_id = batch.id
    workers = [WorkerProcess(app_ctx, tmp_path, log_name=f"worker-{n}.log") for n in range(4)]
    for worker in workers:
        worker.start()
    try:
        wait_until(
            lambda: len(Worker.all(connection=get_redis())) == 4,
            90,
            lambda: f"four workers registered\n{workers[0].tail()}",
        )
        sending.start_sending(db.session.get(Batch, batch_id))
        wait_until(lambda: len(_busy_worker_pids()) == 4, 60, "all four workers sending")
        wait_until(lambda: len(faulty_smtp.messages) >= 60, 60, "the batch to be under way")
        busy = set(_busy_worker_pids())
        [victim] = [w for w in workers if w.proc.pid in busy][:1]
        victim.kill()
        sent_at_kill = len(faulty_smtp.messages)
        assert sent_at_kill < len(recipients), "the batch finished before the kill: nothing tested"
        wait_until(lambda: not batch_counts(batch_id).get("queued"), 120, "the live workers to take the rest")
        uncertain = 0

        def settled():
            nonlocal uncertain
            db.session.remove()
            uncertain += sending.recover_stalled()["uncertain"]  # the scheduler's watchdog
            return not batch_counts(batch_id).get("sending")

        wait_until(settled, 30, "the watchdog to settle the dead worker's claim", every=0.3)
        wait_until(lambda: batch_status(batch_id) == "done", 30, "the batch to close")
        assert all(w.alive() for w in workers if w is not victim)
    finally:
        for worker in workers:
            worker.stop()
    by_rcpt = check_exactly_once(batch_id, faulty_smtp)
    assert len(by_rcpt) == len(recipients)
    left_uncertain = [d for d in by_rcpt.values() if d.status == "uncertain"]
    assert len(left_uncertain) == uncertain <= 1  # one connection per worker, one claim in flight
    for d in left_uncertain:
        assert "potrebbe essere partito" in d.smtp_reason
        assert faulty_smtp.attempts_to(d.recipient_email) <= 1
    assert sum(1 for d in by_rcpt.values() if d.status == "sent") >= len(recipients) - 1
    # The three live workers sent what was left after the kill (more than the dead one had queued).
    senders = {d.claimed_by for d in by_rcpt.values()}
    assert len(senders) >= 4
