"""FatturaPA import: the Italian e-invoice XML (FPR12, FPA12, FSM10), plain or signed (.p7m).

A file gives one document per FatturaElettronicaBody. The supplier, customer, VAT summary,
payments, withholding, stamp duty and the original XML are kept in ``Document.extra`` so the
courtesy copy (copia di cortesia) can show them; ``Allegati`` become DocumentAttachment rows.

Modules: ``reader`` (unwrapping .p7m/base64, safe XML parsing, reading values off the tree),
``parser`` (a whole file: header and bodies), ``bodies`` (one body: lines, VAT, payments,
attachments), ``importer`` (parties, PEC contacts and documents written; files one by one).
"""

from .bodies import ParsedInvoice
from .importer import (
    check_issuer,
    customer_party,
    import_fatturapa,
    import_fatturapa_paths,
    import_files,
    public_summary,
)
from .parser import parse_fatturapa
from .reader import MAX_FILE_BYTES, MAX_XML_BYTES, FatturaPAError, parse_xml, unwrap

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_XML_BYTES",
    "FatturaPAError",
    "ParsedInvoice",
    "check_issuer",
    "customer_party",
    "import_fatturapa",
    "import_fatturapa_paths",
    "import_files",
    "parse_fatturapa",
    "parse_xml",
    "public_summary",
    "unwrap",
]
