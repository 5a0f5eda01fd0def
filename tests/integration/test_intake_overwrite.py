"""Issue 12.4: no import overwrites a document silently (API, spool, FatturaPA CLI and upload).

A document type + year + number that exists for another party, or with other totals, is refused
with a message naming both, unless the caller asks to replace it; a replacement is audited and a
document already sent keeps the PDF that went out as a version of its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

import pytest

from mailer.extensions import db
from tests.support.batches import make_account, make_sending_batch, run_jobs
from tests.support.documents import bearer, make_party

DOC = {
    "type": "FATTURA",
    "number": "2024/15",
    "date": "2024-03-15",
    "party_code": "C0001",
    "lines": [{"description": "Viti inox", "quantity": "10", "unit_price": "2.50", "vat_rate": 22}],
}
PDF_A = b"%PDF-1.4\n% versione A\n%%EOF\n"
PDF_B = b"%PDF-1.4\n% versione B\n%%EOF\n"


@pytest.fixture
def token(make_token):
    """A token with every scope."""
    return make_token(clearance=1, name="gestionale")


@pytest.fixture
def two_parties(app):
    """Parties C0001 (Rossi) and C0002 (Bianchi)."""
    with app.app_context():
        make_party("C0001", "Rossi Forniture S.r.l.")
        make_party("C0002", "Bianchi Ricambi S.p.A.", vat_number="01234567897")
        db.session.commit()


def _document(app, type_code="FATTURA", year=2024, number="2024/15"):
    """(party code, total, pdf sha) of the stored document, or None."""
    from mailer.models import Document

    with app.app_context():
        doc = db.session.scalar(
            db.select(Document).where(
                Document.type_code == type_code, Document.year == year, Document.number == number
            )
        )
        return None if doc is None else (doc.party.erp_code, str(doc.total), doc.pdf_sha256)


def _audit(app, action):
    """Details of the audit events with this action."""
    from mailer.models import AuditEvent

    with app.app_context():
        return [
            e.details for e in db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == action))
        ]


# ---------------------------------------------------------------- API


def test_api_refuses_another_party(client, token, two_parties, app):
    """Same type/year/number for another party: 409 naming both parties; the stored one is untouched."""
    assert client.post("/api/v1/documents", json=DOC, headers=bearer(token)).status_code == 201
    response = client.post("/api/v1/documents", json={**DOC, "party_code": "C0002"}, headers=bearer(token))
    assert response.status_code == 409, response.get_json()
    body = response.get_json()
    message = body["fields"]["number"]
    assert "Rossi Forniture S.r.l." in message and "Bianchi Ricambi S.p.A." in message
    assert "replace" in message  # says how to ask for a replacement
    assert _document(app)[0] == "C0001"


def test_api_refuses_other_totals(client, token, two_parties, app):
    """Same party, other totals: refused too, with both totals in Italian format."""
    client.post("/api/v1/documents", json=DOC, headers=bearer(token))
    response = client.post("/api/v1/documents", json={**DOC, "total": "999.00"}, headers=bearer(token))
    assert response.status_code == 409
    message = response.get_json()["fields"]["number"]
    assert "30,50" in message and "999,00" in message
    assert _document(app)[1] == "30.50"


def test_api_same_document_again_is_idempotent(client, token, two_parties, app):
    """The very same document twice: 200, one document, no replacement audited."""
    first = client.post("/api/v1/documents", json=DOC, headers=bearer(token)).get_json()
    again = client.post("/api/v1/documents", json=DOC, headers=bearer(token))
    assert again.status_code == 200 and again.get_json()["id"] == first["id"]
    assert _audit(app, "document.replace") == []


@pytest.mark.parametrize("how", ["field", "query"])
def test_api_replace_on_request_is_audited(client, token, two_parties, app, how):
    """`"replace": true` (or ?replace=1) replaces it; the audit names old and new party and totals."""
    client.post("/api/v1/documents", json=DOC, headers=bearer(token))
    other = {**DOC, "party_code": "C0002", "total": "40.00"}
    if how == "field":
        response = client.post("/api/v1/documents", json={**other, "replace": True}, headers=bearer(token))
    else:
        response = client.post("/api/v1/documents?replace=1", json=other, headers=bearer(token))
    assert response.status_code == 200, response.get_json()
    assert _document(app)[:2] == ("C0002", "40.00")
    [event] = _audit(app, "document.replace")
    assert event["old_party"] == "C0001" and event["new_party"] == "C0002"
    assert event["old_total"] == "30.50" and event["new_total"] == "40.00" and event["source"] == "api"


def test_api_replace_must_be_a_boolean(client, token, two_parties):
    """A replace value that is not true/false is a field error, not a guess."""
    response = client.post("/api/v1/documents", json={**DOC, "replace": "sì"}, headers=bearer(token))
    assert response.status_code == 422 and "replace" in response.get_json()["fields"]


def test_openapi_documents_replace(client):
    """The OpenAPI description tells the ERP about the flag and the 409 answer."""
    spec = client.get("/api/v1/openapi.json").get_json()
    post = spec["paths"]["/documents"]["post"]
    assert "replace" in spec["components"]["schemas"]["DocumentIn"]["properties"]
    assert "409" in post["responses"] and any(p["name"] == "replace" for p in post["parameters"])


# ---------------------------------------------------------------- spool


def _drop(folder, name, sidecar, data=PDF_A):
    """A PDF and its JSON sidecar in the spool folder."""
    with open(os.path.join(folder, name), "wb") as handle:
        handle.write(data)
    with open(os.path.join(folder, name[:-4] + ".json"), "w") as handle:
        json.dump(sidecar, handle)


def test_spool_refuses_another_party_then_replaces_on_request(app, two_parties):
    """A sidecar for another party goes to error/ naming both; with "replace": true it replaces."""
    from mailer.services.spool import import_spool

    app.config["SPOOL_MIN_AGE_SECONDS"] = 0
    folder = app.config["SPOOL_DIR"]
    os.makedirs(folder, exist_ok=True)
    sidecar = {
        "type": "FATTURA",
        "number": "77",
        "date": "2024-05-02",
        "party_code": "C0001",
        "total": "122.00",
    }
    _drop(folder, "ft-77.pdf", sidecar)
    with app.app_context():
        assert not import_spool().errors
    _drop(folder, "ft-77-bis.pdf", {**sidecar, "party_code": "C0002"}, data=PDF_B)
    with app.app_context():
        report = import_spool()
    [error] = report.errors
    assert "Rossi Forniture S.r.l." in error["error"] and "Bianchi Ricambi S.p.A." in error["error"]
    assert '"replace": true' in error["error"]
    with open(os.path.join(folder, "error", "ft-77-bis.pdf.reason.txt"), encoding="utf-8") as handle:
        reason = handle.read()
    assert "Bianchi Ricambi S.p.A." in reason
    assert _document(app, number="77") == ("C0001", "122.00", hashlib.sha256(PDF_A).hexdigest())

    _drop(folder, "ft-77-ter.pdf", {**sidecar, "party_code": "C0002", "replace": True}, data=PDF_B)
    with app.app_context():
        report = import_spool()
    assert not report.errors and len(report.imported) == 1
    assert _document(app, number="77") == ("C0002", "122.00", hashlib.sha256(PDF_B).hexdigest())
    [event] = _audit(app, "document.replace")
    assert event["old_party"] == "C0001" and event["new_party"] == "C0002" and event["source"] == "spool"


def test_spool_same_document_again_is_idempotent(app, two_parties):
    """The same sidecar with a new print of the PDF (same party, same totals) updates without a word."""
    from mailer.services.spool import import_spool

    app.config["SPOOL_MIN_AGE_SECONDS"] = 0
    folder = app.config["SPOOL_DIR"]
    os.makedirs(folder, exist_ok=True)
    sidecar = {"type": "DDT", "number": "5", "date": "2024-05-02", "party_code": "C0001"}
    _drop(folder, "ddt-5.pdf", sidecar)
    with app.app_context():
        import_spool()
    _drop(folder, "ddt-5-again.pdf", sidecar, data=PDF_B)
    with app.app_context():
        report = import_spool()
    assert not report.errors
    assert _document(app, "DDT", number="5")[2] == hashlib.sha256(PDF_B).hexdigest()


# ---------------------------------------------------------------- FatturaPA (CLI and upload page)


def test_fatturapa_cli_refuses_another_customer_then_replace(runner, samples_dir, app):
    """FPR02 and FPR03 both hold invoice 123/2014 for two different customers (both «BETA GAMMA»).

    The second file is refused as a whole, naming both parties; `--replace` replaces it.
    """
    folder = samples_dir / "fatturapa"
    first = runner.invoke(args=["import-fatturapa", str(folder / "IT01234567890_FPR02.xml"), "--json"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(args=["import-fatturapa", str(folder / "IT01234567890_FPR03.xml.p7m"), "--json"])
    assert second.exit_code == 1
    [row] = [json.loads(line) for line in second.output.strip().splitlines()]
    assert "FE-09876543210" in row["error"] and "FE-03533590174" in row["error"], row
    assert "--replace" in row["error"] and row["error"].startswith("FATTURA n. 123 del 2014 esiste già")
    assert _document(app, year=2014, number="123")[0] == "FE-09876543210"
    assert _document(app, year=2014, number="456") is None  # nothing of the refused file is written

    third = runner.invoke(args=["import-fatturapa", str(folder / "IT01234567890_FPR03.xml.p7m"), "--replace"])
    assert third.exit_code == 0, third.output
    assert _document(app, year=2014, number="123")[0] == "FE-03533590174"
    [event] = _audit(app, "document.replace")
    assert event["old_party"] == "FE-09876543210" and event["source"] == "fatturapa"


def test_fatturapa_reimport_is_idempotent(runner, samples_dir, app):
    """The same file twice: both runs succeed and nothing is audited as replaced."""
    path = str(samples_dir / "fatturapa" / "IT01234567890_FPA03.xml")
    assert runner.invoke(args=["import-fatturapa", path]).exit_code == 0
    assert runner.invoke(args=["import-fatturapa", path]).exit_code == 0
    assert _audit(app, "document.replace") == []


def test_fatturapa_upload_refuses_then_replaces_with_the_checkbox(client, auth, samples_dir, app):
    """The upload page names both customers; ticking «Sostituisci» replaces."""
    auth.login("operator")
    folder = samples_dir / "fatturapa"

    def upload(name, **extra):
        with open(folder / name, "rb") as handle:
            return client.post(
                "/documenti/import",
                data={"files": [(handle, name)], **extra},
                content_type="multipart/form-data",
            )

    assert upload("IT01234567890_FPR02.xml").status_code == 200
    refused = upload("IT01234567890_FPR03.xml.p7m")
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "FE-09876543210" in text and "FE-03533590174" in text and "rifiutato" in text
    page = client.get("/documenti/import").get_data(as_text=True)
    assert 'name="replace"' in page
    replaced = upload("IT01234567890_FPR03.xml.p7m", replace="1")
    assert replaced.status_code == 200, replaced.get_data(as_text=True)[:800]
    assert _document(app, year=2014, number="123")[0] == "FE-03533590174"


def _set_company_vat(app, vat):
    """Store the company's P.IVA directly (the admin form validates it; the samples' 01234567890 fails the checksum)."""
    from mailer.services.reference import get_company

    with app.app_context():
        get_company().vat_number = vat
        db.session.commit()


def test_fatturapa_of_a_supplier_is_refused_when_company_vat_is_set(runner, samples_dir, app):
    """Company P.IVA set and not the issuer's: refused with its own message; ours: imported."""
    path = str(samples_dir / "fatturapa" / "IT01234567890_FPR02.xml")
    _set_company_vat(app, "12345670017")
    result = runner.invoke(args=["import-fatturapa", path, "--json"])
    assert result.exit_code == 1
    [row] = [json.loads(line) for line in result.output.strip().splitlines()]
    assert "SOCIETA' ALPHA SRL" in row["error"] and "fornitore" in row["error"], row
    assert "01234567890" in row["error"] and "12345670017" in row["error"]
    assert _document(app, year=2014, number="123") is None
    _set_company_vat(app, "IT01234567890")  # the issuer's P.IVA (with the country prefix)
    assert runner.invoke(args=["import-fatturapa", path]).exit_code == 0
    assert _document(app, year=2014, number="123") is not None


def test_fatturapa_of_a_supplier_in_the_spool_is_refused(app, samples_dir):
    """The spool folder applies the same rule (the file goes to error/ with the reason)."""
    import shutil

    from mailer.services.spool import import_spool

    _set_company_vat(app, "12345670017")
    app.config["SPOOL_MIN_AGE_SECONDS"] = 0
    folder = app.config["SPOOL_DIR"]
    os.makedirs(folder, exist_ok=True)
    shutil.copy(samples_dir / "fatturapa" / "IT01234567890_FPR02.xml", folder)
    with app.app_context():
        report = import_spool()
    [error] = report.errors
    assert "fornitore" in error["error"] and not report.imported


# ---------------------------------------------------------------- a sent document keeps what went out


def test_replacing_a_sent_document_keeps_the_pdf_that_went_out(app, client, auth, smtp_server):
    """Sent with PDF A, replaced with PDF B: A is version 1 (downloadable as sent), the .eml still matches."""
    from mailer.models import Delivery, Document, DocumentVersion, MailAccount
    from mailer.services import sending
    from mailer.services.intake import DocumentInput, upsert_document
    from mailer.transport.message import build_message

    with app.app_context():
        account = make_account(smtp_server)
        batch = make_sending_batch(account, ["rossi@cliente.example"])
        batch_id, account_id = batch.id, account.id
        sending.start_sending(batch)
    run_jobs(app)
    with app.app_context():
        delivery = db.session.scalar(db.select(Delivery).where(Delivery.batch_id == batch_id))
        assert delivery.status == "sent"
        document = delivery.documents[0]
        sent_sha, document_id, delivery_id = document.pdf_sha256, document.id, delivery.id
        other = make_party("ALTRO", "Altro Cliente S.r.l.")
        data = DocumentInput(
            type_code="FATTURA",
            number=document.number,
            date=document.date,
            year=document.year,
            party=other,
            total=document.total,
            pdf=PDF_B,
        )
        with pytest.raises(Exception) as refused:
            upsert_document(data, source="api")
        assert "Altro Cliente S.r.l." in str(refused.value)
        db.session.rollback()
        other = make_party("ALTRO", "Altro Cliente S.r.l.")
        data.party = other
        upsert_document(data, source="api", replace=True)
        db.session.commit()
        document = db.session.get(Document, document_id)
        assert document.pdf_sha256 == hashlib.sha256(PDF_B).hexdigest()
        [version] = db.session.scalars(
            db.select(DocumentVersion).where(DocumentVersion.document_id == document_id)
        )
        assert version.number == 1 and version.pdf_sha256 == sent_sha and version.sent_at is not None
        assert version.party_name.startswith("Cliente 1")
        # The message that left is still the one rebuilt for the delivery (PDF A, not B).
        delivery = db.session.get(Delivery, delivery_id)
        rebuilt = build_message(sending.message_spec(delivery, db.session.get(MailAccount, account_id)))
        assert hashlib.sha256(rebuilt).hexdigest() == delivery.message_sha256
    received = smtp_server.messages[0].message
    [pdf] = [p for p in received.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert hashlib.sha256(pdf.get_content()).hexdigest() == sent_sha

    auth.login("admin")
    page = client.get(f"/documenti/{document_id}").get_data(as_text=True)
    assert "Versioni" in page and "come inviato" in page and "Altro Cliente S.r.l." in page
    assert "non ancora" in page  # the current version (PDF B) has not been sent
    link = re.search(r'href="(/documenti/\d+/versioni/1/pdf)"', page)
    assert link, page
    old = client.get(link.group(1))
    assert old.status_code == 200 and hashlib.sha256(old.data).hexdigest() == sent_sha
    assert old.headers["Cache-Control"].startswith("private")
    assert client.get(f"/documenti/{document_id}/versioni/9/pdf").status_code == 404
    # The batch shows the delivery with the PDF it carried, and its .eml is still the message that left.
    in_batch = client.get(f"/invii/{batch_id}/recapiti/{delivery_id}/documenti/{document_id}.pdf")
    assert in_batch.status_code == 200 and hashlib.sha256(in_batch.data).hexdigest() == sent_sha
    eml = client.get(f"/invii/{batch_id}/recapiti/{delivery_id}/messaggio.eml")
    assert eml.status_code == 200
    assert (
        eml.data.replace(b"\r\n", b"\n").rstrip()
        == smtp_server.messages[0].data.replace(b"\r\n", b"\n").rstrip()
    )


def test_no_replacement_while_the_document_is_leaving(app_ctx, smtp_server):
    """A document in deliveries queued for sending is not replaced (the approved PDF would change under them)."""
    from mailer.models import Delivery
    from mailer.services import sending
    from mailer.services.intake import DocumentInput, IntakeError, upsert_document

    account = make_account(smtp_server)
    batch = make_sending_batch(account, ["rossi@cliente.example"])
    sending.start_sending(batch)  # queued, no worker has run yet
    delivery = db.session.scalar(db.select(Delivery).where(Delivery.batch_id == batch.id))
    assert delivery.status == "queued"
    document = delivery.documents[0]
    other = make_party("ALTRO", "Altro Cliente S.r.l.")
    data = DocumentInput(
        type_code="FATTURA",
        number=document.number,
        date=document.date,
        year=document.year,
        party=other,
        total=document.total,
        pdf=PDF_B,
    )
    with pytest.raises(IntakeError) as refused:
        upsert_document(data, source="api", replace=True)
    assert "in corso di invio" in refused.value.errors["number"]
