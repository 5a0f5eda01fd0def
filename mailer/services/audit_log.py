"""Reading the audit trail: filters, pages and exports for the administrator's audit log page."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from ..extensions import db
from ..formatting import ROME, DateInputError, it_datetime, parse_it_date
from ..models import AuditEvent
from .pagination import page_arg, page_count, paginate

PER_PAGE = 50
EXPORT_LIMIT = 100_000

# Italian names of the audited actions (anything not listed shows its code).
ACTION_NAMES: dict[str, str] = {
    "login": "Accesso",
    "login.failed": "Accesso fallito",
    "login.throttled": "Accesso rimandato (troppi tentativi)",
    "logout": "Uscita",
    "user.create": "Utente creato",
    "user.update": "Utente modificato (ruoli, permessi, riservatezza)",
    "user.password_reset": "Password reimpostata",
    "contact.create": "Contatto aggiunto",
    "contact.update": "Contatto modificato",
    "contact.delete": "Contatto eliminato",
    "contact.api_upsert": "Contatto dall'API",
    "contact.unsubscribe": "Disiscrizione",
    "contacts.import_parties": "Import anagrafiche",
    "contacts.import_contacts": "Import contatti",
    "contacts.export": "Export contatti/anagrafiche",
    "contacts.function_saved": "Funzione salvata",
    "party.api_upsert": "Anagrafica dall'API",
    "zone.create": "Zona aggiunta",
    "zone.update": "Zona modificata",
    "zone.delete": "Zona eliminata",
    "agent.create": "Agente aggiunto",
    "agent.update": "Agente modificato",
    "agent.delete": "Agente eliminato",
    "category.create": "Categoria aggiunta",
    "category.update": "Categoria modificata",
    "category.delete": "Categoria eliminata",
    "document.api_upsert": "Documento dall'API",
    "document.import_fatturapa": "Import FatturaPA",
    "document.import_spool": "Import dalla cartella di spool",
    "batch.prepare": "Invio preparato",
    "batch.approve": "Invio approvato",
    "batch.reject": "Invio respinto",
    "batch.send": "Invio avviato",
    "batch.pause": "Invio in pausa",
    "batch.resume": "Invio ripreso",
    "batch.cancel": "Invio annullato",
    "batch.retry": "Nuovo tentativo dei falliti",
    "batch.exclude": "Destinatari esclusi",
    "batch.include": "Destinatari inclusi",
    "batch.reroute": "Anagrafica reindirizzata",
    "batch.export": "Export esiti",
    "delivery.mark_sent": "Recapito segnato come inviato",
    "delivery.resend": "Recapito rimesso in coda",
    "delivery.download_message": "Messaggio inviato scaricato",
    "receipt.download": "Ricevuta scaricata",
    "delivery.test_send": "Prova inviata a sé (Invia una prova a me)",
    "mailbox.poll": "Lettura casella richiesta",
    "receipt.confirm": "Ricevuta PEC sospetta confermata e applicata",
    "pec_trust.add": "Certificato PEC aggiunto",
    "pec_trust.remove": "Certificato PEC rimosso",
    "campaign.prepare": "Campagna preparata",
    "segment.save": "Filtro salvato",
    "segment.delete": "Filtro eliminato",
    "generic_document.create": "Documento generico caricato",
    "generic_document.version": "Nuova versione di documento",
    "generic_document.archive": "Documento generico archiviato/ripristinato",
    "account.create": "Account di invio creato",
    "account.update": "Account di invio modificato",
    "account.test": "Prova connessione",
    "account.signature": "Firma salvata",
    "company.update": "Dati azienda modificati",
    "company.logo": "Logo caricato",
    "company.logo_removed": "Logo rimosso",
    "template.save": "Modello e-mail salvato",
    "document_type.settings": "Impostazioni di invio salvate",
    "api_token.create": "Token API creato",
    "api_token.revoke": "Token API revocato",
    "captured.clear": "Posta catturata svuotata",
    "audit.export": "Export del registro",
}

EXPORT_HEADER = [
    "Data e ora",
    "Utente",
    "Azione",
    "Codice azione",
    "Oggetto",
    "Id oggetto",
    "Indirizzo IP",
    "Dettagli",
]


def _parse_date(value: str | None) -> date | None:
    """A dd/mm/yyyy (or yyyy-mm-dd) date, or None when absent or malformed (a filter: lenient)."""
    try:
        return parse_it_date(value, "Data")
    except DateInputError:
        return None


def _local_midnight_utc(day: date) -> datetime:
    """Midnight of an Italian day, as the naive UTC the database stores."""
    return datetime.combine(day, time(), tzinfo=ROME).astimezone(UTC).replace(tzinfo=None)


@dataclass
class AuditFilters:
    """What the audit page filters on: user, action (code or prefix like «batch.»), period, object."""

    user: str = ""
    action: str = ""
    date_from: date | None = None
    date_to: date | None = None
    object_type: str = ""
    object_id: str = ""
    page: int = 1

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> AuditFilters:
        """Read the filters from a query string leniently (bad values are ignored)."""
        page = page_arg(args.get("page"))
        return cls(
            user=(args.get("user") or "").strip()[:64],
            action=(args.get("action") or "").strip()[:60],
            date_from=_parse_date(args.get("from")),
            date_to=_parse_date(args.get("to")),
            object_type=(args.get("object_type") or "").strip()[:40],
            object_id=(args.get("object_id") or "").strip()[:64],
            page=page,
        )

    def to_args(self, **override: Any) -> dict:
        """Query-string arguments (for links and exports), without empty values."""
        args = {
            "user": self.user,
            "action": self.action,
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "object_type": self.object_type,
            "object_id": self.object_id,
            "page": self.page,
        }
        args.update(override)
        return {k: v for k, v in args.items() if v not in ("", None)}

    @property
    def active(self) -> bool:
        """True when any filter is set."""
        return bool(
            self.user or self.action or self.date_from or self.date_to or self.object_type or self.object_id
        )


def _query(filters: AuditFilters):
    """The filtered events query (no order)."""
    query = db.select(AuditEvent)
    if filters.user:
        query = query.where(db.func.lower(AuditEvent.username) == filters.user.lower())
    if filters.action:
        if filters.action.endswith("."):
            query = query.where(AuditEvent.action.startswith(filters.action, autoescape=True))
        else:
            query = query.where(AuditEvent.action == filters.action)
    if filters.date_from:
        query = query.where(AuditEvent.at >= _local_midnight_utc(filters.date_from))
    if filters.date_to:
        query = query.where(AuditEvent.at < _local_midnight_utc(filters.date_to + timedelta(days=1)))
    if filters.object_type:
        query = query.where(AuditEvent.object_type == filters.object_type)
    if filters.object_id:
        query = query.where(AuditEvent.object_id == filters.object_id)
    return query


@dataclass
class AuditPage:
    """One page of events and the figures for the pager."""

    events: list[AuditEvent]
    total: int
    page: int
    pages: int


def search_events(filters: AuditFilters, per_page: int = PER_PAGE) -> AuditPage:
    """The events matching the filters, newest first, one page of them."""
    found = paginate(
        _query(filters).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()), filters.page, per_page
    )
    return AuditPage(
        events=found.items,
        total=found.total or 0,
        page=found.page,
        pages=page_count(found.total or 0, per_page),
    )


def filter_choices() -> dict[str, list[str]]:
    """The actions, users and object types present in the log (for the filter menus)."""

    def distinct(column) -> list[str]:
        return [v for v in db.session.scalars(db.select(column).distinct().order_by(column)) if v]

    actions = distinct(AuditEvent.action)
    groups = sorted({a.split(".", 1)[0] + "." for a in actions if "." in a})
    return {
        "actions": actions,
        "groups": groups,
        "users": distinct(AuditEvent.username),
        "object_types": distinct(AuditEvent.object_type),
    }


# Italian names of the objects an event refers to (the log stores the model's class name).
OBJECT_TYPE_NAMES = {
    "Agent": "Agente",
    "ApiToken": "Token API",
    "Batch": "Invio",
    "Campaign": "Campagna",
    "Category": "Categoria",
    "Company": "Azienda",
    "Contact": "Contatto",
    "ContactFunction": "Funzione",
    "Delivery": "Recapito",
    "Document": "Documento",
    "DocumentType": "Tipo di documento",
    "EmailTemplate": "Modello e-mail",
    "GenericDocument": "Documento generico",
    "MailAccount": "Account di invio",
    "Party": "Anagrafica",
    "PecTrustedCertificate": "Certificato PEC",
    "Receipt": "Ricevuta",
    "SavedFilter": "Filtro",
    "Tag": "Caratteristica",
    "TemplateVersion": "Versione del modello",
    "User": "Utente",
    "Zone": "Zona",
}


def object_type_label(object_type: str) -> str:
    """The Italian name of an object type (the class name when unknown)."""
    return OBJECT_TYPE_NAMES.get(object_type, object_type)


def action_label(action: str) -> str:
    """The Italian name of an action."""
    return ACTION_NAMES.get(action, action)


def details_text(details: Any) -> str:
    """Details as compact text for the table and the exports."""
    if not details:
        return ""
    if isinstance(details, dict):
        return "; ".join(f"{k}: {json.dumps(v, ensure_ascii=False, default=str)}" for k, v in details.items())
    return json.dumps(details, ensure_ascii=False, default=str)


# How the page names the detail keys the areas write (unknown keys are shown as they are).
DETAIL_NAMES = {
    "archived": "archiviato",
    "automatic": "automatica",
    "batch_id": "invio",
    "changes": "modifiche",
    "clearance": "livello",
    "code": "codice",
    "commercial": "commerciale",
    "content_type": "tipo di file",
    "count": "quanti",
    "created": "creati",
    "delivery_id": "recapito",
    "document_id": "documento",
    "address_failures": "errori dall'indirizzo",
    "errors": "errori",
    "failures": "errori dell'utente",
    "fields": "campi",
    "file": "file",
    "filename": "file",
    "format": "formato",
    "ip_address": "indirizzo IP",
    "job_id": "lavoro",
    "kind": "genere",
    "language": "lingua",
    "name": "nome",
    "number": "numero",
    "ok": "riuscito",
    "party_id": "anagrafica",
    "reason": "motivo",
    "removed": "rimossi",
    "roles": "ruoli",
    "rows": "righe",
    "scopes": "ambiti",
    "secrets_changed": "segreti cambiati",
    "shared": "condiviso",
    "size": "dimensione",
    "stopped": "fermati",
    "title": "titolo",
    "type_code": "tipo",
    "types": "tipi",
    "updated": "aggiornati",
    "user": "utente",
    "username": "utente",
    "via": "tramite",
    "what": "cosa",
    "subject": "soggetto",
    "issuer": "emittente",
    "sha256": "impronta SHA-256",
    "not_after": "valido fino al",
    "receipt_type": "tipo di ricevuta",
    "suspect_reasons": "motivi del sospetto",
    "outcome": "esito",
    "wait_seconds": "attesa (secondi)",
    "account": "account",
    "acting_user": "eseguito da",
    "cancelled": "annullati",
    "contacts": "contatti",
    "edited": "modificato",
    "events": "eventi",
    "failed": "falliti",
    "filters": "filtri",
    "message_id": "Message-ID",
    "notification_id": "notifica",
    "one_off": "invio singolo",
    "owner_id": "proprietario",
    "privacy_clearance": "livello di riservatezza",
    "privacy_level": "riservatezza",
    "resends": "reinvii",
    "sdi_id": "identificativo SdI",
    "send_types": "tipi inviabili",
    "smtp_code": "codice SMTP",
    "smtp_reason": "risposta del server",
    "to": "destinatario",
    "typed_address": "indirizzo scritto",
    "url": "indirizzo",
    "version_kept": "versione conservata",
    "four_eyes": "controllo a quattro occhi",
    "soft_spam": "soft spam",
    "active": "attivo",
    "email": "e-mail",
    "full_name": "nome e cognome",
}


def _detail_value(value: Any) -> str:
    """One detail value in words: sì/no, lists joined, old → new for changes."""
    if isinstance(value, bool):
        return "sì" if value else "no"
    if value is None or value == "":
        return "—"
    if isinstance(value, list):
        return ", ".join(_detail_value(v) for v in value) or "—"
    if isinstance(value, dict):
        return "; ".join(f"{DETAIL_NAMES.get(k, k)} {_detail_value(v)}" for k, v in value.items())
    return str(value)


def details_label(details: Any) -> str:
    """Details in words for the page (the exports keep details_text: JSON values, for machines)."""
    if not details:
        return ""
    if not isinstance(details, dict):
        return _detail_value(details)
    parts = []
    for key, value in details.items():
        if key == "changes" and isinstance(value, dict):
            value = (
                "; ".join(
                    f"{DETAIL_NAMES.get(field, field)}: {_detail_value(change[0])} → {_detail_value(change[1])}"
                    if isinstance(change, list) and len(change) == 2
                    else f"{DETAIL_NAMES.get(field, field)}: {_detail_value(change)}"
                    for field, change in value.items()
                )
                or "nessuna"
            )
            parts.append(f"modifiche: {value}")
            continue
        parts.append(f"{DETAIL_NAMES.get(key, key)}: {_detail_value(value)}")
    return "; ".join(parts)


def export_rows(filters: AuditFilters) -> list[list[Any]]:
    """Every matching event (newest first, up to EXPORT_LIMIT) as export rows."""
    events = db.session.scalars(
        _query(filters).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(EXPORT_LIMIT)
    )
    return [
        [
            it_datetime(e.at),
            e.username,
            action_label(e.action),
            e.action,
            e.object_type,
            e.object_id,
            e.ip,
            details_text(e.details),
        ]
        for e in events
    ]
