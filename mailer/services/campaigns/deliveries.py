"""Preparing a campaign batch: the filter's contacts become deliveries, or exclusions counted by reason."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import select, update

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
from .. import preferences, segments
from ..contacts import clearance_of
from ..reference import get_company
from .records import campaign_of_batch
from .texts import recipient_context, render_texts
from .unsubscribe import OPT_OUT_REASON, public_base_url, unsubscribe_headers, unsubscribe_url

if TYPE_CHECKING:
    from sqlalchemy.engine import CursorResult

SOFT_SPAM_MONTHS = 24
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
    """The preparation proper (see run_preparation)."""
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
    context = recipient_context(contact, campaign.name, docs_ctx, account, user, url or "")
    subject, html, text = render_texts(campaign.subject, campaign.body_html, context, account, url)
    if preferences.link_wanted(None):
        html, text = preferences.add_link(
            html, text, preferences.preferences_url(party.id, contact.email, base)
        )
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
        delivery.warnings = [*warnings, f"Messaggio troppo grande per l'account {account.name}"]
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
