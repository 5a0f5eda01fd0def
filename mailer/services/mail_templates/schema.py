"""The placeholders a template may use (SCHEMA, with their Italian descriptions) and their listing."""

from __future__ import annotations

from typing import Any

# --- placeholders -------------------------------------------------------------------------------
# Leaves are descriptions (shown on the editor page and in the README); a one-item list describes
# the items of a list.

PARTITA = {
    "numero": "numero del documento della partita",
    "data": "data del documento (usa |it_date)",
    "scadenza": "data di scadenza (usa |it_date)",
    "importo": "importo originario (usa |it_money)",
    "pagato": "importo già pagato",
    "residuo": "importo ancora da pagare",
    "scaduta": "vero se la scadenza è precedente alla data del documento",
    "giorni_ritardo": "giorni di ritardo alla data del documento (0 se non scaduta)",
}
SCADENZA = {
    "data": "data della scadenza",
    "importo": "importo della rata",
    "modalita": "modalità di pagamento",
}
RIGA = {
    "codice": "codice articolo",
    "descrizione": "descrizione",
    "quantita": "quantità (usa |it_number(3))",
    "um": "unità di misura",
    "prezzo": "prezzo unitario",
    "importo": "importo della riga",
}
DOCUMENTO = {
    "tipo": "codice del tipo (FATTURA, DDT…)",
    "tipo_nome": "nome del tipo nella lingua del modello",
    "numero": "numero del documento",
    "anno": "anno",
    "data": "data del documento (usa |it_date)",
    "valuta": "valuta (EUR…); per gli importi: |it_money(documento.valuta)",
    "imponibile": "totale imponibile",
    "iva": "totale IVA",
    "totale": "totale del documento",
    "da_pagare": "importo ancora da pagare (se il gestionale lo indica, altrimenti il totale)",
    "scadenze": [SCADENZA],
    "prima_scadenza": "data della prima scadenza (vuota se non ci sono scadenze)",
    "pagamento": "come si paga: bonifico, riba, addebito (RID/SEPA), contanti, assegno, altro; vuoto se non indicato",
    "riferimento": "riferimento dal gestionale (extra.reference, altrimenti i documenti collegati: ordine, DDT…)",
    "protocollo": "protocollo telematico della dichiarazione d'intento (extra.protocol)",
    "plafond": "importo massimo della dichiarazione d'intento (extra.ceiling)",
    "titolo": "titolo del documento generico (extra.title)",
    "valida_fino": "data di validità dell'offerta (extra.valid_until)",
    "righe": [RIGA],
    "partite_aperte": [PARTITA],
    "saldo_aperto": "saldo delle partite aperte (estratto conto)",
    "partite_scadute": [PARTITA],
    "totale_scaduto": "totale delle partite scadute (sollecito)",
    "partite_pagate": [PARTITA],
}
SCHEMA: dict[str, Any] = {
    "azienda": {
        "ragione_sociale": "ragione sociale della nostra azienda",
        "indirizzo": "indirizzo",
        "cap": "CAP",
        "citta": "città",
        "provincia": "provincia",
        "piva": "partita IVA",
        "codice_fiscale": "codice fiscale",
        "telefono": "telefono",
        "email": "e-mail",
        "sito": "sito web",
        "iban": "IBAN per i pagamenti",
    },
    "anagrafica": {
        "codice": "codice cliente/fornitore nel gestionale",
        "ragione_sociale": "ragione sociale",
        "piva": "partita IVA",
        "codice_fiscale": "codice fiscale",
        "indirizzo": "indirizzo",
        "cap": "CAP",
        "citta": "città",
        "provincia": "provincia",
        "nazione": "nazione (IT…)",
        "cliente": "vero se è un cliente",
        "fornitore": "vero se è un fornitore",
    },
    "contatto": {
        "persona": "vero se il nome è di una persona (falso per «PEC amministrazione», «Ufficio acquisti», «info»)",
        "nome": "nome del contatto (può essere vuoto: usa {% if contatto.nome %})",
        "email": "indirizzo e-mail",
        "funzione": "funzione (Amministrazione, Logistica…)",
        "telefono": "telefono",
    },
    "documento": DOCUMENTO,
    "documenti": [DOCUMENTO],
    "numero_documenti": "quanti documenti sono in questa e-mail (più di uno se raggruppati)",
    "totale_documenti": "somma dei totali dei documenti",
    "utente": {"nome": "nome di chi prepara l'invio", "email": "sua e-mail"},
    "mittente": {
        "nome": "nome dell'account di invio",
        "email": "indirizzo del mittente",
        "pec": "vero se PEC",
    },
    "oggi": "data di oggi",
    "avviso_sdi": (
        "fatture e note di credito con mancata consegna SdI (MC): la frase che dice dove trovare "
        "l'originale (impostazioni del tipo); vuota altrimenti. Se il modello non la usa, va in fondo al testo"
    ),
}

# Document.extra keys read by build_context (set by the intake from the ERP data):
#   extra["open_items"]    ESTRATTO_CONTO: [{"number", "date", "due_date", "amount", "paid", "balance"}]
#   extra["overdue_items"] INSOLUTO: same shape
#   extra["paid_items"]    AVVISO_BONIFICO: same shape (documents paid by the transfer)
#   extra["open_balance"], extra["overdue_total"]: optional totals (default: sum of "balance")
#     (an item may carry "debit"/"credit" instead of "amount", and "days_overdue" to override the days late)
#   extra["reference"] (else extra["references"] = [{"kind", "number", "date"}] from FatturaPA),
#   extra["title"], extra["valid_until"], extra["protocol"], extra["ceiling"]: free text / ISO date / amount
# dates are ISO "YYYY-MM-DD", amounts numbers or decimal strings ("1234.50").
EXTRA_ITEM_KEYS = ("number", "date", "due_date", "amount", "paid", "balance")


def placeholder_rows(
    schema: dict | None = None, prefix: str = "", _seen: dict | None = None
) -> list[tuple[str, str]]:
    """The documented placeholders as (path, description) rows; list items as `name[].field`.

    A structure already listed (documenti = documento, the three kinds of partite) is referred to, not repeated."""
    seen = {} if _seen is None else _seen
    rows: list[tuple[str, str]] = []
    for key, value in (schema or SCHEMA).items():
        path = f"{prefix}{key}"
        inner = value[0] if isinstance(value, list) else value
        if isinstance(value, list):
            if id(inner) in seen:
                rows.append((path, f"elenco; ogni elemento ha gli stessi campi di {seen[id(inner)]}"))
                continue
            rows.append((path, "elenco: {% for x in " + path + " %}…{% endfor %}"))
            seen[id(inner)] = path + "[]"
            rows.extend(placeholder_rows(inner, f"{path}[].", seen))
        elif isinstance(value, dict):
            if id(inner) in seen:
                rows.append((path, f"stessi campi di {seen[id(inner)]}"))
                continue
            seen[id(inner)] = path
            rows.extend(placeholder_rows(value, path + ".", seen))
        else:
            rows.append((path, value))
    return rows


PLACEHOLDER_GROUPS = [
    ("contatto", "Destinatario"),
    ("anagrafica", "Cliente / fornitore"),
    ("documento", "Documento"),
    ("azienda", "La nostra azienda"),
    ("altro", "Altro"),
]


def placeholder_groups() -> list[tuple[str, list[tuple[str, str]]]]:
    """The placeholder rows grouped by top-level object, for the editor page."""
    groups: dict[str, list[tuple[str, str]]] = {key: [] for key, _ in PLACEHOLDER_GROUPS}
    for path, description in placeholder_rows():
        top = path.split(".")[0].split("[")[0]
        groups[top if top in groups else "altro"].append((path, description))
    return [(title, groups[key]) for key, title in PLACEHOLDER_GROUPS]
