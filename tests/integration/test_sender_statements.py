"""What one sender costs the database per message: statements, commits and pool checkouts.

benchmarks/scaleout.py found the sender's messages waiting on round trips to the database more than on
its CPU; these counts keep the per-message work from growing back."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import event

from mailer.extensions import db
from mailer.models import Batch, Delivery
from mailer.services import sending
from tests.support.batches import make_account, make_sending_batch

MESSAGES = 60  # more than one read-ahead chunk (sending.CHUNK)


class RoundTrips:
    """Statements, commits, pool checkouts (each a ping: pool_pre_ping) and resets (a ROLLBACK) while active."""

    def __init__(self, engine):
        self.engine, self.counts = engine, Counter()
        self.hooks = [
            (engine, "before_cursor_execute", lambda *a: self.counts.update(["statements"])),
            (engine, "commit", lambda *a: self.counts.update(["commits"])),
            (engine.pool, "checkout", lambda *a: self.counts.update(["checkouts"])),
            (engine.pool, "reset", lambda *a: self.counts.update(["resets"])),
        ]

    def __enter__(self):
        for target, name, hook in self.hooks:
            event.listen(target, name, hook)
        return self.counts

    def __exit__(self, *exc):
        for target, name, hook in self.hooks:
            event.remove(target, name, hook)


def _sending_batch(smtp_server) -> tuple[int, int]:
    """A batch of MESSAGES invoices, queued and sending (as start_sending leaves it, without the jobs)."""
    account = make_account(smtp_server, max_connections=1)
    batch = make_sending_batch(account, [f"r{i:03d}@cliente.example" for i in range(MESSAGES)])
    batch_id, account_id = batch.id, account.id
    db.session.execute(db.update(Delivery).where(Delivery.batch_id == batch_id).values(status="queued"))
    db.session.execute(db.update(Batch).where(Batch.id == batch_id).values(status="sending"))
    db.session.commit()
    return batch_id, account_id


def test_a_sender_keeps_one_connection_and_commits_once_a_message(app_ctx, smtp_server):
    """One commit a message (the claim, with the previous message's outcome), two statements a message
    (claim and outcome in one UPDATE, then the webhook subscribers), and no pool checkout per commit: each
    one cost a ping and a ROLLBACK on return, two round trips a message more."""
    batch_id, account_id = _sending_batch(smtp_server)
    db.session.remove()
    with RoundTrips(db.engine) as counts:
        assert sending.Sender(batch_id, account_id).run() == "done"
    sent = db.session.scalar(
        db.select(db.func.count()).where(Delivery.batch_id == batch_id, Delivery.status == "sent")
    )
    assert sent == MESSAGES and len(smtp_server.messages) == MESSAGES
    assert counts["checkouts"] <= 2, counts  # the sender's connection (and the caller's), not one a message
    assert counts["resets"] <= 2, counts
    assert counts["commits"] <= MESSAGES + 6, counts
    assert counts["statements"] <= 2 * MESSAGES + 30, counts  # + per chunk: ids, rows, documents, files


def test_the_callers_session_is_left_as_it_was(app_ctx, smtp_server):
    """The sender works on a session of its own; the caller's session and its objects are still there."""
    batch_id, account_id = _sending_batch(smtp_server)
    batch = db.session.get(Batch, batch_id)
    before = db.session()
    sending.Sender(batch_id, account_id).run()
    assert db.session() is before and batch in db.session
    db.session.refresh(batch)
    assert batch.status == "done"
