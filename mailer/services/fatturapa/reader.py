"""Reading a FatturaPA file: unwrapping (base64, CAdES .p7m), safe XML parsing, and the helpers that
read values off the tree (text, numbers and dates, with the limits the columns can hold).

The XML is parsed defensively (no DTD, no entities, size limit) and namespace-agnostic (any prefix).
The SdI notifications reader uses the same functions.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import overload
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from ..intake import money

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


class FatturaPAError(ValueError):
    """A file that cannot be imported; the message is for a person (Italian)."""


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


@overload
def _dec(node: Element | None, path: str, default: Decimal, limit: Decimal = ...) -> Decimal: ...
@overload
def _dec(node: Element | None, path: str, default: None = None, limit: Decimal = ...) -> Decimal | None: ...
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
