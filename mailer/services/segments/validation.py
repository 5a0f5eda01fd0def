"""Checking segment conditions: each one cleaned, or an Italian error naming what is wrong."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import or_, select

from ...extensions import db
from ...formatting import DateInputError, parse_it_date
from ...models import (
    Agent,
    Category,
    ContactFunction,
    DocumentType,
    Product,
    ProductCategory,
    Tag,
    Zone,
)

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


class SegmentError(ValueError):
    """Conditions that cannot be used; `errors` maps condition index -> Italian message."""

    def __init__(self, errors: dict[int, str]):
        super().__init__("; ".join(f"condizione {i + 1}: {m}" for i, m in sorted(errors.items())))
        self.errors = errors


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
    try:
        return parse_it_date(value, label)
    except DateInputError as exc:
        raise ValueError(str(exc)) from None


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
        values = sorted(set(_strings(raw.get("values"))))
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
