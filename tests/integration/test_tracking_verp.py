"""Per-delivery return path (VERP): the envelope sender names the delivery, so a bounce that quotes
nothing of the original message still lands on its delivery; a forged one does not."""

from __future__ import annotations

import email

import pytest

from mailer.extensions import db
from mailer.models import AuditEvent, Delivery, MailAccount, Receipt
from mailer.services import sending
from mailer.services.tracking import record_message, verp_address
from tests.support.batches import make_account, make_sending_batch, run_jobs


def _bare_bounce(to: str, recipient: str) -> bytes:
    """A bounce of the kind some servers send: no DSN part, no quoted headers, no Message-ID of ours."""
    return (
        "Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.cliente.example\r\n"
        f"To: {to}\r\nSubject: Mail delivery failed: returning message to sender\r\n"
        "Date: Mon, 30 Nov 2026 10:15:00 +0100\r\nMessage-ID: <nd.42@mx.cliente.example>\r\n\r\n"
        "This message was created automatically by mail delivery software.\r\n\r\n"
        "A message that you sent could not be delivered to one or more of its recipients.\r\n"
        "This is a permanent error. The following address(es) failed:\r\n\r\n"
        f"  {recipient}\r\n    host mx.cliente.example: 550 5.1.1 User unknown\r\n"
    ).encode()


@pytest.fixture
def verp_sent(app_ctx, smtp_server):
    """An ordinary account with VERP on and a PEC account with the flag forced on, each with a batch sent."""
    ordinary = make_account(smtp_server, name="Ordinario", from_address="fatture@azienda.example", verp=True)
    pec = make_account(smtp_server, name="PEC", kind="pec", from_address="azienda@pec.example", verp=True)
    batches = [
        make_sending_batch(ordinary, ["a@cliente.example", "b@cliente.example"]),
        make_sending_batch(pec, ["x@pec.cliente.example"]),
    ]
    for batch in batches:
        sending.start_sending(batch)
    run_jobs(app_ctx)
    rows = db.session.scalars(db.select(Delivery).order_by(Delivery.id)).all()
    assert {d.status for d in rows} == {"sent"}
    return {d.recipient_email: d.id for d in rows}


def test_ordinary_envelope_sender_names_the_delivery_pec_keeps_from(app_ctx, smtp_server, verp_sent):
    """MAIL FROM is local+rcp<id>-<sig>@domain on the ordinary account; From: is unchanged; PEC never."""
    envelopes = {m.rcpt_tos[0]: m.mail_from for m in smtp_server.messages}
    for address in ("a@cliente.example", "b@cliente.example"):
        expected = verp_address("fatture@azienda.example", verp_sent[address])
        assert envelopes[address] == expected and expected.startswith(f"fatture+rcp{verp_sent[address]}-")
    assert envelopes["a@cliente.example"] != envelopes["b@cliente.example"]
    assert envelopes["x@pec.cliente.example"] == "azienda@pec.example"
    headers = {m.rcpt_tos[0]: email.message_from_bytes(m.data) for m in smtp_server.messages}
    assert "fatture@azienda.example" in headers["a@cliente.example"]["From"]
    assert "+rcp" not in headers["a@cliente.example"]["From"]


def test_a_bounce_without_message_id_lands_by_return_path(app_ctx, verp_sent):
    """Only the return path says which delivery it was: the delivery becomes bounced with the reason."""
    target = verp_sent["b@cliente.example"]
    receipt = record_message(
        _bare_bounce(verp_address("fatture@azienda.example", target), "b@cliente.example")
    ).receipt
    db.session.commit()
    assert (receipt.kind, receipt.outcome, receipt.delivery_id) == ("bounce", "applied", target)
    bounced = db.session.get(Delivery, target)
    assert bounced.status == "bounced" and "550 5.1.1" in bounced.bounce_reason
    assert db.session.get(Delivery, verp_sent["a@cliente.example"]).status == "sent"


def test_a_return_path_with_a_wrong_signature_changes_nothing(app_ctx, verp_sent):
    """Someone who guesses the pattern cannot mark another delivery as bounced."""
    target = verp_sent["a@cliente.example"]
    forged = f"fatture+rcp{target}-00000000@azienda.example"
    assert forged != verp_address("fatture@azienda.example", target)
    receipt = record_message(_bare_bounce(forged, "a@cliente.example")).receipt
    db.session.commit()
    assert receipt.outcome == "suspect" and "firma non valida" in receipt.notes
    assert db.session.get(Delivery, target).status == "sent"
    assert db.session.scalar(db.select(db.func.count()).select_from(Receipt)) == 1


def test_account_form_offers_it_for_ordinary_accounts_only(app_ctx, client, auth):
    """Saved and audited on an ordinary account; refused with the reason on a PEC account (nothing saved)."""
    auth.login("admin")
    form = {
        "name": "Posta",
        "kind": "smtp",
        "host": "smtp.example.net",
        "port": "587",
        "tls_mode": "starttls",
        "from_address": "fatture@azienda.example",
        "max_connections": "2",
        "rate_per_minute": "60",
        "rate_per_day": "5000",
        "max_message_mb": "20",
        "max_recipients": "50",
        "imap_port": "993",
        "imap_folder": "INBOX",
        "imap_after": "seen",
        "active": "1",
        "verp": "1",
    }
    assert client.post("/admin/accounts/new", data=form).status_code == 302
    account = db.session.scalar(db.select(MailAccount).where(MailAccount.name == "Posta"))
    assert account.verp is True
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "account.create"))
    assert event.details["changes"]["verp"] == [None, True]
    page = client.get(f"/admin/accounts/{account.id}").get_data(as_text=True)
    assert 'name="verp" value="1" checked' in " ".join(page.split())
    refused = client.post(
        "/admin/accounts/new",
        data={**form, "name": "PEC", "kind": "pec", "from_address": "azienda@pec.example"},
    )
    assert refused.status_code == 422 and "Non con la PEC" in refused.get_data(as_text=True)
    assert db.session.scalar(db.select(MailAccount).where(MailAccount.name == "PEC")) is None
