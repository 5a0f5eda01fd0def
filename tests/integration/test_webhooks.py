"""Webhooks to the ERP (issue 18.2): outbox rows written with the change and enqueued after its commit,
signed the Standard Webhooks way, retried on 5xx/408/429/timeouts with the same id, given up on other 4xx,
privacy of the endpoint's owner, events from bounces and opt-outs. Against a real receiver on loopback
(tests/support/webhooks.py) and the real Redis queue; jobs run by burst workers."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from rq import Queue

from mailer.extensions import db
from mailer.models import Contact, Delivery, WebhookAttempt, WebhookMessage, utcnow
from mailer.queue import get_redis
from mailer.services import webhooks
from mailer.services.campaigns.unsubscribe import unsubscribe
from mailer.services.tracking import record_message
from mailer.services.webhooks.endpoints import EndpointInput, url_problem, validate
from tests.support.batches import make_account, make_sending_batch, run_jobs
from tests.support.receipts import dsn_bounce
from tests.support.webhooks import SECRET, make_endpoint, verify

CONTACT = {
    "contact_id": 7,
    "party_code": "C001",
    "contact_email": "anna@cliente.example",
    "contact_name": "Anna",
}


def _queue(app) -> Queue:
    """The installation's RQ queue."""
    return Queue(app.config["RQ_QUEUE"], connection=get_redis())


def _messages() -> list[WebhookMessage]:
    """Every outbox row, fresh."""
    db.session.expire_all()
    return list(db.session.scalars(db.select(WebhookMessage).order_by(WebhookMessage.id)).unique())


def _attempts(message_id: int) -> list[WebhookAttempt]:
    """A message's attempts, oldest first."""
    return list(
        db.session.scalars(
            db.select(WebhookAttempt)
            .where(WebhookAttempt.message_id == message_id)
            .order_by(WebhookAttempt.id)
        )
    )


def test_an_event_arrives_signed_once_after_the_commit(app_ctx, receiver):
    """Nothing is queued before the commit; after it, one signed POST with the event's id, type and data."""
    make_endpoint(receiver.url, ["contact.opted_out"])
    event_id = webhooks.emit("contact.opted_out", CONTACT)
    assert event_id and _queue(app_ctx).count == 0  # not before the commit
    db.session.commit()
    assert _queue(app_ctx).count == 1
    run_jobs(app_ctx)
    [got] = receiver.events()
    assert got.valid, got.headers
    assert got.headers["webhook-id"] == event_id and got.headers["content-type"] == "application/json"
    assert got.event["id"] == event_id and got.event["type"] == "contact.opted_out"
    assert got.event["data"]["contact_email"] == "anna@cliente.example"
    assert got.event["timestamp"].endswith("Z")
    [message] = _messages()
    assert message.status == "delivered" and message.attempts == 1 and message.delivered_at
    [attempt] = _attempts(message.id)
    assert attempt.status_code == 200 and '"ricevuto": true' in attempt.response_excerpt
    assert attempt.outcome == "delivered" and attempt.duration_ms >= 0


def test_a_rolled_back_change_emits_nothing(app_ctx, receiver):
    """The event shares the change's transaction: a rollback takes both away, nothing is queued."""
    make_endpoint(receiver.url, ["contact.opted_out"])
    webhooks.emit("contact.opted_out", CONTACT)
    db.session.rollback()
    db.session.commit()  # a later commit must not enqueue the forgotten rows
    assert _messages() == [] and _queue(app_ctx).count == 0


def test_signature_is_checked_by_an_independent_verifier(app_ctx):
    """The signature of a known input (Standard Webhooks: key = base64-decoded part after whsec_) and a
    tampered body/timestamp failing the receiver's check."""
    body = b'{"a":1}'
    headers = webhooks.signed_headers(SECRET, "msg_1", body, timestamp=1700000000)
    assert headers["webhook-signature"] == "v1,tDnYFrCIK4MQWDoOot4FXQ7/xKQ3Ta7J5hEfw60KmoA="
    fresh = webhooks.signed_headers(SECRET, "msg_1", body)
    assert verify(SECRET, fresh, body)
    assert not verify(SECRET, fresh, b'{"a":2}')
    assert not verify("whsec_" + "QUJD" * 11, fresh, body)
    assert not verify(SECRET, headers, body)  # timestamp too old


def test_a_500_is_retried_with_the_same_id_and_body(app_ctx, receiver):
    """500, then 200: two POSTs, one event id, the same bytes; both attempts listed."""
    make_endpoint(receiver.url, ["contact.opted_out"])
    receiver.script = [500]
    event_id = webhooks.emit("contact.opted_out", CONTACT)
    db.session.commit()
    run_jobs(app_ctx)
    first, second = receiver.events()
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == event_id
    assert first.body == second.body and first.valid and second.valid
    [message] = _messages()
    assert message.status == "delivered" and message.attempts == 2
    assert [(a.status_code, a.outcome) for a in _attempts(message.id)] == [(500, "retry"), (200, "delivered")]


@pytest.mark.parametrize("status", [408, 429, 503])
def test_retryable_answers_are_retried(app_ctx, receiver, status):
    """408 and 429 are retried like 5xx."""
    make_endpoint(receiver.url, ["contact.opted_out"])
    receiver.script = [status]
    webhooks.emit("contact.opted_out", CONTACT)
    db.session.commit()
    run_jobs(app_ctx)
    assert len(receiver.events()) == 2 and _messages()[0].status == "delivered"


@pytest.mark.parametrize("status", [400, 401, 404, 410, 301])
def test_other_answers_fail_for_good(app_ctx, receiver, status):
    """Any other 4xx (and a redirect, which is not followed) is final: one POST, «failed»."""
    make_endpoint(receiver.url, ["contact.opted_out"])
    receiver.script = [status]
    webhooks.emit("contact.opted_out", CONTACT)
    db.session.commit()
    run_jobs(app_ctx)
    [message] = _messages()
    assert len(receiver.events()) == 1 and message.status == "failed" and message.last_status_code == status


def test_a_receiver_that_does_not_answer_is_retried(app_ctx, receiver):
    """No answer within WEBHOOK_TIMEOUT_SECONDS: the attempt says so, and the next one is made."""
    app_ctx.config["WEBHOOK_TIMEOUT_SECONDS"] = 0.5
    make_endpoint(receiver.url, ["contact.opted_out"])
    receiver.script = [("hang", 1.5)]
    webhooks.emit("contact.opted_out", CONTACT)
    db.session.commit()
    run_jobs(app_ctx)
    [message] = _messages()
    first, second = _attempts(message.id)
    assert first.status_code is None and "Nessuna risposta entro 0.5 secondi" in first.error
    assert first.outcome == "retry" and 400 <= first.duration_ms < 1400
    assert second.status_code == 200 and message.status == "delivered"


def test_a_slow_answer_within_the_timeout_counts(app_ctx, receiver):
    """A receiver that takes 0.3 s (timeout 2 s): delivered at the first attempt, the duration shows it."""
    make_endpoint(receiver.url, ["contact.opted_out"])
    receiver.script = [("slow", 0.3, 204)]
    webhooks.emit("contact.opted_out", CONTACT)
    db.session.commit()
    run_jobs(app_ctx)
    [message] = _messages()
    [attempt] = _attempts(message.id)
    assert message.status == "delivered" and attempt.status_code == 204 and attempt.duration_ms >= 300


def test_retries_stop_after_the_schedule(app_ctx, receiver):
    """Back-off «0,0,0»: four POSTs, then «failed» with the last answer."""
    make_endpoint(receiver.url, ["contact.opted_out"])
    receiver.script = [500, 502, 503, 500, 200]
    webhooks.emit("contact.opted_out", CONTACT)
    db.session.commit()
    run_jobs(app_ctx)
    [message] = _messages()
    assert len(receiver.events()) == 4 and message.status == "failed" and message.attempts == 4


def test_default_backoff_waits_a_minute_then_more(app_ctx, receiver):
    """Without WEBHOOK_BACKOFF_SECONDS: 1 min, 5 min, 30 min, 2 h, 6 h; the retry is scheduled in RQ."""
    app_ctx.config["WEBHOOK_BACKOFF_SECONDS"] = ""
    assert webhooks.posting.backoff() == (60, 300, 1800, 7200, 21600)
    make_endpoint(receiver.url, ["contact.opted_out"])
    receiver.script = [500]
    webhooks.emit("contact.opted_out", CONTACT)
    db.session.commit()
    [message] = _messages()
    assert webhooks.deliver_message(message.id) == "retry"
    message = _messages()[0]
    wait = (message.next_attempt_at - utcnow()).total_seconds()
    assert 50 < wait <= 60 and message.status == "pending"
    assert _queue(app_ctx).scheduled_job_registry.count == 1
    assert webhooks.deliver_message(message.id) == "not-due"  # too early: nothing posted
    assert len(receiver.events()) == 1


def test_the_outbox_job_sends_what_was_never_enqueued(app_ctx, receiver):
    """Redis lost the job (or the process died after the commit): the outbox job finds the row and sends it;
    a message leased by a worker that died is sent again once the lease expires."""
    make_endpoint(receiver.url, ["contact.opted_out"])
    webhooks.emit("contact.opted_out", CONTACT)
    webhooks.emit("contact.opted_out", {**CONTACT, "contact_id": 8})
    db.session.commit()
    get_redis().flushdb()  # the enqueued jobs are gone
    second = _messages()[1]
    second.lease_until = utcnow() + timedelta(seconds=60)  # a live worker is posting it
    db.session.commit()
    assert webhooks.enqueue_due() == 1
    run_jobs(app_ctx)
    assert [r.event["data"]["contact_id"] for r in receiver.events()] == [7]
    second = _messages()[1]
    second.lease_until = utcnow() - timedelta(seconds=1)  # that worker died
    db.session.commit()
    assert webhooks.enqueue_due() == 1
    run_jobs(app_ctx)
    assert sorted(r.event["data"]["contact_id"] for r in receiver.events()) == [7, 8]
    assert webhooks.enqueue_due() == 0


def test_endpoints_get_only_their_events_and_inactive_ones_none(app_ctx, receiver):
    """Subscriptions filter; an inactive endpoint gets no message."""
    make_endpoint(receiver.url, ["delivery.failed"])
    make_endpoint(receiver.url + "?sospeso", ["contact.opted_out"], clearance=2, active=False)
    assert webhooks.emit("contact.opted_out", CONTACT) is None
    db.session.commit()
    assert _messages() == []


def test_contacts_above_the_owners_clearance_lose_name_and_address(app_ctx, receiver):
    """Owner clearance 1 gets the event without the level-3 contact's name and e-mail; clearance 3 gets all."""
    low = make_endpoint(receiver.url + "?basso", ["contact.opted_out"], clearance=1).id
    make_endpoint(receiver.url + "?alto", ["contact.opted_out"], clearance=3)
    webhooks.emit("contact.opted_out", CONTACT, privacy_level=3)
    db.session.commit()
    run_jobs(app_ctx)
    by_url = {m.endpoint_id: json.loads(m.body)["data"] for m in _messages()}
    hidden = by_url[low]
    assert "contact_email" not in hidden and "contact_name" not in hidden and hidden["contact_hidden"]
    assert hidden["party_code"] == "C001"
    shown = next(v for k, v in by_url.items() if k != low)
    assert shown["contact_email"] == "anna@cliente.example" and "contact_hidden" not in shown
    bodies = [r.body.decode() for r in receiver.events()]
    assert len(bodies) == 2 and sum("anna@cliente.example" in b for b in bodies) == 1


def test_unknown_event_types_are_refused(app_ctx):
    """A typo in another area's emit() fails at once, not silently."""
    with pytest.raises(ValueError, match="unknown webhook event"):
        webhooks.emit("delivery.sents", {})


@pytest.mark.parametrize(
    "url, message",
    [
        ("", "Indica l'indirizzo"),
        ("ftp://erp.example/x", "deve iniziare con https://"),
        ("https://", "deve iniziare con https://"),
        ("http://erp.example/hook", "Serve un indirizzo https://"),
        ("http://10.0.0.5/hook", "Serve un indirizzo https://"),
        ("https://utente:pw@erp.example/hook", "Non mettere utente e password"),
        ("https://erp.example:99999/hook", "non è valido"),
        ("https://erp.example/" + "x" * 500, "troppo lungo"),
    ],
)
def test_bad_addresses_are_refused_with_a_reason(app_ctx, url, message):
    """Each bad address gets its Italian reason."""
    assert message in url_problem(url)


def test_http_only_to_loopback_and_only_in_testing_or_development(app_ctx):
    """http://127.0.0.1 is fine in testing; in production only https is accepted."""
    assert url_problem("http://127.0.0.1:8080/hook") == "" and url_problem("http://localhost/x") == ""
    assert url_problem("https://erp.example/hook") == ""
    app_ctx.config.update(TESTING=False, ENV_NAME="production")
    assert "Serve un indirizzo https://" in url_problem("http://127.0.0.1:8080/hook")
    assert url_problem("https://erp.example/hook") == ""


def test_validation_names_every_field(app_ctx):
    """No events, no owner, a bad address: three messages, nothing written."""
    _clean, errors = validate(EndpointInput(url="http://erp.example", events=("x",), owner_id="999"))
    assert set(errors) == {"url", "events", "owner_id"}


# -- where events come from


@pytest.fixture
def delivered(app_ctx):
    """A batch of two deliveries written as sent (nothing leaves), one contact at privacy level 3."""
    account = make_account(SimpleNamespace(host="127.0.0.1", port=1), verp=True)
    batch = make_sending_batch(account, ["a@cliente.example", "b@cliente.example"], status="done")
    rows = list(db.session.scalars(db.select(Delivery).order_by(Delivery.id)))
    for d in rows:
        d.status, d.message_id = "sent", f"<m.{d.id}@azienda.example>"
    rows[1].privacy_level = 3
    db.session.get(Contact, rows[1].contact_id).privacy_level = 3
    db.session.commit()
    return SimpleNamespace(batch=batch.id, ids=[d.id for d in rows], mids=[d.message_id for d in rows])


def test_a_bounce_emits_delivery_bounced_with_the_erp_references(app_ctx, receiver, delivered):
    """A permanent bounce read from the mailbox: one delivery.bounced with document, party, reason."""
    make_endpoint(receiver.url, ["delivery.bounced", "delivery.sent"], clearance=1)
    record_message(dsn_bounce(delivered.mids[0], "a@cliente.example"))
    run_jobs(app_ctx)
    [got] = receiver.events()
    data = got.event["data"]
    assert got.valid and got.event["type"] == "delivery.bounced"
    assert data["delivery_id"] == delivered.ids[0] and data["batch_id"] == delivered.batch
    assert data["documents"] == [{"type": "FATTURA", "number": f"{delivered.batch}-1", "year": 2026}]
    assert data["party_code"] and data["recipient_email"] == "a@cliente.example" and data["bounce_reason"]
    # the level-3 recipient's bounce reaches this clearance-1 endpoint without the address
    record_message(dsn_bounce(delivered.mids[1], "b@cliente.example"))
    run_jobs(app_ctx)
    hidden = receiver.events()[-1].event["data"]
    assert hidden["delivery_id"] == delivered.ids[1] and "recipient_email" not in hidden
    assert "b@cliente.example" not in receiver.events()[-1].body.decode()  # nor in the server's reply
    assert "[riservato]" in hidden["bounce_reason"] and "Ufficio 2" not in receiver.events()[-1].body.decode()


def test_pec_receipts_map_to_their_events(app_ctx, receiver, delivered):
    """accettazione / avvenuta-consegna / errore-consegna give pec.accepted / delivered / not_delivered."""
    make_endpoint(receiver.url, ["pec.accepted", "pec.delivered", "pec.not_delivered"])
    for kind in ("accettazione", "avvenuta-consegna", "errore-consegna", "presa-in-carico"):
        webhooks.emit_receipt(delivered.ids[0], "pec-receipt", kind, "motivo")
    db.session.commit()
    run_jobs(app_ctx)
    got = [(r.event["type"], r.event["data"]["receipt_type"]) for r in receiver.events()]
    assert sorted(got) == sorted(
        [
            ("pec.accepted", "accettazione"),
            ("pec.delivered", "avvenuta-consegna"),
            ("pec.not_delivered", "errore-consegna"),
        ]
    )


def test_an_unsubscribe_emits_contact_opted_out_once(app_ctx, receiver, delivered):
    """The unsubscribe link: one contact.opted_out (a second click changes nothing and emits nothing)."""
    make_endpoint(receiver.url, ["contact.opted_out"])
    contact = db.session.get(Contact, db.session.get(Delivery, delivered.ids[0]).contact_id)
    contact_id = contact.id
    unsubscribe(contact, via="link")
    unsubscribe(contact, via="link")
    run_jobs(app_ctx)
    [got] = receiver.events()
    assert got.event["data"]["contact_id"] == contact_id and got.event["data"]["via"] == "link"
    assert got.event["data"]["opted_out_at"]
