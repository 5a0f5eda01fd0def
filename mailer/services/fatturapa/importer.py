"""Importing a FatturaPA file: its customer becomes (or matches) a party, its PECDestinatario a PEC
contact of that party (through the contacts service, with history), each body a Document; files
one by one, each in its own transaction.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ...extensions import db
from ...models import Company, Contact, Party
from ..audit import audit
from ..blobs import store_blob
from ..contacts import ensure_contact_for_address
from ..intake import DocumentConflict, DocumentInput, IntakeError, find_party, upsert_document
from ..validation import InvalidValue
from .parser import parse_fatturapa
from .reader import MAX_FILE_BYTES, FatturaPAError, _shown, unwrap


def customer_party(customer: dict) -> tuple[Party, bool]:
    """The party matching the customer's P.IVA or codice fiscale; created when missing."""
    vat, cf = customer.get("vat_number", ""), customer.get("tax_code", "")
    party = find_party(vat, cf)
    if party is not None:
        if party.kind == "supplier":
            party.kind = "both"
        return party, False
    base = f"FE-{vat or cf}"[:32]
    code, n = base, 1
    while db.session.scalar(db.select(Party.id).where(Party.erp_code == code)) is not None:
        n += 1
        code = f"{base[:28]}-{n}"
    country = (customer.get("country") or customer.get("vat_country") or "IT")[:2].upper()
    party = Party(
        erp_code=code,
        kind="customer",
        name=(customer.get("name") or vat or cf)[:200],
        vat_number=vat[:20],
        tax_code=cf[:20],
        address=customer.get("address", "")[:200],
        zip_code=customer.get("zip_code", "")[:10],
        city=customer.get("city", "")[:100],
        province=customer.get("province", "")[:2],
        country=country,
    )
    db.session.add(party)
    db.session.flush()
    return party, True


def _pec_contact(party: Party, address: str, filename: str) -> Contact:
    """The party's PEC contact for PECDestinatario, receiving invoices (through the contacts service)."""
    try:
        return ensure_contact_for_address(
            party,
            address,
            type_code="FATTURA",
            name="PEC fatturazione",
            notes="Da PECDestinatario della FatturaPA",
            origin=f"importazione FatturaPA {os.path.basename(filename)}".strip(),
            pec=True,
        )
    except InvalidValue as exc:
        raise FatturaPAError(f"PECDestinatario «{_shown(address)}»: {exc}") from exc


def check_issuer(supplier: dict) -> None:
    """With the company's P.IVA set, refuse a file issued by someone else (a supplier's invoice)."""
    company = db.session.get(Company, 1)  # not get_company(): it would commit in the middle of an import
    ours = (company.vat_number or "").strip().upper().removeprefix("IT") if company is not None else ""
    if not ours:
        return  # no company data: imported as before
    assert company is not None  # ours is empty without a company
    country = (supplier.get("vat_country") or "").upper()
    vat = (supplier.get("vat_number") or "").strip().upper().removeprefix("IT")
    ids = {vat} if country in ("", "IT") else set()
    ids.add((supplier.get("tax_code") or "").strip().upper())
    if ours in ids or (company.tax_code and company.tax_code.strip().upper() in ids):
        return
    who = f"«{supplier.get('name') or '?'}» (P.IVA {country}{vat or supplier.get('tax_code') or '?'})"
    raise FatturaPAError(
        f"fattura emessa da {who}, non dalla nostra azienda (P.IVA {ours} nei dati dell'azienda): "
        "è la fattura di un fornitore, non una nostra da inviare ai clienti"
    )


def import_fatturapa(
    data: bytes, filename: str, *, replace: bool = False, replace_hint: str = ""
) -> list[dict]:
    """Parse and write every body of a file (caller commits); returns one summary per document.

    A document with the same type/year/number of another customer or with other totals is refused
    (FatturaPAError naming both) unless ``replace``; with the company's P.IVA set, so is a file whose
    issuer (CedentePrestatore) is someone else.
    """
    invoices = parse_fatturapa(data, filename)
    check_issuer(invoices[0].supplier)
    xml_sha = store_blob(unwrap(data, filename), "application/xml")
    summaries = []
    for invoice in invoices:
        party, _created = customer_party(invoice.customer)
        if invoice.pec_destinatario:
            _pec_contact(party, invoice.pec_destinatario, filename)
        lines = [{k: v for k, v in line.items() if k != "nature"} for line in invoice.lines]
        invoice.extra["fatturapa"]["xml_sha256"] = xml_sha
        invoice.extra["line_natures"] = {
            str(line["line_no"]): line["nature"] for line in invoice.lines if line["nature"]
        }
        data_in = DocumentInput(
            type_code=invoice.document_type,
            number=invoice.number,
            date=invoice.date,
            year=invoice.date.year,
            party=party,
            currency=invoice.currency[:3],
            total_net=invoice.total_net,
            total_vat=invoice.total_vat,
            total=invoice.total,
            due_dates=invoice.due_dates,
            extra=invoice.extra,
            lines=lines,
            attachments=invoice.attachments,
        )
        try:
            document, created = upsert_document(
                data_in,
                source="fatturapa",
                source_ref=os.path.basename(filename),
                replace=replace,
                replace_hint=replace_hint,
            )
        except DocumentConflict as exc:
            raise FatturaPAError(exc.errors["number"]) from exc
        except IntakeError as exc:
            raise FatturaPAError(str(exc)) from exc
        document.sdi_file_name = os.path.basename(filename)[:255] or None  # SdI notifications name it
        summaries.append(
            {
                "file": filename,
                "document_type": invoice.document_type,
                "tipo_documento": invoice.tipo_documento,
                "number": invoice.number,
                "date": invoice.date.isoformat(),
                "total": f"{invoice.total:.2f}",
                "currency": invoice.currency,
                "customer_name": invoice.customer.get("name", ""),
                "customer_vat": invoice.customer.get("vat_number") or None,
                "customer_cf": invoice.customer.get("tax_code") or None,
                "lines": len(invoice.lines),
                "attachments": len(invoice.attachments),
                "_document_id": document.id,
                "_created": created,
            }
        )
    return summaries


def import_fatturapa_paths(
    paths: list[str], replace: bool = False, replace_hint: str = ""
) -> tuple[list[dict], bool]:
    """Import files one by one, each in its own transaction; returns (results, all ok).

    A file that fails gives ``{"file", "error"}`` and is rolled back alone; the others are imported.
    """

    def one(data: bytes, path: str) -> list[dict]:
        summaries = import_fatturapa(data, path, replace=replace, replace_hint=replace_hint)
        for summary in summaries:
            audit(
                "document.import_fatturapa",
                None,
                file=os.path.basename(path),
                number=summary["number"],
                document_id=summary["_document_id"],
            )
        return summaries

    return import_files(paths, one, FatturaPAError)


def import_files(
    paths: list[str], import_one: Callable[[bytes, str], list[dict]], error_class: type[Exception]
) -> tuple[list[dict], bool]:
    """Run ``import_one(data, path) -> [summary, ...]`` on each file in its own transaction; (results, all ok).

    A file that fails (``error_class`` or unreadable) gives ``{"file", "error"}`` and is rolled back alone.
    """
    results, ok = [], True
    for path in paths:
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
            summaries = import_one(data, path)
            db.session.commit()
            results.extend(summaries)
        except (error_class, OSError) as exc:
            db.session.rollback()
            ok = False
            if isinstance(exc, OSError) and not isinstance(exc, error_class):
                reason = f"file non leggibile ({exc.strerror or exc})"
            else:
                reason = str(exc)
            results.append({"file": path, "error": reason})
    return results, ok


def public_summary(summary: dict) -> dict:
    """The summary without internal keys (what the CLI prints)."""
    return {k: v for k, v in summary.items() if not k.startswith("_")}
