"""The recipients' «Gestisci le tue preferenze» link, its public page, and the requests it makes.

A link names one address of one party (never a contact id a recipient could swap), signed like the
unsubscribe links (``campaigns.unsubscribe.link_serializer``) with its own purpose, so it works for
nothing else, and dated: it expires after PREFERENCES_LINK_DAYS. The page shows which document
types come to that address for that party. A marketing opt-out applies at once (the unsubscribe);
everything about business documents becomes a ``PreferenceRequest`` that an office worker accepts
(applied through the contacts service, with its checks and history) or refuses with a reason.
A request is seen only by users whose clearance reaches the level of the address's contacts.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired
from markupsafe import escape
from redis.exceptions import RedisError
from sqlalchemy import func, select

from ..extensions import db
from ..models import Contact, DocumentType, Party, PreferenceRequest, User, utcnow
from ..queue import get_redis
from . import webhooks
from .audit import audit
from .campaigns.unsubscribe import link_serializer, unsubscribe
from .contacts import (
    ContactInput,
    clearance_of,
    create_contact,
    input_of,
    update_contact,
    validate_contact,
    visible_contacts_filter,
)
from .validation import InvalidValue, mask_email, normalize_email

PREFERENCES_PATH = "/preferenze/"
LINK_TEXT = "Gestisci le tue preferenze"
NEUTRAL_TOKEN = "prova-preferenze-disattivate"
_LINK_RE = re.compile(r"(" + re.escape(PREFERENCES_PATH) + r")[A-Za-z0-9_.\-]+")


class PreferenceError(Exception):
    """A request that cannot be made or applied; the message is Italian and safe to show."""


class LinkExpired(Exception):
    """The link was genuine but is older than PREFERENCES_LINK_DAYS."""


@dataclass(frozen=True)
class LinkTarget:
    """What a valid link is about: one address of one party."""

    party_id: int
    email: str


# ---------------------------------------------------------------- links


def preferences_token(party_id: int, email: str) -> str:
    """The signed, dated token of the link for one address of one party."""
    return str(
        link_serializer("preferences", timed=True).dumps({"p": int(party_id), "e": email.strip().lower()})
    )


def preferences_url(party_id: int, email: str, base: str) -> str:
    """The link a recipient follows to manage what they receive."""
    return f"{base.rstrip('/')}{PREFERENCES_PATH}{preferences_token(party_id, email)}"


def read_token(token: str) -> LinkTarget | None:
    """The address a token names; None when forged, altered, of another purpose or naming nobody now.

    Raises LinkExpired for a genuine token past its days (the caller says so without saying more).
    """
    max_age = int(current_app.config.get("PREFERENCES_LINK_DAYS", 60)) * 86400
    try:
        data = link_serializer("preferences", timed=True).loads(token, max_age=max_age)
    except SignatureExpired:
        raise LinkExpired from None
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("p"), int) or not isinstance(data.get("e"), str):
        return None
    target = LinkTarget(data["p"], data["e"])
    return target if address_contacts(target) else None


def link_wanted(doc_type: DocumentType | None) -> bool:
    """Whether messages of this type (None: a campaign) carry the link: per type, or the company's choice."""
    if doc_type is not None:
        return doc_type.preferences_link is not False
    from .reference import get_company

    return get_company().preferences_link is not False


def add_link(html: str, text: str, url: str) -> tuple[str, str]:
    """The message's HTML and text with the link paragraph at the end."""
    paragraph = (
        f'\n<p class="preferenze" style="font-size:12px;color:#666">Vuoi cambiare i documenti che ricevi a '
        f'questo indirizzo? <a href="{escape(url)}">{LINK_TEXT}</a>.</p>'
    )
    return html + paragraph, f"{text}\n\n{LINK_TEXT}: {url}\n"


def neutral_preferences_links(body: str) -> str:
    """The body with every preferences link's token replaced by one that names nobody (for test sends)."""
    return _LINK_RE.sub(rf"\g<1>{NEUTRAL_TOKEN}", body)


# ---------------------------------------------------------------- rate limit


def allow_hit(ip: str, token: str, submit: bool) -> bool:
    """Count one request to the public page; False once the address or (for a change) the link is over its
    limit. Fixed windows in Redis, shared by every web host; without Redis the page answers nobody."""
    config = current_app.config
    keys = [(f"recapito:prefs:ip:{ip}", 600, int(config.get("PREFERENCES_HITS_PER_ADDRESS", 60)))]
    if submit:
        digest = hashlib.sha256(token.encode()).hexdigest()[:32]
        keys.append(
            (f"recapito:prefs:link:{digest}", 3600, int(config.get("PREFERENCES_SUBMITS_PER_LINK", 10)))
        )
    try:
        redis = get_redis()
        for key, window, limit in keys:
            count = redis.incr(key)
            if count == 1:
                redis.expire(key, window)
            if count > limit:
                return False
    except RedisError:
        current_app.logger.warning("preferenze: Redis non raggiungibile, pagina pubblica sospesa")
        return False
    return True


# ---------------------------------------------------------------- the public page


def address_contacts(target: LinkTarget, clearance: int | None = None) -> list[Contact]:
    """The active contacts of the party with the link's address (within a clearance, when given)."""
    query = select(Contact).where(
        Contact.party_id == target.party_id,
        Contact.active.is_(True),
        func.lower(Contact.email) == target.email,
    )
    if clearance is not None:
        query = query.where(visible_contacts_filter(clearance))
    return list(db.session.scalars(query.order_by(Contact.id)))


def received_types(contacts: list[Contact]) -> list[DocumentType]:
    """The document types the contacts receive, in the usual order."""
    codes = {code for c in contacts for code in c.document_type_codes}
    return [t for t in all_types() if t.code in codes]


def all_types() -> list[DocumentType]:
    """Every document type, in the usual order."""
    return list(db.session.scalars(select(DocumentType).order_by(DocumentType.position, DocumentType.code)))


def page_view(target: LinkTarget) -> dict:
    """What the public page shows: the party's name, the masked address, its types, its own requests."""
    contacts = address_contacts(target)
    party = db.session.get(Party, target.party_id)
    pending = db.session.scalars(
        select(PreferenceRequest)
        .where(
            PreferenceRequest.party_id == target.party_id,
            PreferenceRequest.email == target.email,
            PreferenceRequest.status == "pending",
        )
        .order_by(PreferenceRequest.id)
    ).all()
    return {
        "party_name": party.name if party else "",
        "email": mask_email(target.email),
        "types": received_types(contacts),
        "opted_out": all(c.opted_out_at is not None for c in contacts),
        "pending": [describe_own(r) for r in pending],
    }


def describe_own(request: PreferenceRequest) -> str:
    """A pending request in the words of who made it (names only what they typed themselves)."""
    names = {t.code: t.name for t in all_types()}
    if request.kind == "stop":
        return f"Non ricevere più: {names.get(request.type_code, request.type_code)}"
    if request.kind == "redirect":
        return f"{names.get(request.type_code, request.type_code)} a {request.new_email}"
    return f"Aggiungere {request.new_name} <{request.new_email}>"


def opt_out(target: LinkTarget) -> int:
    """Opt the address out of promotions at once, as the unsubscribe link does; returns deliveries stopped."""
    return sum(unsubscribe(contact, via="preferenze") for contact in address_contacts(target))


def submit_request(target: LinkTarget, form: dict) -> tuple[PreferenceRequest | None, dict[str, str]]:
    """Record what the recipient asks (kind stop|redirect|colleague); errors name the field, nothing is written."""
    contacts = address_contacts(target)
    own = {t.code for t in received_types(contacts)}
    kind = form.get("kind", "")
    errors: dict[str, str] = {}
    request = PreferenceRequest(
        party_id=target.party_id,
        email=target.email,
        kind=kind,
        status="pending",
        type_code="",
        type_codes="",
        new_email="",
        new_name="",
        note="",
        refusal_reason="",
    )
    if kind in ("stop", "redirect"):
        code = form.get("type_code", "")
        if code not in own:
            errors["type_code"] = "Scegli uno dei documenti che ricevi."
        request.type_code = code
    elif kind == "colleague":
        codes = [c for c in form.get("type_codes", []) if c in own]
        if not codes or len(codes) != len(form.get("type_codes", [])):
            errors["type_codes"] = "Scegli almeno uno dei documenti che ricevi da mandare al collega."
        request.type_codes = ",".join(sorted(set(codes)))
        name = " ".join((form.get("new_name") or "").split())
        if not name:
            errors["new_name"] = "Scrivi il nome del collega."
        elif len(name) > 160:
            errors["new_name"] = "Il nome è troppo lungo (al massimo 160 caratteri)."
        request.new_name = name
    else:
        return None, {"kind": "Richiesta non riconosciuta: usa i pulsanti della pagina."}
    if kind in ("redirect", "colleague"):
        try:
            request.new_email = normalize_email(form.get("new_email") or "")
        except InvalidValue as exc:
            errors["new_email"] = str(exc)
        if not request.new_email and "new_email" not in errors:
            errors["new_email"] = "Scrivi l'indirizzo e-mail."
        elif request.new_email.lower() == target.email:
            errors["new_email"] = "È l'indirizzo a cui ricevi già i documenti: scrivine un altro."
    note = (form.get("note") or "").strip()
    if len(note) > 1000:
        errors["note"] = "La nota è troppo lunga (al massimo 1000 caratteri)."
    request.note = note
    if errors:
        return None, errors
    if _same_pending(request):
        raise PreferenceError("Questa richiesta è già stata registrata: la stiamo esaminando.")
    request.privacy_level = max(c.privacy_level for c in contacts)
    db.session.add(request)
    db.session.flush()
    audit(
        "preference.submitted",
        request,
        party_id=request.party_id,
        kind=kind,
        privacy_level=request.privacy_level,
    )
    _notify_submitted(request)
    db.session.commit()
    return request, {}


def _same_pending(request: PreferenceRequest) -> bool:
    """A pending request asking the same thing for the same address exists."""
    return (
        db.session.scalar(
            select(func.count(PreferenceRequest.id)).where(
                PreferenceRequest.party_id == request.party_id,
                PreferenceRequest.email == request.email,
                PreferenceRequest.status == "pending",
                PreferenceRequest.kind == request.kind,
                PreferenceRequest.type_code == request.type_code,
                PreferenceRequest.type_codes == request.type_codes,
                func.lower(PreferenceRequest.new_email) == request.new_email.lower(),
            )
        )
        or 0
    ) > 0


def _notify_submitted(request: PreferenceRequest) -> None:
    """The ``contact.preference_submitted`` webhook event, written in the request's transaction (the outbox:
    it leaves only if the request is committed). Addresses and names are the endpoint owner's to see only
    within their clearance (webhooks.PRIVATE_FIELDS)."""
    party_code = db.session.scalar(select(Party.erp_code).where(Party.id == request.party_id))
    webhooks.emit(
        "contact.preference_submitted",
        {
            "request_id": request.id,
            "party_code": party_code,
            "contact_email": request.email,
            "kind": request.kind,
            "type_code": request.type_code,
            "type_codes": [c for c in request.type_codes.split(",") if c],
            "new_email": request.new_email,
            "new_name": request.new_name,
            "submitted_at": request.created_at.replace(microsecond=0).isoformat() + "Z",
        },
        request.privacy_level,
    )


# ---------------------------------------------------------------- the office queue


def visible_requests(user: User, status: str = "pending") -> list[PreferenceRequest]:
    """Requests in a status that the user's clearance reaches, oldest first (newest first when decided)."""
    query = select(PreferenceRequest).where(
        PreferenceRequest.status == status, PreferenceRequest.privacy_level <= clearance_of(user)
    )
    order = PreferenceRequest.id if status == "pending" else PreferenceRequest.decided_at.desc()
    return list(db.session.scalars(query.order_by(order).limit(200)))


def pending_count(user: User) -> int:
    """How many requests wait for the user (within their clearance)."""
    return (
        db.session.scalar(
            select(func.count(PreferenceRequest.id)).where(
                PreferenceRequest.status == "pending", PreferenceRequest.privacy_level <= clearance_of(user)
            )
        )
        or 0
    )


def get_visible_request(request_id: int, user: User) -> PreferenceRequest | None:
    """The request when the user's clearance reaches it (None for hidden and missing alike)."""
    request = db.session.get(PreferenceRequest, request_id)
    if request is None or request.privacy_level > clearance_of(user):
        return None
    return request


def describe(request: PreferenceRequest, user: User) -> tuple[str, str]:
    """(current value, requested value) in words, from what the user may see now."""
    names = {t.code: t.name for t in all_types()}
    target = LinkTarget(request.party_id, request.email)
    contacts = address_contacts(target, clearance_of(user))
    types = ", ".join(t.name for t in received_types(contacts)) or "nessun documento"
    if request.kind == "stop":
        return (
            f"{request.email} riceve: {types}",
            f"{request.email} non riceve più: {names.get(request.type_code, '')}",
        )
    if request.kind == "redirect":
        label = names.get(request.type_code, request.type_code)
        return f"{label} a {request.email}", f"{label} a {request.new_email} (non più a {request.email})"
    wanted = ", ".join(names.get(c, c) for c in request.codes)
    return "—", f"Nuovo contatto {request.new_name} <{request.new_email}>, riceve: {wanted}"


def accept(request: PreferenceRequest, user: User) -> list[Contact]:
    """Apply the request through the contacts service (checks, history); returns the contacts changed.

    Everything is checked first and nothing is written when a check fails (PreferenceError). The caller commits.
    """
    if request.status != "pending":
        raise PreferenceError("La richiesta è già stata decisa.")
    clearance = clearance_of(user)
    target = LinkTarget(request.party_id, request.email)
    party = db.session.get(Party, request.party_id)
    if party is None:
        raise PreferenceError("L'anagrafica non esiste più.")
    plan: list[tuple[Contact | None, ContactInput]] = []
    if request.kind in ("stop", "redirect"):
        holders = [
            c for c in address_contacts(target, clearance) if request.type_code in c.document_type_codes
        ]
        if not holders:
            raise PreferenceError("L'indirizzo non riceve più questo documento: non c'è niente da cambiare.")
        for contact in holders:
            data = input_of(contact)
            data.document_types = sorted(contact.document_type_codes - {request.type_code})
            plan.append((contact, data))
    if request.kind in ("redirect", "colleague"):
        wanted = [request.type_code] if request.kind == "redirect" else request.codes
        plan.append(_receiver(request, wanted, clearance))
    cleaned: list[tuple[Contact | None, dict]] = []
    for planned, data in plan:
        clean, errors = validate_contact(data, clearance)
        if errors:
            where = planned.email if planned is not None else request.new_email
            raise PreferenceError(f"{where}: " + " ".join(errors.values()))
        cleaned.append((planned, clean))
    changed: list[Contact] = []
    for planned, clean in cleaned:
        if planned is None:
            changed.append(create_contact(party, clean, user))
        else:
            update_contact(planned, clean, user)
            changed.append(planned)
    request.status, request.decided_at, request.decided_by_id = "accepted", utcnow(), user.id
    audit(
        "preference.accepted",
        request,
        user=user,
        party_id=request.party_id,
        kind=request.kind,
        contacts=[c.id for c in changed],
        privacy_level=request.privacy_level,
    )
    return changed


def _receiver(
    request: PreferenceRequest, codes: list[str], clearance: int
) -> tuple[Contact | None, ContactInput]:
    """The new address's contact of the party (found within the clearance, else a new one) with the types added."""
    existing = db.session.scalar(
        select(Contact)
        .where(
            Contact.party_id == request.party_id,
            func.lower(Contact.email) == request.new_email.lower(),
            visible_contacts_filter(clearance),
        )
        .order_by(Contact.id)
        .limit(1)
    )
    if existing is not None:
        data = input_of(existing)
        data.document_types = sorted(existing.document_type_codes | set(codes))
        return existing, data
    data = ContactInput(
        name=request.new_name,
        email=request.new_email,
        document_types=sorted(codes),
        privacy_level=str(request.privacy_level),
        notes=f"Aggiunto su richiesta di {request.email} (richiesta n. {request.id}).",
    )
    return None, data


def refuse(request: PreferenceRequest, user: User, reason: str) -> None:
    """Refuse the request with a reason; no contact changes (the caller commits)."""
    if request.status != "pending":
        raise PreferenceError("La richiesta è già stata decisa.")
    reason = (reason or "").strip()
    if not reason:
        raise PreferenceError("Scrivi il motivo del rifiuto.")
    if len(reason) > 1000:
        raise PreferenceError("Il motivo è troppo lungo (al massimo 1000 caratteri).")
    request.status, request.decided_at, request.decided_by_id = "refused", utcnow(), user.id
    request.refusal_reason = reason
    audit(
        "preference.refused",
        request,
        user=user,
        party_id=request.party_id,
        kind=request.kind,
        privacy_level=request.privacy_level,
    )
