"""Writes of contacts (create, update, delete, upsert) and the history entry each one records."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, update

from ...extensions import db
from ...models import (
    Contact,
    ContactChange,
    Delivery,
    DocumentType,
    Party,
    Tag,
    utcnow,
)
from ...reference import PRIVACY_NAMES
from .. import webhooks
from ..validation import InvalidValue, normalize_email
from .checks import ContactInput, validate_contact
from .visibility import clearance_of, visible_contacts_filter

FIELD_LABELS = {
    "erp_code": "Codice gestionale",
    "name": "Nome",
    "function": "Funzione",
    "phone": "Telefono",
    "email": "E-mail",
    "is_pec": "PEC",
    "document_types": "Documenti ricevuti",
    "tags": "Caratteristiche",
    "privacy_level": "Riservatezza",
    "marketing_consent": "Consenso marketing",
    "consent_date": "Data consenso",
    "consent_source": "Fonte consenso",
    "opted_out": "Disiscritto",
    "notes": "Note",
    "active": "Attivo",
}


def contact_snapshot(contact: Contact) -> dict[str, str]:
    """The contact's fields as the history shows them."""
    return {
        "erp_code": contact.erp_code or "",
        "name": contact.name or "",
        "function": contact.function.name if contact.function else "",
        "phone": contact.phone or "",
        "email": contact.email or "",
        "is_pec": ("sì" if contact.is_pec else "no") + (" (manuale)" if contact.pec_flag_manual else ""),
        "document_types": ", ".join(sorted(t.code for t in contact.document_types)),
        "tags": ", ".join(sorted(t.name for t in contact.tags)),
        "privacy_level": PRIVACY_NAMES.get(contact.privacy_level, str(contact.privacy_level)),
        "marketing_consent": "sì" if contact.marketing_consent else "no",
        "consent_date": contact.consent_date.strftime("%d/%m/%Y") if contact.consent_date else "",
        "consent_source": contact.consent_source or "",
        "opted_out": "sì" if contact.opted_out_at else "no",
        "notes": contact.notes or "",
        "active": "sì" if contact.active is not False else "no",
    }


def contact_label(contact: Contact) -> str:
    """How a contact is named in the history: name, or e-mail."""
    if contact.name and contact.email:
        return f"{contact.name} <{contact.email}>"
    return contact.name or contact.email or f"contatto n. {contact.id}"


def _tags_by_name(names: Iterable[str]) -> list[Tag]:
    """Tags for the names, created when missing (case-insensitive match)."""
    names = list(names)
    if not names:
        return []
    existing = {
        t.name.lower(): t
        for t in db.session.scalars(select(Tag).where(func.lower(Tag.name).in_([n.lower() for n in names])))
    }
    result = []
    for name in names:
        tag = existing.get(name.lower())
        if tag is None:
            tag = Tag(name=name)
            db.session.add(tag)
            existing[name.lower()] = tag
        result.append(tag)
    return result


def _assign(contact: Contact, clean: dict, types: dict[str, DocumentType] | None = None) -> None:
    """Copy validated values onto the contact."""
    if types is None:
        types = {t.code: t for t in db.session.scalars(select(DocumentType))}
    contact.erp_code = clean["erp_code"]
    contact.name = clean["name"]
    contact.function = clean["function"]
    contact.function_id = clean["function"].id if clean["function"] else None
    contact.phone = clean["phone"]
    contact.email = clean["email"]
    contact.is_pec = clean["is_pec"]
    contact.pec_flag_manual = clean["pec_flag_manual"]
    contact.document_types = [types[c] for c in clean["document_types"]]
    contact.tags = _tags_by_name(clean["tags"])
    contact.privacy_level = clean["privacy_level"]
    if clean["marketing_consent"]:
        contact.marketing_consent = True
        contact.consent_date = (
            datetime.combine(clean["consent_date"], datetime.min.time())
            if clean["consent_date"]
            else contact.consent_date
        )
    else:
        contact.marketing_consent = False
        contact.consent_date = (
            datetime.combine(clean["consent_date"], datetime.min.time()) if clean["consent_date"] else None
        )
    contact.consent_source = clean["consent_source"]
    if clean["opted_out"] and not contact.opted_out_at:
        contact.opted_out_at = utcnow()
    elif not clean["opted_out"]:
        contact.opted_out_at = None
    contact.notes = clean["notes"]
    if clean.get("active") is not None:
        contact.active = clean["active"]


def _record(
    contact: Contact,
    action: str,
    before: dict[str, str],
    after: dict[str, str],
    levels: tuple[int, ...],
    user: Any,
    audited: bool = True,
    actor: str = "",
) -> ContactChange | None:
    """Add a history entry with the fields that changed (None when nothing did), and an audit event.

    The audit event names the changed fields only, never their values: the audit log is read by
    administrators whose clearance may be lower than the contact's level. Imports pass
    audited=False (they write one audit event for the whole file). `actor` names who made the change
    when it is not a user (e.g. «api:gestionale», «importazione FatturaPA»): the history shows it.
    """
    changes: dict[str, Any] = {
        k: [before.get(k, ""), after.get(k, "")]
        for k in FIELD_LABELS
        if before.get(k, "") != after.get(k, "")
    }
    if not changes and action == "update":
        return None
    if audited:
        from ..audit import audit

        audit(
            f"contact.{action}",
            contact,
            user=user,
            **({"username": actor} if actor else {}),
            party_id=contact.party_id,
            fields=sorted(changes),
            privacy_level=max(levels),
        )
    changes["_contact"] = contact_label(contact)
    if actor:
        changes["_by"] = actor
    entry = ContactChange(
        contact_id=contact.id,
        party_id=contact.party_id,
        action=action,
        user_id=getattr(user, "id", None),
        changes=json.dumps(changes, ensure_ascii=False),
        privacy_level=max(levels),
        at=utcnow(),
    )
    db.session.add(entry)
    return entry


def create_contact(
    party: Party,
    clean: dict,
    user: Any,
    types: dict[str, DocumentType] | None = None,
    audited: bool = True,
    actor: str = "",
) -> Contact:
    """Add a contact to the party and record its creation (the caller commits)."""
    contact = Contact(party_id=party.id)
    contact.party = party
    db.session.add(contact)
    _assign(contact, clean, types)
    db.session.flush()
    _record(contact, "create", {}, contact_snapshot(contact), (contact.privacy_level,), user, audited, actor)
    return contact


def update_contact(
    contact: Contact,
    clean: dict,
    user: Any,
    types: dict[str, DocumentType] | None = None,
    audited: bool = True,
    actor: str = "",
) -> bool:
    """Apply validated values and record what changed; True when anything did (the caller commits)."""
    before = contact_snapshot(contact)
    old_level = contact.privacy_level
    _assign(contact, clean, types)
    db.session.flush()
    if contact.opted_out_at is not None and before["opted_out"] == "no":
        webhooks.emit_contact("contact.opted_out", contact, via=actor or "modifica del contatto")
    return (
        _record(
            contact,
            "update",
            before,
            contact_snapshot(contact),
            (old_level, contact.privacy_level),
            user,
            audited,
            actor,
        )
        is not None
    )


def delete_contact(contact: Contact, user: Any) -> None:
    """Remove the contact, keeping a history entry with its last values (the caller commits)."""
    _record(contact, "delete", contact_snapshot(contact), {}, (contact.privacy_level,), user)
    # Its deliveries lose the link (SET NULL) and are hidden by their own copy of the level from now
    # on (batch_views.visible_to): a contact made confidential since preparation keeps them hidden.
    db.session.execute(
        update(Delivery)
        .where(Delivery.contact_id == contact.id, Delivery.privacy_level < contact.privacy_level)
        .values(privacy_level=contact.privacy_level)
        .execution_options(synchronize_session=False)
    )
    db.session.delete(contact)


# --- upsert: a contact from another system (API; the intake can use it too) ----------------------

# ContactInput fields an upsert may carry; the ones left out keep their value on an update.
UPSERT_FIELDS = frozenset(ContactInput.__dataclass_fields__)


def input_of(contact: Contact) -> ContactInput:
    """The contact's current values as input: what an upsert (or an accepted request) leaves unchanged."""
    return ContactInput(
        name=contact.name or "",
        function=str(contact.function_id) if contact.function_id else "",
        phone=contact.phone or "",
        email=contact.email or "",
        pec=("si" if contact.is_pec else "no") if contact.pec_flag_manual else "auto",
        document_types=sorted(contact.document_type_codes),
        tags=", ".join(sorted(t.name for t in contact.tags)),
        privacy_level=str(contact.privacy_level),
        marketing_consent=bool(contact.marketing_consent),
        consent_date=contact.consent_date.strftime("%d/%m/%Y") if contact.consent_date else "",
        consent_source=contact.consent_source or "",
        opted_out=bool(contact.opted_out_at),
        notes=contact.notes or "",
        erp_code=contact.erp_code or "",
    )


def upsert_contact(
    party: Party,
    fields: Mapping[str, Any],
    user_or_clearance: Any,
    *,
    actor: str = "",
    consent_source: str = "",
    user: Any = None,
    audited: bool = False,
) -> tuple[Contact | None, bool, dict[str, str]]:
    """Create or update a contact of the party from another system; returns (contact, created, errors).

    `fields` holds `ContactInput` values, only those the caller was given: on an update the others keep
    their value; on a creation they take the form's defaults (level 0, PEC detected from the domain, the
    function's document types). The contact is found by `erp_code` when given, else by e-mail (any case),
    among the contacts within the clearance only: one above it is neither changed nor revealed, the caller
    gets a contact of its own. Checked like the page (`validate_contact`), written through
    `create_contact`/`update_contact`, so the change has its history entry (by `actor`). Errors are
    {ContactInput field: Italian message} and nothing is written then; the caller commits.
    A marketing consent newly given without its date and source gets today and `consent_source` (or
    `actor`). The caller audits the request as a whole (audited=False) unless it asks for the per-contact
    audit events of the page.
    """
    unknown = set(fields) - UPSERT_FIELDS
    if unknown:
        raise TypeError(f"campi sconosciuti: {', '.join(sorted(unknown))}")
    clearance = clearance_of(user_or_clearance)
    code = (fields.get("erp_code") or "").strip()
    email = (fields.get("email") or "").strip()
    if not code and not email:
        return None, False, {"email": "serve l'e-mail o il codice del contatto"}
    contact = None
    key = None
    if code:
        key = Contact.erp_code == code
    else:
        try:
            key = func.lower(Contact.email) == normalize_email(email).lower()
        except InvalidValue:
            key = None  # validate_contact below says what is wrong with it
    if key is not None:
        contact = db.session.scalar(
            select(Contact)
            .where(Contact.party_id == party.id, key, visible_contacts_filter(clearance))
            .order_by(Contact.id)
            .limit(1)
        )
    data = input_of(contact) if contact is not None else ContactInput()
    for name, value in fields.items():
        if name in ("name", "email", "phone", "function") and not value:
            continue  # an empty value does not wipe what the contact has
        setattr(data, name, value)
    if data.marketing_consent and (contact is None or not contact.marketing_consent):
        if "consent_date" not in fields:
            data.consent_date = date.today().strftime("%d/%m/%Y")  # noqa: DTZ011 - the calendar day
        if "consent_source" not in fields:
            data.consent_source = consent_source or actor
    clean, errors = validate_contact(data, clearance)
    if errors:
        return None, contact is None, errors
    if contact is None:
        return create_contact(party, clean, user, audited=audited, actor=actor), True, {}
    update_contact(contact, clean, user, audited=audited, actor=actor)
    return contact, False, {}


def ensure_contact_for_address(
    party: Party,
    address: str,
    *,
    type_code: str,
    name: str,
    notes: str,
    origin: str,
    pec: bool = False,
) -> Contact:
    """The party's contact with this address (any case), made to receive ``type_code``.

    For addresses named by a file the ERP hands over (FatturaPA: PECDestinatario). Missing: created
    (level 0, PEC set by hand when ``pec``) after validate_contact, with ``name`` and ``notes``.
    Present: marked PEC when ``pec`` and given the document type; its other values stay. The history
    entry names ``origin`` as who made the change; nothing is recorded when nothing changed. Not
    audited (the import audits the file). Raises InvalidValue (Italian message) before anything is
    written when the values do not validate. The caller commits.
    """
    address = (address or "").strip().lower()
    doc_type = db.session.get(DocumentType, type_code)
    contact = db.session.scalar(
        select(Contact).where(Contact.party_id == party.id, func.lower(Contact.email) == address)
    )
    if contact is None:
        data = ContactInput(
            name=name,
            email=address,
            pec="si" if pec else "auto",
            document_types=[type_code] if doc_type is not None else [],
            privacy_level="0",
            notes=notes,
        )
        clean, errors = validate_contact(data, 0)
        if errors:
            raise InvalidValue(" ".join(errors.values()))
        return create_contact(party, clean, None, audited=False, actor=origin)
    before = contact_snapshot(contact)
    if pec:
        contact.is_pec = True
    if doc_type is not None and doc_type not in contact.document_types:
        contact.document_types.append(doc_type)
    db.session.flush()
    _record(
        contact, "update", before, contact_snapshot(contact), (contact.privacy_level,), None, False, origin
    )
    db.session.flush()
    return contact
