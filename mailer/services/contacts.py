"""Customers, suppliers and their contacts: privacy-filtered queries, search, edits with history,
coverage per document type, export.

Privacy: a user sees a contact only when `Contact.privacy_level <= user.privacy_clearance`.
Every query here takes the clearance (or the user) and applies that rule; other areas call
`visible_contacts_query(user)` / `visible_contacts_filter(clearance)` instead of querying Contact directly.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, exists, func, or_, select, update

from ..extensions import db
from ..formatting import DateInputError, parse_it_date
from ..inputs import db_id
from ..models import (
    Agent,
    Category,
    Contact,
    ContactChange,
    ContactFunction,
    Delivery,
    DocumentType,
    Party,
    Tag,
    User,
    Zone,
    contact_document_types,
    contact_tags,
    utcnow,
)
from ..reference import PARTY_KIND_NAMES, PRIVACY_NAMES
from .validation import InvalidValue, is_pec_address, normalize_email

VIEW_ROLES = ("operator", "manager", "sales")  # admin passes every check
EDIT_ROLES = ("operator", "manager")
IMPORT_ROLES = ("operator", "manager")
PER_PAGE = 50
# Contacts are searched from this many characters on: one or two letters match most of the
# address book and would only slow the list down.
MIN_CONTACT_SEARCH = 3

SORTS = {
    "name": (Party.name, Party.id),
    "-name": (Party.name.desc(), Party.id.desc()),
    "code": (Party.erp_code,),
    "-code": (Party.erp_code.desc(),),
    "city": (Party.city, Party.name, Party.id),
    "-city": (Party.city.desc(), Party.name, Party.id),
}
SORT_LABELS = {
    "name": "Ragione sociale (A-Z)",
    "-name": "Ragione sociale (Z-A)",
    "code": "Codice",
    "-code": "Codice (decrescente)",
    "city": "Città (A-Z)",
    "-city": "Città (Z-A)",
}


# --- privacy -------------------------------------------------------------------------------------


def clearance_of(user_or_clearance: Any) -> int:
    """A clearance from a user (its privacy_clearance), an int, or -1 for nobody."""
    if isinstance(user_or_clearance, int):
        return user_or_clearance
    if user_or_clearance is None or getattr(user_or_clearance, "is_anonymous", False):
        return -1
    return int(getattr(user_or_clearance, "privacy_clearance", -1))


def visible_contacts_filter(user_or_clearance: Any):
    """SQL condition: the contact is within the user's clearance (use it in joins and sub-queries)."""
    return Contact.privacy_level <= clearance_of(user_or_clearance)


def visible_contacts_query(user_or_clearance: Any) -> Select:
    """`select(Contact)` limited to the contacts the user may see; add your own filters to it."""
    return select(Contact).where(visible_contacts_filter(user_or_clearance))


def get_visible_contact(contact_id: int, user_or_clearance: Any) -> Contact | None:
    """The contact when it exists and the user may see it, else None (callers answer 404 either way)."""
    return db.session.scalar(visible_contacts_query(user_or_clearance).where(Contact.id == contact_id))


def party_contacts(party_id: int, user_or_clearance: Any) -> list[Contact]:
    """The party's contacts visible to the user, by name."""
    return list(
        db.session.scalars(
            visible_contacts_query(user_or_clearance)
            .where(Contact.party_id == party_id)
            .order_by(Contact.name, Contact.id)
        )
    )


# --- search --------------------------------------------------------------------------------------


def _escape_like(text: str) -> str:
    """Escape LIKE wildcards typed by the user."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contains(column, text: str):
    """Case-insensitive substring match (SQLite's LIKE already ignores ASCII case and is faster)."""
    pattern = f"%{_escape_like(text)}%"
    if db.session.get_bind().dialect.name == "sqlite":
        return column.like(pattern, escape="\\")
    return column.ilike(pattern, escape="\\")


def _int_or_none(value: Any) -> int | None:
    """An id from a query-string value, or None (also when no INTEGER column could hold it)."""
    try:
        return db_id(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


@dataclass
class PartyFilters:
    """What the user asked the party list for."""

    q: str = ""
    kind: str = ""
    zone_id: int | None = None
    agent_id: int | None = None
    category_id: int | None = None
    province: str = ""
    city: str = ""
    tag_id: int | None = None
    sort: str = "name"
    page: int = 1

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> PartyFilters:
        """Read the filters from a query string (unknown or malformed values are ignored)."""
        sort = args.get("sort") or "name"
        kind = args.get("kind") or ""
        return cls(
            q=(args.get("q") or "").strip()[:100],
            kind=kind if kind in PARTY_KIND_NAMES else "",
            zone_id=_int_or_none(args.get("zone")),
            agent_id=_int_or_none(args.get("agent")),
            category_id=_int_or_none(args.get("category")),
            province=(args.get("province") or "").strip().upper()[:2],
            city=(args.get("city") or "").strip()[:100],
            tag_id=_int_or_none(args.get("tag")),
            sort=sort if sort in SORTS else "name",
            page=max(1, _int_or_none(args.get("page")) or 1),
        )

    def to_args(self, **override: Any) -> dict[str, Any]:
        """The filters as query-string arguments (empty ones left out), for links and exports."""
        values = {
            "q": self.q,
            "kind": self.kind,
            "zone": self.zone_id,
            "agent": self.agent_id,
            "category": self.category_id,
            "province": self.province,
            "city": self.city,
            "tag": self.tag_id,
            "sort": self.sort if self.sort != "name" else "",
            "page": self.page,
        }
        values.update(override)
        return {k: v for k, v in values.items() if v not in (None, "") and not (k == "page" and v == 1)}

    @property
    def narrowed(self) -> bool:
        """True when a filter other than the text search already narrows the parties."""
        return bool(
            self.zone_id or self.agent_id or self.category_id or self.province or self.city or self.tag_id
        )

    @property
    def active(self) -> bool:
        """True when any filter narrows the list."""
        return bool(
            self.q
            or self.kind
            or self.zone_id
            or self.agent_id
            or self.category_id
            or self.province
            or self.city
            or self.tag_id
        )


def party_conditions(filters: PartyFilters, user_or_clearance: Any) -> list:
    """WHERE conditions on Party for the filters; contact matches only count visible contacts."""
    visible = visible_contacts_filter(user_or_clearance)
    conds: list = []
    if filters.kind == "customer":
        conds.append(Party.kind.in_(("customer", "both")))
    elif filters.kind == "supplier":
        conds.append(Party.kind.in_(("supplier", "both")))
    elif filters.kind == "both":
        conds.append(Party.kind == "both")
    if filters.zone_id:
        conds.append(Party.zone_id == filters.zone_id)
    if filters.agent_id:
        conds.append(Party.agent_id == filters.agent_id)
    if filters.category_id:
        conds.append(Party.category_id == filters.category_id)
    if filters.province:
        conds.append(Party.province == filters.province)
    if filters.city:
        conds.append(func.lower(Party.city) == filters.city.lower())
    if filters.tag_id:
        conds.append(
            Party.id.in_(
                select(Contact.party_id)
                .join(contact_tags, contact_tags.c.contact_id == Contact.id)
                .where(contact_tags.c.tag_id == filters.tag_id, visible)
            )
        )
    if filters.q:
        q = filters.q
        party_match = [
            _contains(Party.name, q),
            _contains(Party.erp_code, q),
            _contains(Party.vat_number, q),
            _contains(Party.city, q),
        ]
        if len(q) >= MIN_CONTACT_SEARCH:
            contact_match = or_(_contains(Contact.name, q), _contains(Contact.email, q))
            if filters.narrowed:
                # Few parties left: look up each one's contacts through the party_id index.
                party_match.append(
                    exists(select(Contact.id).where(Contact.party_id == Party.id, visible, contact_match))
                )
            else:
                # Whole list: one pass over the covering index ix_contacts_search.
                party_match.append(Party.id.in_(select(Contact.party_id).where(visible, contact_match)))
        conds.append(or_(*party_match))
    return conds


@dataclass
class PartyPage:
    """One page of the party list."""

    parties: list[Party]
    total: int
    page: int
    per_page: int
    contact_counts: dict[int, int] = field(default_factory=dict)
    matched_contacts: dict[int, list[str]] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        """Number of pages."""
        return max(1, -(-self.total // self.per_page))

    @property
    def first_index(self) -> int:
        """1-based position of the first row shown."""
        return 0 if not self.total else (self.page - 1) * self.per_page + 1

    @property
    def last_index(self) -> int:
        """1-based position of the last row shown."""
        return min(self.total, self.page * self.per_page)


def search_parties(filters: PartyFilters, user_or_clearance: Any, per_page: int = PER_PAGE) -> PartyPage:
    """The page of parties matching the filters, their total, and their visible contact counts."""
    conds = party_conditions(filters, user_or_clearance)

    def fetch(page: int) -> list:
        # One pass: the window count gives the total along with the page.
        return (
            db.session.execute(
                select(Party, func.count().over().label("total"))
                .where(*conds)
                .order_by(*SORTS[filters.sort])
                .limit(per_page)
                .offset((page - 1) * per_page)
            )
            .unique()
            .all()
        )

    page = filters.page
    rows = fetch(page)
    if rows:
        total = rows[0].total
    else:
        total = 0
        if page > 1:
            total = db.session.scalar(select(func.count()).select_from(Party).where(*conds)) or 0
        if total:  # asked for a page past the end: show the last one
            page = max(1, -(-total // per_page))
            rows = fetch(page)
    parties = [row[0] for row in rows]
    result = PartyPage(parties=parties, total=total, page=page, per_page=per_page)
    ids = [p.id for p in parties]
    if ids:
        visible = visible_contacts_filter(user_or_clearance)
        result.contact_counts = dict(
            db.session.execute(
                select(Contact.party_id, func.count(Contact.id))
                .where(Contact.party_id.in_(ids), visible)
                .group_by(Contact.party_id)
            ).all()
        )
        if len(filters.q) >= MIN_CONTACT_SEARCH:
            rows = db.session.execute(
                select(Contact.party_id, Contact.name, Contact.email)
                .where(
                    Contact.party_id.in_(ids),
                    visible,
                    or_(_contains(Contact.name, filters.q), _contains(Contact.email, filters.q)),
                )
                .order_by(Contact.name)
            ).all()
            for party_id, name, email in rows:
                result.matched_contacts.setdefault(party_id, []).append(name or email)
    return result


def get_party(party_id: int) -> Party | None:
    """A party by id (party data is not privacy-restricted; its contacts are)."""
    return db.session.get(Party, party_id)


def filter_choices() -> dict[str, list]:
    """Options of the list filters: zones, agents, categories, provinces in use, tags."""
    return {
        "zones": list(db.session.scalars(select(Zone).order_by(Zone.name))),
        "agents": list(db.session.scalars(select(Agent).order_by(Agent.name))),
        "categories": list(db.session.scalars(select(Category).order_by(Category.name))),
        "provinces": [
            p
            for p in db.session.scalars(
                select(Party.province).where(Party.province != "").distinct().order_by(Party.province)
            )
        ],
        "tags": list(db.session.scalars(select(Tag).order_by(Tag.name))),
    }


# --- contact edits -------------------------------------------------------------------------------

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
}
PHONE_CHARS = set("0123456789 +/-().")


@dataclass
class ContactInput:
    """Raw values of a contact as typed in the form or read from an imported file."""

    name: str = ""
    function: str = ""  # id (form) or code/name (import)
    phone: str = ""
    email: str = ""
    pec: str = "auto"  # auto|si|no
    document_types: list[str] | None = None  # None: the function's defaults
    tags: str = ""
    privacy_level: str = "0"
    marketing_consent: bool = False
    consent_date: str = ""
    consent_source: str = ""
    opted_out: bool = False
    notes: str = ""
    erp_code: str = ""

    @classmethod
    def from_form(cls, form: Any) -> ContactInput:
        """Read the contact form (a werkzeug MultiDict)."""
        return cls(
            name=form.get("name", ""),
            function=form.get("function", ""),
            phone=form.get("phone", ""),
            email=form.get("email", ""),
            pec=form.get("pec", "auto"),
            document_types=form.getlist("document_types"),
            tags=form.get("tags", ""),
            privacy_level=form.get("privacy_level", "0"),
            marketing_consent=form.get("marketing_consent") == "1",
            consent_date=form.get("consent_date", ""),
            consent_source=form.get("consent_source", ""),
            opted_out=form.get("opted_out") == "1",
            notes=form.get("notes", ""),
            erp_code=form.get("erp_code", ""),
        )


def parse_date(value: str, field: str = "Data") -> date:
    """A date written dd/mm/yyyy or yyyy-mm-dd (formatting.parse_it_date); InvalidValue naming the field."""
    try:
        parsed = parse_it_date(value, field)
    except DateInputError as exc:
        raise InvalidValue(str(exc)) from None
    if parsed is None:
        raise InvalidValue(f"{field}: scrivi la data come gg/mm/aaaa, es. 31/01/2027.")
    return parsed


def validate_contact(
    data: ContactInput,
    user_or_clearance: Any,
    functions: dict[str, ContactFunction] | None = None,
    type_codes: set[str] | None = None,
) -> tuple[dict, dict[str, str]]:
    """Check every field; return (clean values, {field: Italian message}). Nothing is written."""
    clearance = clearance_of(user_or_clearance)
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    if functions is None:
        functions = _function_lookup()
    if type_codes is None:
        type_codes = set(db.session.scalars(select(DocumentType.code)))

    clean["name"] = " ".join((data.name or "").split())
    if len(clean["name"]) > 160:
        errors["name"] = "Nome troppo lungo (al massimo 160 caratteri)."
    clean["erp_code"] = (data.erp_code or "").strip()
    if len(clean["erp_code"]) > 40:
        errors["erp_code"] = "Codice troppo lungo (al massimo 40 caratteri)."

    function = None
    key = (data.function or "").strip()
    if key:
        function = functions.get(key) or functions.get(key.lower())
        if function is None:
            errors["function"] = f"Funzione sconosciuta: «{key}»."
    clean["function"] = function

    phone = (data.phone or "").strip()
    if phone and (not set(phone) <= PHONE_CHARS or not any(ch.isdigit() for ch in phone)):
        errors["phone"] = "Telefono non valido: usa cifre, spazi e i segni + / - ( )."
    elif len(phone) > 40:
        errors["phone"] = "Telefono troppo lungo (al massimo 40 caratteri)."
    clean["phone"] = phone

    try:
        clean["email"] = normalize_email(data.email)
    except InvalidValue as exc:
        errors["email"] = str(exc)
        clean["email"] = (data.email or "").strip()
    if not clean["name"] and not clean["email"] and "email" not in errors:
        errors["name"] = "Indica almeno il nome o l'indirizzo e-mail."

    pec = (data.pec or "auto").strip().lower()
    if pec in ("", "auto"):
        clean["is_pec"], clean["pec_flag_manual"] = is_pec_address(clean["email"]), False
    elif pec in ("si", "sì", "1", "yes", "true", "s"):
        clean["is_pec"], clean["pec_flag_manual"] = True, True
    elif pec in ("no", "0", "false", "n"):
        clean["is_pec"], clean["pec_flag_manual"] = False, True
    else:
        errors["pec"] = "Valore PEC non valido: usa sì, no o lascia vuoto (automatico)."

    if data.document_types is None:
        codes = [t.code for t in function.default_types] if function else []
    else:
        codes = [c.strip().upper() for c in data.document_types if c and c.strip()]
        unknown = [c for c in codes if c not in type_codes]
        if unknown:
            errors["document_types"] = "Tipi di documento sconosciuti: " + ", ".join(unknown) + "."
    clean["document_types"] = sorted(set(codes) & type_codes)
    if clean["document_types"] and not clean["email"] and "email" not in errors:
        errors["document_types"] = "Per ricevere documenti serve un indirizzo e-mail."

    tags = []
    for raw in (data.tags or "").replace(";", ",").split(","):
        tag = " ".join(raw.split())
        if tag and tag.lower() not in {t.lower() for t in tags}:
            if len(tag) > 60:
                errors["tags"] = f"Caratteristica troppo lunga: «{tag[:20]}…» (al massimo 60 caratteri)."
            tags.append(tag)
    clean["tags"] = tags

    try:
        level = int(str(data.privacy_level).strip() or "0")
    except ValueError:
        level = -1
    if level not in PRIVACY_NAMES:
        errors["privacy_level"] = "Livello di riservatezza non valido (da 0 a 3)."
    elif level > clearance:
        errors["privacy_level"] = (
            "Non puoi assegnare un livello di riservatezza superiore al tuo "
            f"({PRIVACY_NAMES.get(clearance, clearance)})."
        )
    clean["privacy_level"] = level

    clean["marketing_consent"] = bool(data.marketing_consent)
    clean["consent_source"] = " ".join((data.consent_source or "").split())
    clean["consent_date"] = None
    if data.consent_date:
        try:
            clean["consent_date"] = parse_date(data.consent_date, "Data del consenso")
            if clean["consent_date"] > date.today():
                errors["consent_date"] = "La data del consenso non può essere nel futuro."
        except InvalidValue as exc:
            errors["consent_date"] = str(exc)
    if clean["marketing_consent"]:
        if not data.consent_date:
            errors["consent_date"] = "Con il consenso marketing indica la data in cui è stato dato."
        if not clean["consent_source"]:
            errors["consent_source"] = (
                "Con il consenso marketing indica la fonte (es. modulo web, contratto)."
            )
    if len(clean["consent_source"]) > 120:
        errors["consent_source"] = "Fonte troppo lunga (al massimo 120 caratteri)."
    clean["opted_out"] = bool(data.opted_out)
    clean["notes"] = (data.notes or "").strip()
    if len(clean["notes"]) > 2000:
        errors["notes"] = "Note troppo lunghe (al massimo 2000 caratteri)."
    return clean, errors


def _function_lookup() -> dict[str, ContactFunction]:
    """Functions by id (as text), code and lower-case name."""
    lookup: dict[str, ContactFunction] = {}
    for f in db.session.scalars(select(ContactFunction)):
        lookup[str(f.id)] = f
        lookup[f.code] = f
        lookup[f.code.lower()] = f
        lookup[f.name.lower()] = f
    return lookup


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


def _record(
    contact: Contact,
    action: str,
    before: dict[str, str],
    after: dict[str, str],
    levels: tuple[int, ...],
    user: Any,
    audited: bool = True,
) -> ContactChange | None:
    """Add a history entry with the fields that changed (None when nothing did), and an audit event.

    The audit event names the changed fields only, never their values: the audit log is read by
    administrators whose clearance may be lower than the contact's level. Imports pass
    audited=False (they write one audit event for the whole file).
    """
    changes = {
        k: [before.get(k, ""), after.get(k, "")]
        for k in FIELD_LABELS
        if before.get(k, "") != after.get(k, "")
    }
    if not changes and action == "update":
        return None
    if audited:
        from .audit import audit

        audit(
            f"contact.{action}",
            contact,
            user=user,
            party_id=contact.party_id,
            fields=sorted(changes),
            privacy_level=max(levels),
        )
    changes["_contact"] = contact_label(contact)
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
    party: Party, clean: dict, user: Any, types: dict[str, DocumentType] | None = None, audited: bool = True
) -> Contact:
    """Add a contact to the party and record its creation (the caller commits)."""
    contact = Contact(party_id=party.id)
    contact.party = party
    db.session.add(contact)
    _assign(contact, clean, types)
    db.session.flush()
    _record(contact, "create", {}, contact_snapshot(contact), (contact.privacy_level,), user, audited)
    return contact


def update_contact(
    contact: Contact,
    clean: dict,
    user: Any,
    types: dict[str, DocumentType] | None = None,
    audited: bool = True,
) -> bool:
    """Apply validated values and record what changed; True when anything did (the caller commits)."""
    before = contact_snapshot(contact)
    old_level = contact.privacy_level
    _assign(contact, clean, types)
    db.session.flush()
    return (
        _record(
            contact,
            "update",
            before,
            contact_snapshot(contact),
            (old_level, contact.privacy_level),
            user,
            audited,
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


@dataclass
class HistoryEntry:
    """A contact change as the party page shows it."""

    at: datetime
    action: str
    username: str
    contact: str
    changes: list[tuple[str, str, str]]


def party_history(party_id: int, user_or_clearance: Any, limit: int = 100) -> list[HistoryEntry]:
    """Changes to the party's contacts that the user may see, newest first.

    An entry is hidden when it shows data above the clearance (its own level) or when the contact
    it belongs to is now above the clearance.
    """
    clearance = clearance_of(user_or_clearance)
    rows = db.session.execute(
        select(ContactChange, User.username)
        .outerjoin(User, User.id == ContactChange.user_id)
        .outerjoin(Contact, Contact.id == ContactChange.contact_id)
        .where(
            ContactChange.party_id == party_id,
            ContactChange.privacy_level <= clearance,
            or_(Contact.id.is_(None), Contact.privacy_level <= clearance),
        )
        .order_by(ContactChange.at.desc(), ContactChange.id.desc())
        .limit(limit)
    ).all()
    entries = []
    for change, username in rows:
        try:
            data = json.loads(change.changes or "{}")
        except ValueError:
            data = {}
        label = data.pop("_contact", "")
        fields = [
            (FIELD_LABELS.get(k, k), str(v[0] or ""), str(v[1] or ""))
            for k, v in data.items()
            if isinstance(v, list) and len(v) == 2
        ]
        entries.append(
            HistoryEntry(
                at=change.at,
                action=change.action,
                username=username or "sistema",
                contact=label,
                changes=fields,
            )
        )
    return entries


# --- coverage ------------------------------------------------------------------------------------


def _kinds_for(counterpart: str) -> tuple[str, ...]:
    """Party kinds a document type is sent to."""
    if counterpart == "customer":
        return ("customer", "both")
    if counterpart == "supplier":
        return ("supplier", "both")
    return ("customer", "supplier", "both")


def _covered_condition(type_code: str, user_or_clearance: Any):
    """EXISTS a visible active contact with an e-mail that receives the type, for Party."""
    return exists(
        select(Contact.id)
        .join(contact_document_types, contact_document_types.c.contact_id == Contact.id)
        .where(
            Contact.party_id == Party.id,
            contact_document_types.c.document_type_code == type_code,
            Contact.active.is_(True),
            Contact.email != "",
            visible_contacts_filter(user_or_clearance),
        )
    )


@dataclass
class CoverageRow:
    """Coverage of one document type."""

    type: DocumentType
    parties: int
    uncovered: int


def coverage_summary(user_or_clearance: Any) -> list[CoverageRow]:
    """For each document type: active parties it goes to, and how many have nobody (visible) receiving it."""
    types = list(db.session.scalars(select(DocumentType).order_by(DocumentType.position)))
    by_kind = dict(
        db.session.execute(
            select(Party.kind, func.count(Party.id)).where(Party.active.is_(True)).group_by(Party.kind)
        ).all()
    )
    covered = db.session.execute(
        select(contact_document_types.c.document_type_code, Party.kind, func.count(func.distinct(Party.id)))
        .select_from(contact_document_types)
        .join(Contact, Contact.id == contact_document_types.c.contact_id)
        .join(Party, Party.id == Contact.party_id)
        .where(
            Party.active.is_(True),
            Contact.active.is_(True),
            Contact.email != "",
            visible_contacts_filter(user_or_clearance),
        )
        .group_by(contact_document_types.c.document_type_code, Party.kind)
    ).all()
    covered_by: dict[tuple[str, str], int] = {(code, kind): n for code, kind, n in covered}
    rows = []
    for t in types:
        kinds = _kinds_for(t.counterpart)
        total = sum(by_kind.get(k, 0) for k in kinds)
        ok = sum(covered_by.get((t.code, k), 0) for k in kinds)
        rows.append(CoverageRow(type=t, parties=total, uncovered=total - ok))
    return rows


def uncovered_parties(
    type_code: str, user_or_clearance: Any, page: int = 1, per_page: int = PER_PAGE
) -> tuple[list[Party], int]:
    """Active parties the type goes to with nobody visible receiving it (a page, and the total)."""
    doc_type = db.session.get(DocumentType, type_code)
    if doc_type is None:
        return [], 0
    conds = [
        Party.active.is_(True),
        Party.kind.in_(_kinds_for(doc_type.counterpart)),
        ~_covered_condition(type_code, user_or_clearance),
    ]
    total = db.session.scalar(select(func.count()).select_from(Party).where(*conds)) or 0
    parties = list(
        db.session.scalars(
            select(Party)
            .where(*conds)
            .order_by(Party.name, Party.id)
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).unique()
    )
    return parties, total


# --- export --------------------------------------------------------------------------------------

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


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _safe_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in exported text (CSV/formula injection) with a leading apostrophe.

    A value that itself starts with an apostrophe gets one more, so `unguard_cell` gives back exactly
    what was exported."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS + ("'",):
        return "'" + value
    return value


def unguard_cell(value: str) -> str:
    """The value `_safe_cell` guarded, as it was: an import reads back what the export wrote (issue 14.13)."""
    if value[:1] == "'" and value[1:2] in FORMULA_STARTS + ("'",):
        return value[1:]
    return value


def to_csv(header: list[str], rows: list[list[Any]]) -> bytes:
    """CSV separated by semicolons, UTF-8 with BOM (what Excel in Italian opens correctly)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_safe_cell(v) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(header: list[str], rows: list[list[Any]], title: str = "Export") -> bytes:
    """An XLSX workbook with one sheet."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    sheet.append(header)
    for row in rows:
        sheet.append([_safe_cell(v) for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- functions -----------------------------------------------------------------------------------


def save_function(
    function: ContactFunction | None, code: str, name: str, type_codes: list[str]
) -> tuple[ContactFunction | None, dict[str, str]]:
    """Create or change a contact function and its default document types (the caller commits)."""
    errors: dict[str, str] = {}
    code = (code or "").strip().lower()
    name = " ".join((name or "").split())
    if function is None:
        if not code:
            errors["code"] = "Indica un codice (es. legale)."
        elif not all(ch.isalnum() or ch in "_-" for ch in code) or len(code) > 32:
            errors["code"] = "Il codice può avere solo lettere, cifre, - e _ (al massimo 32)."
        elif db.session.scalar(select(ContactFunction).where(ContactFunction.code == code)):
            errors["code"] = f"Esiste già una funzione con codice «{code}»."
    if not name:
        errors["name"] = "Indica il nome della funzione."
    elif len(name) > 120:
        errors["name"] = "Nome troppo lungo (al massimo 120 caratteri)."
    types = {t.code: t for t in db.session.scalars(select(DocumentType))}
    unknown = [c for c in type_codes if c not in types]
    if unknown:
        errors["types"] = "Tipi di documento sconosciuti: " + ", ".join(unknown)
    if errors:
        return None, errors
    if function is None:
        function = ContactFunction(code=code, name=name)
        db.session.add(function)
    function.name = name
    function.default_types = [types[c] for c in type_codes]
    return function, {}


# --- contacts written by intake paths (h-intake) -------------------------------------------------
# A file handed over by the ERP (FatturaPA: PECDestinatario) names an address that must receive a
# document type. The contact is added or completed here, so the values are validated and the change
# has its history entry like any other edit.


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
    """The party's contact with this address (case-insensitive), made to receive ``type_code``.

    Missing: created (level 0, PEC flag set by hand when ``pec``) after validate_contact, with
    ``name`` and ``notes``. Present: marked PEC when ``pec`` and given the document type; its other
    values stay as they are. The history entry carries ``origin`` (``"_origin"`` in its changes);
    nothing is recorded when nothing changed. Not audited (the import audits the file). Raises
    InvalidValue (Italian message) when the values do not validate, before anything is written.
    The caller commits.
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
        contact = create_contact(party, clean, None, audited=False)
        entry = next(
            (
                obj
                for obj in db.session.new
                if isinstance(obj, ContactChange) and obj.contact_id == contact.id
            ),
            None,
        )
    else:
        before = contact_snapshot(contact)
        if pec:
            contact.is_pec = True
        if doc_type is not None and doc_type not in contact.document_types:
            contact.document_types.append(doc_type)
        db.session.flush()
        entry = _record(
            contact,
            "update",
            before,
            contact_snapshot(contact),
            (contact.privacy_level,),
            None,
            audited=False,
        )
    if entry is not None:
        entry.changes = json.dumps({**json.loads(entry.changes), "_origin": origin}, ensure_ascii=False)
    db.session.flush()
    return contact
