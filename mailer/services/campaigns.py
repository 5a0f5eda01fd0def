"""Campaigns: a saved filter + generic documents + subject and body + account, sent as a Batch.

The batch (kind "campaign", type GENERICO) goes through the same review → approval → sending →
results path as document batches. Preparation turns the filter's contacts into deliveries and
leaves out, with a reason counted per privacy level in ``Batch.params["exclusions"]``:

- opted-out contacts (every campaign; a transactional document still reaches them),
- addresses taken from INI-PEC and PEC addresses (every campaign: campaigns go through an ordinary
  account, and INI-PEC addresses may only be used for legal communications),
- for a *commercial* campaign, contacts without marketing consent — unless the company allows the
  soft-spam rule (art. 130 c. 4 Codice privacy) and the contact belongs to an existing customer:
  a party of kind customer with at least one invoice in the last SOFT_SPAM_MONTHS months. The rule
  also asks that the products be similar to those bought and that the customer was informed and
  can object at any time: the sender asserts the first two when marking the campaign commercial,
  every message carries the opt-out link, and opted-out contacts are never included.
- the same address twice (one message per address).

Commercial messages carry an unsubscribe link in the body and the ``List-Unsubscribe`` (https URL,
optional mailto) and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` headers (RFC 8058).
The link's token is the contact id signed with the application's secret (itsdangerous), so it
names the contact and cannot be guessed or altered. An opt-out applies at once: deliveries of the
contact not yet sent in campaign batches become "excluded" (the sender only claims "queued" ones).
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from markupsafe import escape
from sqlalchemy import select, update

from ..extensions import db
from ..models import (
    Batch,
    Blob,
    Campaign,
    Contact,
    ContactChange,
    Delivery,
    Document,
    GenericDocumentVersion,
    MailAccount,
    Party,
    SavedFilter,
    User,
    utcnow,
)
from ..queue import PREPARE_CAMPAIGN_JOB
from ..queue import enqueue as enqueue_job
from . import mail_templates as mt
from . import segments
from .audit import audit
from .contacts import clearance_of
from .preparation import PreparationError, check_permission
from .reference import get_company

SOFT_SPAM_MONTHS = 24
OPT_OUT_REASON = "Disiscritto dalle comunicazioni"
UNSUBSCRIBE_PATH = "/campagne/disiscrizione/"
EXCLUSION_LABELS = {
    "opted_out": OPT_OUT_REASON,
    "inipec": "Indirizzo preso da INI-PEC",
    "pec": "Indirizzo PEC",
    "no_consent": "Senza consenso al marketing",
    "duplicate": "Indirizzo già presente nella campagna",
    "opted_out_later": "Disiscritto dopo la preparazione",
}
CAMPAIGN_SCHEMA: dict[str, Any] = {
    "azienda": mt.SCHEMA["azienda"],
    "anagrafica": mt.SCHEMA["anagrafica"],
    "contatto": mt.SCHEMA["contatto"],
    "campagna": {
        "nome": "nome della campagna",
        "documenti": [{"titolo": "titolo del documento allegato", "file": "nome del file"}],
    },
    "utente": mt.SCHEMA["utente"],
    "mittente": mt.SCHEMA["mittente"],
    "disiscrizione_url": "link per disiscriversi (le campagne commerciali lo aggiungono comunque in fondo)",
    "oggi": mt.SCHEMA["oggi"],
}


class CampaignError(ValueError):
    """A campaign that cannot be prepared; `errors` maps form field -> Italian message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


# ---------------------------------------------------------------- saved filters


def visible_filters(user: User) -> list[SavedFilter]:
    """The user's own filters and the shared ones."""
    return list(
        db.session.scalars(
            select(SavedFilter)
            .where((SavedFilter.owner_id == user.id) | SavedFilter.shared.is_(True))
            .order_by(SavedFilter.name)
        )
    )


def get_filter(filter_id: int, user: User) -> SavedFilter | None:
    """A filter the user may use (own or shared)."""
    row = db.session.get(SavedFilter, filter_id)
    if row is None or not (row.shared or row.owner_id == user.id or user.has_role("admin")):
        return None
    return row


def may_edit_filter(row: SavedFilter, user: User) -> bool:
    """Only the owner (or an admin) changes or deletes a filter."""
    return row.owner_id == user.id or user.has_role("admin")


def save_filter(
    row: SavedFilter | None, name: str, conditions: list[dict], shared: bool, user: User
) -> SavedFilter:
    """Create or update a saved filter (the caller commits); CampaignError / SegmentError in Italian."""
    name = " ".join((name or "").split())[:120]
    if not name:
        raise CampaignError({"name": "Dai un nome al filtro."})
    cleaned = segments.parse_conditions(conditions)
    if not cleaned:
        raise CampaignError({"conditions": "Aggiungi almeno una condizione."})
    if row is None:
        row = SavedFilter(owner_id=user.id)
        db.session.add(row)
    row.name, row.conditions, row.shared = name, cleaned, bool(shared)
    db.session.flush()
    audit("segment.save", row, user=user, name=name, shared=bool(shared))
    return row


# ---------------------------------------------------------------- templates


def _compile(field: str, source: str):
    """The templates' sandbox and checks, with the campaign placeholders: (template, errors)."""
    env = mt._ENVS[mt._field_kind(field)]
    if len(source) > mt.MAX_SOURCE_CHARS:
        return None, [
            mt.TemplateError(field, None, f"Testo troppo lungo (massimo {mt.MAX_SOURCE_CHARS} caratteri)")
        ]
    try:
        tree = env.parse(source)
    except mt.TemplateSyntaxError as exc:
        return None, [
            mt.TemplateError(field, exc.lineno, "Errore di sintassi: " + mt._italian(exc.message or ""))
        ]
    checker = mt._Checker(field)
    checker.statement(tree, dict(CAMPAIGN_SCHEMA), 0)
    if checker.errors:
        return None, checker.errors
    mt._wrap_loops(tree)
    return env.from_string(tree), []


def validate_texts(subject: str, body_html: str, commercial: bool) -> list[mt.TemplateError]:
    """Problems of a campaign's subject and body (with line numbers)."""
    errors: list[mt.TemplateError] = []
    if not (subject or "").strip():
        errors.append(mt.TemplateError("subject", None, "L'oggetto è obbligatorio"))
    if not (body_html or "").strip():
        errors.append(mt.TemplateError("body_html", None, "Il testo è obbligatorio"))
    for field, source in (("subject", subject or ""), ("body_html", body_html or "")):
        if not source.strip():
            continue
        template, problems = _compile(field, source)
        errors.extend(problems)
        if template is not None:
            try:
                mt._run(template, sample_context())
            except Exception as exc:  # noqa: BLE001 — shown to the author
                errors.append(mt._render_error(field, exc, False))
        if not commercial:
            word = mt._promotional(source)
            if word:
                errors.append(
                    mt.TemplateError(
                        field, None, f"Contenuto promozionale («{word}»): segna la campagna come commerciale"
                    )
                )
    return errors


def sample_context() -> dict:
    """A made-up context for checks and the editor preview."""
    base = mt.sample_context("GENERICO")
    return {key: base[key] for key in ("azienda", "anagrafica", "contatto", "utente", "mittente", "oggi")} | {
        "campagna": {
            "nome": "Listino 2027",
            "documenti": [{"titolo": "Listino prezzi 2027", "file": "listino.pdf"}],
        },
        "disiscrizione_url": "https://esempio.invalid/campagne/disiscrizione/…",
    }


def render_texts(
    subject: str, body_html: str, context: dict, account: MailAccount | None, unsubscribe_url: str | None
) -> tuple[str, str, str]:
    """(subject, html, text) of one message: body, unsubscribe footer when commercial, signature."""
    subject_t, errors = _compile("subject", subject)
    body_t, errors2 = _compile("body_html", body_html)
    if errors or errors2:
        raise mt.TemplateValidationError(errors + errors2)
    out_subject = " ".join(mt._run(subject_t, context).split())[: mt.MAX_SUBJECT_CHARS]
    html = mt._run(body_t, context).strip()
    if unsubscribe_url:
        link = escape(unsubscribe_url)
        html += (
            f'\n<p class="disiscrizione" style="font-size:12px;color:#666">Ricevi questa e-mail perché sei '
            f"un contatto di {escape(context['azienda']['ragione_sociale'].rstrip('.'))}. Per non ricevere più "
            f'comunicazioni commerciali: <a href="{link}">disiscriviti</a>.</p>'
        )
    sig = mt.signature_for(account)
    text = mt._html_to_text(html)
    return out_subject, f'{html}\n<div class="firma">\n{sig}\n</div>', f"{text}\n-- \n{mt._html_to_text(sig)}"


# ---------------------------------------------------------------- unsubscribe tokens


def _serializer() -> URLSafeSerializer:
    """Signs contact ids with the app secret (HMAC-SHA1 via itsdangerous)."""
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="recapito.unsubscribe")


def unsubscribe_token(contact_id: int) -> str:
    """The token of a contact's unsubscribe link."""
    return _serializer().dumps({"c": int(contact_id)})


def contact_from_token(token: str) -> Contact | None:
    """The contact a token names, or None when the token is forged, altered or the contact gone."""
    try:
        data = _serializer().loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("c"), int):
        return None
    return db.session.get(Contact, data["c"])


def public_base_url(batch: Batch | None = None) -> str:
    """Base of the links in e-mails: PUBLIC_BASE_URL, else the address the campaign was created from."""
    configured = current_app.config.get("PUBLIC_BASE_URL") or os.environ.get("PUBLIC_BASE_URL", "")
    if configured:
        return configured.rstrip("/")
    return ((batch.params or {}).get("base_url") if batch else "") or "https://localhost"


def unsubscribe_url(contact_id: int, base: str) -> str:
    """The https link a recipient follows to unsubscribe."""
    return f"{base.rstrip('/')}{UNSUBSCRIBE_PATH}{unsubscribe_token(contact_id)}"


def unsubscribe_headers(contact_id: int, base: str) -> dict[str, str]:
    """RFC 2369 / RFC 8058 headers of a commercial message."""
    token = unsubscribe_token(contact_id)
    value = f"<{base.rstrip('/')}{UNSUBSCRIBE_PATH}{token}>"
    mailto = current_app.config.get("UNSUBSCRIBE_MAILTO") or os.environ.get("UNSUBSCRIBE_MAILTO", "")
    if mailto:
        value += f", <mailto:{mailto}?subject=unsubscribe%20{token}>"
    return {"List-Unsubscribe": value, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def unsubscribe(contact: Contact, via: str = "link") -> int:
    """Opt the contact out now and stop its unsent campaign deliveries; returns how many were stopped."""
    now = utcnow()
    if contact.opted_out_at is None:
        contact.opted_out_at = now
        db.session.add(
            ContactChange(
                contact_id=contact.id,
                party_id=contact.party_id,
                user_id=None,
                at=now,
                action="update",
                privacy_level=contact.privacy_level,
                changes='{"opted_out_at": ["", "%s"], "via": ["", "%s"]}'
                % (now.strftime("%d/%m/%Y %H:%M"), via),
            )
        )
    stopped = stop_deliveries_of(contact.id)
    audit("contact.unsubscribe", contact, user=None, via=via, stopped=stopped)
    db.session.commit()
    return stopped


def stop_deliveries_of(contact_id: int) -> int:
    """Campaign deliveries of the contact not yet sent become excluded (the sender claims only queued)."""
    campaign_batches = select(Batch.id).where(Batch.kind == "campaign")
    return db.session.execute(
        update(Delivery)
        .where(
            Delivery.contact_id == contact_id,
            Delivery.batch_id.in_(campaign_batches),
            Delivery.status.in_(["pending", "queued"]),
        )
        .values(status="excluded", exclusion_reason=OPT_OUT_REASON)
        .execution_options(synchronize_session=False)
    ).rowcount


# ---------------------------------------------------------------- creating a campaign


def accounts_for_campaigns() -> list[MailAccount]:
    """Active ordinary accounts (campaigns never go by PEC)."""
    return list(
        db.session.scalars(
            select(MailAccount)
            .where(MailAccount.active.is_(True), MailAccount.kind != "pec")
            .order_by(MailAccount.is_default.desc(), MailAccount.name)
        )
    )


def create_campaign(
    user: User,
    *,
    name: str,
    filter_id: int | None,
    document_ids: list[int],
    subject: str,
    body_html: str,
    commercial: bool,
    account_id: int | None,
    base_url: str = "",
    enqueue: bool = True,
) -> Campaign:
    """Validate everything, record the campaign and its batch, start the preparation."""
    errors: dict[str, str] = {}
    name = " ".join((name or "").split())[:200]
    if not name:
        errors["name"] = "Dai un nome alla campagna."
    saved = get_filter(filter_id, user) if filter_id else None
    if saved is None:
        errors["filter_id"] = "Scegli un filtro salvato."
    else:
        try:
            segments.parse_conditions(saved.conditions)
        except (
            segments.SegmentError
        ) as exc:  # a product or category gone: the filter would select other people
            errors["filter_id"] = (
                f"Il filtro «{saved.name}» non è più valido ({exc}): correggilo prima di usarlo."
            )
    versions: list[GenericDocumentVersion] = []
    from ..models import GenericDocument

    for doc_id in document_ids:
        document = db.session.get(GenericDocument, doc_id)
        if document is None or document.archived or document.current is None:
            errors["documents"] = "Documento inesistente o archiviato."
            break
        if document.commercial and not commercial:
            errors["commercial"] = (
                f"«{document.title}» è un documento commerciale: la campagna deve essere "
                "segnata come commerciale."
            )
        versions.append(document.current)
    account = db.session.get(MailAccount, account_id) if account_id else None
    if account is None or not account.active or account.is_pec:
        errors["account_id"] = "Scegli un account di invio ordinario attivo."
    text_errors = validate_texts(subject, body_html, commercial)
    for err in text_errors:
        errors.setdefault(err.field, str(err))
    try:
        check_permission(user, ["GENERICO"])
    except PreparationError as exc:
        errors["form"] = str(exc)
    if errors:
        raise CampaignError(errors)
    batch = Batch(
        kind="campaign",
        status="preparing",
        type_codes=["GENERICO"],
        created_by_id=user.id,
        name=f"Campagna: {name}",
        params={"base_url": base_url.rstrip("/"), "commercial": bool(commercial)},
    )
    db.session.add(batch)
    db.session.flush()
    campaign = Campaign(
        name=name,
        filter_id=saved.id,
        conditions=saved.conditions,
        subject=" ".join(subject.split()),
        body_html=body_html.replace("\r\n", "\n"),
        commercial=bool(commercial),
        account_id=account.id,
        batch_id=batch.id,
        created_by_id=user.id,
    )
    campaign.versions = versions
    db.session.add(campaign)
    db.session.flush()
    batch.params = {**batch.params, "campaign_id": campaign.id}
    audit("campaign.prepare", campaign, user=user, batch_id=batch.id, commercial=bool(commercial))
    db.session.commit()
    if enqueue:
        job = enqueue_job(
            PREPARE_CAMPAIGN_JOB,
            batch.id,
            job_timeout=3600,
            description=f"preparazione campagna {campaign.id}",
        )
        batch.job_id = job.id
        db.session.commit()
    return campaign


def campaign_of_batch(batch_id: int) -> Campaign | None:
    """The campaign a batch sends (None for document batches)."""
    return db.session.scalar(select(Campaign).where(Campaign.batch_id == batch_id))


# ---------------------------------------------------------------- preparation


def exclusion_reason(contact: Contact, commercial: bool, soft_spam_party: bool) -> str | None:
    """Why a contact of the segment may not receive this campaign (key of EXCLUSION_LABELS), or None."""
    if contact.opted_out_at is not None:
        return "opted_out"
    if contact.from_inipec:
        return "inipec"
    if contact.is_pec:
        return "pec"
    if commercial and not contact.marketing_consent and not soft_spam_party:
        return "no_consent"
    return None


def soft_spam_parties(party_ids: set[int], today=None) -> set[int]:
    """Parties that are existing customers with purchases (an invoice in the last SOFT_SPAM_MONTHS months)."""
    if not party_ids:
        return set()
    since = segments._months_ago((today or utcnow().date()), SOFT_SPAM_MONTHS)
    found: set[int] = set()
    ids = sorted(party_ids)
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        found |= set(
            db.session.scalars(
                select(Document.party_id)
                .join(Party, Party.id == Document.party_id)
                .where(
                    Document.party_id.in_(chunk),
                    Document.type_code.in_(segments.SALES_TYPES),
                    Document.date >= since,
                    Party.kind.in_(("customer", "both")),
                )
                .distinct()
            )
        )
    return found


def run_preparation(batch_id: int) -> Batch:
    """Fill a campaign batch with its deliveries; it ends "ready" (or "failed" with the reason)."""
    from . import preparation

    return preparation.run_preparation(batch_id, fill=_prepare)


def _prepare(batch: Batch) -> None:
    """The preparation proper (see run_preparation)."""
    db.session.execute(Delivery.__table__.delete().where(Delivery.batch_id == batch.id))
    campaign = campaign_of_batch(batch.id)
    user = db.session.get(User, batch.created_by_id) if batch.created_by_id else None
    clearance = clearance_of(user) if user else 0
    ids = [
        cid
        for cid, _pid in db.session.execute(
            segments.contacts_select(campaign.conditions, clearance).order_by(Contact.party_id, Contact.id)
        ).all()
    ]
    batch.progress_total = len(ids)
    batch.progress_done = 0
    db.session.commit()
    company = get_company()
    account = campaign.account
    base = public_base_url(batch)
    soft = (
        soft_spam_parties(_party_ids_chunked(ids))
        if campaign.commercial and company.soft_spam_allowed
        else set()
    )
    attachments_size = sum(v.size for v in campaign.versions)
    docs_ctx = [{"titolo": v.document.title, "file": v.filename} for v in campaign.versions]
    exclusions: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    seen: set[str] = set()
    soft_used = 0
    for start in range(0, len(ids), 200):
        chunk = ids[start : start + 200]
        contacts = db.session.scalars(
            select(Contact).where(Contact.id.in_(chunk)).order_by(Contact.party_id, Contact.id)
        )
        for contact in contacts:
            reason = exclusion_reason(contact, campaign.commercial, contact.party_id in soft)
            address = contact.email.strip().lower()
            if reason is None and address in seen:
                reason = "duplicate"
            if reason:
                exclusions[reason][str(contact.privacy_level)] += 1
                continue
            seen.add(address)
            if campaign.commercial and not contact.marketing_consent:
                soft_used += 1
            db.session.add(
                _delivery(batch, campaign, contact, account, base, docs_ctx, attachments_size, user)
            )
        batch.progress_done = min(len(ids), start + 200)
        db.session.commit()
    # An opt-out that arrived while we were preparing.
    late = db.session.execute(
        update(Delivery)
        .where(
            Delivery.batch_id == batch.id,
            Delivery.status == "pending",
            Delivery.contact_id.in_(select(Contact.id).where(Contact.opted_out_at.is_not(None))),
        )
        .values(status="excluded", exclusion_reason=OPT_OUT_REASON)
        .execution_options(synchronize_session=False)
    ).rowcount
    batch.params = {
        **(batch.params or {}),
        "exclusions": {k: dict(v) for k, v in exclusions.items()},
        "soft_spam": soft_used,
        "segment_contacts": len(ids),
        "late_opt_outs": late,
        "unsubscribe_base": base if campaign.commercial else "",
    }
    batch.status = "ready"
    db.session.commit()


def _party_ids_chunked(ids: list[int]) -> set[int]:
    """Party ids of many contacts (in chunks, for databases with parameter limits)."""
    out: set[int] = set()
    for start in range(0, len(ids), 900):
        out |= set(
            db.session.scalars(select(Contact.party_id).where(Contact.id.in_(ids[start : start + 900])))
        )
    return out


def _delivery(
    batch: Batch,
    campaign: Campaign,
    contact: Contact,
    account: MailAccount,
    base: str,
    docs_ctx: list[dict],
    attachments_size: int,
    user: User | None,
) -> Delivery:
    """One campaign message to one contact."""
    party = contact.party
    url = unsubscribe_url(contact.id, base) if campaign.commercial else None
    context = {
        "azienda": mt._company_context(),
        "anagrafica": {
            "codice": party.erp_code,
            "ragione_sociale": party.name,
            "piva": party.vat_number,
            "codice_fiscale": party.tax_code,
            "indirizzo": party.address,
            "cap": party.zip_code,
            "citta": party.city,
            "provincia": party.province,
            "nazione": party.country,
            "cliente": party.is_customer,
            "fornitore": party.is_supplier,
        },
        "contatto": {
            "nome": contact.name,
            "email": contact.email,
            "funzione": contact.function.name if contact.function else "",
            "telefono": contact.phone,
        },
        "campagna": {"nome": campaign.name, "documenti": docs_ctx},
        "utente": {
            "nome": (user.full_name or user.username) if user else "",
            "email": user.email if user else "",
        },
        "mittente": {
            "nome": account.from_name or account.name,
            "email": account.from_address,
            "pec": False,
            "account_id": account.id,
        },
        "disiscrizione_url": url or "",
        "oggi": utcnow().date(),
    }
    subject, html, text = render_texts(campaign.subject, campaign.body_html, context, account, url)
    warnings: list[str] = []
    size = int(attachments_size * 4 / 3) + len(html.encode()) + len(text.encode()) + 2048
    delivery = Delivery(
        batch_id=batch.id,
        party_id=party.id,
        contact_id=contact.id,
        recipient_email=contact.email,
        recipient_name=contact.name,
        privacy_level=contact.privacy_level,
        account_id=account.id,
        account_reason="Ordinario (le campagne non vanno via PEC)",
        status="pending",
        subject=subject,
        body_html=html,
        body_text=text,
        size_bytes=size,
        warnings=warnings,
        extra_headers=unsubscribe_headers(contact.id, base) if campaign.commercial else {},
    )
    if account.max_message_bytes and size > account.max_message_bytes:
        delivery.exclusion_reason = "troppo grande"
        delivery.warnings = warnings + [f"Messaggio troppo grande per l'account {account.name}"]
    return delivery


# ---------------------------------------------------------------- read side


def exclusion_summary(batch: Batch, user: User | None) -> list[tuple[str, int]]:
    """(reason, count) of the contacts left out at preparation, counting only levels the user may see."""
    limit = clearance_of(user) if user is not None else 3
    rows = []
    for key, per_level in ((batch.params or {}).get("exclusions") or {}).items():
        n = sum(count for level, count in per_level.items() if int(level) <= limit)
        if n:
            rows.append((EXCLUSION_LABELS.get(key, key), n))
    return sorted(rows, key=lambda r: -r[1])


def attachments_for_batch(batch_id: int, cache: dict | None = None) -> list[tuple[str, str, bytes]]:
    """(filename, content type, bytes) of the generic documents a campaign batch attaches ([] otherwise)."""
    cache = {} if cache is None else cache
    key = ("campaign-attachments", batch_id)
    if key not in cache:
        campaign = campaign_of_batch(batch_id)
        files = []
        for version in campaign.versions if campaign else []:
            blob = db.session.get(Blob, version.blob_sha256)
            files.append((version.filename, version.content_type, blob.data if blob else b""))
        cache[key] = files
    return cache[key]


def campaign_rows(user: User) -> list[Campaign]:
    """Campaigns, newest first: managers (and administrators) see all, a sales user the ones they prepared
    (a campaign batch is for who prepared it: batch_views.may_open_batch); recipients stay clearance-filtered."""
    query = select(Campaign)
    if not user.has_role("manager"):
        query = query.where(Campaign.created_by_id == user.id)
    return list(db.session.scalars(query.order_by(Campaign.created_at.desc()).limit(200)))
