"""demo-data: valid, complete, deterministic, refusing to overwrite real data."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from stdnum.it import iva

from mailer.extensions import db
from mailer.models import (
    Company,
    Contact,
    Document,
    DocumentLine,
    MailAccount,
    Party,
    Product,
    User,
    contact_document_types,
)
from mailer.reference import DOCUMENT_TYPE_CODES, PEC_DOMAINS
from mailer.services.crypto import decrypt_secret
from mailer.services.demo import DemoError, DemoOptions, build_demo_data

SMALL = DemoOptions(customers=25, suppliers=8, lines=1500, products=40, seed=7, today=date(2025, 6, 30))
ITEM_KEYS = {"number", "date", "due_date", "amount", "paid", "balance"}


@pytest.fixture
def demo(app_ctx):
    """A small demo company."""
    report = build_demo_data(SMALL, "demo")
    return report


def test_vat_numbers_have_valid_check_digits(demo):
    """Every party's P.IVA (and the company's) passes python-stdnum's check."""
    numbers = db.session.scalars(db.select(Party.vat_number)).all()
    assert len(numbers) == 33
    assert all(iva.is_valid(n) for n in numbers)
    assert iva.is_valid(db.session.get(Company, 1).vat_number)


def test_every_document_type_present_with_lines(demo):
    """All 12 types, every document with at least one line, totals equal to the lines."""
    types = dict(
        db.session.execute(db.select(Document.type_code, db.func.count()).group_by(Document.type_code)).all()
    )
    assert set(types) == set(DOCUMENT_TYPE_CODES)
    without_lines = db.session.scalar(
        db.select(db.func.count())
        .select_from(Document)
        .where(~db.select(DocumentLine.id).where(DocumentLine.document_id == Document.id).exists())
    )
    assert without_lines == 0
    lines = db.session.scalar(db.select(db.func.count()).select_from(DocumentLine))
    assert 1200 <= lines <= 1900
    for document in db.session.scalars(db.select(Document).where(Document.type_code == "FATTURA").limit(20)):
        assert sum((line.amount for line in document.lines), Decimal("0")) == document.total_net
        assert document.total == document.total_net + document.total_vat
        assert sum(Decimal(d["amount"]) for d in document.due_dates) == document.total


def test_documents_span_twelve_months_and_counterparts(demo):
    """Dates within the last year; supplier types go to suppliers, customer types to customers."""
    first, last = db.session.execute(db.select(db.func.min(Document.date), db.func.max(Document.date))).one()
    assert first >= date(2024, 6, 30) and last <= date(2025, 6, 30)
    rows = db.session.execute(db.select(Document.type_code, Party.kind).join(Party)).all()
    for code, kind in rows:
        if code in ("ORDINE_FORNITORE", "ENTRATA_MERCE", "AVVISO_BONIFICO", "DICHIARAZIONE_INTENTO"):
            assert kind in ("supplier", "both")
        if code in ("FATTURA", "DDT", "NOTA_CREDITO", "OFFERTA", "ORDINE_CLIENTE", "INSOLUTO"):
            assert kind in ("customer", "both")


def test_every_party_has_contacts_and_someone_receiving(demo):
    """Every party has 2-5 ordinary contacts (plus maybe a PEC box) and at least one receives documents."""
    for party in db.session.scalars(db.select(Party)):
        ordinary = [c for c in party.contacts if not c.is_pec]
        assert 2 <= len(ordinary) <= 5
        assert any(c.document_types for c in party.contacts)


def test_contacts_are_fictitious_and_varied(demo):
    """Only example.com or demo.<PEC domain> addresses; some PEC, some without e-mail; all privacy levels."""
    contacts = db.session.scalars(db.select(Contact)).all()
    for contact in contacts:
        if not contact.email:
            continue
        domain = contact.email.split("@")[1]
        if contact.is_pec:
            assert domain.startswith("demo.") and domain[5:] in PEC_DOMAINS
        else:
            assert domain.endswith(".example.com"), contact.email
    assert any(c.is_pec for c in contacts)
    assert any(not c.email for c in contacts)
    assert {c.privacy_level for c in contacts} == {0, 1, 2, 3}
    assert any(c.marketing_consent and c.consent_date and c.consent_source for c in contacts)
    assert db.session.scalar(db.select(db.func.count()).select_from(contact_document_types)) > 0


def test_open_and_overdue_items_shape(demo):
    """Statements carry open_items, dunning letters overdue_items, declarations protocol/ceiling/year."""

    def check(items, overdue_on=None):
        assert items
        for item in items:
            assert set(item) == ITEM_KEYS
            date.fromisoformat(item["date"]) and date.fromisoformat(item["due_date"])
            assert Decimal(item["amount"]) - Decimal(item["paid"]) == Decimal(item["balance"])
            if overdue_on:
                assert date.fromisoformat(item["due_date"]) < overdue_on

    for document in db.session.scalars(db.select(Document).where(Document.type_code == "ESTRATTO_CONTO")):
        check(document.extra["open_items"])
    for document in db.session.scalars(db.select(Document).where(Document.type_code == "INSOLUTO")):
        check(document.extra["overdue_items"], overdue_on=document.date)
    for document in db.session.scalars(
        db.select(Document).where(Document.type_code == "DICHIARAZIONE_INTENTO")
    ):
        assert re.fullmatch(r"\d{17}-\d{6}", document.extra["protocol"])
        assert Decimal(document.extra["ceiling"]) > 0 and document.extra["year"] == document.date.year


def test_users_accounts_company(app_ctx, demo):
    """Four demo users with the demo password, two accounts on the capture server, the demo flag."""
    from mailer.services.users import verify_password

    users = {u.username: u for u in db.session.scalars(db.select(User))}
    assert {"admin", "manager", "operatore", "commerciale"} <= set(users)
    assert users["admin"].has_role("admin") and users["commerciale"].role_list == ["sales"]
    assert verify_password(users["operatore"], "demo")
    accounts = {a.kind: a for a in db.session.scalars(db.select(MailAccount))}
    assert set(accounts) == {"smtp", "pec"}
    for account in accounts.values():
        assert (account.host, account.port) == (
            app_ctx.config["CAPTURE_SMTP_HOST"],
            app_ctx.config["CAPTURE_SMTP_PORT"],
        )
        assert decrypt_secret(account.password_encrypted) == "demo"
    assert accounts["pec"].from_address == accounts["pec"].username
    company = db.session.get(Company, 1)
    assert company.is_demo and company.logo_sha256


def test_demo_banner_and_login(app, client):
    """Logging in as admin/demo shows the «dati dimostrativi» banner and the dashboard figures."""
    with app.app_context():
        build_demo_data(SMALL, "demo")
    assert client.post("/auth/login", data={"username": "admin", "password": "demo"}).status_code == 302
    html = client.get("/").get_data(as_text=True)
    assert "Dati dimostrativi" in html and "Documenti da inviare" in html


def test_refuses_second_run_and_reset_is_deterministic(app_ctx):
    """A second run refuses; --reset rebuilds the same data for the same seed."""
    build_demo_data(SMALL, "demo")
    names = db.session.scalars(db.select(Party.name).order_by(Party.erp_code)).all()
    lines = db.session.scalar(db.select(db.func.count()).select_from(DocumentLine))
    with pytest.raises(DemoError, match="già"):
        build_demo_data(SMALL, "demo")
    report = build_demo_data(SMALL, "demo", reset=True)
    assert db.session.scalars(db.select(Party.name).order_by(Party.erp_code)).all() == names
    assert db.session.scalar(db.select(db.func.count()).select_from(DocumentLine)) == lines
    assert report.users_kept == ["admin", "manager", "operatore", "commerciale"]
    assert db.session.scalar(db.select(db.func.count()).select_from(Product)) == 40


def test_reset_refused_on_real_data(app_ctx):
    """--reset never deletes a database whose company is not the demo one."""
    db.session.add(Party(erp_code="C1", name="Cliente vero S.r.l."))
    db.session.commit()
    with pytest.raises(DemoError, match="dati reali"):
        build_demo_data(SMALL, "demo", reset=True)
    assert db.session.scalar(db.select(db.func.count()).select_from(Party)) == 1


def test_cli(runner, app):
    """The command loads once, then --if-empty skips and a plain second run refuses."""
    args = ["demo-data", "--customers", "10", "--suppliers", "3", "--lines", "400", "--products", "20"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "Utenti creati" in result.output and "righe" in result.output
    assert "già delle anagrafiche" in runner.invoke(args=[*args, "--if-empty"]).output
    again = runner.invoke(args=args)
    assert again.exit_code != 0 and "--reset" in again.output
