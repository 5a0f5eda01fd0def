"""Coverage per document type: active parties with nobody (visible) receiving it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, select

from ...extensions import db
from ...models import (
    Contact,
    DocumentType,
    Party,
    contact_document_types,
)
from ..pagination import paginate
from .search import PER_PAGE
from .visibility import visible_contacts_filter


def _kinds_for(counterpart: str) -> tuple[str, ...]:
    """Party kinds a document type is sent to."""
    if counterpart == "customer":
        return ("customer", "both")
    if counterpart == "supplier":
        return ("supplier", "both")
    return ("customer", "supplier", "both")


def _covered_condition(type_code: str, user_or_clearance: Any):
    """EXISTS a visible active contact with an e-mail that receives the type, for Party."""
    return exists(
        select(Contact.id)
        .join(contact_document_types, contact_document_types.c.contact_id == Contact.id)
        .where(
            Contact.party_id == Party.id,
            contact_document_types.c.document_type_code == type_code,
            Contact.active.is_(True),
            Contact.email != "",
            visible_contacts_filter(user_or_clearance),
        )
    )


@dataclass
class CoverageRow:
    """Coverage of one document type."""

    type: DocumentType
    parties: int
    uncovered: int


def coverage_summary(user_or_clearance: Any) -> list[CoverageRow]:
    """For each document type: active parties it goes to, and how many have nobody (visible) receiving it."""
    types = list(db.session.scalars(select(DocumentType).order_by(DocumentType.position)))
    by_kind = dict(
        db.session.execute(
            select(Party.kind, func.count(Party.id)).where(Party.active.is_(True)).group_by(Party.kind)
        ).all()
    )
    covered = db.session.execute(
        select(contact_document_types.c.document_type_code, Party.kind, func.count(func.distinct(Party.id)))
        .select_from(contact_document_types)
        .join(Contact, Contact.id == contact_document_types.c.contact_id)
        .join(Party, Party.id == Contact.party_id)
        .where(
            Party.active.is_(True),
            Contact.active.is_(True),
            Contact.email != "",
            visible_contacts_filter(user_or_clearance),
        )
        .group_by(contact_document_types.c.document_type_code, Party.kind)
    ).all()
    covered_by: dict[tuple[str, str], int] = {(code, kind): n for code, kind, n in covered}
    rows = []
    for t in types:
        kinds = _kinds_for(t.counterpart)
        total = sum(by_kind.get(k, 0) for k in kinds)
        ok = sum(covered_by.get((t.code, k), 0) for k in kinds)
        rows.append(CoverageRow(type=t, parties=total, uncovered=total - ok))
    return rows


def uncovered_parties(
    type_code: str, user_or_clearance: Any, page: int = 1, per_page: int = PER_PAGE
) -> tuple[list[Party], int]:
    """Active parties the type goes to with nobody visible receiving it (a page, and the total)."""
    doc_type = db.session.get(DocumentType, type_code)
    if doc_type is None:
        return [], 0
    conds = [
        Party.active.is_(True),
        Party.kind.in_(_kinds_for(doc_type.counterpart)),
        ~_covered_condition(type_code, user_or_clearance),
    ]
    found = paginate(
        select(Party).where(*conds).order_by(Party.name, Party.id), page, per_page, last_if_past_end=False
    )
    return list(found.items), found.total or 0
