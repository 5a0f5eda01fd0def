"""FatturaPA import: the Italian e-invoice XML (FPR12, FPA12, FSM10), plain or signed (.p7m).

A file gives one document per FatturaElettronicaBody. The XML is parsed defensively (no DTD, no
entities, size limit) and namespace-agnostic (any prefix). The supplier, customer, VAT summary,
payments, withholding, stamp duty and the original XML are kept in ``Document.extra`` so the
courtesy copy (copia di cortesia) can show them; ``Allegati`` become DocumentAttachment rows.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from ..extensions import db
from ..models import Company, Party
from .generic_documents import KINDS, UploadError, detect_kind
from .intake import (
    DocumentConflict,
    DocumentInput,
    IntakeError,
    ensure_pec_contact,
    find_party,
    money,
    upsert_document,
)

MAX_FILE_BYTES = 8 * 1024 * 1024  # a signed, base64 envelope of a 5 MB invoice stays below this
MAX_XML_BYTES = 5 * 1024 * 1024  # SdI refuses files above 5 MB
# What the columns hold (PostgreSQL refuses more): amounts Numeric(14, 2), quantities and prices
# 11 integer digits, rates and discounts Numeric(6, 2) / Numeric(7, 3).
MAX_AMOUNT = Decimal("1e12")
MAX_QUANTITY = Decimal("1e11")
MAX_RATE = Decimal("1e3")
MAX_LINE_NUMBER = 99999  # FatturaPA allows 1..9999; the column is an INTEGER
# Characters that do not belong in a file name: control characters and bidirectional overrides
# (U+202E makes «fattura\u202efdp.exe» look like «fatturaexe.pdf»).
_UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# In a number or a name, a line break (or another control character) ends up in an e-mail header.
_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
MAX_NUMBER_CHARS = 40  # Document.number; FatturaPA allows 20

TIPO_DOCUMENTO = {
    "TD01": "Fattura",
    "TD02": "Acconto/anticipo su fattura",
    "TD03": "Acconto/anticipo su parcella",
    "TD04": "Nota di credito",
    "TD05": "Nota di debito",
    "TD06": "Parcella",
    "TD07": "Fattura semplificata",
    "TD08": "Nota di credito semplificata",
    "TD09": "Nota di debito semplificata",
    "TD16": "Integrazione fattura reverse charge interno",
    "TD17": "Integrazione/autofattura per acquisto servizi dall'estero",
    "TD18": "Integrazione per acquisto di beni intracomunitari",
    "TD19": "Integrazione/autofattura per acquisto di beni ex art. 17 c.2 DPR 633/72",
    "TD20": "Autofattura per regolarizzazione e integrazione delle fatture",
    "TD21": "Autofattura per splafonamento",
    "TD22": "Estrazione beni da Deposito IVA",
    "TD23": "Estrazione beni da Deposito IVA con versamento dell'IVA",
    "TD24": "Fattura differita (art. 21 c.4 lett. a)",
    "TD25": "Fattura differita (art. 21 c.4 terzo periodo lett. b)",
    "TD26": "Cessione di beni ammortizzabili e passaggi interni",
    "TD27": "Fattura per autoconsumo o cessioni gratuite senza rivalsa",
    "TD28": "Acquisti da San Marino con IVA",
}
CREDIT_NOTE_CODES = {"TD04", "TD08"}  # TD08 is the simplified credit note
CONDIZIONI_PAGAMENTO = {"TP01": "Pagamento a rate", "TP02": "Pagamento completo", "TP03": "Anticipo"}
MODALITA_PAGAMENTO = {
    "MP01": "Contanti",
    "MP02": "Assegno",
    "MP03": "Assegno circolare",
    "MP04": "Contanti presso Tesoreria",
    "MP05": "Bonifico",
    "MP06": "Vaglia cambiario",
    "MP07": "Bollettino bancario",
    "MP08": "Carta di pagamento",
    "MP09": "RID",
    "MP10": "RID utenze",
    "MP11": "RID veloce",
    "MP12": "RIBA",
    "MP13": "MAV",
    "MP14": "Quietanza erario",
    "MP15": "Giroconto su conti di contabilità speciale",
    "MP16": "Domiciliazione bancaria",
    "MP17": "Domiciliazione postale",
    "MP18": "Bollettino di c/c postale",
    "MP19": "SEPA Direct Debit",
    "MP20": "SEPA Direct Debit CORE",
    "MP21": "SEPA Direct Debit B2B",
    "MP22": "Trattenuta su somme già riscosse",
    "MP23": "PagoPA",
}
ESIGIBILITA = {
    "I": "IVA ad esigibilità immediata",
    "D": "IVA ad esigibilità differita",
    "S": "Scissione dei pagamenti",
}


class FatturaPAError(ValueError):
    """A file that cannot be imported; the message is for a person (Italian)."""


@dataclass
class ParsedInvoice:
    """One body of a FatturaPA file, ready to become a Document."""

    tipo_documento: str
    document_type: str
    number: str
    date: date
    currency: str
    total: Decimal
    total_net: Decimal
    total_vat: Decimal
    customer: dict
    supplier: dict
    lines: list[dict]
    extra: dict
    due_dates: list[dict]
    attachments: list[tuple[str, bytes, str]] = field(default_factory=list)
    pec_destinatario: str = ""


# ---------------------------------------------------------------- unwrapping and safe parsing


def unwrap(data: bytes, filename: str = "") -> bytes:
    """Return the XML inside: strips a base64 layer and a CAdES (.p7m) envelope when present."""
    if len(data) > MAX_FILE_BYTES:
        raise FatturaPAError(
            f"file troppo grande ({len(data) / 1048576:.1f} MB; il limite è {MAX_FILE_BYTES // 1048576} MB)"
        )
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"<"):
        return data
    if not stripped.startswith(b"\x30"):
        # base64 text (possibly wrapped on several lines), as many mailboxes store .p7m files
        compact = re.sub(rb"\s+", b"", stripped)
        try:
            decoded = base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise FatturaPAError("il file non è XML né una busta firmata .p7m (DER o base64)") from exc
        if decoded.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
            return decoded
        stripped = decoded
    return _p7m_content(stripped)


def _p7m_content(der: bytes) -> bytes:
    """The signed content of a CMS/PKCS#7 SignedData (the signature itself is not verified here)."""
    from asn1crypto import cms

    try:
        info = cms.ContentInfo.load(der)
        if info["content_type"].native != "signed_data":
            raise FatturaPAError("la busta .p7m non contiene dati firmati (SignedData)")
        content = info["content"]["encap_content_info"]["content"]
        payload = content.native if content is not None else None
    except FatturaPAError:
        raise
    except Exception as exc:  # asn1crypto raises several kinds of errors on damaged input
        raise FatturaPAError("busta firmata .p7m illeggibile o danneggiata") from exc
    if not payload:
        raise FatturaPAError("la busta .p7m è «detached»: non contiene la fattura")
    if isinstance(payload, (bytes, bytearray)) and payload.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return bytes(payload)
    raise FatturaPAError("la busta .p7m non contiene un file XML")


def parse_xml(xml: bytes) -> Element:
    """Parse without DTDs, entities or external references; tags lose their namespace prefix."""
    if len(xml) > MAX_XML_BYTES:
        raise FatturaPAError(
            f"XML troppo grande ({len(xml) / 1048576:.1f} MB; il limite SdI è {MAX_XML_BYTES // 1048576} MB)"
        )
    if xml.startswith(b"\xef\xbb\xbf"):
        xml = xml[3:]
    try:
        root = SafeET.fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise FatturaPAError(
            "il file XML contiene una DTD o delle entità (possibile attacco di espansione "
            "o entità esterne): rifiutato per sicurezza"
        ) from exc
    except ParseError as exc:
        line, column = getattr(exc, "position", (0, 0))
        raise FatturaPAError(f"XML non valido (riga {line}, colonna {column})") from exc
    for element in root.iter():
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = element.tag.split("}", 1)[1]
    return root


# ---------------------------------------------------------------- helpers on the tree


def _find(node: Element | None, path: str) -> Element | None:
    """First element at a slash path (local names), or None."""
    return node.find(path) if node is not None else None


def _text(node: Element | None, path: str = "") -> str:
    """Stripped text at path ('' when missing)."""
    element = node if not path else _find(node, path)
    return (element.text or "").strip() if element is not None and element.text else ""


def _dec(
    node: Element | None, path: str, default: Decimal | None = None, limit: Decimal = MAX_AMOUNT
) -> Decimal | None:
    """Decimal at path (FatturaPA uses a dot), or default; NaN, infinities and |value| >= limit are errors."""
    text = _text(node, path)
    if not text:
        return default
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise FatturaPAError(f"valore numerico non valido in {path}: «{text[:40]}»") from exc
    if not value.is_finite() or abs(value) >= limit:
        raise FatturaPAError(f"valore numerico fuori dai limiti in {path}: «{text[:40]}»")
    return value


def _shown(text: str, limit: int = 60) -> str:
    """A value quoted in a message: control characters visible as ⏎, cut to limit characters."""
    text = _LINE_BREAKS.sub("⏎", text)
    return text if len(text) <= limit else text[:limit] + "…"


def _bounded(value: Decimal, what: str, where: str) -> Decimal:
    """A computed total, refused when the columns cannot hold it."""
    if abs(value) >= MAX_AMOUNT:
        raise FatturaPAError(f"{where}: {what} fuori dai limiti ({value})")
    return value


def _date(node: Element | None, path: str, what: str) -> date:
    """Date at path; a missing or bad one is an error."""
    text = _text(node, path)
    try:
        return date.fromisoformat(text[:10])
    except ValueError as exc:
        raise FatturaPAError(f"{what}: data mancante o non valida («{text}»)") from exc


def _opt_date(node: Element | None, path: str) -> str:
    """ISO date at path or ''."""
    text = _text(node, path)
    try:
        return date.fromisoformat(text[:10]).isoformat() if text else ""
    except ValueError:
        return ""


def _s(value: Decimal | None) -> str:
    """Decimal as a plain string with 2 decimals ('' for None)."""
    return "" if value is None else str(money(value))


def _first(*nodes: Element | None) -> Element | None:
    """The first node that exists (Elements without children are falsy, so `or` would be wrong)."""
    for node in nodes:
        if node is not None:
            return node
    return None


def _subject(node: Element | None) -> dict:
    """Name, fiscal ids and address of a CedentePrestatore / CessionarioCommittente (FPR/FPA or FSM)."""
    if node is None:
        return {}
    anagrafica = _first(_find(node, "DatiAnagrafici"), node)
    ids = _first(_find(node, "IdentificativiFiscali"), anagrafica)
    names = _first(_find(anagrafica, "Anagrafica"), _find(node, "AltriDatiIdentificativi"), node)
    name = _text(names, "Denominazione") or " ".join(
        x for x in (_text(names, "Nome"), _text(names, "Cognome")) if x
    )
    sede = _first(_find(node, "Sede"), _find(node, "AltriDatiIdentificativi/Sede"))
    street = " ".join(x for x in (_text(sede, "Indirizzo"), _text(sede, "NumeroCivico")) if x)
    return {
        "name": name,
        "vat_country": _text(ids, "IdFiscaleIVA/IdPaese"),
        "vat_number": _text(ids, "IdFiscaleIVA/IdCodice"),
        "tax_code": _text(ids, "CodiceFiscale").upper(),
        "address": street,
        "zip_code": _text(sede, "CAP"),
        "city": _text(sede, "Comune"),
        "province": _text(sede, "Provincia"),
        "country": _text(sede, "Nazione") or "IT",
        "regime": _text(anagrafica, "RegimeFiscale") or _text(node, "RegimeFiscale"),
        "phone": _text(node, "Contatti/Telefono"),
        "email": _text(node, "Contatti/Email"),
        "rea": " ".join(
            x for x in (_text(node, "IscrizioneREA/Ufficio"), _text(node, "IscrizioneREA/NumeroREA")) if x
        ),
    }


# ---------------------------------------------------------------- parsing a whole file


def parse_fatturapa(data: bytes, filename: str = "") -> list[ParsedInvoice]:
    """Parse a FatturaPA file (XML or .p7m) into one ParsedInvoice per body; raise FatturaPAError."""
    xml = unwrap(data, filename)
    root = parse_xml(xml)
    kind = root.tag
    if kind not in ("FatturaElettronica", "FatturaElettronicaSemplificata"):
        raise FatturaPAError(f"non è una FatturaPA: l'elemento radice è «{kind}»")
    version = root.get("versione", "")
    header = _find(root, "FatturaElettronicaHeader")
    if header is None:
        raise FatturaPAError("manca FatturaElettronicaHeader")
    trasmissione = _find(header, "DatiTrasmissione")
    formato = _text(trasmissione, "FormatoTrasmissione") or version
    supplier = _subject(_find(header, "CedentePrestatore"))
    customer = _subject(_find(header, "CessionarioCommittente"))
    if not (customer.get("vat_number") or customer.get("tax_code")):
        raise FatturaPAError("il cessionario/committente non ha né partita IVA né codice fiscale")
    if _LINE_BREAKS.search(customer.get("name", "")):
        raise FatturaPAError(
            f"il nome del cessionario/committente «{_shown(customer['name'])}» contiene un a capo "
            "o un carattere di controllo"
        )
    pec = _text(trasmissione, "PECDestinatario")
    if pec:
        from .validation import InvalidValue, normalize_email

        try:
            pec = normalize_email(pec)
        except InvalidValue as exc:
            raise FatturaPAError(f"PECDestinatario «{_shown(pec)}»: {exc}") from exc
    bodies = root.findall("FatturaElettronicaBody")
    if not bodies:
        raise FatturaPAError("nessun FatturaElettronicaBody nel file")
    xml_sha = hashlib.sha256(xml).hexdigest()
    common = {
        "formato": formato,
        "versione": version,
        "file": os.path.basename(filename),
        "xml_sha256": xml_sha,
        "codice_destinatario": _text(trasmissione, "CodiceDestinatario"),
        "pec_destinatario": pec,
        "progressivo_invio": _text(trasmissione, "ProgressivoInvio"),
        "bodies": len(bodies),
    }
    simplified = kind == "FatturaElettronicaSemplificata"
    invoices = []
    for index, body in enumerate(bodies, start=1):
        parse_body = _parse_simplified_body if simplified else _parse_body
        invoice = parse_body(body, index, len(bodies))
        invoice.customer = customer
        invoice.supplier = supplier
        invoice.pec_destinatario = pec
        invoice.extra["fatturapa"] = {
            **common,
            "body_index": index,
            "tipo_documento": invoice.tipo_documento,
            "tipo_documento_label": TIPO_DOCUMENTO.get(invoice.tipo_documento, invoice.tipo_documento),
            **invoice.extra.get("fatturapa", {}),
        }
        invoice.extra["supplier"] = supplier
        invoice.extra["customer"] = customer
        invoices.append(invoice)
    return invoices


def _where(index: int, count: int) -> str:
    """'corpo 2' in messages about a file with several bodies."""
    return f"corpo {index}" if count > 1 else "fattura"


def _general(body: Element, index: int, count: int) -> tuple[Element, str, str, date, str]:
    """DatiGeneraliDocumento with its type, number, date, currency (errors name the body)."""
    general = _find(body, "DatiGenerali/DatiGeneraliDocumento")
    if general is None:
        raise FatturaPAError(f"{_where(index, count)}: manca DatiGeneraliDocumento")
    tipo = _text(general, "TipoDocumento")
    number = _text(general, "Numero")
    if not tipo:
        raise FatturaPAError(f"{_where(index, count)}: manca TipoDocumento")
    if not number:
        raise FatturaPAError(f"{_where(index, count)}: manca il numero del documento")
    if len(number) > MAX_NUMBER_CHARS:
        raise FatturaPAError(
            f"{_where(index, count)}: il Numero ha {len(number)} caratteri, al massimo "
            f"{MAX_NUMBER_CHARS} (accorciarlo potrebbe farlo coincidere con un altro documento)"
        )
    if _LINE_BREAKS.search(number):
        raise FatturaPAError(
            f"{_where(index, count)}: il Numero «{_shown(number)}» contiene un a capo o un carattere "
            "di controllo"
        )
    doc_date = _date(general, "Data", f"{_where(index, count)}, data del documento")
    return general, tipo, number, doc_date, _text(general, "Divisa") or "EUR"


def _doc_type(tipo: str) -> str:
    """Our document type for a TipoDocumento code."""
    return "NOTA_CREDITO" if tipo in CREDIT_NOTE_CODES else "FATTURA"


def _parse_body(body: Element, index: int, count: int) -> ParsedInvoice:
    """An ordinary (FPR12/FPA12) body."""
    general, tipo, number, doc_date, currency = _general(body, index, count)
    lines = []
    for position, element in enumerate(body.findall("DatiBeniServizi/DettaglioLinee"), start=1):
        try:
            lines.append(_detail_line(element, len(lines) + 1))
        except FatturaPAError as exc:
            raise FatturaPAError(f"{_where(index, count)}, linea {position}: {exc}") from exc
    summary = []
    for element in body.findall("DatiBeniServizi/DatiRiepilogo"):
        summary.append(
            {
                "rate": _s(_dec(element, "AliquotaIVA", Decimal("0"))),
                "nature": _text(element, "Natura"),
                "taxable": _s(_dec(element, "ImponibileImporto", Decimal("0"))),
                "tax": _s(_dec(element, "Imposta", Decimal("0"))),
                "esigibilita": _text(element, "EsigibilitaIVA"),
                "reference": _text(element, "RiferimentoNormativo"),
            }
        )
    total_net = _bounded(
        sum((Decimal(s["taxable"]) for s in summary), Decimal("0")), "imponibile", _where(index, count)
    )
    total_vat = _bounded(
        sum((Decimal(s["tax"]) for s in summary), Decimal("0")), "imposta", _where(index, count)
    )
    declared = _dec(general, "ImportoTotaleDocumento")
    total = money(declared) if declared is not None else money(total_net + total_vat)
    payments, due_dates, terms = [], [], []
    for block in body.findall("DatiPagamento"):
        condition = _text(block, "CondizioniPagamento")
        if condition:
            terms.append(CONDIZIONI_PAGAMENTO.get(condition, condition))
        for detail in block.findall("DettaglioPagamento"):
            method = _text(detail, "ModalitaPagamento")
            payment = {
                "condition": condition,
                "method": method,
                "method_label": MODALITA_PAGAMENTO.get(method, method),
                "due_date": _opt_date(detail, "DataScadenzaPagamento"),
                "amount": _s(_dec(detail, "ImportoPagamento")),
                "iban": _text(detail, "IBAN"),
                "bank": _text(detail, "IstitutoFinanziario"),
                "beneficiary": _text(detail, "Beneficiario"),
            }
            payments.append(payment)
            if payment["due_date"] and payment["amount"]:
                due_dates.append(
                    {
                        "date": payment["due_date"],
                        "amount": payment["amount"],
                        "method": payment["method_label"],
                    }
                )
    withholding = [
        {
            "type": _text(w, "TipoRitenuta"),
            "amount": _s(_dec(w, "ImportoRitenuta")),
            "rate": _s(_dec(w, "AliquotaRitenuta")),
            "reason": _text(w, "CausalePagamento"),
        }
        for w in general.findall("DatiRitenuta")
    ]
    stamp = _find(general, "DatiBollo")
    welfare = [
        {
            "type": _text(c, "TipoCassa"),
            "rate": _s(_dec(c, "AlCassa")),
            "amount": _s(_dec(c, "ImportoContributoCassa")),
            "taxable": _s(_dec(c, "ImponibileCassa")),
            "vat_rate": _s(_dec(c, "AliquotaIVA")),
        }
        for c in general.findall("DatiCassaPrevidenziale")
    ]
    extra = {
        "vat_summary": summary,
        "payment_terms": ", ".join(dict.fromkeys(terms)),
        "payments": payments,
        "withholding": withholding,
        "stamp_duty": {"virtual": _text(stamp, "BolloVirtuale"), "amount": _s(_dec(stamp, "ImportoBollo"))}
        if stamp is not None
        else None,
        "welfare_fund": welfare,
        "rounding": _s(_dec(general, "Arrotondamento")),
        "notes": [_text(c) for c in general.findall("Causale") if _text(c)],
        "references": _references(body),
        "total_declared": declared is not None,
    }
    invoice = ParsedInvoice(
        tipo_documento=tipo,
        document_type=_doc_type(tipo),
        number=number,
        date=doc_date,
        currency=currency,
        total=total,
        total_net=money(total_net),
        total_vat=money(total_vat),
        customer={},
        supplier={},
        lines=lines,
        extra=extra,
        due_dates=due_dates,
    )
    invoice.attachments = _attachments(body, index, count)
    return invoice


def _detail_line(element: Element, default_no: int) -> dict:
    """One DettaglioLinee as a line dict (errors name the field; the caller adds body and line)."""
    number = _text(element, "NumeroLinea")
    if number and not (re.fullmatch(r"[0-9]{1,9}", number) and 0 < int(number) <= MAX_LINE_NUMBER):
        raise FatturaPAError(f"NumeroLinea non valido: «{number[:40]}» (un intero da 1 a {MAX_LINE_NUMBER})")
    quantity = _dec(element, "Quantita", limit=MAX_QUANTITY)
    discount = Decimal("0")
    for sm in element.findall("ScontoMaggiorazione"):
        pct = _dec(sm, "Percentuale", Decimal("0"), limit=MAX_RATE)
        discount += pct if _text(sm, "Tipo") == "SC" else -pct
    if abs(discount) >= MAX_RATE:
        raise FatturaPAError(f"sconti e maggiorazioni fuori dai limiti ({discount}%)")
    code = _text(element, "CodiceArticolo/CodiceValore")
    return {
        "line_no": int(number) if number else default_no,
        "product_code": code[:40],
        "description": _text(element, "Descrizione"),
        "quantity": quantity if quantity is not None else Decimal("1"),
        "unit": _text(element, "UnitaMisura")[:10],
        "unit_price": _dec(element, "PrezzoUnitario", Decimal("0"), limit=MAX_QUANTITY),
        "discount_pct": discount,
        "vat_rate": _dec(element, "AliquotaIVA", Decimal("0"), limit=MAX_RATE),
        "amount": money(_dec(element, "PrezzoTotale", Decimal("0"))),
        "nature": _text(element, "Natura"),
    }


def _references(body: Element) -> list[dict]:
    """Orders, contracts, DDT and linked invoices the body refers to."""
    out = []
    labels = {
        "DatiOrdineAcquisto": "Ordine",
        "DatiContratto": "Contratto",
        "DatiConvenzione": "Convenzione",
        "DatiRicezione": "Ricezione",
        "DatiFattureCollegate": "Fattura collegata",
    }
    for tag, label in labels.items():
        for element in body.findall(f"DatiGenerali/{tag}"):
            out.append(
                {
                    "kind": label,
                    "number": _text(element, "IdDocumento"),
                    "date": _opt_date(element, "Data"),
                    "cig": _text(element, "CodiceCIG"),
                    "cup": _text(element, "CodiceCUP"),
                }
            )
    for element in body.findall("DatiGenerali/DatiDDT"):
        out.append(
            {
                "kind": "DDT",
                "number": _text(element, "NumeroDDT"),
                "date": _opt_date(element, "DataDDT"),
                "cig": "",
                "cup": "",
            }
        )
    return out


def _attachments(body: Element, index: int, count: int) -> list[tuple[str, bytes, str]]:
    """Allegati as (file name, bytes, content type)."""
    out = []
    for position, element in enumerate(body.findall("Allegati"), start=1):
        name = _attachment_name(
            _text(element, "NomeAttachment"), _text(element, "FormatoAttachment"), position
        )
        try:
            content = base64.b64decode(re.sub(r"\s+", "", _text(element, "Attachment")), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise FatturaPAError(f"{_where(index, count)}: l'allegato «{name}» non è base64 valido") from exc
        if _text(element, "AlgoritmoCompressione").upper() == "ZIP" and not name.lower().endswith(".zip"):
            name += ".zip"
        # The same rules as generic uploads: the kind by content (no programs, HTML, macros, zip bombs).
        try:
            kind = detect_kind(content, name)
        except UploadError as exc:
            raise FatturaPAError(f"{_where(index, count)}: allegato «{name}» rifiutato: {exc}") from exc
        extension, content_type = KINDS[kind][:2]
        if not name.lower().endswith("." + extension) and not (
            kind == "jpeg" and name.lower().endswith(".jpeg")
        ):
            stem = name.rsplit(".", 1)[0] if "." in name else name
            name = f"{stem[: 254 - len(extension)]}.{extension}"  # the detected kind's extension, within 255
        out.append((name, content, content_type))
    return out


def _attachment_name(raw: str, fmt: str, position: int) -> str:
    """NomeAttachment as a file name: no folders (/ or \\), no control or bidi characters, within 255."""
    name = _UNSAFE_NAME_CHARS.sub(lambda m: " " if m.group() < "\x80" else "", raw)
    name = " ".join(name.replace("\\", "/").rsplit("/", 1)[-1].split())
    fmt = re.sub(r"[^a-z0-9]", "", fmt.lower())[:10]
    if not name.strip("."):
        name = f"allegato-{position}"
    if fmt and "." not in name:
        name = f"{name}.{fmt}"
    stem, dot, ext = name.rpartition(".")
    if len(name) > 255:
        name = f"{stem[: 254 - len(ext)]}.{ext}" if dot and len(ext) <= 10 else name[:255]
    return name


def _parse_simplified_body(body: Element, index: int, count: int) -> ParsedInvoice:
    """A simplified (FSM10) body: items carry an amount including VAT and either the tax or the rate."""
    general, tipo, number, doc_date, currency = _general(body, index, count)
    lines, by_rate = [], {}
    for position, element in enumerate(body.findall("DatiBeniServizi"), start=1):
        gross = _dec(element, "Importo", Decimal("0"))
        rate = _dec(element, "DatiIVA/Aliquota", limit=MAX_RATE)
        tax = _dec(element, "DatiIVA/Imposta")
        if rate is not None and not Decimal("0") <= rate <= Decimal("100"):
            raise FatturaPAError(
                f"{_where(index, count)}, riga {position}: Aliquota {rate} non valida (da 0 a 100)"
            )
        if tax is None:
            tax = gross - gross / (1 + (rate or Decimal("0")) / 100)
        if rate is None:
            base = gross - tax
            rate = (tax * 100 / base).quantize(Decimal("0.01")) if base else Decimal("0")
            if not Decimal("0") <= rate <= Decimal("100"):
                raise FatturaPAError(
                    f"{_where(index, count)}, riga {position}: l'imposta {tax} non corrisponde "
                    f"a un'aliquota tra 0 e 100 sull'importo {gross}"
                )
        tax = money(tax)
        net = money(gross - tax)
        nature = _text(element, "Natura")
        lines.append(
            {
                "line_no": position,
                "product_code": "",
                "description": _text(element, "Descrizione"),
                "quantity": Decimal("1"),
                "unit": "",
                "unit_price": net,
                "discount_pct": Decimal("0"),
                "vat_rate": rate,
                "amount": net,
                "nature": nature,
            }
        )
        key = (str(money(rate)), nature)
        bucket = by_rate.setdefault(key, [Decimal("0"), Decimal("0")])
        bucket[0] += net
        bucket[1] += tax
    summary = [
        {
            "rate": k[0],
            "nature": k[1],
            "taxable": _s(v[0]),
            "tax": _s(v[1]),
            "esigibilita": "",
            "reference": "",
        }
        for k, v in by_rate.items()
    ]
    total_net = _bounded(
        sum((Decimal(s["taxable"]) for s in summary), Decimal("0")), "imponibile", _where(index, count)
    )
    total_vat = _bounded(
        sum((Decimal(s["tax"]) for s in summary), Decimal("0")), "imposta", _where(index, count)
    )
    extra = {
        "vat_summary": summary,
        "payment_terms": "",
        "payments": [],
        "withholding": [],
        "stamp_duty": None,
        "welfare_fund": [],
        "rounding": "",
        "notes": [],
        "references": _references(body),
        "total_declared": False,
        "simplified": True,
    }
    invoice = ParsedInvoice(
        tipo_documento=tipo,
        document_type=_doc_type(tipo),
        number=number,
        date=doc_date,
        currency=currency,
        total=money(total_net + total_vat),
        total_net=money(total_net),
        total_vat=money(total_vat),
        customer={},
        supplier={},
        lines=lines,
        extra=extra,
        due_dates=[],
    )
    invoice.attachments = _attachments(body, index, count)
    return invoice


# ---------------------------------------------------------------- writing


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


def check_issuer(supplier: dict) -> None:
    """With the company's P.IVA set, refuse a file issued by someone else (a supplier's invoice)."""
    company = db.session.get(Company, 1)  # not get_company(): it would commit in the middle of an import
    ours = (company.vat_number or "").strip().upper().removeprefix("IT") if company is not None else ""
    if not ours:
        return  # no company data: imported as before
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
    from .blobs import store_blob

    xml_sha = store_blob(unwrap(data, filename), "application/xml")
    summaries = []
    for invoice in invoices:
        party, _created = customer_party(invoice.customer)
        if invoice.pec_destinatario:
            ensure_pec_contact(party, invoice.pec_destinatario, "FATTURA")
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
    from .audit import audit

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


def import_files(paths: list[str], import_one, error_class: type[Exception]) -> tuple[list[dict], bool]:
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
            reason = (
                str(exc) if isinstance(exc, error_class) else f"file non leggibile ({exc.strerror or exc})"
            )
            results.append({"file": path, "error": reason})
    return results, ok


def public_summary(summary: dict) -> dict:
    """The summary without internal keys (what the CLI prints)."""
    return {k: v for k, v in summary.items() if not k.startswith("_")}
