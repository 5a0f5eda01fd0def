"""Documents and parties handed over by the ERP: validation and upsert (API, FatturaPA, spool).

Every intake path ends here, so the rules are the same everywhere: a document is identified by
type + year + number (sending it again updates it, never duplicates it), a party by its ERP code.
Validation collects errors per field (``lines[2].quantity``) before anything is written.

Modules: ``payloads`` (validation of JSON documents and parties, the small parsers),
``upsert`` (parties and documents written).
"""

from .payloads import (
    LINE_BREAKS,
    MAX_LINES,
    PARTY_KINDS,
    DocumentInput,
    IntakeError,
    money,
    parse_document_payload,
    parse_party_payload,
    to_date,
    to_decimal,
    to_text,
)
from .upsert import (
    DocumentConflict,
    document_as_dict,
    find_party,
    upsert_document,
    upsert_party,
)

__all__ = [
    "LINE_BREAKS",
    "MAX_LINES",
    "PARTY_KINDS",
    "DocumentConflict",
    "DocumentInput",
    "IntakeError",
    "document_as_dict",
    "find_party",
    "money",
    "parse_document_payload",
    "parse_party_payload",
    "to_date",
    "to_decimal",
    "to_text",
    "upsert_document",
    "upsert_party",
]
