"""The placeholder values of one e-mail: from documents, party, contact, user and account, or made up."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ... import formatting
from ...extensions import db
from ...models import TEMPLATE_LANGUAGES, Contact, Document, MailAccount, Party, User, utcnow


def _dec(value) -> Decimal | None:
    """Decimal from a number or decimal string; None when empty or invalid."""
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _day(value) -> date | None:
    """Date from a date or an ISO string; None when empty or invalid."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _items(raw, reference: date | None) -> list[dict]:
    """Open/overdue/paid items from Document.extra, as template dicts."""
    rows = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        amount = _dec(item.get("amount"))
        if amount is None and (item.get("debit") not in (None, "") or item.get("credit") not in (None, "")):
            amount = (_dec(item.get("debit")) or Decimal("0")) - (_dec(item.get("credit")) or Decimal("0"))
        paid = _dec(item.get("paid")) or Decimal("0")
        balance = _dec(item.get("balance"))
        if balance is None and amount is not None:
            balance = amount - paid
        due = _day(item.get("due_date"))
        late = (reference - due).days if (due and reference and due < reference) else 0
        if isinstance(item.get("days_overdue"), int):
            late = max(item["days_overdue"], 0)
        rows.append(
            {
                "numero": str(item.get("number") or ""),
                "data": _day(item.get("date")),
                "scadenza": due,
                "importo": amount,
                "pagato": paid,
                "residuo": balance,
                "scaduta": late > 0,
                "giorni_ritardo": late,
            }
        )
    return rows


def _sum(rows: list[dict], key: str) -> Decimal:
    """Sum of a decimal column."""
    return sum((r[key] or Decimal("0") for r in rows), Decimal("0"))


def _references(raw, language: str) -> str:
    """Linked documents (FatturaPA DatiOrdineAcquisto, DatiDDT…) as one short line: "Ordine n. 45 del 10/03/2026"."""
    parts = []
    for ref in (raw if isinstance(raw, list) else [])[:3]:
        if isinstance(ref, dict) and ref.get("number"):
            when = formatting.it_date(ref.get("date")) if ref.get("date") else ""
            joiner = (" no. ", " of ") if language == "en" else (" n. ", " del ")
            parts.append(
                f"{ref.get('kind') or ''}{joiner[0]}{ref['number']}{joiner[1] + when if when else ''}".strip()
            )
    return "; ".join(parts)


def document_context(doc: Document, language: str = "it") -> dict:
    """One document as the `documento` placeholder."""
    extra = doc.extra or {}
    scadenze = [
        {"data": _day(d.get("date")), "importo": _dec(d.get("amount")), "modalita": d.get("method") or ""}
        for d in (doc.due_dates or [])
        if isinstance(d, dict)
    ]
    dates = sorted(s["data"] for s in scadenze if s["data"])
    open_items = _items(extra.get("open_items"), doc.date)
    overdue = _items(extra.get("overdue_items"), doc.date)
    doc_type = doc.type
    return {
        "tipo": doc.type_code,
        "tipo_nome": (
            doc_type.name_en
            if language == "en" and doc_type and doc_type.name_en
            else (doc_type.name if doc_type else doc.type_code)
        ),
        "numero": doc.number,
        "anno": doc.year,
        "data": doc.date,
        "valuta": doc.currency or "EUR",
        "imponibile": doc.total_net,
        "iva": doc.total_vat,
        "totale": doc.total,
        "da_pagare": doc.open_amount if doc.open_amount is not None else doc.total,
        "scadenze": scadenze,
        "prima_scadenza": dates[0] if dates else None,
        "pagamento": payment_kind(
            [str(p.get("method") or "") for p in extra.get("payments") or [] if isinstance(p, dict)]
            + [str(s["modalita"] or "") for s in scadenze]
        ),
        "riferimento": str(extra.get("reference") or "") or _references(extra.get("references"), language),
        "protocollo": str(extra.get("protocol") or ""),
        "plafond": _dec(extra.get("ceiling")),
        "titolo": str(extra.get("title") or ""),
        "valida_fino": _day(extra.get("valid_until")),
        "righe": [
            {
                "codice": line.product_code,
                "descrizione": line.description,
                "quantita": line.quantity,
                "um": line.unit,
                "prezzo": line.unit_price,
                "importo": line.amount,
            }
            for line in doc.lines
        ],
        "partite_aperte": open_items,
        "saldo_aperto": _dec(extra.get("open_balance"))
        if extra.get("open_balance") not in (None, "")
        else _sum(open_items, "residuo"),
        "partite_scadute": overdue,
        "totale_scaduto": _dec(extra.get("overdue_total"))
        if extra.get("overdue_total") not in (None, "")
        else _sum(overdue, "residuo"),
        "partite_pagate": _items(extra.get("paid_items"), doc.date),
    }


def company_context() -> dict:
    """Our company as the `azienda` placeholder."""
    from ..reference import get_company

    c = get_company()
    return {
        "ragione_sociale": c.name,
        "indirizzo": c.address,
        "cap": c.zip_code,
        "citta": c.city,
        "provincia": c.province,
        "piva": c.vat_number,
        "codice_fiscale": c.tax_code,
        "telefono": c.phone,
        "email": c.email,
        "sito": c.website,
        "iban": c.iban,
    }


def party_context(party: Party) -> dict:
    """The customer or supplier as the `anagrafica` placeholder."""
    return {
        "codice": party.erp_code,
        "ragione_sociale": party.name,
        "piva": party.vat_number,
        "codice_fiscale": party.tax_code,
        "indirizzo": party.address,
        "cap": party.zip_code,
        "citta": party.city,
        "provincia": party.province,
        "nazione": party.country,
        "cliente": party.is_customer,
        "fornitore": party.is_supplier,
    }


# Words that make a contact's name a role or a mailbox («PEC amministrazione», «Ufficio acquisti», «info»),
# not a person: such a contact gets «Spettabile <ragione sociale>», never «Gentile PEC amministrazione».
ROLE_WORDS = {
    "pec",
    "amministrazione",
    "amministrativo",
    "amministrativa",
    "ufficio",
    "uff",
    "info",
    "informazioni",
    "contabilità",
    "contabilita",
    "acquisti",
    "vendite",
    "commerciale",
    "logistica",
    "magazzino",
    "direzione",
    "segreteria",
    "qualità",
    "qualita",
    "fatturazione",
    "fatture",
    "ordini",
    "spedizioni",
    "tesoreria",
    "personale",
    "reception",
    "centralino",
    "assistenza",
    "clienti",
    "fornitori",
    "posta",
    "certificata",
    "admin",
    "office",
    "accounting",
    "accounts",
    "purchasing",
    "sales",
    "support",
    "orders",
    "noreply",
    "no-reply",
    "mailbox",
    "casella",
    "generale",
    "staff",
    "team",
    "reparto",
    "settore",
    "servizio",
}


def is_person_name(name: str) -> bool:
    """True when the name looks like a person («Mario Rossi»), not a role, an office or an address."""
    bare = re.sub(r"\([^)]*\)", " ", name or "")  # «Anna Verdi (acquisti)»: the person, her office aside
    words = [w.strip(".,;:()-/") for w in bare.lower().split()]
    words = [w for w in words if w]
    if not words or "@" in name or any(ch.isdigit() for ch in name):
        return False
    return not any(w in ROLE_WORDS for w in words)


PAYMENT_KINDS = {
    "bonifico": ("MP05", "bonifico"),
    "riba": ("MP12", "riba", "ricevuta bancaria"),
    "addebito": (
        "MP09",
        "MP10",
        "MP11",
        "MP16",
        "MP17",
        "MP19",
        "MP20",
        "MP21",
        "rid",
        "sdd",
        "sepa",
        "domiciliazione",
        "addebito",
    ),
    "contanti": ("MP01", "MP04", "contanti"),
    "assegno": ("MP02", "MP03", "assegno"),
}


def payment_kind(methods: Iterable[str]) -> str:
    """How the document is paid, from FatturaPA ModalitaPagamento codes (MP01..MP23) or their names:
    bonifico, riba, addebito (RID / SEPA direct debit), contanti, assegno, altro; '' when not said."""
    found = ""
    for method in methods:
        text = (method or "").strip()
        if not text:
            continue
        low = text.lower()
        for kind, marks in PAYMENT_KINDS.items():
            if text.upper() in marks or any(m.islower() and m in low for m in marks):
                return kind
        found = "altro"
    return found


def contact_context(contact: Contact | None) -> dict:
    """The recipient as the `contatto` placeholder (empty values without a contact)."""
    return {
        "persona": bool(contact and is_person_name(contact.name)),
        "nome": contact.name if contact else "",
        "email": contact.email if contact else "",
        "funzione": contact.function.name if contact and contact.function else "",
        "telefono": contact.phone if contact else "",
    }


def build_context(
    documents: Iterable[Document | int],
    contact: Contact | None = None,
    party: Party | None = None,
    user: User | None = None,
    account: MailAccount | None = None,
    language: str | None = None,
) -> dict:
    """The placeholder values for one e-mail (see SCHEMA); documents are rows or ids, in display order."""
    found = [d if isinstance(d, Document) else db.session.get(Document, int(d)) for d in documents]
    docs = [d for d in found if d is not None]
    if not docs:
        raise ValueError("build_context needs at least one document")
    party = party or docs[0].party
    language = language or template_language(party)
    doc_dicts = [document_context(d, language) for d in docs]
    return {
        "azienda": company_context(),
        "anagrafica": party_context(party),
        "contatto": contact_context(contact),
        "documento": doc_dicts[0],
        "documenti": doc_dicts,
        "numero_documenti": len(doc_dicts),
        "totale_documenti": sum((d["totale"] or Decimal("0") for d in doc_dicts), Decimal("0")),
        "utente": {
            "nome": (user.full_name or user.username) if user else "",
            "email": user.email if user else "",
        },
        "mittente": {
            "nome": (account.from_name or account.name) if account else "",
            "email": account.from_address if account else "",
            "pec": bool(account and account.is_pec),
            "account_id": account.id if account else None,
        },
        "oggi": formatting.local_day(utcnow()),  # the day in Italy, as the reader's calendar
        "avviso_sdi": sdi_notice(docs),
    }


def sdi_notice(documents: list[Document]) -> str:
    """The type's MC text when the SdI could not deliver one of these invoices (MC), else ""."""
    from ..sdi import SDI_TYPES, fates, mc_text

    ids = [d.id for d in documents if d.sdi_file_name and d.type_code in SDI_TYPES]
    mc = [d for d in documents if d.id in {i for i, n in fates(ids).items() if n.kind == "MC"}]
    return mc_text(mc[0].type) if mc else ""


def sample_context(type_code: str = "FATTURA", sparse: bool = False, language: str = "it") -> dict:
    """A made-up context with every placeholder (sparse: optional data missing), for checks and previews."""
    today = date(2026, 3, 31)
    item = {
        "numero": "2026/118",
        "data": date(2026, 1, 15),
        "scadenza": date(2026, 2, 28),
        "importo": Decimal("1830.00"),
        "pagato": Decimal("500.00"),
        "residuo": Decimal("1330.00"),
        "scaduta": True,
        "giorni_ritardo": 31,
    }
    items = (
        []
        if sparse
        else [
            item,
            {
                **item,
                "numero": "2026/131",
                "scadenza": date(2026, 3, 31),
                "pagato": Decimal("0"),
                "residuo": Decimal("1830.00"),
                "scaduta": False,
                "giorni_ritardo": 0,
            },
        ]
    )
    doc: dict[str, Any] = {
        "tipo": type_code,
        "tipo_nome": type_code.replace("_", " ").title(),
        "numero": "2026/142",
        "anno": 2026,
        "data": today,
        "valuta": "EUR",
        "imponibile": Decimal("1500.00"),
        "iva": Decimal("330.00"),
        "totale": Decimal("1830.00"),
        "da_pagare": Decimal("1830.00"),
        "scadenze": []
        if sparse
        else [
            {"data": date(2026, 4, 30), "importo": Decimal("915.00"), "modalita": "RiBa"},
            {"data": date(2026, 5, 31), "importo": Decimal("915.00"), "modalita": "RiBa"},
        ],
        "prima_scadenza": None if sparse else date(2026, 4, 30),
        "pagamento": "" if sparse else "riba",
        "riferimento": "" if sparse else "Vs. ordine n. 45 del 10/03/2026",
        "titolo": "" if sparse else "Listino 2026",
        "protocollo": "" if sparse else "26031712345678901-000001",
        "plafond": None if sparse else Decimal("150000.00"),
        "valida_fino": None if sparse else date(2026, 4, 30),
        "righe": []
        if sparse
        else [
            {
                "codice": "A100",
                "descrizione": "Articolo di esempio",
                "quantita": Decimal("10"),
                "um": "PZ",
                "prezzo": Decimal("150"),
                "importo": Decimal("1500.00"),
            }
        ],
        "partite_aperte": items,
        "saldo_aperto": _sum(items, "residuo"),
        "partite_scadute": items[:1],
        "totale_scaduto": _sum(items[:1], "residuo"),
        "partite_pagate": items,
    }
    docs = [doc] if sparse else [doc, {**doc, "numero": "2026/143"}]
    return {
        "azienda": {
            "ragione_sociale": "Esempio S.r.l.",
            "indirizzo": "Via Roma 1",
            "cap": "20100",
            "citta": "Milano",
            "provincia": "MI",
            "piva": "IT01234567890",
            "codice_fiscale": "01234567890",
            "telefono": "02 1234567",
            "email": "info@esempio.it",
            "sito": "www.esempio.it",
            "iban": "" if sparse else "IT60X0542811101000000123456",
        },
        "anagrafica": {
            "codice": "C0001",
            "ragione_sociale": "Cliente di Prova S.p.A.",
            "piva": "IT09876543210",
            "codice_fiscale": "",
            "indirizzo": "Via Verdi 2",
            "cap": "10100",
            "citta": "Torino",
            "provincia": "TO",
            "nazione": "IT",
            "cliente": True,
            "fornitore": False,
        },
        "contatto": {
            "persona": not sparse,
            "nome": "" if sparse else "Maria Bianchi",
            "email": "amministrazione@cliente.example",
            "funzione": "" if sparse else "Amministrazione",
            "telefono": "",
        },
        "documento": doc,
        "documenti": docs,
        "numero_documenti": len(docs),
        "totale_documenti": sum((d["totale"] for d in docs), Decimal("0")),
        "utente": {"nome": "Mario Rossi", "email": "mario.rossi@esempio.it"},
        "mittente": {
            "nome": "Esempio S.r.l.",
            "email": "documenti@esempio.it",
            "pec": False,
            "account_id": None,
        },
        "oggi": today,
        "avviso_sdi": "",
    }


def template_language(party: Party | None) -> str:
    """Template language for a party: Italian for Italian speakers, English for everyone else."""
    language = (getattr(party, "language", None) or "it").lower()
    return language if language in TEMPLATE_LANGUAGES else "en"
