"""Issue 17 point 6: the default e-mail texts greet a role or a mailbox neutrally («Spettabile …», never
«Gentile PEC amministrazione») and say how to pay as the document says (RiBa without IBAN, bank transfer
with it, direct debit, cash). Rendered from the seeded default template with real rows."""

from __future__ import annotations

import pytest

from mailer.extensions import db
from mailer.services.mail_templates import context as ctx
from mailer.services.mail_templates.rendering import render_for
from mailer.services.reference import get_company
from tests.support.batches import make_document, make_party_with_contacts

IBAN = "IT60X0542811101000000123456"


def _mail(contact_name: str, email: str, method: str | None, is_pec=False):
    """The FATTURA e-mail for one contact and one invoice paid by `method` (a FatturaPA label or code)."""
    get_company().iban = IBAN
    party = make_party_with_contacts(
        "C1", [{"name": contact_name, "email": email, "types": ["FATTURA"], "is_pec": is_pec}]
    )
    party.name = "Fratelli Conte S.n.c."
    doc = make_document(party, number="FV7")
    if method is not None:
        doc.due_dates = [{"date": "2026-12-31", "amount": "122.00", "method": method}]
    db.session.commit()
    contact = party.contacts[0]
    return render_for("FATTURA", "it", ctx.build_context([doc], contact=contact, party=party))


@pytest.mark.parametrize(
    "name",
    ["PEC amministrazione", "Ufficio amministrazione", "info", "Contabilità", "", "fatture@cliente.example"],
)
def test_a_role_or_a_mailbox_gets_the_company_greeting(app_ctx, name):
    mail = _mail(name, "amministrazione@pec.cliente.example", "Bonifico", is_pec=True)
    assert "Spettabile Fratelli Conte S.n.c.," in mail.html
    assert "Gentile" not in mail.html


@pytest.mark.parametrize("name", ["Mario Rossi", "Anna Verdi (acquisti)"])
def test_a_person_gets_a_personal_greeting(app_ctx, name):
    mail = _mail(name, "m.rossi@cliente.example", "Bonifico")
    assert f"Gentile {name}," in mail.html


@pytest.mark.parametrize("method", ["RiBa", "RIBA", "MP12"])
def test_riba_shows_the_due_date_and_no_iban(app_ctx, method):
    mail = _mail("Mario Rossi", "m.rossi@cliente.example", method)
    assert "ricevuta bancaria (RiBa) con scadenza 31/12/2026" in mail.html
    assert "IBAN" not in mail.html and IBAN not in mail.text


@pytest.mark.parametrize("method", ["Bonifico", "MP05", None])
def test_bank_transfer_or_unknown_shows_the_iban(app_ctx, method):
    mail = _mail("Mario Rossi", "m.rossi@cliente.example", method)
    assert f"Per il pagamento con bonifico: IBAN {IBAN}." in mail.html


@pytest.mark.parametrize(
    ("method", "words"),
    [
        ("SEPA Direct Debit", "addebitato sul Vostro conto"),
        ("MP19", "addebitato"),
        ("Contanti", "in contanti"),
    ],
)
def test_direct_debit_and_cash_adapt(app_ctx, method, words):
    mail = _mail("Mario Rossi", "m.rossi@cliente.example", method)
    assert words in mail.html and "IBAN" not in mail.html


def test_person_names_and_payment_kinds():
    assert ctx.is_person_name("Dott. Luca Neri")
    assert not ctx.is_person_name("PEC (amministrazione)")
    assert not ctx.is_person_name("Ufficio 2")
    assert ctx.payment_kind(["MAV"]) == "altro"
    assert ctx.payment_kind([]) == ""


@pytest.mark.parametrize(
    ("language", "heading", "wrong"),
    [("it", '<th align="right">Totale</th>', None), ("en", '<th align="right">Total</th>', "Totale")],
)
def test_grouped_documents_table_reads_right_in_each_language(app_ctx, language, heading, wrong):
    """The day's DDTs in one e-mail: amounts aligned right under their heading, and the English e-mail's
    heading in English (it said «Totale»)."""
    party = make_party_with_contacts(
        "C2", [{"name": "Mario Rossi", "email": "m@cliente.example", "types": ["DDT"]}]
    )
    docs = [make_document(party, "DDT", "D1"), make_document(party, "DDT", "D2")]
    db.session.commit()
    mail = render_for("DDT", language, ctx.build_context(docs, contact=party.contacts[0], party=party))
    assert heading in mail.html and mail.html.count('<td align="right">122,00 €</td>') == 2
    assert wrong is None or wrong not in mail.html
