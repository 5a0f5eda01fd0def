"""Preparation: routing to contacts, accounts with reasons, templates, PDFs, no-recipient list, approval rules."""

from __future__ import annotations

from datetime import date

import pytest

from mailer.extensions import db
from mailer.models import Batch, Delivery, Document
from mailer.services import approval, preparation
from tests.support.batches import office_data


def _user(username, roles, clearance=3, types=None):
    """A user with send permissions."""
    from mailer.services.users import create_user

    user = create_user(
        username,
        "password-lunga-1",
        roles=roles,
        clearance=clearance,
        send_types=types if types is not None else ["FATTURA", "DDT", "INSOLUTO"],
    )
    db.session.commit()
    return user


@pytest.fixture
def setup(app_ctx, smtp_server):
    """Two accounts, three parties, invoices and DDTs."""
    return office_data(smtp_server)


def _prepare(types, user, **kw):
    """Create and run a preparation synchronously."""
    selection = preparation.Selection(
        type_codes=types, date_from=date(2026, 11, 1), date_to=date(2026, 11, 30), **kw
    )
    batch = preparation.create_batch(selection, user, enqueue=False)
    return preparation.run_preparation(batch.id)


def test_routing_accounts_templates_and_pdfs(setup):
    """Each document reaches the contacts that receive its type, through the right account, with its PDF."""
    operator = _user("operatore", ["operator"])
    batch = _prepare(["FATTURA", "DDT", "INSOLUTO"], operator)
    assert batch.status == "ready"
    rows = db.session.scalars(db.select(Delivery).where(Delivery.batch_id == batch.id)).all()
    routed = {
        (d.recipient_email, tuple(sorted(doc.number for doc in d.documents))): d
        for d in rows
        if d.status == "pending"
    }
    assert set(routed) == {
        ("amm@alfa.example", ("F1",)),
        ("amm@alfa.example", ("S1",)),
        ("alfa@pec.it", ("S1",)),
        ("log@alfa.example", ("D1", "D2")),  # DDTs grouped per recipient
        ("ceo@gamma.example", ("F3",)),
    }
    pec_row = routed[("alfa@pec.it", ("S1",))]
    assert pec_row.account_id == setup["pec"] and "PEC" in pec_row.account_reason
    plain = routed[("amm@alfa.example", ("S1",))]
    assert plain.account_id == setup["ordinary"] and "non è PEC" in plain.account_reason
    invoice = routed[("amm@alfa.example", ("F1",))]
    assert "F1" in invoice.subject and "F1" in invoice.body_text
    assert routed[("ceo@gamma.example", ("F3",))].privacy_level == 3
    # English party gets the English template.
    assert "invoice" in routed[("ceo@gamma.example", ("F3",))].subject.lower()
    # PDFs were rendered and stored for every routed document.
    for number in ("F1", "D1", "D2", "S1", "F3"):
        document = db.session.scalar(db.select(Document).where(Document.number == number))
        assert document.pdf_sha256, number
    missing = [d for d in rows if d.status == "norecipient"]
    assert [(d.party_id, [doc.number for doc in d.documents]) for d in missing] == [
        (setup["parties"]["beta"], ["F2"])
    ]
    assert batch.template_versions["FATTURA"]["it"]
    # The old invoice is outside the period.
    assert not any("F0" in [doc.number for doc in d.documents] for d in rows)


def test_documents_in_an_active_batch_are_not_prepared_twice(setup):
    """A second preparation skips what the first already holds: with nothing left it makes no batch (12.6)."""
    operator = _user("operatore", ["operator"])
    first = _prepare(["FATTURA"], operator)
    with pytest.raises(preparation.NothingToPrepare, match="Nessun documento da preparare"):
        _prepare(["FATTURA"], operator)
    assert db.session.scalar(db.select(db.func.count(Delivery.id)).where(Delivery.batch_id == first.id)) > 0
    assert db.session.scalars(db.select(Batch.id)).all() == [first.id]


def test_one_message_per_address_on_behalf_of_the_most_confidential_contact(setup):
    """Two contacts of a party with the same address (one confidential, one added later by an import or
    the API that could not see it): the invoice goes once, at the confidential contact's level."""
    from mailer.models import Contact, DocumentType

    alfa = setup["parties"]["alfa"]
    original = db.session.scalar(
        db.select(Contact).where(Contact.party_id == alfa, Contact.email == "amm@alfa.example")
    )
    original.privacy_level = 2
    twin = Contact(party_id=alfa, name="Copia", email="AMM@alfa.example", privacy_level=0, active=True)
    twin.document_types = [db.session.get(DocumentType, "FATTURA")]
    db.session.add(twin)
    db.session.commit()
    batch = _prepare(["FATTURA"], _user("operatore", ["operator"]))
    rows = db.session.scalars(
        db.select(Delivery).where(
            Delivery.batch_id == batch.id, Delivery.party_id == alfa, Delivery.status == "pending"
        )
    ).all()
    to_amm = [d for d in rows if d.recipient_email.lower() == "amm@alfa.example"]
    assert len(to_amm) == len({d.documents[0].id for d in to_amm}) >= 1  # one message per invoice
    assert {d.privacy_level for d in to_amm} == {2} and {d.contact_id for d in to_amm} == {original.id}


def test_reroute_after_fixing_contact(setup):
    """Fixing the contact of a 'senza destinatario' party and re-routing creates its delivery."""
    operator = _user("operatore", ["operator"])
    batch = _prepare(["FATTURA"], operator)
    beta = setup["parties"]["beta"]
    from mailer.models import Contact

    contact = db.session.scalar(db.select(Contact).where(Contact.party_id == beta))
    contact.email = "amministrazione@beta.example"
    db.session.commit()
    assert preparation.reroute_party(db.session.get(Batch, batch.id), beta) == 1
    rows = db.session.scalars(
        db.select(Delivery).where(Delivery.batch_id == batch.id, Delivery.party_id == beta)
    ).all()
    assert [(d.status, d.recipient_email) for d in rows] == [("pending", "amministrazione@beta.example")]


def test_permission_to_prepare(setup):
    """A user cannot prepare a type they may not send."""
    sales = _user("vendite", ["sales"], types=["OFFERTA"])
    with pytest.raises(preparation.PreparationError, match="Non sei autorizzato"):
        preparation.create_batch(preparation.Selection(type_codes=["FATTURA"]), sales, enqueue=False)


def test_approval_rules(setup):
    """Four eyes, send permission per type, clearance, blocking size problems, reject needs a reason."""
    operator = _user("operatore", ["operator"])
    batch = _prepare(["FATTURA"], operator)
    manager_self = _user("capo", ["manager"])
    low = _user("manager2", ["manager"], clearance=1)
    no_types = _user("manager3", ["manager"], types=["DDT"])
    good = _user("manager4", ["manager"])
    batch_by_manager = _prepare(["DDT"], manager_self)
    assert any("quattro occhi" in p for p in approval.approval_problems(batch_by_manager, manager_self))
    # Only that they cannot (issue 14.6): never that recipients beyond their clearance exist.
    assert "Non puoi approvare questo invio." in approval.approval_problems(batch, low)
    assert not any("riservatezza" in p for p in approval.approval_problems(batch, low))
    assert any("FATTURA" in p for p in approval.approval_problems(batch, no_types))
    assert any("responsabile" in p for p in approval.approval_problems(batch, operator))
    with pytest.raises(approval.ApprovalError):
        approval.reject_batch(batch, good, "  ")
    # Too large for the account: approval is blocked until it is excluded.
    delivery = db.session.scalar(
        db.select(Delivery).where(Delivery.batch_id == batch.id, Delivery.status == "pending")
    )
    delivery.exclusion_reason = "troppo grande"
    db.session.commit()
    assert any("limite di dimensione" in p for p in approval.approval_problems(batch, good))
    approval.set_excluded(batch, [delivery.id], True, good)
    approval.set_excluded(batch, [delivery.id], False, good)
    assert db.session.get(Delivery, delivery.id).exclusion_reason == "troppo grande"  # flag survives
    approval.set_excluded(batch, [delivery.id], True, good)
    approval.approve_batch(batch, good)
    assert batch.status == "approved" and batch.approved_by_id == good.id


def test_low_clearance_cannot_exclude_hidden_delivery(setup):
    """Exclusion only touches deliveries the user may see."""
    operator = _user("operatore", ["operator"])
    batch = _prepare(["FATTURA"], operator)
    hidden = db.session.scalar(
        db.select(Delivery).where(Delivery.batch_id == batch.id, Delivery.privacy_level == 3)
    )
    low = _user("basso", ["manager"], clearance=1)
    assert approval.set_excluded(batch, [hidden.id], True, low) == 0
    assert db.session.get(Delivery, hidden.id).status == "pending"
