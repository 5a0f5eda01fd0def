"""A batch sent by a real `flask worker` process through the real SMTP test server: one delivery.sent per
delivered message and one delivery.failed for the refused one arrive signed at the loopback receiver; the
receiver's 500 is retried with the same id; every event carries the ERP's references."""

from __future__ import annotations

import pytest

from mailer.extensions import db
from mailer.models import Batch, Delivery, WebhookMessage
from mailer.services import sending
from tests.support.batches import make_account, make_sending_batch
from tests.support.faults import WorkerProcess, wait_until
from tests.support.webhooks import make_endpoint

pytestmark = pytest.mark.slow


def test_a_sent_batch_reports_each_delivery_to_the_erp(app_ctx, tmp_path, smtp_server, receiver):
    """Three recipients, one refused with 550; the receiver fails its first answer with a 500."""
    recipients = ["a@cliente.example", "b@cliente.example", "c@cliente.example"]
    smtp_server.rules["c@cliente.example"] = [550]
    receiver.script = [500]
    make_endpoint(receiver.url, ["delivery.sent", "delivery.failed"])
    account = make_account(smtp_server)
    batch = make_sending_batch(account, recipients)
    batch_id = batch.id
    delivery_ids = {d.recipient_email: d.id for d in db.session.scalars(db.select(Delivery))}
    worker = WorkerProcess(app_ctx, tmp_path, WEBHOOK_BACKOFF_SECONDS="0,0,0").start()
    try:
        sending.start_sending(db.session.get(Batch, batch_id))
        db.session.commit()
        wait_until(
            lambda: len(receiver.events()) >= 4, 60, lambda: f"eventi: {receiver.events()} {worker.tail()}"
        )

        def all_delivered():
            db.session.remove()
            rows = db.session.scalars(db.select(WebhookMessage)).unique().all()
            return len(rows) == 3 and all(m.status == "delivered" for m in rows)

        wait_until(all_delivered, 30, lambda: worker.tail())
    finally:
        worker.stop()
    got = receiver.events()
    assert all(r.valid for r in got)
    ids = [r.headers["webhook-id"] for r in got]
    assert len(got) == 4 and len(set(ids)) == 3  # the one answered 500 came again, same id
    [twice] = [i for i in set(ids) if ids.count(i) == 2]
    first, again = [r for r in got if r.headers["webhook-id"] == twice]
    assert first.answered == 500 and again.answered == 200 and first.body == again.body
    by_recipient = {r.event["data"]["recipient_email"]: r.event for r in got}
    assert {k: v["type"] for k, v in by_recipient.items()} == {
        "a@cliente.example": "delivery.sent",
        "b@cliente.example": "delivery.sent",
        "c@cliente.example": "delivery.failed",
    }
    a = by_recipient["a@cliente.example"]["data"]
    assert a["delivery_id"] == delivery_ids["a@cliente.example"] and a["batch_id"] == batch_id
    assert a["documents"] == [{"type": "FATTURA", "number": f"{batch_id}-1", "year": 2026}]
    assert a["party_code"] and a["smtp_code"] == 250 and a["message_id"] and a["sent_at"]
    failed = by_recipient["c@cliente.example"]["data"]
    assert failed["smtp_code"] == 550 and "User unknown" in failed["smtp_reply"]
    assert smtp_server.accepted_to("a@cliente.example") == 1
