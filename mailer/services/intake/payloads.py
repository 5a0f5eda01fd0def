"""Validation of what the ERP hands over as JSON (API, spool): documents and parties.

Errors are collected per field (``lines[2].quantity``) before anything is written; the small
parsers (numbers, dates, one-line texts, money) are shared with the FatturaPA reader and
``document_extra``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, overload

from ...models import Party
from ...reference import DOCUMENT_TYPE_CODES

CENT = Decimal("0.01")
MAX_LINES = 5000
PARTY_KINDS = ("customer", "supplier", "both")


class IntakeError(ValueError):
    """Invalid input: ``errors`` maps each field to an Italian message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


@dataclass
class DocumentInput:
    """A validated document, ready to be written."""

    type_code: str
    number: str
    date: date
    year: int
    party_code: str = ""
    party: Party | None = None
    currency: str = "EUR"
    total_net: Decimal = Decimal("0")
    total_vat: Decimal = Decimal("0")
    total: Decimal = Decimal("0")
    open_amount: Decimal | None = None
    due_dates: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    lines: list[dict] = field(default_factory=list)
    pdf: bytes | None = None
    attachments: list[tuple[str, bytes, str]] = field(default_factory=list)  # (filename, data, content type)


# ---------------------------------------------------------------- small parsers


MAX_NUMBER = Decimal("1e12")  # amounts: Numeric(14, 2)
MAX_QUANTITY = Decimal("1e11")  # quantities Numeric(14, 3), unit prices Numeric(16, 5)
MAX_PERCENT = Decimal("1e4")  # discounts Numeric(7, 3)
MAX_LINE_NO = 2_147_483_647  # an INTEGER column


@overload
def to_decimal(
    value: Any,
    name: str,
    errors: dict[str, str],
    *,
    required: bool = ...,
    default: Decimal = ...,
    limit: Decimal = ...,
) -> Decimal: ...
@overload
def to_decimal(
    value: Any,
    name: str,
    errors: dict[str, str],
    *,
    required: bool = ...,
    default: None,
    limit: Decimal = ...,
) -> Decimal | None: ...
def to_decimal(
    value: Any,
    name: str,
    errors: dict[str, str],
    *,
    required: bool = False,
    default: Decimal | None = Decimal("0"),
    limit: Decimal = MAX_NUMBER,
) -> Decimal | None:
    """Parse a number given as JSON number or string ("1234.5"; also Italian "1.234,50")."""
    if value is None or value == "":
        if required:
            errors[name] = "campo obbligatorio"
        return default
    if isinstance(value, bool):
        errors[name] = "deve essere un numero"
        return default
    text = str(value).strip()
    if re.fullmatch(r"-?\d{1,3}(\.\d{3})+(,\d+)?|-?\d+,\d+", text):
        text = text.replace(".", "").replace(",", ".")
    try:
        number = Decimal(text)
    except InvalidOperation:
        errors[name] = f"«{value}» non è un numero"
        return default
    if not number.is_finite() or abs(number) >= limit:
        errors[name] = "numero fuori dai limiti"
        return default
    return number


def to_date(value: Any, name: str, errors: dict[str, str], *, required: bool = False) -> date | None:
    """Parse YYYY-MM-DD (or dd/mm/yyyy)."""
    if not value:
        if required:
            errors[name] = "campo obbligatorio (AAAA-MM-GG)"
        return None
    text = str(value).strip()
    match = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
    if match:
        text = f"{match.group(3)}-{int(match.group(2)):02d}-{int(match.group(1)):02d}"
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        errors[name] = f"«{value}» non è una data valida (AAAA-MM-GG)"
        return None


# A line break in a one-line value (a name, a number) ends up in an e-mail header («embedded header»).
LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x85\u2028\u2029]")


def to_text(
    value: Any,
    name: str,
    errors: dict[str, str],
    *,
    max_len: int,
    required: bool = False,
    multiline: bool = False,
) -> str:
    """A trimmed string no longer than max_len; one line unless ``multiline``."""
    if value is None:
        value = ""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        errors[name] = "deve essere un testo"
        return ""
    text = str(value).strip()
    if required and not text:
        errors[name] = "campo obbligatorio"
    elif len(text) > max_len:
        errors[name] = f"al massimo {max_len} caratteri"
    elif not multiline and LINE_BREAKS.search(text):
        errors[name] = "non può contenere un a capo (va su una sola riga)"
    return text[:max_len]


@overload
def money(value: Decimal) -> Decimal: ...
@overload
def money(value: None) -> None: ...
@overload
def money(value: Decimal | None) -> Decimal | None: ...
def money(value: Decimal | None) -> Decimal | None:
    """Round to cents (half up, as invoices do)."""
    return None if value is None else Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------- validation of JSON payloads


def parse_document_payload(payload: Any) -> DocumentInput:
    """Validate a JSON document as the API receives it; raise IntakeError naming every bad field."""
    errors: dict[str, str] = {}
    if not isinstance(payload, dict):
        raise IntakeError({"body": "serve un oggetto JSON"})
    type_code = to_text(payload.get("type"), "type", errors, max_len=32, required=True).upper()
    if type_code and type_code not in DOCUMENT_TYPE_CODES:
        errors["type"] = f"tipo sconosciuto «{type_code}»; ammessi: {', '.join(DOCUMENT_TYPE_CODES)}"
    number = to_text(payload.get("number"), "number", errors, max_len=40, required=True)
    doc_date = to_date(payload.get("date"), "date", errors, required=True)
    year = payload.get("year")
    if year in (None, ""):
        year = doc_date.year if doc_date else 0
    elif not isinstance(year, int) or isinstance(year, bool) or not 1900 <= year <= 2200:
        errors["year"] = "anno non valido"
        year = 0
    party_code = to_text(payload.get("party_code"), "party_code", errors, max_len=32, required=True)
    currency = to_text(payload.get("currency") or "EUR", "currency", errors, max_len=3).upper()
    if currency and not re.fullmatch(r"[A-Z]{3}", currency):
        errors["currency"] = "codice valuta ISO di 3 lettere (es. EUR)"
    data = DocumentInput(
        type_code=type_code,
        number=number,
        date=doc_date or date(1970, 1, 1),
        year=year,
        party_code=party_code,
        currency=currency or "EUR",
    )
    lines = payload.get("lines") or []
    if not isinstance(lines, list):
        errors["lines"] = "deve essere una lista"
        lines = []
    if len(lines) > MAX_LINES:
        errors["lines"] = f"al massimo {MAX_LINES} righe"
        lines = []
    for index, raw in enumerate(lines):
        data.lines.append(_parse_line(raw, index, errors))
    computed_net = sum((line["amount"] for line in data.lines), Decimal("0"))
    computed_vat = sum((line["amount"] * line["vat_rate"] / 100 for line in data.lines), Decimal("0"))
    data.total_net = money(to_decimal(payload.get("total_net"), "total_net", errors, default=computed_net))
    data.total_vat = money(to_decimal(payload.get("total_vat"), "total_vat", errors, default=computed_vat))
    data.total = money(
        to_decimal(payload.get("total"), "total", errors, default=data.total_net + data.total_vat)
    )
    data.open_amount = money(to_decimal(payload.get("open_amount"), "open_amount", errors, default=None))
    for key in ("total_net", "total_vat", "total"):  # the defaults are sums: check them too
        if abs(getattr(data, key)) >= MAX_NUMBER:
            errors[key] = "numero fuori dai limiti"
            setattr(data, key, Decimal("0"))
    for name, item in _objects(payload.get("due_dates"), "due_dates", "{date, amount, method}", errors):
        due_date = to_date(item.get("date"), f"{name}.date", errors, required=True)
        amount = to_decimal(item.get("amount"), f"{name}.amount", errors, required=True)
        method = to_text(item.get("method"), f"{name}.method", errors, max_len=80)
        if due_date and amount is not None:
            data.due_dates.append(
                {"date": due_date.isoformat(), "amount": str(money(amount)), "method": method}
            )
    extra = payload.get("extra") or {}
    if not isinstance(extra, dict):
        errors["extra"] = "deve essere un oggetto"
        extra = {}
    from ..document_extra import validate_extra  # it uses this module's parsers

    data.extra = validate_extra(extra, errors)
    data.attachments = _parse_attachments(payload.get("attachments"), errors)
    if errors:
        raise IntakeError(errors)
    return data


MAX_ATTACHMENTS = 20


def _objects(
    raw: Any, field_name: str, shape: str, errors: dict[str, str], limit: int | None = None
) -> Iterator[tuple[str, dict]]:
    """(``field[i]``, item) for each object of a JSON list; errors name the list or the item."""
    if not raw:
        return
    if not isinstance(raw, list) or (limit is not None and len(raw) > limit):
        errors[field_name] = "deve essere una lista" + (
            f" di al massimo {limit} oggetti {shape}" if limit else ""
        )
        return
    for index, item in enumerate(raw):
        name = f"{field_name}[{index}]"
        if not isinstance(item, dict):
            errors[name] = f"deve essere un oggetto {shape}"
            continue
        yield name, item


def _parse_attachments(raw: Any, errors: dict[str, str]) -> list[tuple[str, bytes, str]]:
    """[{filename, content_base64}] checked as generic uploads are (by content: no programs, HTML, macros)."""
    from ..generic_documents import UploadError, check_upload

    out = []
    for name, item in _objects(raw, "attachments", "{filename, content_base64}", errors, MAX_ATTACHMENTS):
        filename = to_text(item.get("filename"), f"{name}.filename", errors, max_len=255, required=True)
        try:
            content = base64.b64decode(item.get("content_base64") or "", validate=True)
        except (binascii.Error, ValueError, TypeError):
            errors[name] = f"«{filename}»: content_base64 non è base64 valido"
            continue
        try:
            checked = check_upload(content, filename)
        except UploadError as exc:
            errors[name] = f"«{filename}»: {exc}"
            continue
        out.append((checked.filename, checked.data, checked.content_type))
    return out


def _parse_line(raw: Any, index: int, errors: dict[str, str]) -> dict:
    """Validate one document line; amount defaults to quantity × price less discount."""
    name = f"lines[{index}]"
    if not isinstance(raw, dict):
        errors[name] = "deve essere un oggetto"
        return {"amount": Decimal("0"), "vat_rate": Decimal("0")}
    quantity = to_decimal(
        raw.get("quantity"), f"{name}.quantity", errors, default=Decimal("0"), limit=MAX_QUANTITY
    )
    price = to_decimal(
        raw.get("unit_price"), f"{name}.unit_price", errors, default=Decimal("0"), limit=MAX_QUANTITY
    )
    discount = to_decimal(
        raw.get("discount_pct"), f"{name}.discount_pct", errors, default=Decimal("0"), limit=MAX_PERCENT
    )
    vat_rate = to_decimal(raw.get("vat_rate"), f"{name}.vat_rate", errors, default=Decimal("22"))
    if vat_rate is not None and not Decimal("0") <= vat_rate <= Decimal("100"):
        errors[f"{name}.vat_rate"] = "aliquota tra 0 e 100"
    zero = Decimal("0")
    default_amount = (quantity or zero) * (price or zero) * (1 - (discount or zero) / 100)
    amount = to_decimal(raw.get("amount"), f"{name}.amount", errors, default=default_amount)
    if (
        amount is not None and abs(amount) >= MAX_NUMBER
    ):  # the default, quantity × price, is not checked above
        errors[f"{name}.amount"] = "numero fuori dai limiti"
        amount = Decimal("0")
    line_no = raw.get("line_no", index + 1)
    if not isinstance(line_no, int) or isinstance(line_no, bool) or not 0 <= line_no <= MAX_LINE_NO:
        errors[f"{name}.line_no"] = f"deve essere un intero da 0 a {MAX_LINE_NO}"
        line_no = index + 1
    return {
        "line_no": line_no,
        "product_code": to_text(raw.get("product_code"), f"{name}.product_code", errors, max_len=40),
        "description": to_text(
            raw.get("description"), f"{name}.description", errors, max_len=4000, multiline=True
        ),
        "quantity": quantity or Decimal("0"),
        "unit": to_text(raw.get("unit"), f"{name}.unit", errors, max_len=10),
        "unit_price": price or Decimal("0"),
        "discount_pct": discount or Decimal("0"),
        "vat_rate": vat_rate if vat_rate is not None else Decimal("22"),
        "amount": money(amount) or Decimal("0"),
    }


def parse_party_payload(payload: Any) -> dict:
    """Validate a JSON party; raise IntakeError naming every bad field."""
    from stdnum.it import codicefiscale, iva

    errors: dict[str, str] = {}
    if not isinstance(payload, dict):
        raise IntakeError({"body": "serve un oggetto JSON"})
    out = {
        "erp_code": to_text(payload.get("code"), "code", errors, max_len=32, required=True),
        "name": to_text(payload.get("name"), "name", errors, max_len=200, required=True),
        "kind": to_text(payload.get("kind") or "customer", "kind", errors, max_len=10),
        "vat_number": to_text(payload.get("vat_number"), "vat_number", errors, max_len=20).upper(),
        "tax_code": to_text(payload.get("tax_code"), "tax_code", errors, max_len=20).upper(),
        "address": to_text(payload.get("address"), "address", errors, max_len=200),
        "zip_code": to_text(payload.get("zip_code"), "zip_code", errors, max_len=10),
        "city": to_text(payload.get("city"), "city", errors, max_len=100),
        "province": to_text(payload.get("province"), "province", errors, max_len=2).upper(),
        "country": to_text(payload.get("country") or "IT", "country", errors, max_len=2).upper(),
        "language": to_text(payload.get("language") or "it", "language", errors, max_len=2).lower(),
    }
    if out["kind"] not in PARTY_KINDS:
        errors["kind"] = "customer, supplier o both"
    vat = out["vat_number"].removeprefix("IT") if out["country"] == "IT" else out["vat_number"]
    if vat and out["country"] == "IT" and not iva.is_valid(vat):
        errors["vat_number"] = (
            f"partita IVA «{out['vat_number']}» non valida (11 cifre con cifra di controllo)"
        )
    out["vat_number"] = vat
    tax = out["tax_code"]
    if tax and out["country"] == "IT" and not (iva.is_valid(tax) or codicefiscale.is_valid(tax)):
        errors["tax_code"] = f"codice fiscale «{tax}» non valido"
    if errors:
        raise IntakeError(errors)
    return out
