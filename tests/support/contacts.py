"""Fixtures of the contacts area: a small set of parties and contacts at every privacy level."""

from __future__ import annotations

import pytest
from stdnum import luhn

from mailer.extensions import db


def valid_vat(prefix: str) -> str:
    """A P.IVA with a correct check digit: 7 digits of prefix, office 001, check digit."""
    body = (prefix + "0000000")[:7] + "001"
    return body + luhn.calc_check_digit(body)


@pytest.fixture
def world(app):
    """Two zones, two agents, a category, three parties and contacts at privacy levels 0..3.

    ACME (C001, zone NORD, agent A1) has: Mario Pubblico (0, FATTURA), Irene Interna (1),
    Rita Riservata (2) and Carla Confidenziale (3, carla.segreta@acme.it, tag «vip», FATTURA+DDT).
    BETA (C002, zone SUD, agent A2) has only Zeta Segretissimo (3, zeta@beta.it, DDT).
    GAMMA (F001, supplier) has nobody.
    """
    from mailer.models import Agent, Category, Contact, ContactFunction, DocumentType, Party, Tag, Zone

    with app.app_context():
        types = {t.code: t for t in db.session.scalars(db.select(DocumentType))}
        functions = {f.code: f for f in db.session.scalars(db.select(ContactFunction))}
        nord, sud = Zone(code="NORD", name="Nord"), Zone(code="SUD", name="Sud")
        a1, a2 = Agent(code="A1", name="Aldo Agente"), Agent(code="A2", name="Bruna Agente")
        cat = Category(code="ING", name="Ingrosso")
        vip = Tag(name="vip")
        db.session.add_all([nord, sud, a1, a2, cat, vip])
        acme = Party(
            erp_code="C001",
            name="ACME Utensili S.r.l.",
            kind="customer",
            vat_number=valid_vat("1111111"),
            city="Milano",
            province="MI",
            zone=nord,
            agent=a1,
            category=cat,
        )
        beta = Party(
            erp_code="C002",
            name="Beta Commerciale S.p.A.",
            kind="customer",
            city="Napoli",
            province="NA",
            zone=sud,
            agent=a2,
        )
        gamma = Party(
            erp_code="F001",
            name="Gamma Forniture",
            kind="supplier",
            city="Torino",
            province="TO",
            zone=nord,
            agent=a1,
        )
        db.session.add_all([acme, beta, gamma])
        db.session.flush()
        contacts = [
            Contact(
                party=acme,
                name="Mario Pubblico",
                email="mario@acme.it",
                privacy_level=0,
                function=functions["amministrazione"],
                document_types=[types["FATTURA"]],
            ),
            Contact(party=acme, name="Irene Interna", email="irene@acme.it", privacy_level=1),
            Contact(party=acme, name="Rita Riservata", email="rita@acme.it", privacy_level=2),
            Contact(
                party=acme,
                name="Carla Confidenziale",
                email="carla.segreta@acme.it",
                privacy_level=3,
                document_types=[types["FATTURA"], types["DDT"]],
                tags=[vip],
            ),
            Contact(
                party=beta,
                name="Zeta Segretissimo",
                email="zeta@beta.it",
                privacy_level=3,
                document_types=[types["DDT"]],
            ),
        ]
        db.session.add_all(contacts)
        db.session.commit()
        ids = {
            "acme": acme.id,
            "beta": beta.id,
            "gamma": gamma.id,
            "nord": nord.id,
            "sud": sud.id,
            "a1": a1.id,
            "a2": a2.id,
            "vip": vip.id,
        }
        ids.update({c.name.split()[0].lower(): c.id for c in contacts})
        return ids
