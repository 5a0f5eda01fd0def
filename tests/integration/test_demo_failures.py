"""The demo shows failures too: the capture server refuses «rifiuta@…» (550 5.1.1) and defers «riprova@…»
(451 4.7.1) the first times, and the demo data has such contacts, so a demo batch ends with one
delivery failed and one sent after a retry."""

from __future__ import annotations

import smtplib

import pytest

from mailer.transport import capture
from tests.support.services import free_port


@pytest.fixture
def capture_server(tmp_path):
    """A real capture server on loopback, deferring «riprova» twice."""
    controller = capture.make_controller(str(tmp_path / "captured"), "127.0.0.1", free_port(), defer_times=2)
    controller.start()
    yield controller
    controller.stop()


def _send(controller, recipient: str):
    with smtplib.SMTP(controller.hostname, controller.port, timeout=5) as conn:
        return conn.sendmail("documenti@example.com", [recipient], b"Subject: prova\r\n\r\nciao\r\n")


def test_capture_server_refuses_rifiuta_permanently(capture_server, tmp_path):
    """«rifiuta@…» (also «rifiuta.qualcosa@…») gets 550 5.1.1 every time; nothing is stored."""
    for recipient in (
        "rifiuta@prove.example.com",
        "Rifiuta.Fatture@altro.example.com",
        "rifiuta@prove.example.com",
    ):
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            _send(capture_server, recipient)
        code, text = refused.value.recipients[recipient]
        assert code == 550 and text.startswith(b"5.1.1"), (code, text)
    assert capture.list_captured(tmp_path / "captured")[1] == 0


def test_capture_server_defers_riprova_then_accepts(capture_server, tmp_path):
    """«riprova@…» gets 451 4.7.1 the first two times, then the message is kept; counted per address."""
    for _ in range(2):
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            _send(capture_server, "riprova@prove.example.com")
        code, text = refused.value.recipients["riprova@prove.example.com"]
        assert code == 451 and text.startswith(b"4.7.1"), (code, text)
    assert _send(capture_server, "riprova@prove.example.com") == {}
    with pytest.raises(smtplib.SMTPRecipientsRefused):  # another address starts its own count
        _send(capture_server, "riprova@altro.example.com")
    # Ordinary addresses are kept at once, as before.
    assert _send(capture_server, "mario.rossi@prove.example.com") == {}
    assert capture.list_captured(tmp_path / "captured")[1] == 2


def test_demo_batch_shows_a_failure_and_a_retry(app, tmp_path):
    """Demo data + the real capture server its accounts point at: the latest invoice of the demo customer
    with the «rifiuta» and «riprova» contacts goes out; one delivery fails (550), the «riprova» one is
    sent after being deferred twice, the others are sent at once."""
    from datetime import date

    from mailer.extensions import db
    from mailer.models import Batch, Contact, Delivery, Document, User
    from mailer.services import approval, preparation, sending
    from mailer.services.demo import DemoOptions, build_demo_data
    from tests.support.batches import run_jobs

    port = free_port()
    app.config.update(CAPTURE_SMTP_HOST="127.0.0.1", CAPTURE_SMTP_PORT=port)
    controller = capture.make_controller(str(tmp_path / "captured"), "127.0.0.1", port, defer_times=2)
    controller.start()
    try:
        with app.app_context():
            build_demo_data(
                DemoOptions(
                    customers=25, suppliers=8, lines=1500, products=40, seed=7, today=date(2025, 6, 30)
                ),
                "demo",
            )
            rifiuta = db.session.scalar(db.select(Contact).where(Contact.email.like("rifiuta@%")))
            riprova = db.session.scalar(db.select(Contact).where(Contact.email.like("riprova@%")))
            assert rifiuta and riprova and rifiuta.party_id == riprova.party_id
            assert "FATTURA" in {t.code for t in rifiuta.document_types} & {
                t.code for t in riprova.document_types
            }
            assert rifiuta.privacy_level == riprova.privacy_level == 0
            invoice = db.session.scalar(
                db.select(Document)
                .where(Document.party_id == rifiuta.party_id, Document.type_code == "FATTURA")
                .order_by(Document.date.desc())
            )
            newest = db.session.scalar(
                db.select(db.func.max(Document.date)).where(Document.type_code == "FATTURA")
            )
            assert invoice is not None and invoice.date == newest  # the newest invoice of the demo is theirs
            assert invoice.sent_at is None  # still to send: «solo non inviati» picks it
            manager = db.session.scalar(db.select(User).where(User.username == "manager"))
            operator = db.session.scalar(db.select(User).where(User.username == "operatore"))
            batch = preparation.create_batch(
                preparation.Selection(type_codes=["FATTURA"], document_ids=[invoice.id]),
                operator,
                enqueue=False,
            )
            batch_id = batch.id
            batch = preparation.run_preparation(batch_id)
            assert batch.status == "ready", batch.status
            approval.approve_batch(batch, manager)
            db.session.commit()
            sending.start_sending(db.session.get(Batch, batch_id), manager)
            db.session.commit()
        run_jobs(app, max_wait=30)
        with app.app_context():
            by_local = {
                d.recipient_email.split("@")[0]: d
                for d in db.session.scalars(db.select(Delivery).where(Delivery.batch_id == batch_id))
            }
            assert by_local["rifiuta"].status == "failed", by_local["rifiuta"].status
            assert by_local["rifiuta"].smtp_code == 550 and by_local["rifiuta"].attempts == 1
            assert by_local["riprova"].status == "sent" and by_local["riprova"].attempts == 3
            others = [d for local, d in by_local.items() if local not in ("rifiuta", "riprova")]
            assert others and all(d.status == "sent" and d.attempts == 1 for d in others)
    finally:
        controller.stop()
    kept = capture.list_captured(tmp_path / "captured")[0]
    assert sorted(a.split("@")[0] for m in kept for a in m.rcpt_tos if a.startswith("ri")) == ["riprova"]


def test_capture_server_default_defers_once(tmp_path):
    """By default «riprova@…» is deferred once: with the default retry times the demo sends it a minute later."""
    controller = capture.make_controller(str(tmp_path / "captured"), "127.0.0.1", free_port())
    controller.start()
    try:
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            _send(controller, "riprova@prove.example.com")
        assert _send(controller, "riprova@prove.example.com") == {}
    finally:
        controller.stop()
