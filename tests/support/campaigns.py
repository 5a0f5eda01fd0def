"""Fixtures of the campaigns area: a small sales history whose segment counts are worked out by hand.

Parties (today = the real day the tests run):
  ALFA  customer, zone NORD, agent Rossi, Milano (MI), category ING
        invoices: 30 days ago A100 ×10 = 500 €; 200 days ago B300 ×5 = 2.000 €
  BETA  customer, zone NORD, agent Rossi, Bergamo (BG)
        invoices: 400 days ago A100 ×3 = 150 €; 100 days ago A200 ×50 = 1.500 €
  GAMMA customer, zone SUD, agent Bianchi, Napoli (NA)
        invoice 10 days ago A100 ×1 = 50 €; credit note 5 days ago 20 €
  DELTA supplier, zone NORD, agent Rossi, Milano (MI), no invoices
Products: A100, A200 in category FERR (ferramenta); B300 in VERN (vernici).
Contacts (privacy level in brackets):
  ALFA:  anna (0, consent, function commerciale, tag vip), bruno (0, no consent, receives FATTURA),
         pec (0, consent, PEC address), carla (2, consent)
  BETA:  dario (0, consent, opted out), elena (0, consent, from INI-PEC), franco (1, no consent),
         gino (0, consent, inactive)
  GAMMA: ivo (0, consent), luca (0, no e-mail)
  DELTA: mara (0, consent)
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from mailer.extensions import db

PDF_BYTES = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def _invoice(party, number, days_ago, lines, type_code="FATTURA", net=None):
    """A document with lines [(product, qty, amount)] dated days_ago."""
    from mailer.models import Document, DocumentLine

    day = date.today() - timedelta(days=days_ago)
    total = sum((Decimal(str(a)) for _p, _q, a in lines), Decimal("0")) if net is None else Decimal(str(net))
    document = Document(
        type_code=type_code,
        number=number,
        year=day.year,
        date=day,
        party_id=party.id,
        total_net=total,
        total_vat=total * Decimal("0.22"),
        total=total * Decimal("1.22"),
    )
    document.lines = [
        DocumentLine(
            line_no=i,
            product_id=p.id,
            product_code=p.code,
            description=p.description,
            quantity=Decimal(str(q)),
            unit="PZ",
            unit_price=Decimal(str(a)) / Decimal(str(q)),
            amount=Decimal(str(a)),
        )
        for i, (p, q, a) in enumerate(lines, start=1)
    ]
    db.session.add(document)
    return document


def build_sales_world() -> dict:
    """Create the world described in the module docstring; returns ids by name."""
    from mailer.models import (
        Agent,
        Category,
        Contact,
        ContactFunction,
        DocumentType,
        Party,
        Product,
        ProductCategory,
        Tag,
        Zone,
        utcnow,
    )

    types = {t.code: t for t in db.session.scalars(db.select(DocumentType))}
    functions = {f.code: f for f in db.session.scalars(db.select(ContactFunction))}
    nord, sud = Zone(code="NORD", name="Nord"), Zone(code="SUD", name="Sud")
    rossi, bianchi = Agent(code="ROSSI", name="Mario Rossi"), Agent(code="BIANCHI", name="Luisa Bianchi")
    ing = Category(code="ING", name="Ingrosso")
    ferr, vern = ProductCategory(code="FERR", name="Ferramenta"), ProductCategory(code="VERN", name="Vernici")
    vip = Tag(name="vip")
    db.session.add_all([nord, sud, rossi, bianchi, ing, ferr, vern, vip])
    db.session.flush()
    a100 = Product(code="A100", description="Bulloni", category_id=ferr.id)
    a200 = Product(code="A200", description="Dadi", category_id=ferr.id)
    b300 = Product(code="B300", description="Vernice blu", category_id=vern.id)
    db.session.add_all([a100, a200, b300])
    alfa = Party(
        erp_code="ALFA",
        name="Alfa S.r.l.",
        kind="customer",
        zone=nord,
        agent=rossi,
        city="Milano",
        province="MI",
        category=ing,
    )
    beta = Party(
        erp_code="BETA",
        name="Beta S.p.A.",
        kind="customer",
        zone=nord,
        agent=rossi,
        city="Bergamo",
        province="BG",
    )
    gamma = Party(
        erp_code="GAMMA",
        name="Gamma S.n.c.",
        kind="customer",
        zone=sud,
        agent=bianchi,
        city="Napoli",
        province="NA",
    )
    delta = Party(
        erp_code="DELTA",
        name="Delta Forniture",
        kind="supplier",
        zone=nord,
        agent=rossi,
        city="Milano",
        province="MI",
    )
    db.session.add_all([alfa, beta, gamma, delta])
    db.session.flush()
    now = utcnow()
    specs = [
        (alfa, "anna", dict(marketing_consent=True, function=functions["commerciale"], tags=[vip])),
        (alfa, "bruno", dict(document_types=[types["FATTURA"]])),
        (alfa, "pec", dict(marketing_consent=True, is_pec=True, email="alfa@pec.it")),
        (alfa, "carla", dict(marketing_consent=True, privacy_level=2)),
        (beta, "dario", dict(marketing_consent=True, opted_out_at=now)),
        (beta, "elena", dict(marketing_consent=True, from_inipec=True)),
        (beta, "franco", dict(privacy_level=1)),
        (beta, "gino", dict(marketing_consent=True, active=False)),
        (gamma, "ivo", dict(marketing_consent=True)),
        (gamma, "luca", dict(marketing_consent=True, email="")),
        (delta, "mara", dict(marketing_consent=True)),
    ]
    contacts = {}
    for party, name, extra in specs:
        email = extra.pop("email", f"{name}@{party.erp_code.lower()}.example")
        contact = Contact(party_id=party.id, name=name.title(), email=email, **extra)
        db.session.add(contact)
        contacts[name] = contact
    _invoice(alfa, "F1", 30, [(a100, 10, 500)])
    _invoice(alfa, "F2", 200, [(b300, 5, 2000)])
    _invoice(beta, "F3", 400, [(a100, 3, 150)])
    _invoice(beta, "F4", 100, [(a200, 50, 1500)])
    _invoice(gamma, "F5", 10, [(a100, 1, 50)])
    _invoice(gamma, "NC1", 5, [(a100, 1, 20)], type_code="NOTA_CREDITO")
    db.session.commit()
    ids = {name: c.id for name, c in contacts.items()}
    ids.update(
        {
            "alfa": alfa.id,
            "beta": beta.id,
            "gamma": gamma.id,
            "delta": delta.id,
            "nord": nord.id,
            "sud": sud.id,
            "rossi": rossi.id,
            "bianchi": bianchi.id,
            "ferr": ferr.id,
            "vern": vern.id,
            "vip": vip.id,
            "commerciale": functions["commerciale"].id,
            "ing": ing.id,
        }
    )
    return ids


@pytest.fixture
def sales_world(app):
    """The sales world in the app's database (ids by name)."""
    with app.app_context():
        return build_sales_world()


def make_generic_document(
    title="Listino 2027", commercial=True, data=PDF_BYTES, filename="listino.pdf", user=None
):
    """A generic document with one version (the caller is in an app context)."""
    from mailer.services import generic_documents as gd

    document = gd.create_document(title, "", commercial, gd.check_upload(data, filename), user)
    db.session.commit()
    return document


def make_filter(conditions, owner_id, name="Clienti", shared=False):
    """A saved filter."""
    from mailer.models import SavedFilter

    row = SavedFilter(name=name, conditions=conditions, shared=shared, owner_id=owner_id)
    db.session.add(row)
    db.session.commit()
    return row
