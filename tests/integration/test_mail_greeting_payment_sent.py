"""Issue 17 point 6, as the e-mails leave: prepared from the seeded default templates, approved, sent by a
real RQ worker to the real SMTP server on loopback, and read back from the MIME received (decoded
text/plain and text/html parts both): neutral greeting for a role or a mailbox, payment lines as the
method says, and solleciti to a PEC address through the PEC account."""

from __future__ import annotations

from datetime import date

import pytest

from mailer.extensions import db
from mailer.models import DocumentType
from mailer.services import approval, preparation, sending
from mailer.services.reference import get_company
from mailer.services.users import create_user
from tests.support.batches import make_account, make_document, make_party_with_contacts, run_jobs

IBAN = "IT60X0542811101000000123456"


def _send_and_receive(app, smtp_server, types: list[str]) -> dict[str, tuple[str, str, str]]:
    """Prepare `types` for November 2026, approve, send through a real worker; recipient -> (envelope
    sender, decoded text/plain, decoded text/html) of the message the server received."""
    operator = create_user("prepara", "password-lunga-1", roles=["operator"], clearance=3, send_types=types)
    manager = create_user("approva", "password-lunga-1", roles=["manager"], clearance=3, send_types=types)
    db.session.commit()
    selection = preparation.Selection(
        type_codes=types, date_from=date(2026, 11, 1), date_to=date(2026, 11, 30)
    )
    batch = preparation.create_batch(selection, operator, enqueue=False)
    batch = preparation.run_preparation(batch.id)
    assert batch.status == "ready", batch.error
    approval.approve_batch(batch, manager)
    sending.start_sending(batch)
    run_jobs(app)
    received = {}
    for captured in smtp_server.messages:
        message = captured.message
        plain = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        for rcpt in captured.rcpt_tos:
            received[rcpt] = (captured.mail_from, plain, html)
    return received


@pytest.fixture
def office(app_ctx, smtp_server):
    """An ordinary and a PEC account on the loopback server; the company's IBAN."""
    make_account(smtp_server, name="Ordinario", is_default=True, from_address="fatture@azienda.example")
    make_account(smtp_server, name="PEC", kind="pec", from_address="azienda@pec.example")
    get_company().iban = IBAN
    db.session.commit()
    return app_ctx


def test_role_and_mailbox_contacts_get_a_neutral_greeting_as_sent(office, smtp_server):
    """«Spettabile <ragione sociale>» for a role or a mailbox, «Gentile <nome>» for a person, in both parts."""
    contacts = [
        {"name": "PEC amministrazione", "email": "amm@ruolo.example", "types": ["FATTURA"]},
        {"name": "fatture@casella.example", "email": "fatture@casella.example", "types": ["FATTURA"]},
        {"name": "Mario Rossi", "email": "m.rossi@persona.example", "types": ["FATTURA"]},
    ]
    party = make_party_with_contacts("CONTE", contacts)
    party.name = "Fratelli Conte S.n.c."
    make_document(party, "FATTURA", "FV1")
    db.session.commit()
    received = _send_and_receive(office, smtp_server, ["FATTURA"])
    assert set(received) == {c["email"] for c in contacts}
    for address in ("amm@ruolo.example", "fatture@casella.example"):
        _sender, plain, html = received[address]
        for part in (plain, html):
            assert "Spettabile Fratelli Conte S.n.c.," in part, address
            assert "Gentile" not in part, address
    _sender, plain, html = received["m.rossi@persona.example"]
    assert "Gentile Mario Rossi," in plain and "Gentile Mario Rossi," in html


def test_payment_lines_follow_the_method_as_sent(office, smtp_server):
    """RiBa: the due date, no IBAN; bank transfer: the IBAN; in the text and the HTML part received."""
    riba = make_party_with_contacts(
        "RIBA", [{"name": "Anna Verdi", "email": "a@riba.example", "types": ["FATTURA"]}]
    )
    bonifico = make_party_with_contacts(
        "BONI", [{"name": "Luca Neri", "email": "l@bonifico.example", "types": ["FATTURA"]}]
    )
    for party, number, method in ((riba, "R1", "RiBa"), (bonifico, "B1", "MP05")):
        document = make_document(party, "FATTURA", number)
        document.due_dates = [{"date": "2026-12-31", "amount": "122.00", "method": method}]
    db.session.commit()
    received = _send_and_receive(office, smtp_server, ["FATTURA"])
    _sender, plain, html = received["a@riba.example"]
    for part in (plain, html):
        assert "ricevuta bancaria (RiBa) con scadenza 31/12/2026" in part
        assert "IBAN" not in part and IBAN not in part
    _sender, plain, html = received["l@bonifico.example"]
    for part in (plain, html):
        assert f"Per il pagamento con bonifico: IBAN {IBAN}." in part


def test_sollecito_to_a_pec_address_leaves_through_the_pec_account(office, smtp_server):
    """A sollecito (by default «PEC se il destinatario è PEC») goes to a PEC address from the PEC account,
    to an ordinary address from the ordinary one; both greet the role neutrally."""
    assert db.session.get(DocumentType, "INSOLUTO").by_pec  # the seeded default, untouched
    party = make_party_with_contacts(
        "DEBI",
        [
            {
                "name": "PEC amministrazione",
                "email": "debitore@pec.it",
                "is_pec": True,
                "types": ["INSOLUTO"],
            },
            {"name": "Amministrazione", "email": "amm@debitore.example", "types": ["INSOLUTO"]},
        ],
    )
    party.name = "Debitore S.r.l."
    make_document(party, "INSOLUTO", "S1")
    db.session.commit()
    received = _send_and_receive(office, smtp_server, ["INSOLUTO"])
    sender, plain, html = received["debitore@pec.it"]
    assert sender == "azienda@pec.example"
    assert "Spettabile Debitore S.r.l.," in plain and "Spettabile Debitore S.r.l.," in html
    assert "Gentile" not in plain + html
    sender, _plain, _html = received["amm@debitore.example"]
    assert sender == "fatture@azienda.example"
