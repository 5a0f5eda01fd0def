"""Writing what came in: parties by ERP code, documents by type + year + number (sending one again
updates it, never duplicates it; another party or other totals is a conflict unless replaced).
"""

from __future__ import annotations

import json
from decimal import Decimal

from ...extensions import db
from ...models import (
    Delivery,
    Document,
    DocumentAttachment,
    DocumentLine,
    Party,
    Product,
    delivery_documents,
)
from ..audit import audit
from ..blobs import store_blob
from ..document_versions import capture, keep_if_changed
from .payloads import DocumentInput, IntakeError, money


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
    from ...formatting import it_money

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
