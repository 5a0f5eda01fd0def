"""Whether anybody listens (mailer/services/webhooks/subscriptions.py): with no endpoint the sender no longer
reads the endpoints at every commit; an endpoint registered by another process (the admin's web host) while
a batch sends still gets the events of the deliveries that follow."""

from __future__ import annotations

import pytest

from mailer import create_app
from mailer.extensions import db
from mailer.models import Batch, Delivery, WebhookEndpoint
from mailer.services import sending, webhooks
from tests.support.batches import make_account, make_sending_batch, make_slow_batch, run_jobs, statuses
from tests.support.faults import WorkerProcess, wait_until
from tests.support.queries import QueryCounter
from tests.support.webhooks import make_endpoint

MESSAGES = 12


def test_without_endpoints_sending_reads_them_at_most_once(app_ctx, smtp_server):
    """Before: one SELECT of webhook_endpoints per sender commit (about one per message); now at most one."""
    account = make_account(smtp_server, max_connections=1)
    batch = make_sending_batch(account, [f"c{i}@cliente.example" for i in range(MESSAGES)])
    batch_id = batch.id
    sending.start_sending(batch)
    db.session.commit()
    with QueryCounter(db.engine) as log:
        run_jobs(app_ctx, max_wait=30)
    assert set(statuses(batch_id).values()) == {"sent"}
    per_delivery = log.count / MESSAGES
    print(f"queries per delivery sent: {per_delivery:.1f}")
    assert len(log.about("webhook_endpoints")) <= 1, log.about("webhook_endpoints")


def test_an_endpoint_added_by_another_process_is_seen_at_the_next_emit(app_ctx, receiver):
    """This process has read «nobody listens»; another app (another process) registers an endpoint: the next
    emit here writes its message."""
    assert webhooks.emit("contact.opted_out", {"contact_id": 1}) is None  # remembered: nobody listens
    other = create_app(dict(app_ctx.config))
    with other.app_context():
        make_endpoint(receiver.url, ["contact.opted_out"])
        db.session.remove()
    assert webhooks.emit("contact.opted_out", {"contact_id": 2}) is not None
    db.session.commit()


def test_an_endpoint_switched_off_elsewhere_stops_getting_events(app_ctx, receiver):
    """The other way: deactivated by another process, no more messages for it here."""
    make_endpoint(receiver.url, ["contact.opted_out"])
    assert webhooks.emit("contact.opted_out", {"contact_id": 1}) is not None
    db.session.commit()
    other = create_app(dict(app_ctx.config))
    with other.app_context():
        endpoint = db.session.scalars(db.select(WebhookEndpoint)).unique().one()
        endpoint.active = False
        db.session.commit()
        db.session.remove()
    assert webhooks.emit("contact.opted_out", {"contact_id": 2}) is None


def test_an_endpoint_added_in_this_transaction_counts_before_its_commit(app_ctx, receiver):
    """The cache says «nobody»; an endpoint added (not yet committed) in this transaction gets the event."""
    assert webhooks.emit("contact.opted_out", {"contact_id": 1}) is None
    db.session.rollback()
    endpoint = WebhookEndpoint(url=receiver.url, events="contact.opted_out", owner_id=_owner_id())
    db.session.add(endpoint)
    assert webhooks.emit("contact.opted_out", {"contact_id": 2}) is not None
    db.session.rollback()


def _owner_id() -> int:
    """A user to own an endpoint."""
    from mailer.models import User

    user = User(username="erp-owner", password_hash="!", privacy_clearance=3, roles="admin")
    db.session.add(user)
    db.session.flush()
    return user.id


@pytest.mark.slow
def test_an_endpoint_registered_while_a_batch_sends_gets_the_later_events(
    app_ctx, tmp_path, smtp_server, receiver
):
    """A real worker process sends slowly (each message accepted after 0.4 s) and has already read «nobody
    listens»; this process registers an endpoint mid-batch: every delivery not yet claimed then is reported."""
    recipients = [f"lento{i}@cliente.example" for i in range(10)]
    batch = make_slow_batch(smtp_server, recipients, 0.4)
    batch_id = batch.id
    worker = WorkerProcess(app_ctx, tmp_path, WEBHOOK_BACKOFF_SECONDS="0,0,0").start()
    try:
        sending.start_sending(db.session.get(Batch, batch_id))
        db.session.commit()

        def some_sent():
            db.session.remove()
            return list(statuses(batch_id).values()).count("sent") >= 2

        wait_until(some_sent, 60, lambda: worker.tail())
        make_endpoint(receiver.url, ["delivery.sent"])
        db.session.remove()
        later = set(
            db.session.scalars(
                db.select(Delivery.id).where(
                    Delivery.batch_id == batch_id, Delivery.status.in_(["pending", "queued"])
                )
            )
        )
        assert later, "the batch finished before the endpoint was registered: make the messages slower"

        def reported():
            got = {r.event["data"]["delivery_id"] for r in receiver.events()}
            return later <= got

        wait_until(reported, 60, lambda: f"{later} {[r.event for r in receiver.events()]} {worker.tail()}")
    finally:
        worker.stop()
