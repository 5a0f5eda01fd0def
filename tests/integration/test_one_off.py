"""«Invia ora» from a document's page: one document to one contact or typed address, text editable.

Real SMTP server on loopback, real wkhtmltopdf, real Redis; SQLite, and PostgreSQL with TEST_DATABASE_URL.
"""

from __future__ import annotations

import html
import re

import pytest

from mailer.extensions import db
from mailer.models import Batch, Contact, Delivery, DocumentType
from tests.support.batches import (
    approve_from_page,
    make_account,
    make_document,
    make_party_with_contacts,
    run_jobs,
)


@pytest.fixture
def office(app, smtp_server):
    """A sending account, a party with a public and a confidential contact, one invoice without PDF."""
    with app.app_context():
        make_account(smtp_server, is_default=True)
        party = make_party_with_contacts(
            "ROSSI",
            [
                {"name": "Amministrazione", "email": "amm@rossi.example", "types": ["FATTURA"]},
                {"name": "Direzione", "email": "ceo@rossi.example", "types": ["FATTURA"], "privacy_level": 3},
            ],
        )
        document = make_document(party, "FATTURA", "2026/77")
        db.session.commit()
        contacts = {
            c.email: c.id for c in db.session.scalars(db.select(Contact).where(Contact.party_id == party.id))
        }
        return {
            "doc": document.id,
            "amm": contacts["amm@rossi.example"],
            "ceo": contacts["ceo@rossi.example"],
        }


def _url(office) -> str:
    return f"/documenti/{office['doc']}/invia-ora"


def _batches(app) -> int:
    with app.app_context():
        return db.session.scalar(db.select(db.func.count(Batch.id))) or 0


def test_manager_sends_now_with_edited_subject_and_body(app, client, auth, office, smtp_server):
    """The template's text is shown, edited, and what arrives is the edited text with the PDF; the record matches."""
    auth.login("manager", clearance=1)
    detail = client.get(f"/documenti/{office['doc']}").get_data(as_text=True)
    assert "Invia ora" in detail
    page = client.get(_url(office), query_string={"contatto": office["amm"]}).get_data(as_text=True)
    rendered_subject = re.search(r'name="oggetto" value="([^"]*)"', page).group(1)
    assert "2026/77" in rendered_subject  # the type's template, rendered for this document
    answer = client.post(
        _url(office),
        data={
            "contatto": str(office["amm"]),
            "oggetto": "Fattura 2026/77 – copia richiesta al telefono",
            "testo": "Buongiorno,\n\ncome d'accordo le invio la fattura.\n\nCordiali saluti",
        },
    )
    assert answer.status_code == 302 and "/invii/" in answer.headers["Location"]
    batch_id = int(answer.headers["Location"].rstrip("/").split("/")[-1])
    run_jobs(app)
    assert (
        smtp_server.accepted_to("amm@rossi.example") == 1
        and smtp_server.accepted_to("ceo@rossi.example") == 0
    )
    message = smtp_server.messages[0].message
    assert str(message["Subject"]) == "Fattura 2026/77 – copia richiesta al telefono"
    text = message.get_body(("plain",)).get_content()
    assert "come d'accordo le invio la fattura." in text
    pdfs = [p for p in message.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert len(pdfs) == 1 and pdfs[0].get_content().startswith(b"%PDF")
    with app.app_context():
        batch = db.session.get(Batch, batch_id)
        delivery = db.session.scalar(db.select(Delivery).where(Delivery.batch_id == batch_id))
        assert batch.status == "done" and batch.approved_by.username == "manager"
        assert delivery.status == "sent" and delivery.message_sha256
        assert message["Message-ID"].strip("<>") == delivery.message_id.strip("<>")
    results = client.get(f"/invii/{batch_id}").get_data(as_text=True)
    assert "amm@rossi.example" in results


def test_operator_one_off_waits_for_a_manager(app, client, auth, office, smtp_server):
    """An operator's one-off is a batch to approve: nothing leaves until a manager approves it."""
    auth.login("operator", clearance=1)
    answer = client.post(
        _url(office), data={"contatto": str(office["amm"]), "oggetto": "Fattura", "testo": "In allegato."}
    )
    assert answer.status_code == 302
    batch_id = int(answer.headers["Location"].rstrip("/").split("/")[-1])
    run_jobs(app)
    assert smtp_server.accepted_to("amm@rossi.example") == 0
    with app.app_context():
        assert db.session.get(Batch, batch_id).status == "ready"
    auth.logout()
    auth.login("manager")
    assert approve_from_page(client, batch_id, send_now=True).status_code == 302
    run_jobs(app)
    assert smtp_server.accepted_to("amm@rossi.example") == 1


def test_operator_one_off_of_auto_approved_type_goes_at_once(app, client, auth, office, smtp_server):
    """A type set to automatic approval needs nobody: the operator's one-off leaves at once."""
    with app.app_context():
        db.session.get(DocumentType, "FATTURA").auto_approve = True
        db.session.commit()
    auth.login("operator", clearance=1)
    answer = client.post(
        _url(office), data={"indirizzo": "Ufficio@Esterno.example", "oggetto": "Fattura", "testo": "Ecco."}
    )
    assert answer.status_code == 302
    run_jobs(app)
    assert smtp_server.accepted_to("ufficio@esterno.example") == 1


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"indirizzo": "mario@@rossi.example"}, "indirizzo", "una sola @"),
        ({"indirizzo": "mario.rossi.example"}, "indirizzo", "Indirizzo e-mail non valido"),
        ({}, "indirizzo", "Scegli un contatto"),
        ({"contatto": "999999"}, "destinatario", "Scegli uno dei contatti"),
        ({"indirizzo": "a@b.example", "oggetto": ""}, "oggetto", "Scrivi l'oggetto"),
        ({"indirizzo": "a@b.example", "testo": "  "}, "testo", "Scrivi il testo"),
    ],
)
def test_bad_input_names_the_field_and_creates_nothing(app, client, auth, office, data, field, words):
    """Each mistake is shown next to its field, in Italian; no batch is written."""
    auth.login("manager")
    form = {"oggetto": "Fattura", "testo": "In allegato.", **data}
    answer = client.post(_url(office), data=form)
    assert answer.status_code == 422
    page = html.unescape(answer.get_data(as_text=True))
    assert words in page and 'class="field-error"' in page
    assert _batches(app) == 0


def test_confidential_contact_is_neither_offered_nor_accepted(app, client, auth, office, smtp_server):
    """A contact above the user's clearance does not show in the list, and posting its id is refused."""
    auth.login("operator", clearance=1)
    page = client.get(_url(office)).get_data(as_text=True)
    assert "amm@rossi.example" in page and "ceo@rossi.example" not in page
    answer = client.post(_url(office), data={"contatto": str(office["ceo"]), "oggetto": "x", "testo": "y"})
    assert answer.status_code == 422 and "ceo@rossi.example" not in answer.get_data(as_text=True)
    preview = client.get(_url(office), query_string={"contatto": office["ceo"]}).get_data(as_text=True)
    assert "ceo@rossi.example" not in preview
    assert _batches(app) == 0


def test_typed_pec_address_is_recognised(app, client, auth, office):
    """A typed address on a PEC domain is shown as PEC."""
    auth.login("manager")
    page = client.get(_url(office), query_string={"indirizzo": "rossi@pec.it"}).get_data(as_text=True)
    assert "rossi@pec.it" in page and "badge-pec" in page


def test_who_may_not_send_the_type_gets_403(app, client, auth, office):
    """Without the send permission of the type: no form, no send, nothing written."""
    auth.login("operator", send_types=["DDT"])
    assert client.get(_url(office)).status_code == 403
    assert (
        client.post(
            _url(office), data={"contatto": str(office["amm"]), "oggetto": "x", "testo": "y"}
        ).status_code
        == 403
    )
    assert _batches(app) == 0
