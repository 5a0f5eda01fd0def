"""Parsing a whole FatturaPA file (XML or .p7m): the header (supplier, customer, transmission data,
PECDestinatario) and one ParsedInvoice per body, with the file's data in ``extra["fatturapa"]``.
"""

from __future__ import annotations

import hashlib
import os
from xml.etree.ElementTree import Element

from ..validation import InvalidValue, normalize_email
from .bodies import TIPO_DOCUMENTO, ParsedInvoice, _parse_body, _parse_simplified_body
from .reader import (
    _LINE_BREAKS,
    FatturaPAError,
    _find,
    _first,
    _shown,
    _text,
    parse_xml,
    unwrap,
)


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
