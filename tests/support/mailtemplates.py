"""Fixtures helpers of the templates area: a party with contacts and documents of a type."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from mailer.extensions import db
from mailer.models import Contact, Document, DocumentType, MailAccount, Party


def make_party(code: str = "C001", name: str = "Rossi Forniture S.r.l.", language: str = "it") -> Party:
    """A customer (the caller commits)."""
    party = Party(erp_code=code, name=name, kind="customer", city="Torino", province="TO", language=language)
    db.session.add(party)
    db.session.flush()
    return party


def make_contact(party: Party, name: str, email: str, privacy: int = 0, types=("FATTURA",)) -> Contact:
    """A contact receiving the given document types (the caller commits)."""
    contact = Contact(party_id=party.id, name=name, email=email, privacy_level=privacy, active=True)
    contact.document_types = [db.session.get(DocumentType, code) for code in types]
    db.session.add(contact)
    db.session.flush()
    return contact


def make_document(
    party: Party,
    type_code: str = "FATTURA",
    number: str = "2026/7",
    total: str = "1234.56",
    day: date = date(2026, 3, 5),
    extra: dict | None = None,
    due_dates: list | None = None,
) -> Document:
    """A document of a type for the party (the caller commits)."""
    doc = Document(
        type_code=type_code,
        number=number,
        year=day.year,
        date=day,
        party_id=party.id,
        total_net=Decimal(total),
        total_vat=Decimal("0"),
        total=Decimal(total),
        due_dates=due_dates
        if due_dates is not None
        else [{"date": "2026-04-30", "amount": total, "method": "Bonifico"}],
        extra=extra or {},
    )
    db.session.add(doc)
    db.session.flush()
    return doc


def make_account(
    name: str = "Amministrazione", signature: str = "", kind: str = "smtp", default: bool = True
) -> MailAccount:
    """A sending account (never connected to in these tests; the caller commits)."""
    account = MailAccount(
        name=name,
        kind=kind,
        host="127.0.0.1",
        port=2525,
        from_address=f"{name.lower()}@esempio.it",
        from_name=name,
        signature_html=signature,
        is_default=default,
    )
    db.session.add(account)
    db.session.flush()
    return account
