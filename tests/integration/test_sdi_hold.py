"""Courtesy copies that follow the invoice's fate at the SdI (issue 20, points 2 and 3): the hold until an
RC or MC, an NS that blocks at preparation and at claim time, the MC sentence and the PEC route."""

from __future__ import annotations

import email
import email.policy
import html
import re
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from mailer.extensions import db
from tests.support.batches import make_document, make_party_with_contacts, office_data, run_jobs
from tests.support.faults import WorkerProcess, wait_until
from tests.support.smtp import smtp_server  # noqa: F401 — fixture

DATA = Path(__file__).resolve().parent.parent / "data" / "sdi"
FIXTURES = {
    "RC": DATA / "IT01234567890_11111_RC_001.xml",
    "MC": DATA / "IT01234567890_11112_MC_001.xml",
    "NS": DATA / "IT01234567890_11113_NS_001.xml",
}
_serial = iter(range(500, 10_000))


def notification(kind: str, invoice_file: str) -> tuple[bytes, str]:
    """A notification of the official schema (the fixtures of tests/data/sdi) about one invoice file."""
    text = FIXTURES[kind].read_text()
    n = next(_serial)
    text = re.sub(r"<NomeFile>[^<]*</NomeFile>", f"<NomeFile>{invoice_file}</NomeFile>", text)
    text = re.sub(
        r"<IdentificativoSdI>[^<]*</IdentificativoSdI>", f"<IdentificativoSdI>{n}</IdentificativoSdI>", text
    )
    text = re.sub(r"<MessageId>[^<]*</MessageId>", f"<MessageId>{n}</MessageId>", text)
    return text.encode(), f"IT01234567890_{n}_{kind}_001.xml"


def receive(kind: str, invoice_file: str) -> None:
    """Import a notification as the CLI / spool / API do, and commit."""
    from mailer.services.sdi import import_notification

    data, name = notification(kind, invoice_file)
    import_notification(data, name)
    db.session.commit()


def customer(code: str, contacts: list[dict]) -> SimpleNamespace:
    """A customer with contacts (its id only: rows are detached once a worker has run)."""
    party = make_party_with_contacts(code, contacts)
    db.session.commit()
    return SimpleNamespace(id=party.id)


def invoice(party, number: str, days_old: int = 3):
    """An invoice with its PDF, sent to the SdI as IT01234567890_<number>.xml."""
    document = make_document(
        party, "FATTURA", number, day=date.today() - timedelta(days=days_old), with_pdf=True
    )
    document.sdi_file_name = f"IT01234567890_{number.replace('/', '')}.xml"
    db.session.commit()
    return SimpleNamespace(id=document.id, number=number, sdi_file_name=document.sdi_file_name)


def prepare(app, **selection) -> int:
    """Prepare a batch of invoices (the preparation job run by a worker); returns its id."""
    from mailer.services.preparation import Selection, create_batch

    batch = create_batch(Selection(type_codes=["FATTURA"], **selection), None)
    batch_id = batch.id
    run_jobs(app)
    return batch_id


def rows(batch_id: int) -> dict[str, list]:
    """Document number -> [(status, exclusion reason, warnings, recipient, account kind)] of a batch."""
    from mailer.models import Delivery, MailAccount

    result: dict[str, list] = {}
    for delivery in db.session.scalars(select(Delivery).where(Delivery.batch_id == batch_id)):
        account = db.session.get(MailAccount, delivery.account_id) if delivery.account_id else None
        for document in delivery.documents:
            result.setdefault(document.number, []).append(
                (
                    delivery.status,
                    delivery.exclusion_reason,
                    delivery.warnings,
                    delivery.recipient_email,
                    account.kind if account else None,
                )
            )
    return result


def _waiting(type_code="FATTURA", on=True):
    from mailer.models import DocumentType

    db.session.get(DocumentType, type_code).wait_for_sdi = on
    db.session.commit()


def test_held_until_rc_then_taken_by_a_later_preparation(app, smtp_server):  # noqa: F811
    from mailer.services.sdi import SDI_WAITING

    with app.app_context():
        office_data(smtp_server)
        party = customer("DELTA", [{"email": "amm@delta.example", "types": ["FATTURA"]}])
        waiting = invoice(party, "H1", days_old=3)
        delivered = invoice(party, "H2")
        receive("RC", delivered.sdi_file_name)
        _waiting()
        first = prepare(app, party_ids=[party.id])
        got = rows(first)
        assert got["H2"][0][0] == "pending"
        status, reason, warnings, recipient, _ = got["H1"][0]
        assert (status, reason, recipient) == ("excluded", SDI_WAITING, "")
        assert "in attesa dell'esito SdI da 3 giorni" in warnings[0]

        # The RC arrives: a later preparation takes the held invoice (H2 is still in the first batch).
        receive("RC", waiting.sdi_file_name)
        second = prepare(app, party_ids=[party.id])
        assert [r[:2] for r in rows(second)["H1"]] == [("pending", "")]
        assert "H2" not in rows(second)


def test_scheduled_preparation_takes_the_invoice_once_its_mc_arrives(app, smtp_server):  # noqa: F811
    from datetime import datetime

    from mailer.models import Batch, DocumentType
    from mailer.services.schedules import run_due_schedules
    from mailer.services.sdi import SDI_WAITING

    with app.app_context():
        office_data(smtp_server)
        party = customer("EPSILON", [{"email": "amm@eps.example", "types": ["FATTURA"]}])
        held = invoice(party, "S1", days_old=1)
        doc_type = db.session.get(DocumentType, "FATTURA")
        doc_type.schedule_cron = "0 * * * *"
        doc_type.wait_for_sdi = True
        db.session.commit()
        now = datetime.now().replace(minute=5, second=0, microsecond=0)
        [first] = run_due_schedules(now)
        run_jobs(app)
        assert rows(first)["S1"][0][:2] == ("excluded", SDI_WAITING)
        receive("MC", held.sdi_file_name)
        [second] = run_due_schedules(now + timedelta(hours=1))
        run_jobs(app)
        assert db.session.get(Batch, second).status == "ready"
        assert rows(second)["S1"][0][:2] == ("pending", "")


@pytest.mark.parametrize("waiting", [True, False], ids=["waits-for-sdi", "does-not-wait"])
def test_ns_is_never_taken_and_shows_the_sdi_errors(app, smtp_server, waiting, auth, client, make_user):  # noqa: F811
    from mailer.models import Delivery, User
    from mailer.services.approval import set_excluded
    from mailer.services.sdi import SDI_DISCARDED

    with app.app_context():
        office_data(smtp_server)
        party = customer("ZETA", [{"email": "amm@zeta.example", "types": ["FATTURA"]}])
        rejected = invoice(party, "N1")
        receive("RC", rejected.sdi_file_name)
        receive("NS", rejected.sdi_file_name)  # the latest word: discarded
        _waiting(on=waiting)
        batch_id = prepare(app, party_ids=[party.id])
        [(status, reason, warnings, recipient, _)] = rows(batch_id)["N1"]
        assert (status, reason, recipient) == ("excluded", SDI_DISCARDED, "")
        assert "scartata dallo SdI" in warnings[0]
        assert "00404 Fattura duplicata" in warnings[0]
        assert "00305 IdFiscaleIVA del CessionarioCommittente non valido" in warnings[0]
        # Nobody can put it back in the batch.
        admin = db.session.get(User, make_user("capo", roles=["admin"], clearance=3))
        delivery_id = db.session.scalar(select(Delivery.id).where(Delivery.batch_id == batch_id))
        from mailer.models import Batch

        assert set_excluded(db.session.get(Batch, batch_id), [delivery_id], False, admin) == 0
        assert db.session.get(Delivery, delivery_id).status == "excluded"
    auth.login("admin")
    page = client.get(f"/invii/{batch_id}?vista=excluded").get_data(as_text=True)
    assert "Scartata dallo SdI" in page and "00404 Fattura duplicata" in page


def test_forged_or_malformed_notification_changes_nothing(app, smtp_server, tmp_path):  # noqa: F811
    from mailer.services.sdi import SDI_WAITING, fates, import_sdi_paths

    with app.app_context():
        office_data(smtp_server)
        party = customer("ETA", [{"email": "amm@eta.example", "types": ["FATTURA"]}])
        held = invoice(party, "M1")
        _waiting()
        ns, name = notification("NS", held.sdi_file_name)
        broken = tmp_path / name
        broken.write_bytes(
            re.sub(rb"<ListaErrori>.*</ListaErrori>", b"", ns, flags=re.S)
        )  # NS without errors
        forged = tmp_path / "IT01234567890_99999_RC_001.xml"
        forged.write_bytes(
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b"<RicevutaConsegna><IdentificativoSdI>1</IdentificativoSdI><NomeFile>&x;</NomeFile>"
            b"<MessageId>1</MessageId></RicevutaConsegna>"
        )
        results, ok = import_sdi_paths([str(broken), str(forged)])
        db.session.commit()
        assert not ok and len(results) == 2
        assert fates([held.id]) == {}
        batch_id = prepare(app, party_ids=[party.id])
        assert rows(batch_id)["M1"][0][:2] == ("excluded", SDI_WAITING)


def test_ns_after_approval_blocks_at_claim_with_a_real_worker(app, smtp_server, tmp_path):  # noqa: F811
    from mailer.models import Batch, Delivery, Document
    from mailer.services.approval import approve_batch
    from mailer.services.sdi import SDI_DISCARDED
    from mailer.services.sending import start_sending

    with app.app_context():
        office_data(smtp_server)
        party = customer("THETA", [{"email": "amm@theta.example", "types": ["FATTURA"]}])
        docs = [invoice(party, f"W{i}") for i in range(1, 4)]
        batch_id = prepare(app, party_ids=[party.id])
        assert {r[0][0] for r in rows(batch_id).values()} == {"pending"}
        approve_batch(db.session.get(Batch, batch_id), None, automatic=True)
        db.session.commit()
        # After the approval, before anything leaves: the SdI discards W2.
        receive("NS", docs[1].sdi_file_name)
        start_sending(db.session.get(Batch, batch_id))
        db.session.commit()
        doc_ids = [d.id for d in docs]
    worker = WorkerProcess(app, tmp_path).start()
    try:
        with app.app_context():
            wait_until(
                lambda: db.session.get(Batch, batch_id).status == "done" or db.session.rollback(),
                120,  # a worker process starting on a loaded machine
                lambda: f"the batch to finish\n{worker.tail()}",
            )
    finally:
        worker.stop()
    with app.app_context():
        numbers = sorted(m.message["Subject"].split("n. ")[1].split(" ")[0] for m in smtp_server.messages)
        assert numbers == ["W1", "W3"], numbers
        blocked = db.session.scalar(
            select(Delivery).where(
                Delivery.batch_id == batch_id, Delivery.documents.any(Document.id == doc_ids[1])
            )
        )
        assert (blocked.status, blocked.exclusion_reason) == ("excluded", SDI_DISCARDED)
        assert blocked.attempts == 0 and not blocked.message_id
        assert "W2" in blocked.smtp_reason and "00404 Fattura duplicata" in blocked.smtp_reason
        assert db.session.get(Document, doc_ids[1]).sent_at is None
        assert db.session.get(Document, doc_ids[0]).sent_at is not None
        blocked_id = blocked.id
        # An RC arriving later does not send it by itself.
        receive("RC", docs[1].sdi_file_name)
        run_jobs(app, max_wait=1)
        assert db.session.get(Delivery, blocked_id).status == "excluded"
        assert len(smtp_server.messages) == 2


def _bodies(captured) -> str:
    """The decoded text and HTML bodies of a message as the SMTP server received its bytes."""
    message = email.message_from_bytes(captured.data, policy=email.policy.default)
    parts = [message.get_body(("plain",)), message.get_body(("html",))]
    return "\n".join(" ".join(html.unescape(p.get_content()).split()) for p in parts if p is not None)


def test_mc_message_says_where_the_original_is_and_goes_by_pec(app, smtp_server):  # noqa: F811
    from mailer.models import Batch
    from mailer.services.approval import approve_batch
    from mailer.services.sdi import MC_TEXT
    from mailer.services.sending import start_sending

    with app.app_context():
        office_data(smtp_server)
        party = customer(
            "IOTA",
            [
                {"name": "Amministrazione", "email": "amm@iota.example", "types": ["FATTURA"]},
                {"name": "PEC", "email": "iota@pec.it", "is_pec": True, "types": ["FATTURA"]},
            ],
        )
        mc_invoice = invoice(party, "P1")
        rc_invoice = invoice(party, "P2")
        receive("MC", mc_invoice.sdi_file_name)
        receive("RC", rc_invoice.sdi_file_name)
        _waiting()
        batch_id = prepare(app, party_ids=[party.id])
        got = rows(batch_id)
        routes = {(r[3], r[4]) for r in got["P1"]}
        assert routes == {("amm@iota.example", "smtp"), ("iota@pec.it", "pec")}
        assert {(r[3], r[4]) for r in got["P2"]} == {("amm@iota.example", "smtp"), ("iota@pec.it", "smtp")}
        approve_batch(db.session.get(Batch, batch_id), None, automatic=True)
        start_sending(db.session.get(Batch, batch_id))
        db.session.commit()
        run_jobs(app)
        assert db.session.get(Batch, batch_id).status == "done"
    sentence = " ".join(MC_TEXT.split())
    by_invoice: dict[str, list[str]] = {}
    for captured in smtp_server.messages:
        number = "P1" if "P1" in captured.message["Subject"] else "P2"
        by_invoice.setdefault(number, []).append(_bodies(captured))
    assert len(by_invoice["P1"]) == 2 and len(by_invoice["P2"]) == 2
    assert all(body.count(sentence) == 2 for body in by_invoice["P1"]), by_invoice["P1"][0]  # text and HTML
    assert all(sentence not in body for body in by_invoice["P2"])
    assert all("recapitato tramite il Sistema di Interscambio" in body for body in by_invoice["P2"])


def test_own_mc_text_replaces_the_default_even_in_an_old_template(app, smtp_server):  # noqa: F811
    from mailer.models import DocumentType
    from mailer.services.mail_templates import build_context, render_for
    from mailer.services.mail_templates.versions import save_version
    from mailer.services.sdi import MC_TEXT

    with app.app_context():
        office_data(smtp_server)
        party = customer("KAPPA", [{"email": "amm@kappa.example", "types": ["FATTURA"]}])
        document = invoice(party, "T1")
        receive("MC", document.sdi_file_name)
        db.session.get(DocumentType, "FATTURA").sdi_mc_text = "Trovate l'originale nel cassetto fiscale."
        save_version("FATTURA", "it", "Fattura {{ documento.numero }}", "<p>Gentile cliente.</p>", "", None)
        db.session.commit()
        mail = render_for("FATTURA", "it", build_context([document.id]))
        assert "Trovate l'originale nel cassetto fiscale." in html.unescape(mail.html)
        assert "Trovate l'originale nel cassetto fiscale." in mail.text
        assert MC_TEXT not in mail.html


def test_type_settings_saved_by_admin_and_bad_text_refused(app, client, auth):
    from mailer.models import DocumentType

    auth.login("admin")
    # account_id "": the form's «Account predefinito» option (it used to be refused as an unknown account)
    form = {"language": "it", "account_id": "", "attach_pdf": "on", "wait_for_sdi": "on"}
    bad = client.post("/modelli/FATTURA/impostazioni", data={**form, "sdi_mc_text": "<b>x</b>"})
    assert bad.status_code == 422
    assert "Testo dopo la mancata consegna: solo testo semplice" in bad.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(DocumentType, "FATTURA").wait_for_sdi is False  # nothing half-written
    ok = client.post(
        "/modelli/FATTURA/impostazioni", data={**form, "sdi_mc_text": "Originale nel cassetto fiscale."}
    )
    assert ok.status_code == 302
    page = client.get("/modelli/FATTURA/it").get_data(as_text=True)
    assert "Invia la copia di cortesia solo dopo l'esito SdI" in page
    with app.app_context():
        doc_type = db.session.get(DocumentType, "FATTURA")
        assert (doc_type.wait_for_sdi, doc_type.sdi_mc_text) == (True, "Originale nel cassetto fiscale.")
    # Types that do not go through the SdI have no such setting.
    client.post("/modelli/DDT/impostazioni", data={**form, "sdi_mc_text": "x"})
    assert "esito SdI" not in client.get("/modelli/DDT/it").get_data(as_text=True)
    with app.app_context():
        assert db.session.get(DocumentType, "DDT").wait_for_sdi is False
