"""Documents and parties handed over by the ERP: validation and upsert (API, FatturaPA, spool).

Every intake path ends here, so the rules are the same everywhere: a document is identified by
type + year + number (sending it again updates it, never duplicates it), a party by its ERP code.
Validation collects errors per field (``lines[2].quantity``) before anything is written.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from ..extensions import db
from ..models import (
    Contact,
    Delivery,
    Document,
    DocumentAttachment,
    DocumentLine,
    DocumentType,
    Party,
    Product,
    delivery_documents,
)
from ..reference import DOCUMENT_TYPE_CODES
from .audit import audit
from .blobs import store_blob
from .document_versions import capture, keep_if_changed

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
    from .document_extra import validate_extra  # it uses this module's parsers

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
    from .generic_documents import UploadError, check_upload

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


# ---------------------------------------------------------------- writing


def upsert_party(values: dict) -> tuple[Party, bool]:
    """Create or update the party with this ERP code; returns (party, created)."""
    party = db.session.scalar(db.select(Party).where(Party.erp_code == values["erp_code"]))
    created = party is None
    if created:
        party = Party(erp_code=values["erp_code"], name=values["name"])
        db.session.add(party)
    for key, value in values.items():
        setattr(party, key, value)
    db.session.flush()
    return party, created


def find_party(vat_number: str = "", tax_code: str = "") -> Party | None:
    """The party with this P.IVA, else with this codice fiscale (either column), else None."""
    for value in (vat_number, tax_code):
        if not value:
            continue
        party = db.session.scalar(
            db.select(Party)
            .where(db.or_(Party.vat_number == value, Party.tax_code == value))
            .order_by(Party.id)
            .limit(1)
        )
        if party is not None:
            return party
    return None


def ensure_pec_contact(party: Party, address: str, type_code: str = "FATTURA") -> Contact:
    """The party's PEC contact for this address (created when missing) receives the document type."""
    address = address.strip().lower()
    contact = db.session.scalar(
        db.select(Contact).where(Contact.party_id == party.id, db.func.lower(Contact.email) == address)
    )
    if contact is None:
        contact = Contact(
            party_id=party.id,
            name="PEC fatturazione",
            email=address,
            is_pec=True,
            pec_flag_manual=True,
            privacy_level=0,
            notes="Da PECDestinatario della FatturaPA",
        )
        db.session.add(contact)
    contact.is_pec = True
    doc_type = db.session.get(DocumentType, type_code)
    if doc_type is not None and doc_type not in contact.document_types:
        contact.document_types.append(doc_type)
    db.session.flush()
    return contact


def _product_for(code: str, description: str, unit: str) -> Product | None:
    """The product with this code, created on first sight so sales statistics can use it."""
    if not code:
        return None
    product = db.session.scalar(db.select(Product).where(Product.code == code))
    if product is None:
        product = Product(code=code, description=description[:250], unit=(unit or "PZ")[:10])
        db.session.add(product)
        db.session.flush()
    return product


class DocumentConflict(IntakeError):
    """The document exists for another party or with other totals, and no replacement was asked for."""


def _described(type_code: str, number: str, year: int) -> str:
    """«FATTURA n. 2024/15 del 2024»."""
    return f"{type_code} n. {number} del {year}"


def _party_and_total(party: Party, total: Decimal, currency: str) -> str:
    """«Rossi S.r.l.» (C0001), totale 30,50 €."""
    from ..formatting import it_money

    return f"«{party.name}» ({party.erp_code}), totale {it_money(total, currency)}"


def _content_key(document: Document) -> str:
    """What a rendered PDF depends on, to tell whether an update changes it."""
    lines = [
        (
            line.line_no,
            line.product_code,
            line.description,
            Decimal(line.quantity),
            line.unit,
            Decimal(line.unit_price),
            Decimal(line.discount_pct),
            Decimal(line.vat_rate),
            Decimal(line.amount),
        )
        for line in document.lines
    ]
    return json.dumps(
        [
            document.party_id,
            str(document.date),
            document.currency,
            str(money(document.total_net)),
            str(money(document.total_vat)),
            str(money(document.total)),
            str(money(document.open_amount)),
            document.due_dates or [],
            document.extra or {},
            [[str(x) for x in line] for line in lines],
        ],
        sort_keys=True,
        default=str,
    )


def upsert_document(
    data: DocumentInput,
    *,
    source: str,
    source_ref: str = "",
    replace: bool = False,
    replace_hint: str = "",
    actor: str = "",
) -> tuple[Document, bool]:
    """Create or update the document type+year+number; returns (document, created). Caller commits.

    The very same document again (same party, same totals) updates it. Another party or other totals
    raise DocumentConflict naming both, unless ``replace`` (audited as document.replace; refused while
    the document is in deliveries queued or being sent, which would carry it unseen). Lines and
    attachments are replaced as a whole. A PDF we rendered earlier is dropped when the content changes
    (ensure_pdfs renders it again); a PDF given by the ERP is stored as is. When the document had been
    sent, the files that went out are kept as a DocumentVersion before they change. ``actor`` names
    who replaced it when there is no logged-in user (e.g. «api:gestionale»).
    """
    party = data.party
    if party is None:
        party = db.session.scalar(db.select(Party).where(Party.erp_code == data.party_code))
        if party is None:
            raise IntakeError({"party_code": f"anagrafica «{data.party_code}» sconosciuta: caricala prima"})
    document = db.session.scalar(
        db.select(Document).where(
            Document.type_code == data.type_code, Document.year == data.year, Document.number == data.number
        )
    )
    created = document is None
    replaced: dict = {}
    before = None
    if created:
        document = Document(type_code=data.type_code, year=data.year, number=data.number)
        db.session.add(document)
    else:
        old_party = document.party
        if document.party_id != party.id or any(
            money(getattr(document, k)) != money(getattr(data, k))
            for k in ("total_net", "total_vat", "total")
        ):
            if not replace:
                raise DocumentConflict(
                    {
                        "number": (
                            f"{_described(data.type_code, data.number, data.year)} esiste già per "
                            f"{_party_and_total(old_party, document.total, document.currency)}; quello importato è per "
                            f"{_party_and_total(party, data.total, data.currency)}. Non è stato sostituito"
                            f"{': ' + replace_hint if replace_hint else ' (chiedi esplicitamente la sostituzione)'}."
                        )
                    }
                )
            leaving = db.session.scalar(
                db.select(db.func.count())
                .select_from(delivery_documents)
                .join(Delivery, Delivery.id == delivery_documents.c.delivery_id)
                .where(
                    delivery_documents.c.document_id == document.id,
                    Delivery.status.in_(("queued", "sending")),
                )
            )
            if leaving:
                raise IntakeError(
                    {
                        "number": (
                            f"{_described(data.type_code, data.number, data.year)} è in corso di invio ({leaving} messaggi in "
                            "coda): non si può sostituire ora. Aspetta la fine dell'invio o annullalo, poi riprova."
                        )
                    }
                )
            replaced = {
                "old_party": old_party.erp_code,
                "new_party": party.erp_code,
                "old_party_name": old_party.name,
                "new_party_name": party.name,
                "old_total": str(money(document.total)),
                "new_total": str(money(data.total)),
                "source": source,
                "source_ref": source_ref[:255],
            }
        before = capture(document)
        old_content = _content_key(document)
    document.date = data.date
    document.party_id = party.id
    document.party = party
    document.currency = data.currency
    document.total_net = data.total_net
    document.total_vat = data.total_vat
    document.total = data.total
    document.open_amount = data.open_amount
    document.due_dates = data.due_dates
    document.extra = data.extra
    document.source = source
    document.source_ref = source_ref[:255]
    document.lines = [_make_line(line) for line in data.lines]
    if data.pdf is not None:
        document.pdf_sha256 = store_blob(data.pdf, "application/pdf")
        document.pdf_rendered = False
    elif created or (document.pdf_rendered and _content_key(document) != old_content):
        document.pdf_sha256 = None
        document.pdf_rendered = False
    document.attachments = [
        DocumentAttachment(filename=name[:255], blob_sha256=store_blob(content, ctype))
        for name, content, ctype in data.attachments
    ]
    db.session.flush()
    version = keep_if_changed(document, before, superseded_by=source)
    if replaced:
        audit(
            "document.replace",
            document,
            username=actor[:64],
            version_kept=version.number if version else None,
            **replaced,
        )
    return document, created


def _make_line(line: dict) -> DocumentLine:
    """A DocumentLine from validated values, linked to its product when it has a code."""
    product = _product_for(line["product_code"], line["description"], line["unit"])
    return DocumentLine(
        line_no=line["line_no"],
        product_id=product.id if product else None,
        product_code=line["product_code"],
        description=line["description"],
        quantity=line["quantity"],
        unit=line["unit"],
        unit_price=line["unit_price"],
        discount_pct=line["discount_pct"],
        vat_rate=line["vat_rate"],
        amount=line["amount"],
    )


def document_as_dict(document: Document) -> dict:
    """The JSON shape of a document (API answers)."""
    return {
        "id": document.id,
        "type": document.type_code,
        "number": document.number,
        "year": document.year,
        "date": document.date.isoformat(),
        "party_code": document.party.erp_code if document.party else None,
        "currency": document.currency,
        "total_net": str(document.total_net),
        "total_vat": str(document.total_vat),
        "total": str(document.total),
        "open_amount": None if document.open_amount is None else str(document.open_amount),
        "due_dates": document.due_dates or [],
        "extra": document.extra or {},
        "source": document.source,
        "sdi_file_name": document.sdi_file_name,
        "has_pdf": bool(document.pdf_sha256),
        "pdf_sha256": document.pdf_sha256,
        "pdf_rendered": document.pdf_rendered,
        "sent_at": document.sent_at.isoformat() + "Z" if document.sent_at else None,
        "lines": [
            {
                "line_no": line.line_no,
                "product_code": line.product_code,
                "description": line.description,
                "quantity": str(line.quantity),
                "unit": line.unit,
                "unit_price": str(line.unit_price),
                "discount_pct": str(line.discount_pct),
                "vat_rate": str(line.vat_rate),
                "amount": str(line.amount),
            }
            for line in document.lines
        ],
        "attachments": [{"filename": a.filename, "sha256": a.blob_sha256} for a in document.attachments],
    }
