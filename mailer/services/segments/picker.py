"""The product picker of the filter builder: products by code or description, counted up to a cap."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select

from ...extensions import db
from ...models import (
    Product,
)
from .validation import MAX_ID

PICKER_SIZE = 20  # products the picker lists at once


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
        shown = [exact, *[i for i in shown if i != exact][: limit - 1]]
    rows = (
        {p.id: p for p in db.session.scalars(select(Product).where(Product.id.in_(shown)))} if shown else {}
    )
    products = [rows[i] for i in shown]
    return ProductMatches(products, min(total, PICKER_COUNT_CAP), capped=total > PICKER_COUNT_CAP)
