"""Issue 12.1: one Message-ID (and Date) per delivery, the one on the wire, whatever the retries.

Against the real loopback SMTP server: 451 at RCPT or at DATA, then success; a second sender that read
the delivery before the first one's 4xx; a dead sender's claim resent by a person. For every delivery
every message data the server saw carries the stored Message-ID and Date, and `batch report --json`
shows the Message-ID the server received.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from mailer.extensions import db
from mailer.models import Delivery, MailAccount
from mailer.services import sending
from mailer.services.sending.limits import _AccountLimits
from mailer.transport.smtp import SmtpSession
from tests.support.batches import make_account, make_sending_batch, run_jobs, statuses


@pytest.fixture
def fast_retries(app):
    """Retries without waiting."""
    app.config["SEND_RETRY_BACKOFF"] = "0,0,0"
    app.config["SEND_MAX_ATTEMPTS"] = 4
    return app


def _deliveries(batch_id: int) -> dict[str, Delivery]:
    """recipient -> delivery (fresh read)."""
    db.session.remove()
    return {
        d.recipient_email: d
        for d in db.session.scalars(db.select(Delivery).where(Delivery.batch_id == batch_id))
    }


def _check_wire_matches_record(server, deliveries: dict[str, Delivery]) -> None:
    """Every DATA the server got for a delivery carries its stored Message-ID and Date; the accepted bytes are
    the stored digest."""
    for rcpt, d in deliveries.items():
        assert d.message_id.startswith("<") and d.message_date, rcpt
        ids = server.header_of_attempts(rcpt, "Message-ID")
        dates = server.header_of_attempts(rcpt, "Date")
        assert ids and set(ids) == {d.message_id}, f"{rcpt}: server saw {ids}, record says {d.message_id}"
        assert set(dates) == {d.message_date}, f"{rcpt}: server saw {dates}, record says {d.message_date}"
        if d.status == "sent":
            [received] = [m for m in server.messages if rcpt in m.rcpt_tos]
            assert received.message["Message-ID"] == d.message_id
            assert hashlib.sha256(received.data).hexdigest() == d.message_sha256, f"{rcpt}: digest"


def test_retries_after_4xx_carry_the_stored_message_id(app_ctx, runner, smtp_server, fast_retries):
    """451 at RCPT (no data) and 451/452 at DATA, then success: one Message-ID and Date per delivery on every
    attempt, and the CLI report shows the one the server received."""
    smtp_server.rules = {
        "rcpt451@cliente.example": [("rcpt", 451), "ok"],
        "rcpt451b@cliente.example": [("rcpt", 451), ("rcpt", 451), "ok"],
        "data451@cliente.example": [451, "ok"],
        "data452@cliente.example": [452, 451, "ok"],
        "ok@cliente.example": ["ok"],
    }
    account = make_account(smtp_server)
    batch = make_sending_batch(account, list(smtp_server.rules))
    batch_id = batch.id
    sending.start_sending(batch)
    run_jobs(app_ctx)
    assert set(statuses(batch_id).values()) == {"sent"}
    deliveries = _deliveries(batch_id)
    assert deliveries["data452@cliente.example"].attempts == 3
    assert len(smtp_server.header_of_attempts("data452@cliente.example", "Message-ID")) == 3
    _check_wire_matches_record(smtp_server, deliveries)

    result = runner.invoke(args=["batch", "report", str(batch_id), "--json"])
    assert result.exit_code == 0, result.output
    reported = {r["recipient"]: r for r in map(json.loads, result.output.splitlines())}
    for message in smtp_server.messages:
        [rcpt] = message.rcpt_tos
        assert reported[rcpt]["message_id"] == message.message["Message-ID"].strip("<>")
        assert reported[rcpt]["message_date"] == message.message["Date"]


def _two_senders(app, server, rcpt: str):
    """One queued delivery to `rcpt` (first attempt 451, retry in 60 s) and a sender B that read it ahead,
    before sender A's attempt: (batch id, B, B's early read, A) with B's SMTP session open."""
    app.config["SEND_RETRY_BACKOFF"] = "60"
    server.rules = {rcpt: [451, "ok"]}
    account = make_account(server)
    batch = make_sending_batch(account, [rcpt])
    batch_id, account_id = batch.id, account.id
    sending.start_sending(batch)
    get_queue_jobs_cleared(app)  # the test drives the senders by hand
    late = sending.Sender(batch_id, account_id, 1, 2)
    account = db.session.get(MailAccount, account_id)
    late.limits = _AccountLimits(account_id, account.from_address, 2, 0, 0, domain="azienda.example")
    late.session = SmtpSession(sending.smtp_settings(account))
    [stale] = late._read_ahead(account)  # read while still queued, no Message-ID yet
    assert stale.spec.message_id == "" and _deliveries(batch_id)[rcpt].attempts == 0
    return batch_id, late, stale, sending.Sender(batch_id, account_id, 0, 2)


def test_a_sender_that_read_the_delivery_before_a_4xx_sends_the_stored_message_id(
    app_ctx, client, auth, smtp_server
):
    """Two senders of one account: B reads a delivery ahead, A claims it first and gets 451; when B takes it
    over (its retry is due), B's message carries the Message-ID and Date A stored, not new ones."""
    batch_id, late, stale, first_sender = _two_senders(app_ctx, smtp_server, "presa@cliente.example")
    assert first_sender.run() == "done"  # A: 451, retry in 60 s
    first = _deliveries(batch_id)["presa@cliente.example"]
    assert first.status == "queued" and first.message_id and first.attempts == 1
    first_id, delivery_id = first.message_id, first.id
    # The retry falls due (as if the minute had passed); B, still holding its early read, takes it over.
    db.session.execute(db.update(Delivery).where(Delivery.id == delivery_id).values(next_attempt_at=None))
    db.session.commit()
    try:
        assert late._send_one(stale) is True
        late._flush_marks()
    finally:
        late.session.close()
    deliveries = _deliveries(batch_id)
    assert deliveries["presa@cliente.example"].status == "sent"
    assert deliveries["presa@cliente.example"].message_id == first_id
    assert deliveries["presa@cliente.example"].attempts == 2  # counted from the row, not from B's early read
    _check_wire_matches_record(smtp_server, deliveries)
    # The page's "message as sent" rebuilds it from the record: the same bytes the server received.
    auth.login("admin")
    eml = client.get(f"/invii/{batch_id}/recapiti/{delivery_id}/messaggio.eml")
    assert eml.status_code == 200 and eml.data == smtp_server.messages[0].data


def test_a_stale_read_does_not_send_before_the_retry_is_due(app_ctx, smtp_server):
    """The claim itself refuses a delivery whose next attempt is not due: a sender holding an early read cannot
    send it again right after another sender's 4xx (ignoring the backoff)."""
    batch_id, late, stale, first_sender = _two_senders(app_ctx, smtp_server, "presto@cliente.example")
    first_sender.run()
    try:
        assert late._send_one(stale) is False
    finally:
        late.session.close()
    assert smtp_server.attempts_to("presto@cliente.example") == 1
    assert _deliveries(batch_id)["presto@cliente.example"].status == "queued"


def test_a_resend_after_a_dead_sender_keeps_the_message_id(app_ctx, smtp_server):
    """A claim left by a dead sender becomes uncertain; resent by a person, it goes with the same Message-ID."""
    from mailer.services.users import create_user

    smtp_server.rules = {"morto@cliente.example": ["drop", "ok"]}
    account = make_account(smtp_server)
    batch = make_sending_batch(account, ["morto@cliente.example"])
    batch_id = batch.id
    sending.start_sending(batch)
    run_jobs(app_ctx)
    first = _deliveries(batch_id)["morto@cliente.example"]
    assert first.status == "uncertain"
    first_id = first.message_id
    user = create_user("resp", "password-lunga-1", roles=["manager"])
    db.session.commit()
    sending.resolve_uncertain(db.session.get(Delivery, first.id), "resend", user)
    run_jobs(app_ctx)
    deliveries = _deliveries(batch_id)
    assert deliveries["morto@cliente.example"].status == "sent"
    assert deliveries["morto@cliente.example"].message_id == first_id
    _check_wire_matches_record(smtp_server, deliveries)


def get_queue_jobs_cleared(app) -> None:
    """Drop the senders start_sending enqueued: the test drives the senders by hand."""
    from mailer.queue import get_queue

    get_queue().empty()
