"""Segments: which contacts a set of conditions selects (SQLAlchemy Core, SQLite and PostgreSQL).

A segment is a list of conditions combined with AND. Each condition is a small JSON dict with a
"type" (see CONDITION_TYPES); `parse_conditions` validates them (Italian errors per condition) and
`contacts_query` builds one SELECT of contact ids. Party conditions (kind, agent, zone, …) and sales
statistics narrow the parties; contact conditions (function, document types, tags) narrow the
contacts. Only active contacts with an e-mail address, within the user's privacy clearance, count.

Sales statistics come from the lines of invoices (FATTURA): "bought" means invoiced. Turnover is
the net total of invoices minus credit notes. "No purchase for N days" means no invoice in the last
N days (customers who never bought qualify too: combine with "bought" for dormant customers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import and_, exists, func, or_, select

from ..extensions import db
from ..models import (
    Agent,
    Category,
    Contact,
    ContactFunction,
    Document,
    DocumentLine,
    DocumentType,
    Party,
    Product,
    ProductCategory,
    Tag,
    Zone,
    contact_document_types,
    contact_tags,
    utcnow,
)
from .contacts import clearance_of

SALES_TYPES = ("FATTURA",)
CREDIT_TYPES = ("NOTA_CREDITO",)

CONDITION_TYPES: dict[str, str] = {
    "kind": "Clienti o fornitori",
    "function": "Funzione del contatto",
    "doctype": "Riceve il tipo di documento",
    "tag": "Caratteristica del contatto",
    "agent": "Agente",
    "zone": "Zona",
    "province": "Provincia",
    "city": "Città",
    "category": "Categoria cliente",
    "bought": "Ha acquistato (articoli o categoria)",
    "turnover": "Fatturato in un intervallo",
    "dormant": "Nessun acquisto da N giorni",
}
MAX_CONDITIONS = 12
SAMPLE_SIZE = 10
PICKER_SIZE = 20  # products the picker lists at once


class SegmentError(ValueError):
    """Conditions that cannot be used; `errors` maps condition index -> Italian message."""

    def __init__(self, errors: dict[int, str]):
        super().__init__("; ".join(f"condizione {i + 1}: {m}" for i, m in sorted(errors.items())))
        self.errors = errors


# ---------------------------------------------------------------- parsing

MAX_ID = 2**31 - 1  # ids are 32-bit columns: a larger number names nothing (and PostgreSQL refuses it)
ID_LABELS = {
    "function": (ContactFunction, "funzione"),
    "tag": (Tag, "caratteristica"),
    "agent": (Agent, "agente"),
    "zone": (Zone, "zona"),
    "category": (Category, "categoria cliente"),
}


def _existing_ids(model, values: Any, label: str) -> list[int]:
    """Ids of existing rows of `model`; ValueError naming every value that is no id of one (never dropped)."""
    if values in (None, ""):
        return []
    if isinstance(values, (str, int)):
        values = str(values).split(",")
    wanted, unknown = set(), []
    for value in values:
        text = str(value).strip()
        if not text:
            continue
        if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ID:  # not "²", a digit int() refuses
            wanted.add(int(text))
        else:
            unknown.append(text)
    found = set(db.session.scalars(select(model.id).where(model.id.in_(wanted)))) if wanted else set()
    unknown += [str(i) for i in sorted(wanted - found)]
    if unknown:
        raise ValueError(f"{label} inesistente: {', '.join(unknown[:5])}")
    return sorted(wanted & found)


def _unknown_products(codes: list[str]) -> str | None:
    """The message for codes that are no product's code (with the products their text describes), or None."""
    found = set(db.session.scalars(select(Product.code).where(Product.code.in_(codes))))
    missing = [c for c in codes if c not in found]
    if not missing:
        return None
    hints = []
    for text in missing[:3]:
        like = db.session.scalars(
            select(Product)
            .where(
                or_(
                    Product.code.icontains(text, autoescape=True),
                    Product.description.icontains(text, autoescape=True),
                )
            )
            .order_by(Product.code)
            .limit(3)
        ).all()
        if like:
            hints.append(f"«{text}» è forse " + " o ".join(f"{p.code} ({p.description})" for p in like))
    hint = ("; " + "; ".join(hints)) if hints else ""
    return (
        f"articoli inesistenti: {', '.join(missing[:5])}{hint}. Scrivi i codici articolo, "
        "o cercali per descrizione con «Cerca un articolo»"
    )


def _strings(values: Any) -> list[str]:
    """A list of non-empty trimmed strings from a list or a comma separated string."""
    if values in (None, ""):
        return []
    if isinstance(values, str):
        values = re.split(r"[,;\n]", values)
    out = [str(v).strip() for v in values if str(v).strip()]
    if any("\x00" in v for v in out):  # PostgreSQL refuses NUL in a query: say so next to the condition
        raise ValueError("il testo contiene caratteri non validi (NUL)")
    return out


def _money(value: Any, label: str) -> Decimal | None:
    """A non-negative amount (Italian or dotted decimals) or None; ValueError in Italian."""
    if value in (None, ""):
        return None
    text = str(value).strip().replace("€", "").replace(" ", "")
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"{label}: importo non valido") from exc
    if amount < 0:
        raise ValueError(f"{label}: l'importo non può essere negativo")
    return amount


def _day(value: Any, label: str) -> date | None:
    """A date from yyyy-mm-dd or dd/mm/yyyy, or None."""
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        if "/" in text:
            d, m, y = text.split("/")
            return date(int(y), int(m), int(d))
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{label}: data non valida") from exc


def _positive_int(value: Any, label: str, maximum: int) -> int | None:
    """A whole number 1..maximum or None."""
    if value in (None, ""):
        return None
    try:
        number = int(str(value).strip())
    except ValueError as exc:
        raise ValueError(f"{label}: numero intero richiesto") from exc
    if not 1 <= number <= maximum:
        raise ValueError(f"{label}: tra 1 e {maximum}")
    return number


def _period(raw: dict, out: dict) -> None:
    """Read "months" or "from"/"to" into out (default: last 12 months)."""
    months = _positive_int(raw.get("months"), "Mesi", 240)
    start, end = _day(raw.get("from"), "Dal"), _day(raw.get("to"), "Al")
    if start and end and start > end:
        raise ValueError("La data iniziale è successiva a quella finale")
    if start or end:
        out.update({"from": start.isoformat() if start else None, "to": end.isoformat() if end else None})
    else:
        out["months"] = months or 12


def clean_condition(raw: dict) -> dict:
    """One condition validated and normalised (JSON-able); ValueError with an Italian message."""
    kind = (raw or {}).get("type", "")
    if kind not in CONDITION_TYPES:
        raise ValueError("tipo di condizione sconosciuto")
    out: dict[str, Any] = {"type": kind}
    if kind == "kind":
        value = raw.get("value") or "customer"
        if value not in ("customer", "supplier"):
            raise ValueError("scegli clienti o fornitori")
        out["value"] = value
    elif kind in ID_LABELS:
        model, label = ID_LABELS[kind]
        ids = _existing_ids(model, raw.get("ids"), label)
        if not ids:
            raise ValueError("scegli almeno un valore")
        out["ids"] = ids
    elif kind == "doctype":
        codes = _strings(raw.get("codes"))
        known = set(db.session.scalars(select(DocumentType.code).where(DocumentType.code.in_(codes))))
        unknown = [c for c in codes if c not in known]
        if unknown:
            raise ValueError(f"tipo di documento inesistente: {', '.join(unknown[:5])}")
        if not codes:
            raise ValueError("scegli almeno un tipo di documento")
        out["codes"] = sorted(set(codes))
    elif kind == "province":
        values = sorted({v.upper() for v in _strings(raw.get("values"))})
        if not values or any(not re.fullmatch(r"[A-Z]{2}", v) for v in values):
            raise ValueError("sigle di provincia di due lettere, separate da virgole (es. MI, BG)")
        out["values"] = values
    elif kind == "city":
        values = sorted({v for v in _strings(raw.get("values"))})
        if not values:
            raise ValueError("scrivi almeno una città")
        out["values"] = values
    elif kind == "bought":
        codes = _strings(raw.get("products"))
        category = _existing_ids(ProductCategory, raw.get("category"), "categoria di prodotti")
        if codes and category:
            raise ValueError("scegli articoli oppure una categoria, non entrambi")
        if codes:
            problem = _unknown_products(codes)
            if problem:
                raise ValueError(problem)
            out["products"] = sorted(set(codes))
        elif category:
            out["category"] = category[0]
        else:
            raise ValueError("indica uno o più codici articolo, o una categoria di prodotti")
        _period(raw, out)
        min_qty = _money(raw.get("min_qty"), "Quantità minima")
        min_amount = _money(raw.get("min_amount"), "Importo minimo")
        if min_qty is not None:
            out["min_qty"] = str(min_qty)
        if min_amount is not None:
            out["min_amount"] = str(min_amount)
    elif kind == "turnover":
        low, high = _money(raw.get("min"), "Da"), _money(raw.get("max"), "A")
        if low is None and high is None:
            raise ValueError("indica almeno un estremo del fatturato")
        if low is not None and high is not None and low > high:
            raise ValueError("il minimo è maggiore del massimo")
        out.update(
            {"min": str(low) if low is not None else None, "max": str(high) if high is not None else None}
        )
        _period(raw, out)
    elif kind == "dormant":
        days = _positive_int(raw.get("days"), "Giorni", 3650)
        if days is None:
            raise ValueError("indica da quanti giorni")
        out["days"] = days
    return out


def parse_conditions(raw: list[dict]) -> list[dict]:
    """Validate every condition; raises SegmentError listing all problems at once."""
    errors: dict[int, str] = {}
    cleaned = []
    if len(raw) > MAX_CONDITIONS:
        raise SegmentError({MAX_CONDITIONS: f"al massimo {MAX_CONDITIONS} condizioni"})
    for index, item in enumerate(raw):
        try:
            cleaned.append(clean_condition(item))
        except ValueError as exc:
            errors[index] = str(exc)
    if errors:
        raise SegmentError(errors)
    return cleaned


# ---------------------------------------------------------------- SQL


def _months_ago(today: date, months: int) -> date:
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
        return _months_ago(today, int(cond["months"])), None
    start = date.fromisoformat(cond["from"]) if cond.get("from") else None
    end = date.fromisoformat(cond["to"]) if cond.get("to") else None
    return start, end


def _bought_parties(cond: dict, today: date):
    """Party ids that invoiced the products/category in the period (optionally ≥ quantity/amount)."""
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


def condition_clause(cond: dict, clearance: int, today: date):
    """SQL condition on Party/Contact for one cleaned condition."""
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
        return Party.id.in_(_bought_parties(cond, today))
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
    clauses = base_conditions(clearance) + [condition_clause(c, clearance, today) for c in conditions]
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


def describe(cond: dict) -> str:
    """A condition in Italian words, for lists and the campaign page."""
    kind = cond.get("type")

    def names(model, ids, attr="name"):
        rows = db.session.scalars(select(model).where(model.id.in_(ids or []))).all()
        return ", ".join(getattr(r, attr) for r in rows) or "—"

    def period() -> str:
        if cond.get("months"):
            return f"negli ultimi {cond['months']} mesi"
        start = date.fromisoformat(cond["from"]).strftime("%d/%m/%Y") if cond.get("from") else "…"
        end = date.fromisoformat(cond["to"]).strftime("%d/%m/%Y") if cond.get("to") else "…"
        return f"dal {start} al {end}"

    if kind == "kind":
        return "Clienti" if cond["value"] == "customer" else "Fornitori"
    if kind == "function":
        return "Funzione: " + names(ContactFunction, cond["ids"])
    if kind == "doctype":
        return "Riceve: " + ", ".join(cond["codes"])
    if kind == "tag":
        return "Caratteristica: " + names(Tag, cond["ids"])
    if kind == "agent":
        return "Agente: " + names(Agent, cond["ids"])
    if kind == "zone":
        return "Zona: " + names(Zone, cond["ids"])
    if kind == "category":
        return "Categoria: " + names(Category, cond["ids"])
    if kind == "province":
        return "Provincia: " + ", ".join(cond["values"])
    if kind == "city":
        return "Città: " + ", ".join(cond["values"])
    if kind == "bought":
        what = (
            ("articoli " + ", ".join(cond["products"]))
            if cond.get("products")
            else "categoria " + names(ProductCategory, [cond.get("category")])
        )
        extra = []
        if cond.get("min_qty"):
            extra.append(f"almeno {cond['min_qty']} pezzi")
        if cond.get("min_amount"):
            from ..formatting import it_money

            extra.append(f"almeno {it_money(Decimal(cond['min_amount']))}")
        return f"Ha acquistato {what} {period()}" + (f" ({', '.join(extra)})" if extra else "")
    if kind == "turnover":
        from ..formatting import it_money

        low = it_money(Decimal(cond["min"])) if cond.get("min") else "0"
        high = it_money(Decimal(cond["max"])) if cond.get("max") else "∞"
        return f"Fatturato tra {low} e {high} {period()}"
    if kind == "dormant":
        return f"Nessun acquisto negli ultimi {cond['days']} giorni"
    return str(cond)


def choices() -> dict[str, list]:
    """Values for the builder's selects."""
    return {
        "functions": db.session.scalars(select(ContactFunction).order_by(ContactFunction.name)).all(),
        "types": db.session.scalars(select(DocumentType).order_by(DocumentType.position)).all(),
        "tags": db.session.scalars(select(Tag).order_by(Tag.name)).all(),
        "agents": db.session.scalars(select(Agent).order_by(Agent.name)).all(),
        "zones": db.session.scalars(select(Zone).order_by(Zone.name)).all(),
        "categories": db.session.scalars(select(Category).order_by(Category.name)).all(),
        "product_categories": db.session.scalars(
            select(ProductCategory).order_by(ProductCategory.name)
        ).all(),
    }


@dataclass
class ProductMatches:
    """What the product picker found: the first PICKER_SIZE products and how many match (counted up to a cap)."""

    products: list[Product]
    total: int
    capped: bool = False  # more than PICKER_COUNT_CAP match: `total` is the cap

    @property
    def more(self) -> int:
        """Matching products not listed."""
        return max(self.total - len(self.products), 0)


PICKER_COUNT_CAP = 1000  # counting every match of a short text in a large catalogue costs more than it tells


def search_products(text: str, category_id: int | None = None, limit: int = PICKER_SIZE) -> ProductMatches:
    """Products whose code or description contains `text` (any case), optionally of a product category;
    the product whose code is the text first, then by code. Nothing is listed until there is a text or a
    category. Ordered by code so that the code index stops the scan at `limit` rows."""
    text = " ".join((text or "").split())[:100]
    if "\x00" in text or (category_id is not None and not 0 <= category_id <= MAX_ID):
        return ProductMatches([], 0)  # names no product (and PostgreSQL would refuse the query)
    if not text and category_id is None:
        return ProductMatches([], 0)
    query = select(Product)
    if text:
        query = query.where(
            or_(
                Product.code.icontains(text, autoescape=True),
                Product.description.icontains(text, autoescape=True),
            )
        )
    if category_id is not None:
        query = query.where(Product.category_id == category_id)
    # One pass in code order (the code index) that stops after the cap: ids and codes, then the rows shown.
    found = db.session.execute(
        query.with_only_columns(Product.id, Product.code).order_by(Product.code).limit(PICKER_COUNT_CAP + 1)
    ).all()
    total = len(found)
    shown = [row.id for row in found[:limit]]
    exact = next((row.id for row in found if row.code.upper() == text.upper()), None) if text else None
    if exact is None and text and total > PICKER_COUNT_CAP:
        lookup = select(Product.id).where(Product.code.in_({text, text.upper()}))
        if category_id is not None:
            lookup = lookup.where(Product.category_id == category_id)
        exact = db.session.scalars(lookup).first()
    if exact is not None:
        shown = [exact] + [i for i in shown if i != exact][: limit - 1]
    rows = (
        {p.id: p for p in db.session.scalars(select(Product).where(Product.id.in_(shown)))} if shown else {}
    )
    products = [rows[i] for i in shown]
    return ProductMatches(products, min(total, PICKER_COUNT_CAP), capped=total > PICKER_COUNT_CAP)
