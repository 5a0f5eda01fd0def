"""Plain data for the demo company (names, real cities, products), loaded once from mailer/data/demo_names.json.

Cities, provinces and ZIP codes are real; people and companies are invented. The three-digit
province code is the office code of the P.IVA (ISTAT order; newer provinces use their parent's).
"""

from __future__ import annotations

import json
from pathlib import Path

_DATA = json.loads((Path(__file__).parents[2] / "data" / "demo_names.json").read_text(encoding="utf-8"))

# city, ZIP, province, P.IVA office code, zone code
CITIES: list[tuple[str, str, str, str, str]] = [(a, b, c, d, e) for a, b, c, d, e in _DATA["CITIES"]]
ZONES: list[tuple[str, str]] = [(code, name) for code, name in _DATA["ZONES"]]
MALE: list[str] = _DATA["MALE"]
FEMALE: list[str] = _DATA["FEMALE"]
SURNAMES: list[str] = _DATA["SURNAMES"]
SECTORS: list[str] = _DATA["SECTORS"]
ADJECTIVES: list[str] = _DATA["ADJECTIVES"]
BRANDS: list[str] = _DATA["BRANDS"]
BRAND_TAILS: list[str] = _DATA["BRAND_TAILS"]
LEGAL_FORMS: list[str] = _DATA["LEGAL_FORMS"]
STREETS: list[str] = _DATA["STREETS"]
CUSTOMER_CATEGORIES: list[tuple[str, str]] = [(code, name) for code, name in _DATA["CUSTOMER_CATEGORIES"]]
SUPPLIER_CATEGORIES: list[tuple[str, str]] = [(code, name) for code, name in _DATA["SUPPLIER_CATEGORIES"]]
TAGS: list[str] = _DATA["TAGS"]
CONSENT_SOURCES: list[str] = _DATA["CONSENT_SOURCES"]
# terms as printed, days after the invoice (or after its month's end with "f.m.") of each instalment
PAYMENT_TERMS: list[tuple[str, list[int]]] = [(terms, days) for terms, days in _DATA["PAYMENT_TERMS"]]
CARRIERS: list[str] = _DATA["CARRIERS"]
# product category code, name, unit, (min, max) price in euro, description patterns
PRODUCT_CATEGORIES: list[tuple[str, str, str, tuple[float, float], list[str]]] = [
    (code, name, unit, (low, high), patterns)
    for code, name, unit, (low, high), patterns in _DATA["PRODUCT_CATEGORIES"]
]
