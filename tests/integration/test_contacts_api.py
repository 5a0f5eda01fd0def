"""Contacts written through the API go through the contacts service: the page's checks, PEC detection,
and a history entry naming the token (issue 16: one writer of contacts)."""

from __future__ import annotations

import json

from mailer.extensions import db
from tests.support.documents import bearer

PARTY = {"code": "C0001", "name": "Rossi Forniture S.r.l.", "vat_number": "12345670017", "city": "Milano"}
URL = "/api/v1/parties/C0001/contacts"


def _changes(app, email: str) -> list[tuple[str, dict]]:
    """(action, changes) of the history entries of the contact with this address, oldest first."""
    from mailer.models import Contact, ContactChange

    with app.app_context():
        contact = db.session.scalar(db.select(Contact).where(Contact.email == email))
        assert contact is not None
        rows = db.session.scalars(
            db.select(ContactChange).where(ContactChange.contact_id == contact.id).order_by(ContactChange.id)
        ).all()
        return [(row.action, json.loads(row.changes)) for row in rows]


def test_api_contact_changes_have_history_entries(client, make_token, app):
    """Created, then changed through the API: two history entries with the fields and the token's name;
    sending the same values again adds none."""
    token = make_token(clearance=1, name="gestionale")
    client.post("/api/v1/parties", json=PARTY, headers=bearer(token))
    created = client.post(URL, headers=bearer(token), json={"name": "Mario Rossi", "email": "mario@rossi.it"})
    assert created.status_code == 201, created.get_json()
    updated = client.post(URL, headers=bearer(token), json={"email": "mario@rossi.it", "phone": "02 1234567"})
    assert updated.status_code == 200, updated.get_json()
    again = client.post(URL, headers=bearer(token), json={"email": "mario@rossi.it", "phone": "02 1234567"})
    assert again.status_code == 200
    entries = _changes(app, "mario@rossi.it")
    assert [action for action, _ in entries] == ["create", "update"]
    assert entries[0][1]["email"] == ["", "mario@rossi.it"] and entries[0][1]["_by"] == "api:gestionale"
    assert entries[1][1]["phone"] == ["", "02 1234567"] and set(entries[1][1]) == {"phone", "_contact", "_by"}


def test_api_contact_history_shows_the_token_on_the_party_page(client, make_token, auth, app):
    """The party page's history names the token, not «sistema»."""
    from mailer.models import Party

    token = make_token(clearance=0, name="gestionale")
    client.post("/api/v1/parties", json=PARTY, headers=bearer(token))
    client.post(URL, headers=bearer(token), json={"name": "Ufficio", "email": "ufficio@rossi.it"})
    with app.app_context():
        party_id = db.session.scalar(db.select(Party.id).where(Party.erp_code == "C0001"))
    auth.login("operator", roles=("operator",), clearance=0)
    page = client.get(f"/anagrafiche/{party_id}").get_data(as_text=True)
    history = page.split('id="contact-history"')[1]
    assert "api:gestionale" in history and "ufficio@rossi.it" in history


def test_api_contact_checked_like_the_page(client, make_token):
    """The page's checks hold for the API: a phone with letters and a malformed address are refused with
    the page's Italian messages; nothing is written."""
    token = make_token(clearance=1)
    client.post("/api/v1/parties", json=PARTY, headers=bearer(token))
    phone = client.post(URL, headers=bearer(token), json={"email": "a@rossi.it", "phone": "chiamami"})
    assert phone.status_code == 422
    assert phone.get_json()["fields"]["phone"].startswith("Telefono non valido")
    email = client.post(URL, headers=bearer(token), json={"email": "mario@@rossi.it"})
    assert email.status_code == 422
    assert email.get_json()["fields"]["email"] == "Indirizzo e-mail non valido: deve contenere una sola @."
    listed = client.get(URL, headers=bearer(token)).get_json()
    assert listed["total"] == 0


def test_api_contact_keeps_the_local_part_as_written(client, make_token, app):
    """One e-mail check (validation.normalize_email) for page, import and API: the domain is lower-cased,
    the local part kept as written (the API used to lower-case it all); the address still matches in any
    case, so the second request updates the same contact."""
    token = make_token(clearance=1)
    client.post("/api/v1/parties", json=PARTY, headers=bearer(token))
    created = client.post(URL, headers=bearer(token), json={"name": "Mario", "email": "Mario.Rossi@Rossi.IT"})
    assert created.status_code == 201 and created.get_json()["email"] == "Mario.Rossi@rossi.it"
    again = client.post(
        URL, headers=bearer(token), json={"email": "mario.rossi@rossi.it", "name": "Mario R."}
    )
    assert again.status_code == 200 and again.get_json()["id"] == created.get_json()["id"]


def test_api_contact_keeps_what_the_request_leaves_out(client, make_token, app):
    """An update changes only what it sends: level, PEC flag set by hand, document types, consent stay."""
    token = make_token(clearance=3, name="erp")
    client.post("/api/v1/parties", json=PARTY, headers=bearer(token))
    first = client.post(
        URL,
        headers=bearer(token),
        json={
            "name": "Direzione",
            "email": "direzione@rossi.it",
            "privacy_level": 2,
            "is_pec": True,
            "document_types": ["FATTURA"],
            "marketing_consent": True,
        },
    )
    assert first.status_code == 201, first.get_json()
    second = client.post(URL, headers=bearer(token), json={"email": "direzione@rossi.it", "active": False})
    body = second.get_json()
    assert second.status_code == 200, body
    assert body["privacy_level"] == 2 and body["is_pec"] is True and body["document_types"] == ["FATTURA"]
    assert body["marketing_consent"] is True and body["active"] is False
    from mailer.models import Contact

    with app.app_context():
        contact = db.session.scalar(db.select(Contact).where(Contact.email == "direzione@rossi.it"))
        assert contact.consent_source == "API erp" and contact.consent_date is not None
    assert _changes(app, "direzione@rossi.it")[-1][1]["active"] == ["sì", "no"]
