"""SMTP faults through the real pipeline (RQ worker on real Redis, real loopback SMTP server):
a connection cut mid-DATA, every refusal code at each stage of the transaction, a server slower than
the socket timeout. After recovery each delivery is sent exactly once or uncertain, and says why."""

from __future__ import annotations

import pytest

from mailer.extensions import db
from mailer.models import Batch, Delivery, Document
from mailer.services import sending
from mailer.services.blobs import store_blob
from tests.support.batches import make_account, make_sending_batch
from tests.support.faults import check_exactly_once, drain

BIG = 12 * 1024 * 1024  # bigger than what loopback socket buffers hold: the cut is felt while sending


@pytest.fixture
def fast_retries(app):
    """Retries without waiting, three attempts."""
    app.config["SEND_RETRY_BACKOFF"] = "0,0,0"
    app.config["SEND_MAX_ATTEMPTS"] = 3
    return app


def _give_big_pdf(batch_id: int, recipient: str) -> None:
    """Replace the PDF of a recipient's document with a 12 MB one."""
    delivery = db.session.scalar(
        db.select(Delivery).where(Delivery.batch_id == batch_id, Delivery.recipient_email == recipient)
    )
    document = db.session.get(Document, delivery.documents[0].id)
    document.pdf_sha256 = store_blob(
        b"%PDF-1.4\n" + bytes(range(256)) * (BIG // 256) + b"\n%%EOF\n", "application/pdf"
    )
    db.session.commit()


def test_cut_before_final_dot_is_retried(app_ctx, faulty_smtp, fast_retries):
    """Reset after 64 KB of a 12 MB message: the final dot never left, so it is retried and arrives once."""
    faulty_smtp.rules = {"grande@cliente.example": [("cut", 64 * 1024), "ok"], "dopo@cliente.example": ["ok"]}
    account = make_account(faulty_smtp, max_connections=1)
    batch = make_sending_batch(account, ["grande@cliente.example", "dopo@cliente.example"])
    batch_id = batch.id
    _give_big_pdf(batch_id, "grande@cliente.example")
    sending.start_sending(batch)
    drain(app_ctx)
    by_rcpt = check_exactly_once(batch_id, faulty_smtp, allowed=("sent",))
    assert faulty_smtp.cut_after and faulty_smtp.cut_after[0] < BIG  # it really was cut mid-message
    assert faulty_smtp.attempts_to("grande@cliente.example") == 2
    assert by_rcpt["grande@cliente.example"].attempts == 2
    big = next(m for m in faulty_smtp.messages if "grande@cliente.example" in m.rcpt_tos)
    assert len(big.data) > BIG  # the whole message arrived the second time
    assert db.session.get(Batch, batch_id).status == "done"


def test_cut_after_final_dot_is_uncertain_never_resent(app_ctx, faulty_smtp, fast_retries):
    """Connection closed after the data arrived, no reply: uncertain, one attempt, the rest goes on."""
    faulty_smtp.rules = {"persa@cliente.example": ["drop"], "dopo@cliente.example": ["ok"]}
    account = make_account(faulty_smtp, max_connections=1)
    batch = make_sending_batch(account, ["persa@cliente.example", "dopo@cliente.example"])
    batch_id = batch.id
    sending.start_sending(batch)
    drain(app_ctx)
    by_rcpt = check_exactly_once(batch_id, faulty_smtp)
    assert by_rcpt["persa@cliente.example"].status == "uncertain"
    assert "potrebbe essere stato accettato" in by_rcpt["persa@cliente.example"].smtp_reason
    assert by_rcpt["persa@cliente.example"].message_sha256  # what was handed over is recorded
    assert by_rcpt["dopo@cliente.example"].status == "sent"
    assert faulty_smtp.attempts_to("persa@cliente.example") == 1
    drain(app_ctx)  # more worker runs do not resend it
    assert faulty_smtp.attempts_to("persa@cliente.example") == 1


# (rule, expected status, expected code, words of the reason)
CASES = {
    "d421": ([421, "ok"], "sent", 250, ""),
    "d451": ([451, "ok"], "sent", 250, ""),
    "d452": ([452, 452, "ok"], "sent", 250, ""),
    "d550": ([550], "failed", 550, "User unknown"),
    "d552": ([552], "failed", 552, "exceeds"),
    "d554": ([554], "failed", 554, "spam"),
    "r421": ([("rcpt", 421), "ok"], "sent", 250, ""),
    "r451": ([("rcpt", 451), "ok"], "sent", 250, ""),
    "r452": ([("rcpt", 452), "ok"], "sent", 250, ""),
    "r550": ([("rcpt", 550)], "failed", 550, "User unknown"),
    "r552": ([("rcpt", 552)], "failed", 552, "exceeds"),
    "r554": ([("rcpt", 554)], "failed", 554, "spam"),
    "x451": ([451, 451, 451], "failed", 451, "3 tentativi"),
    "x421": ([("rcpt", 421), 421, ("rcpt", 421)], "failed", 421, "3 tentativi"),
}


def test_every_refusal_code_at_rcpt_and_data(app_ctx, faulty_smtp, fast_retries):
    """421/451/452 are retried (421 also closes the connection), 550/552/554 fail at once with the
    server's code and words; a temporary refusal repeated up to the last attempt fails saying so."""
    faulty_smtp.rules = {f"{key}@cliente.example": list(rule) for key, (rule, *_r) in CASES.items()}
    account = make_account(faulty_smtp, max_connections=1)
    batch = make_sending_batch(account, list(faulty_smtp.rules))
    batch_id = batch.id
    sending.start_sending(batch)
    drain(app_ctx)
    by_rcpt = check_exactly_once(batch_id, faulty_smtp, allowed=("sent", "failed"))
    for key, (rule, status, code, words) in CASES.items():
        delivery = by_rcpt[f"{key}@cliente.example"]
        assert delivery.status == status, key
        assert delivery.attempts == len(rule), key
        assert faulty_smtp.attempts_to(f"{key}@cliente.example") == len([r for r in rule if r != "ok"]) + (
            1 if "ok" in rule else 0
        ), key
        if status == "failed":
            assert delivery.smtp_code == code, key
            assert words in delivery.smtp_reason, (key, delivery.smtp_reason)
    assert db.session.get(Batch, batch_id).status == "done"


def test_refused_at_greeting_is_temporary_then_sent(app_ctx, faulty_smtp, fast_retries):
    """A server that is not listening at the first attempt: temporary, then sent once it is back."""
    app_ctx.config["SEND_RETRY_BACKOFF"] = "1,1"
    account = make_account(faulty_smtp, max_connections=1)
    batch = make_sending_batch(account, ["primo@cliente.example"])
    batch_id = batch.id
    faulty_smtp.stop()
    sending.start_sending(batch)
    from rq import Queue, SimpleWorker

    from mailer.queue import get_redis

    queue = Queue(app_ctx.config["RQ_QUEUE"], connection=get_redis())
    SimpleWorker([queue], connection=get_redis()).work(burst=True)  # one attempt, server down
    db.session.remove()
    delivery = db.session.scalar(db.select(Delivery).where(Delivery.batch_id == batch_id))
    assert delivery.status == "queued" and delivery.attempts == 1
    assert "Connessione non riuscita" in delivery.smtp_reason
    faulty_smtp.start()
    drain(app_ctx)
    by_rcpt = check_exactly_once(batch_id, faulty_smtp, allowed=("sent",))
    assert by_rcpt["primo@cliente.example"].attempts == 2


def test_slow_server_beyond_timeout_is_uncertain_never_resent(app_ctx, faulty_smtp, fast_retries):
    """The server answers after 2.5 s but the socket timeout is 1 s: uncertain (whether it was stored is
    the server's business: aiosmtpd drops it when the client hangs up), never resent; the next messages
    go out on a new connection."""
    app_ctx.config["SMTP_TIMEOUT"] = 1
    faulty_smtp.rules = {"lento@cliente.example": [("slow", 2.5)], "svelto@cliente.example": [("slow", 0.2)]}
    account = make_account(faulty_smtp, max_connections=1)
    recipients = ["lento@cliente.example", "svelto@cliente.example", "dopo@cliente.example"]
    batch = make_sending_batch(account, recipients)
    batch_id = batch.id
    sending.start_sending(batch)
    drain(app_ctx)
    by_rcpt = check_exactly_once(batch_id, faulty_smtp)
    slow = by_rcpt["lento@cliente.example"]
    assert slow.status == "uncertain"
    assert "nessuna risposta" in slow.smtp_reason
    assert slow.attempts == 1 and faulty_smtp.attempts_to("lento@cliente.example") == 1
    assert by_rcpt["svelto@cliente.example"].status == "sent"  # slower than usual but within the timeout
    assert by_rcpt["dopo@cliente.example"].status == "sent"
    assert db.session.get(Batch, batch_id).status == "done"
    drain(app_ctx)
    assert faulty_smtp.attempts_to("lento@cliente.example") == 1
