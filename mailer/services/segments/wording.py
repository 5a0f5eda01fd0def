"""Conditions in Italian words, and the values the filter builder offers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from ...extensions import db
from ...models import (
    Agent,
    Category,
    ContactFunction,
    DocumentType,
    ProductCategory,
    Tag,
    Zone,
)


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
            from ...formatting import it_money

            extra.append(f"almeno {it_money(Decimal(cond['min_amount']))}")
        return f"Ha acquistato {what} {period()}" + (f" ({', '.join(extra)})" if extra else "")
    if kind == "turnover":
        from ...formatting import it_money

        low = it_money(Decimal(cond["min"])) if cond.get("min") else "0"
        high = it_money(Decimal(cond["max"])) if cond.get("max") else "∞"
        return f"Fatturato tra {low} e {high} {period()}"
    if kind == "dormant":
        return f"Nessun acquisto negli ultimi {cond['days']} giorni"
    return str(cond)


def choices() -> dict[str, Sequence[Any]]:
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
