"""Delivery tracking against a real IMAP server (private Dovecot on loopback) fed with the real PEC
samples adapted to the Message-IDs of messages we really sent (loopback SMTP, RQ worker), bounces,
malformed and forged messages."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from flask import url_for

from mailer.extensions import db
from mailer.models import Blob, Contact, Delivery, MailAccount, MailboxState, Receipt
from mailer.services import sending
from mailer.services.crypto import encrypt_secret
from mailer.services.tracking import poll_account, record_message
from mailer.transport.imap import ImapError
from tests.integration.test_sending import work
from tests.support.batches import make_account, make_sending_batch
from tests.support.receipts import (
    GOPEC_ACCETTAZIONE,
    GOPEC_ERRORE,
    MALFORMED,
    OCA_ACCETTAZIONE,
    OCA_CONSEGNA,
    OCA_ENVELOPE,
    adapt_receipt,
    dsn_bounce,
    exchange_ndr,
    forged_receipt,
    qmail_bounce,
    resign,
    sample,
    trust_test_provider,
)


def _imap(account: MailAccount, user, after="seen") -> None:
    """Point an account's IMAP settings at the test mailbox (TLS port)."""
    account.imap_host = user.host
    account.imap_port = user.tls_port
    account.imap_username = user.username
    account.imap_password_encrypted = encrypt_secret(user.password)
    account.imap_folder = "INBOX"
    account.imap_after = after
    db.session.commit()


@pytest.fixture
def sent(app_ctx, smtp_server, imap_user, dovecot):
    """A PEC account and an ordinary one, each with a batch really sent; both read imap_user over TLS."""
    app_ctx.config["IMAP_CA_FILE"] = dovecot.ca_file
    pec = make_account(smtp_server, name="PEC", kind="pec", from_address="azienda@pec.example")
    ordinary = make_account(smtp_server, name="Ordinario", from_address="fatture@azienda.example")
    _imap(pec, imap_user)
    _imap(ordinary, imap_user)
    pec_batch = make_sending_batch(
        pec, ["ok@pec.cliente.example", "sbagliato@pec.cliente.example", "terzo@pec.cliente.example"]
    )
    ord_batch = make_sending_batch(
        ordinary, ["a@cliente.example", "b@cliente.example", "c@cliente.example", "d@cliente.example"]
    )
    ids = {"pec": pec.id, "ordinary": ordinary.id, "pec_batch": pec_batch.id, "ord_batch": ord_batch.id}
    # Receipts are applied only when genuine: the samples adapted to our messages are re-signed by the
    # test provider (tests.support.receipts.resign), whose CA is trusted; their senders are its system.
    trust_test_provider("pec.aruba.it", "fakepec.it")
    for batch in (pec_batch, ord_batch):
        sending.start_sending(batch)
    work(app_ctx)
    rows = db.session.scalars(db.select(Delivery).order_by(Delivery.id)).all()
    assert {d.status for d in rows} == {"sent"}
    assert all(d.message_id.startswith("<") for d in rows)
    return {
        **ids,
        "d": {d.recipient_email: d.id for d in rows},
        "mid": {d.recipient_email: d.message_id for d in rows},
    }


def _delivery(sent, address) -> Delivery:
    """Fresh delivery row by recipient."""
    db.session.expire_all()
    return db.session.get(Delivery, sent["d"][address])


def test_pec_receipts_from_the_mailbox_land_on_their_deliveries(app_ctx, sent, imap_user, samples_dir):
    """Accettazione + consegna (real Aruba samples), mancata consegna with the provider's reason."""
    ok, wrong = "ok@pec.cliente.example", "sbagliato@pec.cliente.example"
    first_raw = resign(adapt_receipt(sample(samples_dir, OCA_ACCETTAZIONE), sent["mid"][ok]))
    imap_user.append(first_raw)
    imap_user.append(resign(adapt_receipt(sample(samples_dir, OCA_CONSEGNA), sent["mid"][ok], consegna=ok)))
    imap_user.append(resign(adapt_receipt(sample(samples_dir, GOPEC_ACCETTAZIONE), sent["mid"][wrong])))
    imap_user.append(
        resign(adapt_receipt(sample(samples_dir, GOPEC_ERRORE), sent["mid"][wrong], consegna=wrong))
    )

    report = poll_account(sent["pec"])
    assert report["read"] == 4 and report["applied"] == 4

    d = _delivery(sent, ok)
    assert d.pec_accepted_at == datetime(2018, 11, 13, 15, 39, 26)  # 16:39:26 +0100 in daticert
    assert d.pec_delivered_at == datetime(2018, 11, 13, 15, 39, 27)
    assert d.status == "sent" and d.pec_failed_at is None
    w = _delivery(sent, wrong)
    assert w.pec_accepted_at == datetime(2024, 11, 15, 17, 20, 38)
    assert w.pec_failed_at == datetime(2024, 11, 15, 17, 21, 3)
    assert w.status == "bounced"
    assert "5.1.1 - FAKE Pec S.p.A. - indirizzo non valido" in w.pec_failure_reason
    assert db.session.get(Contact, w.contact_id).bounce_count == 1

    receipts = db.session.scalars(db.select(Receipt).order_by(Receipt.uid)).all()
    assert [r.receipt_type for r in receipts] == [
        "accettazione",
        "avvenuta-consegna",
        "accettazione",
        "errore-consegna",
    ]
    assert all(r.kind == "pec-receipt" and r.outcome == "applied" for r in receipts)
    # Kept as received: the blob is the exact message that was in the mailbox.
    first = receipts[0]
    assert db.session.get(Blob, first.raw_sha256).data.replace(b"\r\n", b"\n") == first_raw.replace(
        b"\r\n", b"\n"
    )
    # Applied because genuine: signature verified and chained to the trust store.
    assert all(r.signature_verified and r.trust_status == "trusted" for r in receipts)
    # The mailbox is left as the account says: read.
    assert all("\\Seen" in flags for flags in imap_user.messages().values())


def test_every_receipt_type_is_recognised(app_ctx, sent, imap_user, samples_dir):
    """The seven X-Ricevuta types: state only from those that decide it, the others kept."""
    third = "terzo@pec.cliente.example"
    base = sample(samples_dir, GOPEC_ACCETTAZIONE)
    for kind in ("presa-in-carico", "preavviso-errore-consegna", "rilevazione-virus", "non-accettazione"):
        imap_user.append(resign(adapt_receipt(base, sent["mid"][third], x_ricevuta=kind, tipo=kind)))
    poll_account(sent["pec"])
    receipts = {r.receipt_type: r for r in db.session.scalars(db.select(Receipt))}
    assert set(receipts) == {
        "presa-in-carico",
        "preavviso-errore-consegna",
        "rilevazione-virus",
        "non-accettazione",
    }
    assert receipts["presa-in-carico"].outcome == "recorded"
    assert receipts["preavviso-errore-consegna"].outcome == "recorded"
    assert receipts["rilevazione-virus"].outcome == "applied"
    d = _delivery(sent, third)
    assert d.status == "bounced" and d.pec_failed_at is not None and d.pec_delivered_at is None
    # A failure that is not the recipient's address does not count as a bounce of the contact.
    assert db.session.get(Contact, d.contact_id).bounce_count == 0


def test_reading_twice_processes_each_message_once(app_ctx, sent, imap_user, samples_dir):
    """A second run, a run that forgot where it was, and a new UIDVALIDITY change nothing twice."""
    wrong = "sbagliato@pec.cliente.example"
    imap_user.append(resign(adapt_receipt(sample(samples_dir, GOPEC_ERRORE), sent["mid"][wrong])))
    imap_user.append(dsn_bounce(sent["mid"]["a@cliente.example"], "a@cliente.example"))
    assert poll_account(sent["pec"])["read"] == 2
    assert poll_account(sent["pec"])["read"] == 0  # only new messages
    state = db.session.scalar(db.select(MailboxState))
    state.last_uid = 0  # as if the run had died before remembering the UID
    db.session.commit()
    assert poll_account(sent["pec"]) == {"account": sent["pec"], "read": 2, "duplicates": 2, "applied": 0}
    state = db.session.scalar(db.select(MailboxState))
    state.uidvalidity = 1  # the server renumbered the folder
    db.session.commit()
    assert poll_account(sent["pec"])["duplicates"] == 2
    assert db.session.scalar(db.select(db.func.count(Receipt.id))) == 2
    assert db.session.get(Contact, _delivery(sent, wrong).contact_id).bounce_count == 1
    assert db.session.get(Contact, _delivery(sent, "a@cliente.example").contact_id).bounce_count == 1
    # The ordinary account reads the same mailbox: same bytes, recorded once.
    assert poll_account(sent["ordinary"])["duplicates"] == 2
    assert db.session.scalar(db.select(db.func.count(Receipt.id))) == 2
    new_uid = imap_user.append(qmail_bounce(sent["mid"]["b@cliente.example"], "b@cliente.example"))
    assert poll_account(sent["pec"])["read"] == 1
    assert (
        db.session.scalar(db.select(MailboxState.last_uid).where(MailboxState.account_id == sent["pec"]))
        == new_uid
    )


def test_processed_messages_are_moved_when_the_account_says_so(app_ctx, sent, imap_user, samples_dir):
    """imap_after = move:Elaborati: the folder is created and INBOX emptied."""
    account = db.session.get(MailAccount, sent["pec"])
    account.imap_after = "move:Elaborati"
    db.session.commit()
    imap_user.append(
        adapt_receipt(sample(samples_dir, OCA_ACCETTAZIONE), sent["mid"]["ok@pec.cliente.example"])
    )
    imap_user.append(b"From: someone@example.org\r\nSubject: ciao\r\n\r\nnon una ricevuta\r\n")
    poll_account(sent["pec"])
    assert imap_user.messages("INBOX") == {}
    assert len(imap_user.messages("Elaborati")) == 2


def test_a_message_too_large_is_not_downloaded(app_ctx, sent, imap_user, samples_dir, client, auth):
    """Over INBOUND_MAX_BYTES: only its headers are kept (never applied), the message stays unread in the
    mailbox for a person; the next message is read as usual."""
    app_ctx.config["INBOUND_MAX_BYTES"] = 20_000
    ok = "ok@pec.cliente.example"
    filler = b"".join(b"X-Riempitivo: %04d %s\r\n" % (i, b"x" * 40) for i in range(500))  # 28 kB of header
    huge = filler + adapt_receipt(sample(samples_dir, OCA_CONSEGNA), sent["mid"][ok])
    big_uid = imap_user.append(huge)
    small_uid = imap_user.append(dsn_bounce(sent["mid"]["a@cliente.example"], "a@cliente.example"))
    report = poll_account(sent["pec"])
    assert report["read"] == 2
    big = db.session.scalar(db.select(Receipt).where(Receipt.uid == big_uid))
    assert big.outcome == "oversize" and big.delivery_id is None and "non scaricato" in big.notes
    assert big.referenced_message_id == sent["mid"][ok].strip("<>")  # said by the headers, not believed
    stored = db.session.get(Blob, big.raw_sha256).data  # the headers, without the body
    assert b"X-Riferimento-Message-ID" in stored and b"daticert.xml" not in stored and len(stored) < len(huge)
    assert _delivery(sent, ok).pec_delivered_at is None
    assert imap_user.messages("INBOX")[big_uid] == set()  # left unread for a person
    assert "\\Seen" in imap_user.messages("INBOX")[small_uid]
    assert _delivery(sent, "a@cliente.example").status == "bounced"
    assert poll_account(sent["pec"])["read"] == 0  # not looked at again
    auth.login("admin")
    page = client.get("/ricevute/?outcome=oversize").get_data(as_text=True)
    assert "Troppo grande: lasciato nella casella" in page and ">intestazioni</a>" in page


def test_bounces_of_ordinary_mail(app_ctx, sent, imap_user, client, auth):
    """RFC 3464, qmail and Exchange: bounced with the reason; temporary ones change nothing."""
    a, b, c, d = "a@cliente.example", "b@cliente.example", "c@cliente.example", "d@cliente.example"
    imap_user.append(dsn_bounce(sent["mid"][a], a))
    imap_user.append(qmail_bounce(sent["mid"][b], b))
    imap_user.append(exchange_ndr(sent["mid"][c], c))
    imap_user.append(
        dsn_bounce(
            sent["mid"][d],
            d,
            status="4.4.1",
            action="delayed",
            diagnostic="smtp; 451 4.4.1 Connection timed out, will retry",
        )
    )
    poll_account(sent["ordinary"])
    assert _delivery(sent, a).status == "bounced"
    assert "User unknown" in _delivery(sent, a).bounce_reason and _delivery(sent, a).bounced_at == datetime(
        2026, 11, 30, 9, 15
    )
    assert _delivery(sent, b).status == "bounced" and "550 5.1.1" in _delivery(sent, b).bounce_reason
    assert _delivery(sent, c).status == "bounced" and "RecipientNotFound" in _delivery(sent, c).bounce_reason
    assert _delivery(sent, d).status == "sent" and _delivery(sent, d).bounced_at is None
    kinds = {
        r.referenced_message_id: (r.kind, r.receipt_type, r.outcome)
        for r in db.session.scalars(db.select(Receipt))
    }
    assert kinds[sent["mid"][d].strip("<>")] == ("bounce", "temporary", "recorded")


def test_a_contact_that_bounces_three_times_is_flagged(app_ctx, sent, imap_user, client, auth):
    """Three permanent bounces of one contact: its card says so."""
    first = _delivery(sent, "a@cliente.example")
    contact_id, party_id = first.contact_id, first.party_id
    for address in ("a@cliente.example", "b@cliente.example", "c@cliente.example"):
        db.session.get(Delivery, sent["d"][address]).contact_id = contact_id
    db.session.commit()
    for address in ("a@cliente.example", "b@cliente.example"):
        imap_user.append(dsn_bounce(sent["mid"][address], address))
    poll_account(sent["ordinary"])
    auth.login("admin")
    with app_ctx.test_request_context():
        url = url_for("contacts.party", party_id=party_id)
    assert "rimbalza (" not in client.get(url).get_data(as_text=True)
    imap_user.append(dsn_bounce(sent["mid"]["c@cliente.example"], "c@cliente.example"))
    poll_account(sent["ordinary"])
    assert db.session.get(Contact, contact_id).bounce_count == 3
    assert "rimbalza (3)" in client.get(url).get_data(as_text=True)


def test_malformed_unknown_and_forged_messages_break_nothing(app_ctx, sent, imap_user, samples_dir):
    """Each is recorded as what it is; no delivery changes; the mailbox reading goes on."""
    ok = "ok@pec.cliente.example"
    for raw in MALFORMED[1:]:  # an empty message cannot be APPENDed; the file import covers it
        imap_user.append(raw)
    imap_user.append(forged_receipt(sent["mid"][ok]))  # X-Ricevuta from a private address
    # daticert not matching the header: the header names our message, daticert another one.
    imap_user.append(
        adapt_receipt(
            sample(samples_dir, OCA_CONSEGNA), "<altro@elsewhere.example>", header_id=sent["mid"][ok]
        )
    )
    imap_user.append(
        adapt_receipt(sample(samples_dir, OCA_ACCETTAZIONE), "<sconosciuto.123@nowhere.example>")
    )
    imap_user.append(sample(samples_dir, OCA_ENVELOPE))  # an incoming PEC (busta di trasporto)
    imap_user.append(dsn_bounce("<nessuno@nowhere.example>", "x@nowhere.example"))
    # A bounce naming our message but another recipient.
    imap_user.append(dsn_bounce(sent["mid"]["a@cliente.example"], "intruso@altrove.example"))
    report = poll_account(sent["pec"])
    assert report["read"] == 9 and report["applied"] == 0
    outcomes = [(r.kind, r.outcome) for r in db.session.scalars(db.select(Receipt).order_by(Receipt.uid))]
    assert outcomes == [
        ("other", "malformed"),
        ("pec-receipt", "malformed"),
        ("pec-receipt", "malformed"),
        ("pec-receipt", "suspect"),
        ("pec-receipt", "suspect"),
        ("pec-receipt", "unmatched"),
        ("other", "ignored"),
        ("bounce", "unmatched"),
        ("bounce", "unmatched"),
    ]
    assert all(r.delivery_id is None for r in db.session.scalars(db.select(Receipt)))
    for address in sent["d"]:
        d = _delivery(sent, address)
        assert (d.status, d.pec_accepted_at, d.pec_delivered_at, d.bounced_at) == ("sent", None, None, None)
    # Issue 13: a bounce naming another address is kept unmatched (not applied), saying whom it names.
    intruder = db.session.scalars(
        db.select(Receipt).where(Receipt.kind == "bounce").order_by(Receipt.uid)
    ).all()[-1]
    assert "riguarda intruso@altrove.example, non a@cliente.example" in intruder.notes
    forged = db.session.scalar(db.select(Receipt).where(Receipt.sender == "mario.rossi@gmail.example"))
    assert "non è un gestore PEC" in forged.notes
    assert all("\\Seen" in flags for flags in imap_user.messages().values())


def test_mailbox_errors_are_recorded_and_raised(app_ctx, sent, imap_user, dovecot):
    """Wrong password, TLS against the plain port: ImapError with Italian words, kept on the state row."""
    account = db.session.get(MailAccount, sent["pec"])
    account.imap_password_encrypted = encrypt_secret("sbagliata")
    db.session.commit()
    with pytest.raises(ImapError, match="Accesso IMAP rifiutato"):
        poll_account(sent["pec"])
    assert "Accesso IMAP rifiutato" in db.session.scalar(db.select(MailboxState.last_error))
    account.imap_password_encrypted = encrypt_secret(imap_user.password)
    account.imap_port = imap_user.port  # plain port: TLS handshake fails, never falls back to plain
    db.session.commit()
    with pytest.raises(ImapError):
        poll_account(sent["pec"])
    app_ctx.config["IMAP_PLAINTEXT_LOOPBACK"] = True  # allowed for loopback only, by setting
    assert poll_account(sent["pec"])["read"] == 0
    assert db.session.scalar(db.select(MailboxState.last_error)) == ""


def test_scheduler_runs_the_mailbox_job(app_ctx, sent, imap_user, samples_dir):
    """The job is registered in the scheduler and runs on a real RQ worker."""
    from mailer.jobs.periodic import build_scheduler
    from mailer.jobs.tracking import poll_mailboxes_job
    from mailer.queue import get_queue

    scheduler = build_scheduler()
    names = [getattr(job, "name", "") for job in getattr(scheduler, "_cron_jobs", [])]
    assert "recapito-mailboxes" in names or any(
        getattr(job, "func", None) is poll_mailboxes_job for job in getattr(scheduler, "_cron_jobs", [])
    )
    imap_user.append(
        resign(adapt_receipt(sample(samples_dir, OCA_ACCETTAZIONE), sent["mid"]["ok@pec.cliente.example"]))
    )
    get_queue().enqueue(poll_mailboxes_job)
    work(app_ctx)
    assert _delivery(sent, "ok@pec.cliente.example").pec_accepted_at is not None


def test_cli_import_refuses_a_file_above_the_limit_and_goes_on(app_ctx, runner, sent, tmp_path):
    """A file above INBOUND_MAX_BYTES is not read: {"file", "error"}, exit 1; the others are imported."""
    app_ctx.config["INBOUND_MAX_BYTES"] = 5_000
    big = tmp_path / "grande.eml"
    big.write_bytes(b"Subject: grande\r\n\r\n" + b"x" * 6_000)
    bounce = tmp_path / "rimbalzo.eml"
    bounce.write_bytes(dsn_bounce(sent["mid"]["a@cliente.example"], "a@cliente.example"))
    result = runner.invoke(args=["receipts", "import", str(big), str(bounce), "--json"])
    assert result.exit_code == 1
    first, second = [json.loads(line) for line in result.output.splitlines()]
    assert first["file"] == str(big) and "troppo grande" in first["error"] and "kind" not in first
    assert second["kind"] == "bounce" and second["delivery"] == sent["d"]["a@cliente.example"]
    assert db.session.scalar(db.select(db.func.count(Receipt.id))) == 1


def test_cli_import_json(app_ctx, runner, sent, samples_dir, tmp_path):
    """One JSON object per file, through the same code as the mailbox reader."""
    ok = "ok@pec.cliente.example"
    adapted = tmp_path / "consegna-nostra.eml"
    adapted.write_bytes(
        resign(adapt_receipt(sample(samples_dir, OCA_CONSEGNA), sent["mid"][ok], consegna=ok), tmp_path)
    )
    bounce = tmp_path / "rimbalzo.eml"
    bounce.write_bytes(dsn_bounce(sent["mid"]["a@cliente.example"], "a@cliente.example"))
    empty = tmp_path / "vuoto.eml"
    empty.write_bytes(b"")
    files = [
        str(samples_dir / "pec" / n)
        for n in (OCA_ACCETTAZIONE, OCA_CONSEGNA, OCA_ENVELOPE, GOPEC_ACCETTAZIONE, GOPEC_ERRORE)
    ]
    result = runner.invoke(
        args=["receipts", "import", *files, str(adapted), str(bounce), str(empty), "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    keys = ["file", "kind", "receipt_type", "message_id", "delivery", "signature_verified"]
    got = [[row[k] for k in keys[1:]] for row in rows]
    oca_id = (
        "1542123565.921546936035156.464602125997431-openerp-8-fatturapa.attachment.out@elbati-Vostro-3550"
    )
    assert got == [
        ["pec-receipt", "accettazione", oca_id, None, True],
        ["pec-receipt", "avvenuta-consegna", oca_id, None, True],
        ["other", None, None, None, False],
        ["pec-receipt", "accettazione", "SN05IE$951DEC16C1CFD3E4FD8FF1B1D24A99AE@fakepec.it", None, False],
        ["pec-receipt", "errore-consegna", "SN05IE$951DEC16C1CFD3E4FD8FF1B1D24A99AE@pec.it", None, False],
        ["pec-receipt", "avvenuta-consegna", sent["mid"][ok].strip("<>"), sent["d"][ok], True],
        [
            "bounce",
            "permanent",
            sent["mid"]["a@cliente.example"].strip("<>"),
            sent["d"]["a@cliente.example"],
            False,
        ],
        ["other", None, None, None, False],
    ]
    assert [row["file"] for row in rows] == [*files, str(adapted), str(bounce), str(empty)]
    # Issue 13: a bounce also says whom it is about and whether it is final; other kinds keep their keys.
    assert rows[6]["recipients"] == [{"address": "a@cliente.example", "status": "5.1.1", "action": "failed"}]
    assert rows[6]["permanent"] is True
    assert all("recipients" not in row and "permanent" not in row for row in rows if row["kind"] != "bounce")
    # The trust outcome: the real Aruba receipts hold but their signer (AgID CA1's) is not in the store
    # (which holds the test provider's CA); go-pec's dummy signatures are invalid; ours is genuine.
    assert [(row["trust"], row["genuine"]) for row in rows] == [
        ("untrusted", False),
        ("untrusted", False),
        (None, False),
        ("invalid", False),
        ("invalid", False),
        ("trusted", True),
        (None, False),
        (None, False),
    ]
    assert "Posta Certificata ARUBA PEC" in rows[0]["signer"] and rows[0]["suspect_reasons"] == []
    assert _delivery(sent, ok).pec_delivered_at == datetime(2018, 11, 13, 15, 39, 27)
    # Importing again changes nothing and says so.
    again = runner.invoke(args=["receipts", "import", str(bounce), "--json"])
    assert json.loads(again.output)["duplicate"] is True
    assert db.session.get(Contact, _delivery(sent, "a@cliente.example").contact_id).bounce_count == 1


def test_results_page_columns_filters_and_download(app_ctx, sent, client, auth, samples_dir, make_user):
    """Accettata/consegnata/mancata consegna/rimbalzata with times, a filter each, the receipt one click away."""
    ok, wrong = "ok@pec.cliente.example", "sbagliato@pec.cliente.example"
    raw = resign(adapt_receipt(sample(samples_dir, OCA_CONSEGNA), sent["mid"][ok], consegna=ok))
    record_message(resign(adapt_receipt(sample(samples_dir, OCA_ACCETTAZIONE), sent["mid"][ok])))
    consegna = record_message(raw).receipt
    record_message(resign(adapt_receipt(sample(samples_dir, GOPEC_ERRORE), sent["mid"][wrong])))
    record_message(dsn_bounce(sent["mid"]["a@cliente.example"], "a@cliente.example"))
    auth.login("manager")
    page = client.get(f"/invii/{sent['pec_batch']}").get_data(as_text=True)
    for heading in ("Accettata", "Consegnata", "Mancata consegna", "Rimbalzata"):
        assert f">{heading}</th>" in page
    assert "13/11/2018 16:39" in page  # shown in Italian time
    assert "indirizzo non valido" in page
    download = f"/invii/{sent['pec_batch']}/recapiti/{sent['d'][ok]}/ricevute/{consegna.id}.eml"
    assert download in page
    response = client.get(download)
    assert response.status_code == 200 and response.data == raw
    assert response.mimetype == "message/rfc822"
    for view, present, absent in (
        ("accepted", ok, "terzo@"),
        ("delivered", ok, wrong),
        ("notdelivered", wrong, ok),
    ):
        html = client.get(f"/invii/{sent['pec_batch']}?vista={view}").get_data(as_text=True)
        assert present in html and absent not in html, view
    html = client.get(f"/invii/{sent['ord_batch']}?vista=bounced").get_data(as_text=True)
    assert "a@cliente.example" in html and "b@cliente.example" not in html
    # Another delivery's URL for this receipt: 404.
    assert (
        client.get(
            f"/invii/{sent['pec_batch']}/recapiti/{sent['d'][wrong]}/ricevute/{consegna.id}.eml"
        ).status_code
        == 404
    )
    # A user who may not see the delivery may not download its receipt.
    d = db.session.get(Delivery, sent["d"][ok])
    d.privacy_level = 3
    db.session.commit()
    auth.logout()
    auth.login("basso", roles=["manager"], clearance=1)
    assert client.get(download).status_code == 404
    assert ok not in client.get(f"/invii/{sent['pec_batch']}?vista=delivered").get_data(as_text=True)
