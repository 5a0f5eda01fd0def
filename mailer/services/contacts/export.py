"""Export of the filtered party list: parties, or their visible contacts, in import-compatible columns."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ...extensions import db
from ...models import (
    Contact,
    Party,
)
from .search import SORTS, PartyFilters, party_conditions
from .visibility import visible_contacts_query

PARTY_EXPORT_COLUMNS = [
    "codice",
    "ragione_sociale",
    "tipo",
    "partita_iva",
    "codice_fiscale",
    "indirizzo",
    "cap",
    "citta",
    "provincia",
    "nazione",
    "lingua",
    "zona",
    "agente",
    "categoria",
    "attivo",
]
CONTACT_EXPORT_COLUMNS = [
    "codice_anagrafica",
    "ragione_sociale",
    "codice_contatto",
    "nome",
    "funzione",
    "telefono",
    "email",
    "pec",
    "documenti",
    "caratteristiche",
    "riservatezza",
    "consenso_marketing",
    "data_consenso",
    "fonte_consenso",
    "disiscritto",
    "note",
]
KIND_EXPORT = {"customer": "cliente", "supplier": "fornitore", "both": "entrambi"}


def export_rows(
    what: str, filters: PartyFilters, user_or_clearance: Any
) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the filtered list: parties, or their visible contacts (import-compatible columns)."""
    conds = party_conditions(filters, user_or_clearance)
    party_query = select(Party).where(*conds).order_by(*SORTS[filters.sort])
    if what == "parties":
        rows = []
        for p in db.session.scalars(party_query).unique():
            rows.append(
                [
                    p.erp_code,
                    p.name,
                    KIND_EXPORT.get(p.kind, p.kind),
                    p.vat_number,
                    p.tax_code,
                    p.address,
                    p.zip_code,
                    p.city,
                    p.province,
                    p.country,
                    p.language,
                    p.zone.code if p.zone else "",
                    p.agent.code if p.agent else "",
                    p.category.code if p.category else "",
                    "si" if p.active else "no",
                ]
            )
        return PARTY_EXPORT_COLUMNS, rows
    ids = select(Party.id).where(*conds)
    contacts = db.session.scalars(
        visible_contacts_query(user_or_clearance)
        .join(Party, Party.id == Contact.party_id)
        .where(Contact.party_id.in_(ids))
        .order_by(Party.name, Party.id, Contact.name, Contact.id)
    ).unique()
    rows = []
    for c in contacts:
        rows.append(
            [
                c.party.erp_code,
                c.party.name,
                c.erp_code,
                c.name,
                c.function.code if c.function else "",
                c.phone,
                c.email,
                "si" if c.is_pec else "no",
                ",".join(sorted(t.code for t in c.document_types)) or "nessuno",
                ",".join(sorted(t.name for t in c.tags)),
                c.privacy_level,
                "si" if c.marketing_consent else "no",
                c.consent_date.strftime("%d/%m/%Y") if c.consent_date else "",
                c.consent_source,
                "si" if c.opted_out_at else "no",
                c.notes,
            ]
        )
    return CONTACT_EXPORT_COLUMNS, rows
