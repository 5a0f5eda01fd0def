"""The bodies of a FatturaPA file: one ParsedInvoice per FatturaElettronicaBody, ordinary (FPR12,
FPA12) or simplified (FSM10): general data, lines, VAT summary, payments, withholding, stamp duty,
references and attachments (``Allegati``, checked as generic uploads are).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from xml.etree.ElementTree import Element

from ..generic_documents import KINDS, UploadError, detect_kind
from ..intake import money
from .reader import (
    _LINE_BREAKS,
    _UNSAFE_NAME_CHARS,
    MAX_LINE_NUMBER,
    MAX_NUMBER_CHARS,
    MAX_QUANTITY,
    MAX_RATE,
    FatturaPAError,
    _bounded,
    _date,
    _dec,
    _find,
    _opt_date,
    _s,
    _shown,
    _text,
)

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
    lines: list[dict] = []
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
    _, tipo, number, doc_date, currency = _general(body, index, count)
    lines: list[dict] = []
    by_rate: dict[tuple[str, str], list[Decimal]] = {}
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
