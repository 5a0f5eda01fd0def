"""The placeholder context built from real rows, and the default texts rendered on it."""

from __future__ import annotations

from datetime import date, datetime

from mailer.extensions import db
from mailer.models import Party
from mailer.services import mail_templates as svc
from tests.support.mailtemplates import make_contact, make_document, make_party

ITEMS = [
    {
        "number": "FT 2026/10",
        "date": "2026-01-10",
        "due_date": "2026-02-10",
        "amount": "1200.00",
        "paid": "200.00",
        "balance": "1000.00",
    },
    {"number": "FT 2026/22", "date": "2026-02-02", "due_date": "2026-03-31", "amount": "350.50", "paid": "0"},
]


def test_statement_lists_open_items_and_balance(app_ctx):
    """ESTRATTO_CONTO: extra["open_items"] becomes documento.partite_aperte with the open balance."""
    party = make_party()
    contact = make_contact(party, "Ufficio amministrazione", "amm@rossi.example", types=("ESTRATTO_CONTO",))
    doc = make_document(
        party,
        "ESTRATTO_CONTO",
        "EC-3",
        total="0",
        day=date(2026, 3, 15),
        extra={"open_items": ITEMS},
        due_dates=[],
    )
    context = svc.build_context([doc], contact=contact)
    items = context["documento"]["partite_aperte"]
    assert [i["residuo"] for i in items] == [1000, 350.5]
    assert items[0]["giorni_ritardo"] == 33 and items[0]["scaduta"] and not items[1]["scaduta"]
    mail = svc.render_for("ESTRATTO_CONTO", "it", context)
    assert mail.subject == "Estratto conto al 15/03/2026 – La mia azienda S.r.l."
    # an office, not a person: the company greeting (issue 17.6, never «Gentile Ufficio amministrazione»)
    assert "Spettabile Rossi Forniture S.r.l.," in mail.html and "Gentile" not in mail.html
    assert (
        "<strong>1.350,50 €</strong>" in mail.html and "FT 2026/22" in mail.html and "31/03/2026" in mail.html
    )
    assert "FT 2026/10" in mail.text and "1.350,50 €" in mail.text


def test_dunning_letter_lists_overdue_items(app_ctx):
    """INSOLUTO: extra["overdue_items"] and the overdue total; no contact name -> Spettabile party."""
    party = make_party()
    doc = make_document(
        party,
        "INSOLUTO",
        "S-1",
        total="0",
        day=date(2026, 3, 15),
        extra={"overdue_items": ITEMS[:1], "overdue_total": "1000"},
        due_dates=[],
    )
    mail = svc.render_for("INSOLUTO", "it", svc.build_context([doc]))
    assert mail.subject == "Sollecito di pagamento – Rossi Forniture S.r.l."
    assert "Spettabile Rossi Forniture S.r.l.," in mail.html
    assert "<strong>1.000,00 €</strong>" in mail.html and "FT 2026/10" in mail.html
    assert "non tenere conto della presente" in mail.html


def test_grouped_delivery_notes_in_one_mail(app_ctx):
    """Several DDTs for one recipient: the subject and body list them all."""
    party = make_party()
    docs = [make_document(party, "DDT", f"D-{n}", total="10", day=date(2026, 3, 2)) for n in (1, 2, 3)]
    context = svc.build_context(docs)
    assert context["numero_documenti"] == 3 and context["totale_documenti"] == 30
    mail = svc.render_for("DDT", "it", context)
    assert mail.subject.startswith("Documenti di trasporto del ")
    assert all(f"n. D-{n}" in mail.html for n in (1, 2, 3))


def test_invoice_with_instalments_and_english_party(app_ctx):
    """An English-speaking party gets the English text; instalments are listed."""
    party = make_party(code="C-UK", name="Smith Ltd", language="en")
    doc = make_document(
        party,
        "FATTURA",
        "2026/9",
        total="1000",
        due_dates=[
            {"date": "2026-04-30", "amount": "500", "method": "Bonifico"},
            {"date": "2026-05-31", "amount": "500", "method": "Bonifico"},
        ],
    )
    assert svc.template_language(party) == "en"
    assert svc.template_language(Party(language="de")) == "en"
    mail = svc.render_for("FATTURA", svc.template_language(party), svc.build_context([doc]))
    assert mail.subject == "Invoice no. 2026/9 of 05/03/2026 – La mia azienda S.r.l."
    assert "Dear Sir or Madam," in mail.html and "30/04/2026: 500,00 €" in mail.html
    assert "31/05/2026" in mail.text


def test_every_default_renders_on_a_real_document(app_ctx):
    """Each of the 24 default texts renders on a bare document of its type without errors."""
    party = make_party()
    from mailer.reference import DOCUMENT_TYPE_CODES

    for n, code in enumerate(DOCUMENT_TYPE_CODES):
        doc = make_document(party, code, f"N-{n}", due_dates=[])
        for language in ("it", "en"):
            mail = svc.render_for(code, language, svc.build_context([doc], language=language))
            assert mail.subject and mail.html and mail.text
            assert "{{" not in mail.html + mail.subject and "{%" not in mail.text
    db.session.rollback()


def test_ids_are_accepted_as_documents(app_ctx):
    """build_context takes document ids as well as rows."""
    party = make_party()
    doc = make_document(party)
    db.session.commit()
    assert svc.build_context([doc.id])["documento"]["numero"] == "2026/7"


def test_declaration_of_intent_protocol_and_ceiling(app_ctx):
    """DICHIARAZIONE_INTENTO: extra["protocol"] and extra["ceiling"] (as the PDF and demo data set them)."""
    party = make_party()
    doc = make_document(
        party,
        "DICHIARAZIONE_INTENTO",
        "DI-1",
        total="0",
        due_dates=[],
        extra={"protocol": "26031712345678901-000001", "ceiling": "150000.00"},
    )
    mail = svc.render_for("DICHIARAZIONE_INTENTO", "it", svc.build_context([doc]))
    assert "protocollo di ricezione dell'Agenzia delle Entrate n. 26031712345678901-000001" in mail.html
    assert "fino a 150.000,00 €" in mail.html


def test_references_and_debit_credit_items(app_ctx):
    """FatturaPA references become documento.riferimento; debit/credit items and days_overdue are read."""
    party = make_party()
    doc = make_document(
        party,
        "ESTRATTO_CONTO",
        "EC-9",
        total="0",
        day=date(2026, 3, 15),
        due_dates=[],
        extra={
            "references": [
                {"kind": "Ordine", "number": "45", "date": "2026-03-10"},
                {"kind": "DDT", "number": "D-3"},
            ],
            "open_items": [
                {
                    "number": "X",
                    "date": "2026-01-01",
                    "due_date": "2026-02-01",
                    "debit": "100",
                    "credit": "30",
                    "days_overdue": 99,
                }
            ],
        },
    )
    document = svc.build_context([doc])["documento"]
    assert document["riferimento"] == "Ordine n. 45 del 10/03/2026; DDT n. D-3"
    assert (
        document["partite_aperte"][0]["residuo"] == 70
        and document["partite_aperte"][0]["giorni_ritardo"] == 99
    )


def test_today_is_the_day_in_italy(app_ctx, monkeypatch):
    """«oggi» was the UTC date: a message prepared between midnight and 01:00 in Italy (02:00 in summer) was
    dated the day before. Now the Italian calendar day, for document messages and campaigns alike."""
    from mailer.models import MailAccount
    from mailer.services.campaigns import texts
    from mailer.services.mail_templates import context as document_texts

    party = make_party()
    doc = make_document(party, "FATTURA", "F-1", day=date(2026, 11, 30))
    account = MailAccount(name="Ordinario", kind="smtp", host="127.0.0.1", from_address="a@azienda.example")
    for utc, day in [
        (datetime(2026, 12, 1, 22, 59), date(2026, 12, 1)),  # 23:59 in Rome
        (datetime(2026, 12, 1, 23, 30), date(2026, 12, 2)),  # 00:30 in Rome
        (datetime(2026, 7, 1, 22, 30), date(2026, 7, 2)),  # 00:30, summer time
    ]:
        monkeypatch.setattr(document_texts, "utcnow", lambda utc=utc: utc)
        monkeypatch.setattr(texts, "utcnow", lambda utc=utc: utc)
        assert svc.build_context([doc])["oggi"] == day, utc
        assert texts.campaign_context("Novità", [], account, None)["oggi"] == day, utc
