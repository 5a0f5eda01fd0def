"""The SQL of a segment: which contacts its conditions select, how many, and a sample."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, exists, func, or_, select

from ...extensions import db
from ...models import (
    Contact,
    Document,
    DocumentLine,
    Party,
    Product,
    contact_document_types,
    contact_tags,
    utcnow,
)
from ..contacts import clearance_of

SALES_TYPES = ("FATTURA",)
CREDIT_TYPES = ("NOTA_CREDITO",)

SAMPLE_SIZE = 10
# Conditions on the party's own columns: the sales statistics add them to their sub-query (see
# `_party_scope`), so they sum the lines of those parties only.
PARTY_KINDS = ("kind", "agent", "zone", "category", "province", "city")


def months_ago(today: date, months: int) -> date:
    """The same day N months earlier (clamped to the month's end)."""
    year, month = divmod(today.year * 12 + today.month - 1 - months, 12)
    month += 1
    for day in (today.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    return date(year, month, 28)


def period_bounds(cond: dict, today: date | None = None) -> tuple[date | None, date | None]:
    """(from, to) of a condition's period."""
    today = today or utcnow().date()
    if cond.get("months"):
        return months_ago(today, int(cond["months"])), None
    start = date.fromisoformat(cond["from"]) if cond.get("from") else None
    end = date.fromisoformat(cond["to"]) if cond.get("to") else None
    return start, end


def _party_scope(conditions: list[dict], clearance: int, today: date):
    """SELECT of the ids of the parties the party-column conditions keep, or None when none narrows.

    On millions of lines "bought" is the expensive part: summing the lines of 1 zone in 12 instead of
    every party's cuts the join and the aggregate to what the outer query keeps anyway. Not correlated:
    it reads its own `parties`. PostgreSQL only: SQLite's planner turns the nested IN into twice the work.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return None
    clauses = [condition_clause(c, clearance, today) for c in conditions if c["type"] in PARTY_KINDS]
    if not clauses:
        return None
    return select(Party.id).where(Party.active.is_(True), *clauses).correlate(None)


def _bought_parties(cond: dict, today: date, scope=None):
    """Party ids that invoiced the products/category in the period (optionally ≥ quantity/amount),
    among the ids of `scope` when given."""
    lines = DocumentLine.__table__
    docs = Document.__table__
    start, end = period_bounds(cond, today)
    query = select(docs.c.party_id).select_from(lines.join(docs, docs.c.id == lines.c.document_id))
    if cond.get("products"):
        query = query.where(
            lines.c.product_id.in_(select(Product.id).where(Product.code.in_(cond["products"])))
        )
    else:
        query = query.where(
            lines.c.product_id.in_(select(Product.id).where(Product.category_id == cond["category"]))
        )
    query = query.where(docs.c.type_code.in_(SALES_TYPES))
    if scope is not None:
        query = query.where(docs.c.party_id.in_(scope))
    if start:
        query = query.where(docs.c.date >= start)
    if end:
        query = query.where(docs.c.date <= end)
    having = []
    if cond.get("min_qty") is not None:
        having.append(func.sum(lines.c.quantity) >= Decimal(cond["min_qty"]))
    if cond.get("min_amount") is not None:
        having.append(func.sum(lines.c.amount) >= Decimal(cond["min_amount"]))
    if having:
        query = query.group_by(docs.c.party_id).having(and_(*having))
    return query


def _turnover_parties(cond: dict, today: date):
    """Party ids whose net invoiced amount (less credit notes) in the period is in the range."""
    docs = Document.__table__
    start, end = period_bounds(cond, today)
    signed = func.sum(
        func.coalesce(
            db.case((docs.c.type_code.in_(CREDIT_TYPES), -docs.c.total_net), else_=docs.c.total_net), 0
        )
    )
    query = select(docs.c.party_id).where(docs.c.type_code.in_(SALES_TYPES + CREDIT_TYPES))
    if start:
        query = query.where(docs.c.date >= start)
    if end:
        query = query.where(docs.c.date <= end)
    having = []
    if cond.get("min") is not None:
        having.append(signed >= Decimal(cond["min"]))
    if cond.get("max") is not None:
        having.append(signed <= Decimal(cond["max"]))
    query = query.group_by(docs.c.party_id).having(and_(*having))
    if cond.get("min") is None or Decimal(cond["min"]) <= 0:
        # "up to X": customers with no invoice at all in the period are in the range too.
        invoiced = select(docs.c.party_id).where(docs.c.type_code.in_(SALES_TYPES + CREDIT_TYPES))
        if start:
            invoiced = invoiced.where(docs.c.date >= start)
        if end:
            invoiced = invoiced.where(docs.c.date <= end)
        return or_(Party.id.in_(query), Party.id.notin_(invoiced))
    return Party.id.in_(query)


def condition_clause(cond: dict, clearance: int, today: date, scope=None):
    """SQL condition on Party/Contact for one cleaned condition (`scope`: see `_party_scope`)."""
    kind = cond["type"]
    if kind == "kind":
        return Party.kind.in_(("customer", "both") if cond["value"] == "customer" else ("supplier", "both"))
    if kind == "agent":
        return Party.agent_id.in_(cond["ids"])
    if kind == "zone":
        return Party.zone_id.in_(cond["ids"])
    if kind == "category":
        return Party.category_id.in_(cond["ids"])
    if kind == "province":
        return Party.province.in_(cond["values"])
    if kind == "city":
        return func.lower(Party.city).in_([v.lower() for v in cond["values"]])
    if kind == "function":
        return Contact.function_id.in_(cond["ids"])
    if kind == "doctype":
        return exists(
            select(contact_document_types.c.contact_id).where(
                contact_document_types.c.contact_id == Contact.id,
                contact_document_types.c.document_type_code.in_(cond["codes"]),
            )
        )
    if kind == "tag":
        return exists(
            select(contact_tags.c.contact_id).where(
                contact_tags.c.contact_id == Contact.id, contact_tags.c.tag_id.in_(cond["ids"])
            )
        )
    if kind == "bought":
        return Party.id.in_(_bought_parties(cond, today, scope))
    if kind == "turnover":
        return _turnover_parties(cond, today)
    if kind == "dormant":
        since = today - timedelta(days=int(cond["days"]))
        docs = Document.__table__
        return ~exists(
            select(docs.c.id).where(
                docs.c.party_id == Party.id, docs.c.type_code.in_(SALES_TYPES), docs.c.date > since
            )
        )
    raise ValueError(kind)


def base_conditions(user_or_clearance: Any) -> list:
    """What every segment requires: active party and contact, an e-mail address, within clearance."""
    return [
        Party.active.is_(True),
        Contact.active.is_(True),
        Contact.email != "",
        Contact.privacy_level <= clearance_of(user_or_clearance),
    ]


def contacts_select(conditions: list[dict], user_or_clearance: Any, today: date | None = None, columns=None):
    """SELECT (columns, default contact id and party id) of the contacts the segment selects."""
    today = today or utcnow().date()
    clearance = clearance_of(user_or_clearance)
    columns = columns if columns is not None else [Contact.id, Contact.party_id]
    query = select(*columns).select_from(
        Contact.__table__.join(Party.__table__, Party.id == Contact.party_id)
    )
    scope = _party_scope(conditions, clearance, today)
    clauses = base_conditions(clearance) + [condition_clause(c, clearance, today, scope) for c in conditions]
    return query.where(*clauses)


@dataclass
class SegmentCount:
    """How many parties and contacts a segment selects (within the user's clearance)."""

    parties: int
    contacts: int


def count(conditions: list[dict], user_or_clearance: Any, today: date | None = None) -> SegmentCount:
    """Live count of parties and contacts."""
    query = contacts_select(
        conditions,
        user_or_clearance,
        today,
        columns=[func.count(Contact.id), func.count(func.distinct(Contact.party_id))],
    )
    contacts, parties = db.session.execute(query).one()
    return SegmentCount(parties=parties or 0, contacts=contacts or 0)


def sample(
    conditions: list[dict], user_or_clearance: Any, limit: int = SAMPLE_SIZE, today: date | None = None
) -> list[tuple[Contact, Party]]:
    """A few of the selected contacts with their party, by party name."""
    ids = (
        contacts_select(conditions, user_or_clearance, today, columns=[Contact.id])
        .order_by(Party.name, Contact.name, Contact.id)
        .limit(limit)
    )
    rows = db.session.execute(
        select(Contact, Party)
        .join(Party, Party.id == Contact.party_id)
        .where(Contact.id.in_(ids))
        .order_by(Party.name, Contact.name, Contact.id)
    ).all()
    return [(c, p) for c, p in rows]
