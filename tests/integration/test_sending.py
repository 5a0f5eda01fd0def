"""Sending through a real loopback SMTP server that misbehaves, with a real RQ worker on real Redis."""

from __future__ import annotations

import time

import pytest
from rq import Queue, SimpleWorker

from mailer.extensions import db
from mailer.models import Batch, Delivery, Document, utcnow
from mailer.queue import get_redis
from mailer.services import sending
from mailer.services.sending import limits
from tests.support.batches import make_account, make_sending_batch, run_jobs, statuses


def work(app, max_wait: float = 10.0):
    """Run every queued job, and scheduled ones as they fall due."""
    run_jobs(app, max_wait)


@pytest.fixture
def fast_retries(app):
    """Retries without waiting."""
    app.config["SEND_RETRY_BACKOFF"] = "0,0,0"
    app.config["SEND_MAX_ATTEMPTS"] = 3
    return app


def test_each_failure_kind_lands_right(app_ctx, smtp_server, fast_retries):
    """4xx retried then sent; 5xx failed at once with the server's words; a drop after DATA is uncertain."""
    smtp_server.rules = {
        "ok@cliente.example": ["ok"],
        "t451@cliente.example": [451, "ok"],
        "t452@cliente.example": [452, 452, "ok"],
        "t421@cliente.example": [421, "ok"],
        "p550@cliente.example": [550],
        "p552@cliente.example": [552],
        "p554@cliente.example": [554],
        "r550@cliente.example": [("rcpt", 550)],
        "drop@cliente.example": ["drop"],
        "always451@cliente.example": [451, 451, 451, 451],
    }
    account = make_account(smtp_server)
    batch = make_sending_batch(account, list(smtp_server.rules))
    batch_id = batch.id
    sending.start_sending(batch)
    work(app_ctx)
    result = statuses(batch_id)
    assert result == {
        "ok@cliente.example": "sent",
        "t451@cliente.example": "sent",
        "t452@cliente.example": "sent",
        "t421@cliente.example": "sent",
        "p550@cliente.example": "failed",
        "p552@cliente.example": "failed",
        "p554@cliente.example": "failed",
        "r550@cliente.example": "failed",
        "drop@cliente.example": "uncertain",
        "always451@cliente.example": "failed",
    }
    for address in ("ok", "t451", "t452", "t421"):
        assert smtp_server.accepted_to(f"{address}@cliente.example") == 1
    assert smtp_server.attempts_to("always451@cliente.example") == 3
    assert smtp_server.attempts_to("drop@cliente.example") == 1  # never resent on its own
    by_rcpt = {
        d.recipient_email: d
        for d in db.session.scalars(db.select(Delivery).where(Delivery.batch_id == batch_id))
    }
    assert by_rcpt["p552@cliente.example"].smtp_code == 552
    assert "exceeds" in by_rcpt["p552@cliente.example"].smtp_reason
    assert by_rcpt["r550@cliente.example"].smtp_code == 550
    assert by_rcpt["always451@cliente.example"].smtp_code == 451
    assert "3 tentativi" in by_rcpt["always451@cliente.example"].smtp_reason
    assert by_rcpt["t452@cliente.example"].attempts == 3
    assert db.session.get(Batch, batch_id).status == "done"


def test_message_is_what_was_recorded(app_ctx, smtp_server):
    """The message received has the stored Message-ID, the PDF, and the digest matches a rebuild."""
    account = make_account(smtp_server, from_address="pec@azienda.example")
    batch = make_sending_batch(account, ["rossi@cliente.example"])
    batch_id = batch.id
    account_id = account.id
    sending.start_sending(batch)
    work(app_ctx)
    delivery = db.session.scalar(db.select(Delivery).where(Delivery.batch_id == batch_id))
    received = smtp_server.messages[0]
    assert received.mail_from == "pec@azienda.example"  # envelope sender = From (PEC rule)
    assert received.message["Message-ID"] == delivery.message_id
    pdfs = [p for p in received.message.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert len(pdfs) == 1 and pdfs[0].get_content().startswith(b"%PDF")
    import hashlib

    from mailer.transport.message import build_message

    rebuilt = build_message(sending.message_spec(delivery, db.session.get(type(account), account_id)))
    assert hashlib.sha256(rebuilt).hexdigest() == delivery.message_sha256
    document = db.session.scalar(db.select(Document).where(Document.id == delivery.documents[0].id))
    assert document.sent_at is not None


def test_pause_and_cancel(app_ctx, smtp_server):
    """A paused batch sends nothing until resumed; cancel stops what has not left."""
    account = make_account(smtp_server)
    batch = make_sending_batch(account, [f"c{i}@cliente.example" for i in range(5)])
    batch_id = batch.id
    account_id = account.id
    sending.start_sending(batch)
    sending.pause_sending(db.session.get(Batch, batch_id))
    work(app_ctx)
    assert len(smtp_server.messages) == 0
    assert set(statuses(batch_id).values()) == {"queued"}
    sending.resume_sending(db.session.get(Batch, batch_id))
    work(app_ctx)
    assert len(smtp_server.messages) == 5
    from mailer.models import MailAccount

    other = make_sending_batch(
        db.session.get(MailAccount, account_id), ["x@cliente.example", "y@cliente.example"]
    )
    other_id = other.id
    sending.start_sending(other)
    sending.cancel_sending(db.session.get(Batch, other_id))
    work(app_ctx)
    assert set(statuses(other_id).values()) == {"cancelled"}
    assert smtp_server.accepted_to("x@cliente.example") == 0


def test_retry_failed_after_fix(app_ctx, smtp_server, fast_retries):
    """'Ritenta i falliti' sends the failed ones again, and only them."""
    smtp_server.rules = {"full@cliente.example": [552, "ok"]}
    account = make_account(smtp_server)
    batch = make_sending_batch(account, ["full@cliente.example", "fine@cliente.example"])
    batch_id = batch.id
    sending.start_sending(batch)
    work(app_ctx)
    assert statuses(batch_id)["full@cliente.example"] == "failed"
    assert sending.retry_failed(db.session.get(Batch, batch_id)) == 1
    work(app_ctx)
    assert statuses(batch_id) == {"full@cliente.example": "sent", "fine@cliente.example": "sent"}
    assert smtp_server.accepted_to("fine@cliente.example") == 1


def test_rate_limit_per_minute_defers(app_ctx, smtp_server):
    """With 2 messages a minute, only 2 leave now; the rest is scheduled, not lost."""
    account = make_account(smtp_server, rate_per_minute=2)
    batch = make_sending_batch(account, [f"r{i}@cliente.example" for i in range(5)])
    batch_id = batch.id
    sending.start_sending(batch)
    redis = get_redis()
    queue = Queue(app_ctx.config["RQ_QUEUE"], connection=redis)
    SimpleWorker([queue], connection=redis).work(burst=True)  # no scheduler: the deferred sender waits
    db.session.remove()
    assert len(smtp_server.messages) == 2
    assert list(statuses(batch_id).values()).count("queued") == 3
    assert queue.scheduled_job_registry.get_job_ids()  # a sender is scheduled for the next minute


def test_rate_budget_reserved_in_blocks_never_exceeds_the_limit(app_ctx, smtp_server):
    """20 a minute, reserved 5 at a time: exactly 20 leave now, whatever the block size; the rest waits."""
    account = make_account(smtp_server, rate_per_minute=20, max_connections=1)
    assert limits._rate_block(limits._AccountLimits(account.id, "", 1, 20, 0)) == 5
    batch = make_sending_batch(account, [f"r{i}@cliente.example" for i in range(27)])
    batch_id = batch.id
    sending.start_sending(batch)
    redis = get_redis()
    queue = Queue(app_ctx.config["RQ_QUEUE"], connection=redis)
    minute = int(time.time() // 60)
    SimpleWorker([queue], connection=redis).work(burst=True)
    db.session.remove()
    if int(time.time() // 60) != minute:
        pytest.skip("il minuto è cambiato durante l'invio: il conteggio per minuto è ripartito")
    assert len(smtp_server.messages) == 20
    assert list(statuses(batch_id).values()).count("queued") == 7


def test_rate_reservation_grants_only_what_is_left(app_ctx, monkeypatch):
    """Two takers of one account's budget: the second gets the remainder, then nothing and the wait."""
    monkeypatch.setattr(time, "time", lambda: 1_796_000_000.0)  # one fixed minute
    account_limits = limits._AccountLimits(987, "a@b.example", 2, 10, 12)
    assert limits._reserve(account_limits, 7)[0] == 7
    granted, _minute, wait = limits._reserve(account_limits, 7)
    assert (granted, wait) == (3, 0.0)
    granted, _minute, wait = limits._reserve(account_limits, 1)
    assert granted == 0 and 0 < wait <= 60.05  # the minute is full: wait for the next one
    get_redis().delete(f"recapito:rate:987:m:{_minute}")  # a new minute, but the day has 2 left
    assert limits._reserve(account_limits, 5)[0] == 2
    get_redis().delete(f"recapito:rate:987:m:{_minute}")
    granted, _minute, wait = limits._reserve(account_limits, 1)
    assert granted == 0 and wait > 60  # the day is full: wait for tomorrow


def test_dead_sender_claim_becomes_uncertain(app_ctx, smtp_server):
    """A delivery left 'sending' by a sender whose heartbeat expired is uncertain, never resent."""
    account = make_account(smtp_server)
    batch = make_sending_batch(account, ["a@cliente.example", "b@cliente.example"])
    batch_id = batch.id
    sending.start_sending(batch)
    get_redis().flushdb()  # the queued sender jobs vanish, as if Redis restarted
    first = db.session.scalar(db.select(Delivery).where(Delivery.batch_id == batch_id).order_by(Delivery.id))
    first_id = first.id
    first.status, first.claimed_by = "sending", "dead-sender"
    first.claimed_at = first.claimed_at or utcnow()
    db.session.commit()
    report = sending.recover_stalled(grace_seconds=0)
    assert report == {"uncertain": 1, "redispatched": 1}
    work(app_ctx)
    assert statuses(batch_id) == {"a@cliente.example": "uncertain", "b@cliente.example": "sent"}
    assert smtp_server.accepted_to("a@cliente.example") == 0
    from mailer.services.users import create_user

    user = create_user("resp", "password-lunga-1", roles=["manager"])
    db.session.commit()
    sending.resolve_uncertain(db.session.get(Delivery, first_id), "resend", user)
    work(app_ctx)
    assert statuses(batch_id)["a@cliente.example"] == "sent"
    assert smtp_server.accepted_to("a@cliente.example") == 1


def test_summary_mail_to_preparer_and_approver(app_ctx, smtp_server):
    """When a batch ends, who prepared and who approved it get the outcome by e-mail, once, each their own message,
    through the same SMTP server as the deliveries (the ordinary account)."""
    from mailer.services.batch_summary import send_batch_summary
    from mailer.services.users import create_user

    preparer = create_user("prepara", "password-lunga-1", roles=["operator"], email="prepara@azienda.example")
    approver = create_user("approva", "password-lunga-1", roles=["manager"], email="approva@azienda.example")
    db.session.commit()
    smtp_server.rules = {"no@cliente.example": [550]}
    account = make_account(smtp_server)
    batch = make_sending_batch(account, ["ok@cliente.example", "no@cliente.example"], user_id=preparer.id)
    batch.approved_by_id = approver.id
    db.session.commit()
    batch_id = batch.id
    sending.start_sending(batch)
    work(app_ctx)
    assert send_batch_summary(batch_id) == "sent"  # already sent by the job: never twice
    summaries = [m for m in smtp_server.messages if "esito dell'invio" in str(m.message["Subject"])]
    assert sorted(r for m in summaries for r in m.rcpt_tos) == [
        "approva@azienda.example",
        "prepara@azienda.example",
    ]
    for message in summaries:
        assert "1 inviato, 1 fallito" in message.message["Subject"]  # plurals right (issue 17)
        body = message.message.get_body(("plain",)).get_content()
        assert "no@cliente.example" in body and "550" in body


def test_undecryptable_password_pauses_the_batch(app_ctx, smtp_server):
    """With a password the current key cannot decrypt, nothing is attempted: the batch pauses and says why."""
    account = make_account(smtp_server, password="segreta")
    account.password_encrypted = "gAAAAABnot-a-valid-token"
    db.session.commit()
    batch = make_sending_batch(account, ["a@cliente.example", "b@cliente.example"])
    batch_id = batch.id
    sending.start_sending(batch)
    work(app_ctx)
    batch = db.session.get(Batch, batch_id)
    assert batch.status == "paused"
    assert "CREDENTIALS_KEY" in batch.error and "Ordinario" in batch.error
    assert set(statuses(batch_id).values()) == {"queued"}
    assert smtp_server.attempts_to("a@cliente.example") == 0
    sending.resume_sending(batch)
    assert db.session.get(Batch, batch_id).error == ""


def test_lines_starting_with_a_dot_arrive_intact(app_ctx, smtp_server):
    """Dot-stuffing on a real SMTP session: the server gets the lines as written, and one message."""
    from mailer.transport.smtp import SmtpSession, SmtpSettings

    session = SmtpSession(SmtpSettings(smtp_server.host, smtp_server.port))
    data = (
        b"From: a@azienda.example\r\nTo: b@cliente.example\r\nSubject: punti\r\n\r\n"
        b".riga che inizia con un punto\r\n.\r\n..due punti\nfine senza CR"
    )
    try:
        outcome = session.send("a@azienda.example", ["b@cliente.example"], data)
    finally:
        session.close()
    assert outcome.kind == "sent"
    [received] = smtp_server.messages
    body = received.data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[1]
    assert body.rstrip(b"\n") == b".riga che inizia con un punto\n.\n..due punti\nfine senza CR"
