"""Documents → HTML (one Italian template per type) → PDF; ``ensure_pdfs`` stores what is missing."""

from __future__ import annotations

import base64
from collections import OrderedDict
from datetime import date
from decimal import Decimal

from flask import current_app
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Blob, Company, Document
from ..services.blobs import store_blob
from .engine import html_to_pdfs

TEMPLATES = {
    "DDT": "pdf/ddt.html",
    "FATTURA": "pdf/fattura.html",
    "NOTA_CREDITO": "pdf/nota_credito.html",
    "OFFERTA": "pdf/offerta.html",
    "ORDINE_CLIENTE": "pdf/ordine_cliente.html",
    "ORDINE_FORNITORE": "pdf/ordine_fornitore.html",
    "ENTRATA_MERCE": "pdf/entrata_merce.html",
    "ESTRATTO_CONTO": "pdf/estratto_conto.html",
    "AVVISO_BONIFICO": "pdf/avviso_bonifico.html",
    "INSOLUTO": "pdf/insoluto.html",
    "DICHIARAZIONE_INTENTO": "pdf/dichiarazione_intento.html",
    "GENERICO": "pdf/generico.html",
}
LOGO_TYPES = {"image/png", "image/jpeg", "image/gif", "image/svg+xml"}
D0 = Decimal("0")


def _dec(value, default: Decimal = D0) -> Decimal:
    """Decimal from a stored string/number ('' and None give default)."""
    if value in (None, ""):
        return default
    try:
        return Decimal(str(value))
    except (ArithmeticError, ValueError):  # a malformed value in `extra` must not stop the rendering
        return default


def logo_data_uri(company: Company | None) -> str:
    """The company logo as a data: URI (local file access is off in wkhtmltopdf)."""
    if company is None or not company.logo_sha256:
        return ""
    blob = db.session.get(Blob, company.logo_sha256)
    if blob is None or blob.content_type not in LOGO_TYPES:
        return ""
    return f"data:{blob.content_type};base64,{base64.b64encode(blob.data).decode()}"


def _issuer(document: Document, company: Company, logo: str) -> dict:
    """Who issued the document: the FatturaPA supplier for imported e-invoices, else our company."""
    supplier = (document.extra or {}).get("supplier") if document.source == "fatturapa" else None
    if supplier:
        ours = company.vat_number and company.vat_number.removeprefix("IT") == supplier.get("vat_number")
        return {
            "name": supplier.get("name", ""),
            "address": supplier.get("address", ""),
            "zip_code": supplier.get("zip_code", ""),
            "city": supplier.get("city", ""),
            "province": supplier.get("province", ""),
            "country": supplier.get("country", ""),
            "vat_number": ((supplier.get("vat_country") or "") + supplier.get("vat_number", ""))
            if supplier.get("vat_number")
            else "",
            "tax_code": supplier.get("tax_code", ""),
            "phone": supplier.get("phone", ""),
            "email": supplier.get("email", ""),
            "website": "",
            "iban": "",
            "rea": supplier.get("rea", ""),
            "logo": logo if ours else "",
        }
    return {
        "name": company.name,
        "address": company.address,
        "zip_code": company.zip_code,
        "city": company.city,
        "province": company.province,
        "country": "",
        "vat_number": company.vat_number,
        "tax_code": company.tax_code,
        "phone": company.phone,
        "email": company.email,
        "website": company.website,
        "iban": company.iban,
        "rea": "",
        "logo": logo,
    }


def _vat_summary(document: Document) -> list[dict]:
    """VAT summary from `extra` (FatturaPA, ERP) or computed from the lines, per rate."""
    given = (document.extra or {}).get("vat_summary")
    if given:
        return [
            {
                "rate": _dec(r.get("rate")),
                "nature": r.get("nature", ""),
                "taxable": _dec(r.get("taxable")),
                "tax": _dec(r.get("tax")),
                "esigibilita": r.get("esigibilita", ""),
                "reference": r.get("reference", ""),
            }
            for r in given
        ]
    buckets: OrderedDict[Decimal, list[Decimal]] = OrderedDict()
    for line in document.lines:
        bucket = buckets.setdefault(Decimal(line.vat_rate), [D0, D0])
        bucket[0] += Decimal(line.amount)
    out = []
    for rate, (taxable, _tax) in sorted(buckets.items()):
        out.append(
            {
                "rate": rate,
                "nature": "",
                "taxable": taxable,
                "tax": (taxable * rate / 100).quantize(Decimal("0.01")),
                "esigibilita": "",
                "reference": "",
            }
        )
    return out


def _running_items(items: list[dict]) -> tuple[list[dict], Decimal]:
    """Open items with a running balance (debit adds, credit subtracts; `amount` is signed)."""
    balance = D0
    rows = []
    for item in items or []:
        debit = _dec(item.get("debit"))
        credit = _dec(item.get("credit"))
        if not item.get("debit") and not item.get("credit"):
            amount = _dec(item.get("amount"))
            debit, credit = (amount, D0) if amount >= 0 else (D0, -amount)
        balance += debit - credit
        rows.append({**item, "debit": debit, "credit": credit, "balance": balance})
    return rows, balance


def _overdue_items(items: list[dict], as_of: date) -> tuple[list[dict], Decimal]:
    """Overdue items with days late at the letter's date, and their total."""
    rows, total = [], D0
    for item in items or []:
        amount = _dec(item.get("amount"))
        days = item.get("days_overdue")
        if days in (None, "") and item.get("due_date"):
            try:
                days = (as_of - date.fromisoformat(str(item["due_date"])[:10])).days
            except ValueError:
                days = ""
        total += amount
        rows.append({**item, "amount": amount, "days_overdue": days})
    return rows, total


def build_context(document: Document, company: Company, logo: str) -> dict:
    """Everything a PDF template needs, computed once (totals, VAT summary, balances)."""
    extra = dict(document.extra or {})
    withholding = [{**w, "amount": _dec(w.get("amount"))} for w in extra.get("withholding") or []]
    payments = extra.get("payments") or []
    withheld = sum((w["amount"] for w in withholding), D0)
    if payments and any(p.get("amount") for p in payments):
        to_pay = sum((_dec(p.get("amount")) for p in payments), D0)
    else:
        to_pay = Decimal(document.total) - withheld
    stamp = extra.get("stamp_duty") or None
    open_items, statement_balance = _running_items(extra.get("open_items") or [])
    overdue, overdue_total = _overdue_items(extra.get("overdue_items") or [], document.date)
    fatturapa = extra.get("fatturapa") or {}
    party = document.party
    return {
        "doc": document,
        "type_code": document.type_code,
        "type_name": document.type.name if document.type else document.type_code,
        "extra": extra,
        "issuer": _issuer(document, company, logo),
        "party": party,
        "customer_snapshot": extra.get("customer") or {},
        "lines": document.lines,
        "show_prices": extra.get("show_prices", document.type_code not in ("DDT", "ENTRATA_MERCE")),
        "vat_summary": _vat_summary(document),
        "withholding": withholding,
        "withheld": withheld,
        "to_pay": to_pay,
        "stamp": stamp,
        "welfare": extra.get("welfare_fund") or [],
        "payments": payments,
        "due_dates": document.due_dates or [],
        "payment_terms": extra.get("payment_terms", ""),
        "notes": extra.get("notes") or ([extra["note"]] if extra.get("note") else []),
        "references": extra.get("references") or [],
        "fatturapa": fatturapa,
        "is_courtesy_copy": document.type_code in ("FATTURA", "NOTA_CREDITO"),
        "open_items": open_items,
        "statement_balance": statement_balance,
        "overdue_items": overdue,
        "overdue_total": overdue_total,
        "line_natures": extra.get("line_natures") or {},
        "currency": document.currency,
    }


def render_document_html(document: Document, company: Company | None = None, logo: str | None = None) -> str:
    """The HTML of a document's PDF (also usable as an HTML preview)."""
    if company is None:
        from ..services.reference import get_company

        company = get_company()
    if logo is None:
        logo = logo_data_uri(company)
    template = TEMPLATES.get(document.type_code, "pdf/generico.html")
    # The Jinja environment directly: no request context processors (works in jobs and the CLI).
    return current_app.jinja_env.get_template(template).render(**build_context(document, company, logo))


def _stamp(document: Document) -> bytes:
    """The fixed CreationDate of a document's PDF: its own date at midnight (reproducible)."""
    return document.date.strftime("%Y%m%d000000").encode()


def _preload(documents: list[Document], chunk: int = 500) -> None:
    """Load the documents' rows and lines in a few queries instead of one or two per document.

    Refreshes expired instances (e.g. after a commit) and fills their not yet loaded ``lines``; pending
    changes are flushed first (autoflush), as a lazy load would do.
    """
    ids = [d.id for d in documents if d.id is not None]
    for start in range(0, len(ids), chunk):
        db.session.scalars(
            db.select(Document)
            .where(Document.id.in_(ids[start : start + chunk]))
            .options(selectinload(Document.lines))
        ).unique().all()


def render_documents(documents: list[Document]) -> list[bytes]:
    """Render several documents to PDFs (same order); the bytes depend only on each document.

    The HTML of each document is produced while wkhtmltopdf already converts the previous ones.
    """
    from ..services.reference import get_company

    documents = list(documents)
    if not documents:
        return []
    company = get_company()
    logo = logo_data_uri(company)
    _preload(documents)
    stamps = [_stamp(d) for d in documents]
    pages = (render_document_html(d, company, logo) for d in documents)
    return html_to_pdfs(
        pages,
        count=len(documents),
        processes=int(current_app.config.get("PDF_PROCESSES", 2)),
        binary=current_app.config.get("WKHTMLTOPDF"),
        stamps=stamps,
    )


def render_document_pdf(document: Document) -> bytes:
    """One document's PDF (same bytes as when rendered in a batch)."""
    return render_documents([document])[0]


def ensure_pdfs(document_ids: list[int], chunk: int = 200) -> dict[int, str]:
    """Render and store the PDFs that are missing; return {document id: pdf sha256} for all found ids.

    Documents that already have a PDF (the ERP's own, or one rendered before) keep it: what was
    sent stays provable. Commits after each chunk, so a long run keeps its progress.
    """
    result: dict[int, str] = {}
    ids = list(dict.fromkeys(int(i) for i in document_ids))
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        documents = db.session.scalars(db.select(Document).where(Document.id.in_(part))).unique().all()
        missing = [d for d in documents if not d.pdf_sha256]
        for document in documents:
            if document.pdf_sha256:
                result[document.id] = document.pdf_sha256
        if missing:
            pdfs = render_documents(missing)
            for document, pdf in zip(missing, pdfs, strict=True):
                document.pdf_sha256 = store_blob(pdf, "application/pdf")
                document.pdf_rendered = True
                result[document.id] = document.pdf_sha256
            db.session.commit()
    return result
