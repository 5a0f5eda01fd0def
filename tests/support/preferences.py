"""Fixtures of the preferences area: a party whose address gets a link, a confidential one, another party."""

from __future__ import annotations

import re

import pytest

from mailer.extensions import db
from mailer.models import Contact, ContactChange, PreferenceRequest
from tests.support.batches import make_party_with_contacts

LINK_RE = re.compile(r"https?://[^\s\"<>]+/preferenze/[A-Za-z0-9_.\-]+")


@pytest.fixture
def prefs_world(app):
    """ALFA: amm@ (FATTURA, INSOLUTO, level 0) and a level-3 ceo@; BETA: its own amm@ (DDT). Links for each."""
    from mailer.services.preferences import preferences_token

    with app.app_context():
        alfa = make_party_with_contacts(
            "ALFA",
            [
                {"name": "Amministrazione", "email": "amm@alfa.example", "types": ["FATTURA", "INSOLUTO"]},
                {
                    "name": "Carla Riservata",
                    "email": "ceo@alfa.example",
                    "types": ["FATTURA"],
                    "privacy_level": 3,
                },
            ],
        )
        beta = make_party_with_contacts(
            "BETA", [{"name": "Ufficio Beta", "email": "amm@beta.example", "types": ["DDT"]}]
        )
        db.session.commit()
        contacts = {c.email: c.id for c in db.session.scalars(db.select(Contact))}
        world = {
            "alfa": alfa.id,
            "beta": beta.id,
            "amm": contacts["amm@alfa.example"],
            "ceo": contacts["ceo@alfa.example"],
            "beta_amm": contacts["amm@beta.example"],
            "link": "/preferenze/" + preferences_token(alfa.id, "amm@alfa.example"),
            "ceo_link": "/preferenze/" + preferences_token(alfa.id, "ceo@alfa.example"),
            "beta_link": "/preferenze/" + preferences_token(beta.id, "amm@beta.example"),
        }
        db.session.remove()
    return world


def contact_types(app, contact_id: int) -> set[str]:
    """The document types a contact receives now."""
    with app.app_context():
        contact = db.session.get(Contact, contact_id)
        codes = contact.document_type_codes
        db.session.remove()
        return codes


def requests_of(app) -> list[tuple[str, str, str]]:
    """(kind, status, email) of every preference request."""
    with app.app_context():
        rows = [
            (r.kind, r.status, r.email)
            for r in db.session.scalars(db.select(PreferenceRequest).order_by(PreferenceRequest.id))
        ]
        db.session.remove()
        return rows


def history_count(app) -> int:
    """How many contact history entries exist."""
    with app.app_context():
        value = db.session.scalar(db.select(db.func.count(ContactChange.id))) or 0
        db.session.remove()
        return value
