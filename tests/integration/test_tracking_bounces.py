"""Bounces land only on the delivery whose recipient they name (issue 13.2), temporary ones are shown
but change nothing, and the CLI and the pages say who bounced, with which status, and whether for good.

Messages go in through the same code as in production: `flask --app app receipts import` and
record_message (what the IMAP reader calls); deliveries are written as sent (nothing leaves).
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest

from mailer.extensions import db
from mailer.models import Contact, Delivery
from mailer.services.tracking import record_message, verp_address
from tests.support.batches import make_account, make_sending_batch
from tests.support.bounce_corpus import CORPUS
from tests.support.receipts import dsn_bounce

LOOPBACK = SimpleNamespace(host="127.0.0.1", port=1)  # nothing is sent: deliveries are written as sent


def _exim(to: str, recipient: str, message_id: str = "") -> bytes:
    """An Exim bounce (no DSN part) naming `recipient`, quoting the original's Message-ID when given."""
    quoted = (
        f"\r\n------ This is a copy of the message's headers. ------\r\n\r\nMessage-ID: {message_id}\r\n"
        if message_id
        else ""
    )
    return (
        "Return-Path: <>\r\nFrom: Mail Delivery System <Mailer-Daemon@mx.cliente.example>\r\n"
        f"To: {to}\r\nSubject: Mail delivery failed: returning message to sender\r\n"
        "Date: Mon, 30 Nov 2026 10:15:00 +0100\r\nMessage-ID: <exim.7@mx.cliente.example>\r\n\r\n"
        "This message was created automatically by mail delivery software.\r\n\r\n"
        "A message that you sent could not be delivered to one or more of its recipients.\r\n"
        "This is a permanent error. The following address(es) failed:\r\n\r\n"
        f"  {recipient}\r\n    host mx.cliente.example: 550 5.1.1 User unknown\r\n{quoted}"
    ).encode()


def _mixed(message_id: str, delayed: str, failed: str) -> bytes:
    """One RFC 3464 report: `delayed` only delayed (4.2.2), `failed` failed for good (5.1.1)."""
    raw = dsn_bounce(message_id, failed)
    block = (
        f"Final-Recipient: rfc822; {delayed}\r\nAction: delayed\r\nStatus: 4.2.2\r\n"
        f"Diagnostic-Code: smtp; 452 4.2.2 Mailbox full\r\n\r\n"
    ).encode()
    return raw.replace(
        b"Final-Recipient: rfc822; " + failed.encode(),
        block + b"Final-Recipient: rfc822; " + failed.encode(),
        1,
    )


@pytest.fixture
def sent(app_ctx):
    """An ordinary account with VERP, one batch of three deliveries written as sent (one with a copy)."""
    account = make_account(LOOPBACK, name="Ordinario", from_address="fatture@azienda.example", verp=True)
    batch = make_sending_batch(
        account, ["a@cliente.example", "b@cliente.example", "c@cliente.example"], status="done"
    )
    rows = {}
    for d in db.session.scalars(db.select(Delivery)):
        d.status, d.message_id = "sent", f"<{d.recipient_email.split('@')[0]}.{d.id}@azienda.example>"
        rows[d.recipient_email] = d
    rows["c@cliente.example"].cc = "copia@cliente.example"
    db.session.commit()
    return SimpleNamespace(
        batch=batch.id, d={e: d.id for e, d in rows.items()}, mid={e: d.message_id for e, d in rows.items()}
    )


def _delivery(sent, address) -> Delivery:
    """Fresh delivery row by recipient."""
    db.session.expire_all()
    return db.session.get(Delivery, sent.d[address])


def test_a_plain_text_bounce_for_another_address_is_kept_unmatched(app_ctx, sent):
    """Our Message-ID, but it names someone else: not applied to our delivery (it was, without a DSN part)."""
    receipt = record_message(
        _exim("fatture@azienda.example", "intruso@altrove.example", sent.mid["a@cliente.example"])
    ).receipt
    assert (receipt.kind, receipt.outcome, receipt.delivery_id) == ("bounce", "unmatched", None)
    assert "riguarda intruso@altrove.example, non a@cliente.example" in receipt.notes
    assert _delivery(sent, "a@cliente.example").status == "sent"
    assert _delivery(sent, "a@cliente.example").bounced_at is None


def test_a_return_path_bounce_for_another_address_is_kept_unmatched(app_ctx, sent):
    """The per-delivery return path names b's delivery, the report names another address: nothing changes."""
    target = sent.d["b@cliente.example"]
    receipt = record_message(
        _exim(verp_address("fatture@azienda.example", target), "altro@cliente.example")
    ).receipt
    assert (receipt.outcome, receipt.delivery_id) == ("unmatched", None)
    assert _delivery(sent, "b@cliente.example").status == "sent"
    # The same return path naming b itself lands.
    receipt = record_message(
        _exim(verp_address("fatture@azienda.example", target), "b@cliente.example")
    ).receipt
    assert (receipt.outcome, receipt.delivery_id) == ("applied", target)
    assert _delivery(sent, "b@cliente.example").status == "bounced"


def test_a_report_where_our_recipient_is_only_delayed_does_not_bounce_it(app_ctx, sent):
    """One report, two recipients: ours delayed (4.2.2), another failed (5.1.1): recorded, still «inviato»."""
    a = "a@cliente.example"
    receipt = record_message(_mixed(sent.mid[a], a, "altro@cliente.example")).receipt
    assert (receipt.receipt_type, receipt.outcome, receipt.delivery_id) == (
        "permanent",
        "recorded",
        sent.d[a],
    )
    assert receipt.bounce_recipients == [
        {"address": a, "status": "4.2.2", "action": "delayed"},
        {"address": "altro@cliente.example", "status": "5.1.1", "action": "failed"},
    ]
    assert "rimbalzo temporaneo" in receipt.notes
    delivery = _delivery(sent, a)
    assert (delivery.status, delivery.bounced_at) == ("sent", None)
    assert db.session.get(Contact, delivery.contact_id).bounce_count in (0, None)


def test_a_bounce_for_the_copy_is_recorded_not_applied(app_ctx, sent):
    """A bounce naming the delivery's cc address: linked and shown, the delivery itself is not «rimbalzato»."""
    c = "c@cliente.example"
    receipt = record_message(dsn_bounce(sent.mid[c], "copia@cliente.example")).receipt
    assert (receipt.outcome, receipt.delivery_id) == ("recorded", sent.d[c])
    assert "destinatario in copia copia@cliente.example" in receipt.notes
    assert _delivery(sent, c).status == "sent"


def test_plain_text_delay_warning_is_shown_temporary_and_changes_nothing(app_ctx, sent, runner, tmp_path):
    """Exim's «delayed 24 hours» warning (it was not recognised at all): a temporary bounce, in the CLI
    with its recipient, status and permanent: false."""
    a = "a@cliente.example"
    raw = (
        (CORPUS / "own" / "exim_delay.eml")
        .read_bytes()
        .replace(b"paolo.gialli@cliente-lento.example", a.encode())
    )
    raw = raw.replace(b"Message-ID: <orig.4@azienda.example>", f"Message-ID: {sent.mid[a]}".encode())
    path = tmp_path / "ritardo.eml"
    path.write_bytes(raw)
    result = runner.invoke(args=["receipts", "import", str(path), "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)
    assert (row["kind"], row["receipt_type"], row["permanent"], row["outcome"], row["delivery"]) == (
        "bounce",
        "temporary",
        False,
        "recorded",
        sent.d[a],
    )
    assert row["recipients"] == [{"address": a, "status": "4.7.1", "action": "delayed"}]
    assert _delivery(sent, a).status == "sent"
    text = runner.invoke(args=["receipts", "import", str(path)])
    assert "Rimbalzo temporaneo · a@cliente.example (4.7.1, temporaneo)" in text.output


def test_pages_show_who_bounced_with_status_and_permanence(app_ctx, sent, client, auth):
    """Ricevute e rimbalzi lists the recipients with status and «definitivo»/«temporaneo»; the batch
    results page shows the delivery's own status code next to the bounce."""
    a, b = "a@cliente.example", "b@cliente.example"
    record_message(dsn_bounce(sent.mid[a], a))
    record_message(_mixed(sent.mid[b], b, "altro@cliente.example"))
    auth.login("admin")
    html = client.get("/ricevute/").get_data(as_text=True)
    assert html.count('aria-label="Destinatari rimbalzati"') == 2
    flat = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "a@cliente.example · 5.1.1 · definitivo" in flat
    assert "b@cliente.example · 4.2.2 · temporaneo" in flat
    assert "altro@cliente.example · 5.1.1 · definitivo" in flat
    page = client.get(f"/invii/{sent.batch}").get_data(as_text=True)
    cells = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert "5.1.1 definitivo" in cells and "4.2.2 temporaneo" in cells
    assert _delivery(sent, a).status == "bounced" and _delivery(sent, b).status == "sent"


def test_a_bounce_naming_no_address_is_kept_on_the_delivery_without_changing_it(app_ctx, sent):
    """It returns our message but names no recipient (InterScan, old Exchange): linked and shown, to be
    checked by a person; the delivery is not «rimbalzato» on the Message-ID alone."""
    a = "a@cliente.example"
    raw = (
        "Return-Path: <>\r\nFrom: MAILER-DAEMON@gw.cliente.example\r\nTo: fatture@azienda.example\r\n"
        "Subject: Mail could not be delivered\r\nMessage-ID: <isc.1@gw.cliente.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=ZZ\r\n\r\n--ZZ\r\nContent-Type: text/plain\r\n\r\n"
        "The following mail could not be delivered.\r\nReason: Exceeded Maximum Delivery Attempts.\r\n\r\n"
        f"--ZZ\r\nContent-Type: message/rfc822\r\n\r\nFrom: fatture@azienda.example\r\nSubject: Fattura\r\n"
        f"Message-ID: {sent.mid[a]}\r\n\r\nIn allegato la fattura.\r\n\r\n--ZZ--\r\n"
    ).encode()
    receipt = record_message(raw).receipt
    assert (receipt.kind, receipt.outcome, receipt.delivery_id, receipt.bounce_recipients) == (
        "bounce",
        "recorded",
        sent.d[a],
        [],
    )
    assert "non nomina il destinatario" in receipt.notes
    assert _delivery(sent, a).status == "sent"
