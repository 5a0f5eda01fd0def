"""Issue 16: the PEC contact a FatturaPA file names (PECDestinatario) is written by the contacts
service: validated, with a history entry that says where it came from; nothing else changes.
"""

from __future__ import annotations

import json

import pytest

from mailer.extensions import db
from tests.support.documents import make_party

SAMPLE = "IT01234567890_FPR02.xml"  # invoice 123/2014 to BETA GAMMA (CF 09876543210), PEC betagamma@pec.it


def _sample(samples_dir) -> bytes:
    return (samples_dir / "fatturapa" / SAMPLE).read_bytes()


def _changes(contact_id: int) -> list[tuple[str, int | None, dict]]:
    """(action, user id, changes) of the contact's history entries, oldest first."""
    from mailer.models import ContactChange

    rows = db.session.scalars(
        db.select(ContactChange).where(ContactChange.contact_id == contact_id).order_by(ContactChange.id)
    )
    return [(row.action, row.user_id, json.loads(row.changes)) for row in rows]


def test_pec_contact_created_by_import_has_history(app_ctx, samples_dir):
    """A new PEC contact: same values as before (PEC by hand, FATTURA, level 0) and a «create» entry."""
    from mailer.models import Contact, Document
    from mailer.services.contacts import party_history
    from mailer.services.fatturapa import import_fatturapa

    [summary] = import_fatturapa(_sample(samples_dir), SAMPLE)
    db.session.commit()
    party_id = db.session.get(Document, summary["_document_id"]).party_id
    [contact] = db.session.scalars(db.select(Contact).where(Contact.party_id == party_id)).all()
    assert (contact.name, contact.email, contact.is_pec, contact.pec_flag_manual) == (
        "PEC fatturazione",
        "betagamma@pec.it",
        True,
        True,
    )
    assert (contact.privacy_level, contact.document_type_codes, contact.notes) == (
        0,
        {"FATTURA"},
        "Da PECDestinatario della FatturaPA",
    )
    [(action, user_id, changes)] = _changes(contact.id)
    assert (action, user_id) == ("create", None)
    assert changes["email"] == ["", "betagamma@pec.it"]
    assert changes["document_types"] == ["", "FATTURA"]
    assert changes["_by"] == f"importazione FatturaPA {SAMPLE}"
    [entry] = party_history(party_id, 0)
    # the history names the import as who made the change, not «sistema»
    assert (entry.action, entry.username) == ("create", f"importazione FatturaPA {SAMPLE}")
    assert ("Note", "", "Da PECDestinatario della FatturaPA") in entry.changes


def test_existing_contact_is_completed_with_history(app_ctx, samples_dir):
    """The party's contact with that address (any case) gets the PEC flag and FATTURA, recorded as an update."""
    from mailer.models import Contact
    from mailer.services.fatturapa import import_fatturapa

    party = make_party("C0001", "BETA GAMMA", vat_number="", tax_code="09876543210")
    contact = Contact(party_id=party.id, name="Ufficio", email="BetaGamma@pec.it", notes="a mano")
    db.session.add(contact)
    db.session.commit()

    import_fatturapa(_sample(samples_dir), SAMPLE)
    db.session.commit()
    [again] = db.session.scalars(db.select(Contact).where(Contact.party_id == party.id)).all()
    assert again.id == contact.id
    assert (again.name, again.email, again.notes) == ("Ufficio", "BetaGamma@pec.it", "a mano")
    assert (again.is_pec, again.pec_flag_manual, again.document_type_codes) == (True, False, {"FATTURA"})
    [(action, user_id, changes)] = _changes(contact.id)
    assert (action, user_id) == ("update", None)
    assert changes["is_pec"] == ["no", "sì"]
    assert changes["document_types"] == ["", "FATTURA"]
    assert changes["_by"] == f"importazione FatturaPA {SAMPLE}"
    assert set(changes) == {"is_pec", "document_types", "_contact", "_by"}


def test_importing_again_records_nothing_new(app_ctx, samples_dir):
    """The same file twice: the contact is already as the file wants it, so no second entry."""
    from mailer.models import Contact, ContactChange
    from mailer.services.fatturapa import import_fatturapa

    import_fatturapa(_sample(samples_dir), SAMPLE)
    db.session.commit()
    import_fatturapa(_sample(samples_dir), SAMPLE)
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count()).select_from(Contact)) == 1
    assert [c.action for c in db.session.scalars(db.select(ContactChange))] == ["create"]


def test_an_address_the_service_refuses_writes_nothing(app_ctx):
    """The service validates before it writes: an invalid address raises InvalidValue, no contact, no entry."""
    from mailer.models import Contact, ContactChange
    from mailer.services.contacts import ensure_contact_for_address
    from mailer.services.validation import InvalidValue

    party = make_party()
    with pytest.raises(InvalidValue, match="e-mail non valido"):
        ensure_contact_for_address(
            party, "non un indirizzo", type_code="FATTURA", name="PEC", notes="", origin="prova", pec=True
        )
    assert db.session.scalar(db.select(db.func.count()).select_from(Contact)) == 0
    assert db.session.scalar(db.select(db.func.count()).select_from(ContactChange)) == 0
