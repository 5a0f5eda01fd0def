"""Preparing a campaign batch: the filter's contacts become deliveries, or exclusions counted by reason."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import insert, select, update
from sqlalchemy.orm import joinedload, lazyload

from ...extensions import db
from ...models import (
    Batch,
    Campaign,
    Contact,
    Delivery,
    Document,
    MailAccount,
    Party,
    User,
    utcnow,
)
from .. import mail_templates as mt
from .. import preferences, segments
from ..contacts import clearance_of
from ..reference import get_company
from .records import campaign_of_batch
from .texts import campaign_context, compiled_texts, contact_context_for, render_with
from .unsubscribe import (
    OPT_OUT_REASON,
    public_base_url,
    unsubscribe_headers,
    unsubscribe_token,
    unsubscribe_url,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import CursorResult

SOFT_SPAM_MONTHS = 24
CHUNK = 900  # contacts read and deliveries written per step (under the databases' parameter limits)
EXCLUSION_LABELS = {
    "opted_out": OPT_OUT_REASON,
    "inipec": "Indirizzo preso da INI-PEC",
    "pec": "Indirizzo PEC",
    "no_consent": "Senza consenso al marketing",
    "duplicate": "Indirizzo già presente nella campagna",
    "opted_out_later": "Disiscritto dopo la preparazione",
}


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
    since = segments.months_ago((today or utcnow().date()), SOFT_SPAM_MONTHS)
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
    from .. import preparation

    return preparation.run_preparation(batch_id, fill=_prepare)


def _prepare(batch: Batch) -> None:
    """The preparation proper (see run_preparation).

    Contacts are read CHUNK at a time with their party (no query per contact or party), the texts are
    compiled once, and each chunk's deliveries go in with one bulk INSERT before the progress commit:
    no ORM object per recipient stays in the session, so memory does not grow with the recipients.
    """
    db.session.execute(Delivery.__table__.delete().where(Delivery.batch_id == batch.id))
    campaign = campaign_of_batch(batch.id)
    assert campaign is not None  # a campaign batch is made with its campaign
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
    soft = (
        soft_spam_parties(_party_ids_chunked(ids))
        if campaign.commercial and company.soft_spam_allowed
        else set()
    )
    docs_ctx = [{"titolo": v.document.title, "file": v.filename} for v in campaign.versions]
    message = _MessageMaker(
        batch,
        campaign,
        account,
        shared=campaign_context(campaign.name, docs_ctx, account, user),
        attachments_size=sum(v.size for v in campaign.versions),
    )
    commercial = campaign.commercial
    exclusions: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    seen: set[str] = set()
    soft_used = 0
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        contacts = db.session.scalars(
            select(Contact)
            .where(Contact.id.in_(chunk))
            .options(joinedload(Contact.party), lazyload(Contact.document_types), lazyload(Contact.tags))
            .order_by(Contact.party_id, Contact.id)
        )
        rows: list[dict[str, Any]] = []
        for contact in contacts:
            reason = exclusion_reason(contact, commercial, contact.party_id in soft)
            address = contact.email.strip().lower()
            if reason is None and address in seen:
                reason = "duplicate"
            if reason:
                exclusions[reason][str(contact.privacy_level)] += 1
                continue
            seen.add(address)
            if commercial and not contact.marketing_consent:
                soft_used += 1
            rows.append(message.row(contact))
        if rows:
            db.session.execute(insert(Delivery), rows)
        batch.progress_done = min(len(ids), start + CHUNK)
        db.session.commit()
    # An opt-out that arrived while we were preparing.
    stopped = db.session.execute(
        update(Delivery)
        .where(
            Delivery.batch_id == batch.id,
            Delivery.status == "pending",
            Delivery.contact_id.in_(select(Contact.id).where(Contact.opted_out_at.is_not(None))),
        )
        .values(status="excluded", exclusion_reason=OPT_OUT_REASON)
        .execution_options(synchronize_session=False)
    )
    late = cast("CursorResult[Any]", stopped).rowcount  # an UPDATE answers with a cursor result
    batch.params = {
        **(batch.params or {}),
        "exclusions": {k: dict(v) for k, v in exclusions.items()},
        "soft_spam": soft_used,
        "segment_contacts": len(ids),
        "late_opt_outs": late,
        "unsubscribe_base": message.base if commercial else "",
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


class _MessageMaker:
    """Makes the delivery row of one recipient; what every message of the campaign shares (compiled
    templates, signature, account, links' base) is worked out once, as plain values that outlive the
    commits between chunks."""

    def __init__(
        self, batch: Batch, campaign: Campaign, account: MailAccount, shared: dict, attachments_size: int
    ):
        self.batch_id = batch.id
        self.base = public_base_url(batch)
        self.commercial = campaign.commercial
        self.templates = compiled_texts(campaign.subject, campaign.body_html)
        self.signature = mt.signature_for(account)
        self.shared = shared
        self.attachments_size = attachments_size
        self.preferences_link = preferences.link_wanted(None)
        self.account_id = account.id
        self.max_bytes = account.max_message_bytes
        self.too_big = f"Messaggio troppo grande per l'account {account.name}"

    def row(self, contact: Contact) -> dict[str, Any]:
        """One campaign message to one contact, as the values of its Delivery row."""
        base = self.base
        token = unsubscribe_token(contact.id) if self.commercial else ""
        url = unsubscribe_url(contact.id, base, token) if self.commercial else None
        context = contact_context_for(self.shared, contact, url or "")
        subject, html, text = render_with(self.templates, context, self.signature, url)
        if self.preferences_link:
            html, text = preferences.add_link(
                html, text, preferences.preferences_url(contact.party_id, contact.email, base)
            )
        size = int(self.attachments_size * 4 / 3) + len(html.encode()) + len(text.encode()) + 2048
        too_big = bool(self.max_bytes and size > self.max_bytes)
        return {
            "batch_id": self.batch_id,
            "party_id": contact.party_id,
            "contact_id": contact.id,
            "recipient_email": contact.email,
            "recipient_name": contact.name,
            "privacy_level": contact.privacy_level,
            "account_id": self.account_id,
            "account_reason": "Ordinario (le campagne non vanno via PEC)",
            "status": "pending",
            "subject": subject,
            "body_html": html,
            "body_text": text,
            "size_bytes": size,
            "warnings": [self.too_big] if too_big else [],
            "exclusion_reason": "troppo grande" if too_big else "",
            "extra_headers": unsubscribe_headers(contact.id, base, token) if self.commercial else {},
        }


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
