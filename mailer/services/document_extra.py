"""The shape of `Document.extra`: what the PDF templates (mailer/pdf/render.py, templates/pdf/) and the
e-mail context (mail_templates.document_context) read from it, checked at intake.

A value of the wrong shape (``"open_items": "notalist"``) was stored as it came and made every later
preparation with that document fail. Here each known key is checked and normalised (numbers as
decimal strings "1234.50", dates as ISO "YYYY-MM-DD"); unknown keys pass untouched (the ERP may keep
its own data there, no template reads them).
"""

from __future__ import annotations

from typing import Any

from .intake import to_date, to_decimal

# Lists of objects, with the kind of each field the templates read (other fields pass untouched).
ITEM = {
    "number": "text",
    "date": "date",
    "due_date": "date",
    "amount": "number",
    "paid": "number",
    "balance": "number",
    "debit": "number",
    "credit": "number",
    "days_overdue": "int",
}
OBJECT_LISTS: dict[str, dict[str, str]] = {
    "open_items": ITEM,  # ESTRATTO_CONTO
    "overdue_items": ITEM,  # INSOLUTO
    "paid_items": ITEM,  # AVVISO_BONIFICO
    "references": {"kind": "text", "number": "text", "date": "date", "cig": "text", "cup": "text"},
    "vat_summary": {
        "rate": "number",
        "nature": "text",
        "taxable": "number",
        "tax": "number",
        "esigibilita": "text",
        "reference": "text",
    },
    "withholding": {"type": "text", "rate": "number", "amount": "number"},
    "payments": {
        "due_date": "date",
        "method": "text",
        "method_label": "text",
        "amount": "number",
        "iban": "text",
        "bank": "text",
        "beneficiary": "text",
    },
    "welfare_fund": {"type": "text", "rate": "number", "amount": "number"},
}
OBJECTS: dict[str, dict[str, str]] = {
    "customer": {},
    "supplier": {},
    "line_natures": {},
    "stamp_duty": {"amount": "number", "virtual": "text"},
    "fatturapa": {"bodies": "int", "body_index": "int"},
}
DATES = ("valid_until", "delivery_date", "value_date", "protocol_date", "as_of", "supplier_ddt_date")
NUMBERS = ("ceiling", "weight_kg", "open_balance", "overdue_total")
TEXTS = (
    "title",
    "subject",
    "body",
    "intro",
    "destination",
    "reference",
    "agent",
    "payment_terms",
    "delivery_terms",
    "delivery_address",
    "transport_reason",
    "carrier",
    "goods_appearance",
    "transport_start",
    "protocol",
    "period",
    "operation",
    "discrepancies",
    "supplier_ddt",
    "customer_order",
    "iban",
    "cro",
    "note",
    "packages",
    "level",
    "grace_days",
)
MAX_ITEMS = 5000


def _field(value: Any, kind: str, name: str, errors: dict[str, str]) -> Any:
    """One value checked against its kind; returns it normalised (or as it was, with an error recorded)."""
    if value is None or value == "":
        return value
    if kind == "number":
        number = to_decimal(value, name, errors, default=None)
        return value if number is None else str(number)
    if kind == "date":
        day = to_date(value, name, errors)
        return value if day is None else day.isoformat()
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool) or abs(value) > 1_000_000:
            errors[name] = "deve essere un numero intero"
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        errors[name] = "deve essere un testo"
    return value


def _object(value: Any, fields: dict[str, str], name: str, errors: dict[str, str]) -> Any:
    """An object whose known fields are checked."""
    if not isinstance(value, dict):
        errors[name] = "deve essere un oggetto {…}"
        return value
    return {
        key: _field(item, fields[key], f"{name}.{key}", errors) if key in fields else item
        for key, item in value.items()
    }


def validate_extra(extra: dict, errors: dict[str, str], prefix: str = "extra") -> dict:
    """`extra` with its known keys checked and normalised; problems go to `errors` as ``extra.open_items[2].amount``."""
    out = dict(extra)
    for key, fields in OBJECT_LISTS.items():
        value = extra.get(key)
        if value in (None, ""):
            continue
        name = f"{prefix}.{key}"
        if not isinstance(value, list):
            errors[name] = "deve essere una lista di oggetti [{…}, …]"
        elif len(value) > MAX_ITEMS:
            errors[name] = f"al massimo {MAX_ITEMS} elementi"
        else:
            out[key] = [_object(item, fields, f"{name}[{i}]", errors) for i, item in enumerate(value)]
    for key, fields in OBJECTS.items():
        if extra.get(key) not in (None, ""):
            out[key] = _object(extra[key], fields, f"{prefix}.{key}", errors)
    for keys, kind in ((DATES, "date"), (NUMBERS, "number"), (TEXTS, "text")):
        for key in keys:
            if key in extra:
                out[key] = _field(extra[key], kind, f"{prefix}.{key}", errors)
    notes = extra.get("notes")
    if notes not in (None, ""):
        if not isinstance(notes, list):
            errors[f"{prefix}.notes"] = "deve essere una lista di testi"
        else:
            for i, note in enumerate(notes):
                _field(note, "text", f"{prefix}.notes[{i}]", errors)
    if "show_prices" in extra and not isinstance(extra["show_prices"], bool):
        errors[f"{prefix}.show_prices"] = "deve essere true o false"
    return out
