"""Reference data shared by migrations, seeding and the UI (plain data, no models)."""
from __future__ import annotations

# code, Italian name, English name, counterpart, goes by PEC by default
DOCUMENT_TYPES: list[tuple[str, str, str, str, bool]] = [
    ("DDT", "Documento di trasporto", "Delivery note", "customer", False),
    ("FATTURA", "Fattura (copia di cortesia)", "Invoice (courtesy copy)", "customer", False),
    ("NOTA_CREDITO", "Nota di credito", "Credit note", "customer", False),
    ("OFFERTA", "Offerta cliente", "Customer quote", "customer", False),
    ("ORDINE_CLIENTE", "Conferma d'ordine cliente", "Order confirmation", "customer", False),
    ("ORDINE_FORNITORE", "Ordine fornitore", "Purchase order", "supplier", False),
    ("ENTRATA_MERCE", "Entrata merce magazzino", "Goods-received note", "supplier", False),
    ("ESTRATTO_CONTO", "Estratto conto", "Account statement", "any", False),
    ("AVVISO_BONIFICO", "Avviso di bonifico effettuato", "Payment advice", "supplier", False),
    ("INSOLUTO", "Sollecito di pagamento (insoluto)", "Dunning letter", "customer", True),
    ("DICHIARAZIONE_INTENTO", "Dichiarazione d'intento", "Declaration of intent", "supplier", True),
    ("GENERICO", "Documento generico", "Generic document", "any", False),
]
DOCUMENT_TYPE_CODES = [row[0] for row in DOCUMENT_TYPES]
# Types whose documents for the same recipient go in one e-mail by default (the day's DDTs).
GROUPED_BY_DEFAULT = {"DDT"}

# code, Italian name, default document types received
CONTACT_FUNCTIONS: list[tuple[str, str, list[str]]] = [
    ("commerciale", "Commerciale / vendite", ["OFFERTA", "ORDINE_CLIENTE"]),
    ("acquisti", "Ufficio acquisti", ["ORDINE_FORNITORE", "ORDINE_CLIENTE", "OFFERTA"]),
    ("amministrazione", "Amministrazione", ["FATTURA", "NOTA_CREDITO", "ESTRATTO_CONTO", "INSOLUTO", "AVVISO_BONIFICO", "DICHIARAZIONE_INTENTO"]),
    ("logistica", "Logistica / magazzino", ["DDT", "ENTRATA_MERCE"]),
    ("qualita", "Ufficio qualità", []),
    ("direzione", "Direzione", []),
]

ROLES: list[tuple[str, str]] = [
    ("admin", "Amministratore"),
    ("manager", "Responsabile (approva)"),
    ("operator", "Operatore d'ufficio"),
    ("sales", "Commerciale"),
]
ROLE_NAMES = dict(ROLES)

# Privacy levels: a user sees contacts whose level is <= their clearance.
PRIVACY_LEVELS: list[tuple[int, str]] = [
    (0, "Pubblico"),
    (1, "Interno"),
    (2, "Riservato"),
    (3, "Confidenziale"),
]
PRIVACY_NAMES = dict(PRIVACY_LEVELS)

PARTY_KINDS: list[tuple[str, str]] = [
    ("customer", "Cliente"),
    ("supplier", "Fornitore"),
    ("both", "Cliente e fornitore"),
]
PARTY_KIND_NAMES = dict(PARTY_KINDS)

# Known PEC provider domains; an address on one of these (or a sub-domain) is PEC.
PEC_DOMAINS: list[str] = [
    "pec.it", "legalmail.it", "postecert.it", "arubapec.it", "sicurezzapostale.it",
    "pec.aruba.it", "cert.legalmail.it", "pec.libero.it", "registerpec.it", "pecimprese.it",
    "gigapec.it", "mypec.eu", "pec.cgn.it", "casellapec.com", "pec-email.com", "cgn.legalmail.it",
    "pec.buffetti.it", "postacertificata.gov.it", "pcert.postecert.it", "pec.fatturapa.it",
    "messaggipec.it", "pec.actalis.it", "namirialpec.it", "sicurezzapostale.com", "ticertifica.it",
    "pecditta.com", "pec.commercialisti.it", "pec.avvocati.it", "pec.ordineavvocati.it",
    "ingpec.eu", "pec.ordineingegneri.it", "epap.sicurezzapostale.it", "pec.notariato.it",
    "pec.rupar.puglia.it", "certmail.it", "pec.it.aruba.it", "pecveneto.it",
]
