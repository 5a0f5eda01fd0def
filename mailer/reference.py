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
DOCUMENT_TYPE_NAMES = {row[0]: row[1] for row in DOCUMENT_TYPES}  # what a person reads instead of the code
# Types whose documents for the same recipient go in one e-mail by default (the day's DDTs).
GROUPED_BY_DEFAULT = {"DDT"}

# code, Italian name, default document types received
CONTACT_FUNCTIONS: list[tuple[str, str, list[str]]] = [
    ("commerciale", "Commerciale / vendite", ["OFFERTA", "ORDINE_CLIENTE"]),
    ("acquisti", "Ufficio acquisti", ["ORDINE_FORNITORE", "ORDINE_CLIENTE", "OFFERTA"]),
    (
        "amministrazione",
        "Amministrazione",
        ["FATTURA", "NOTA_CREDITO", "ESTRATTO_CONTO", "INSOLUTO", "AVVISO_BONIFICO", "DICHIARAZIONE_INTENTO"],
    ),
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
    "pec.it",
    "legalmail.it",
    "postecert.it",
    "arubapec.it",
    "sicurezzapostale.it",
    "pec.aruba.it",
    "cert.legalmail.it",
    "pec.libero.it",
    "registerpec.it",
    "pecimprese.it",
    "gigapec.it",
    "mypec.eu",
    "pec.cgn.it",
    "casellapec.com",
    "pec-email.com",
    "cgn.legalmail.it",
    "pec.buffetti.it",
    "postacertificata.gov.it",
    "pcert.postecert.it",
    "pec.fatturapa.it",
    "messaggipec.it",
    "pec.actalis.it",
    "namirialpec.it",
    "sicurezzapostale.com",
    "ticertifica.it",
    "pecditta.com",
    "pec.commercialisti.it",
    "pec.avvocati.it",
    "pec.ordineavvocati.it",
    "ingpec.eu",
    "pec.ordineingegneri.it",
    "epap.sicurezzapostale.it",
    "pec.notariato.it",
    "pec.rupar.puglia.it",
    "certmail.it",
    "pec.it.aruba.it",
    "pecveneto.it",
]

# The main PEC providers: the domains of their users' mailboxes and of their certified system, the domain
# their receipts come from (`posta-certificata@<system domain>`, DM 2/11/2005 art. 6, RFC 6109 §3).
# The list of accredited providers is AgID's «Elenco pubblico dei gestori di PEC»
# (https://www.agid.gov.it/it/piattaforme/posta-elettronica-certificata/elenco-gestori-pec); each provider
# names its receipts' sender in its user guide. pec.aruba.it and pcert.sogei.it are confirmed by the real
# receipts in shared/samples/pec (SOURCES.md); for the others check the From of a ricevuta di accettazione
# of your own account and correct the account's list (Amministrazione › Account di invio).
# (name, mailbox domains, system domains, where the provider documents it)
PEC_PROVIDERS: list[tuple[str, tuple[str, ...], tuple[str, ...], str]] = [
    (
        "Aruba PEC",
        ("pec.it", "arubapec.it", "pec.aruba.it", "gigapec.it", "casellapec.com", "pec.it.aruba.it"),
        ("pec.aruba.it",),
        "https://guide.pec.it/servizio-pec/caratteristiche-servizio-pec/"
        "processo-invio-ricezione-messaggio-certificato.aspx",
    ),
    (
        "InfoCert Legalmail",
        ("legalmail.it", "cert.legalmail.it", "cgn.legalmail.it"),
        ("legalmail.it",),
        "https://www.legalmail.it/ (guida Legalmail: ricevute da posta-certificata@legalmail.it)",
    ),
    (
        "Register.it",
        ("registerpec.it", "pec.register.it"),
        ("registerpec.it", "pec.register.it"),
        "https://www.register.it/pec/ (guida PEC Register.it)",
    ),
    (
        "Poste Italiane",
        ("postecert.it", "pec.poste.it", "pcert.postecert.it"),
        ("postecert.it",),
        "https://www.postecert.it/ (manuale operativo Postecert PEC)",
    ),
    (
        "Namirial",
        ("sicurezzapostale.it", "sicurezzapostale.com", "namirialpec.it", "epap.sicurezzapostale.it"),
        ("sicurezzapostale.it",),
        "https://www.namirial.com/it/pec/ (manuale operativo PEC Namirial)",
    ),
    (
        "Actalis",
        ("pec.actalis.it",),
        ("pec.actalis.it",),
        "https://www.actalis.com/ (manuale operativo PEC Actalis)",
    ),
    ("Sogei (SdI)", ("pec.fatturapa.it",), ("pcert.sogei.it",), "ricevute reali in shared/samples/pec"),
]
