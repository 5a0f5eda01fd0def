"""Campaign records: the accounts they may use, creating one with its batch, reading them back."""

from __future__ import annotations

from sqlalchemy import select

from ...extensions import db
from ...models import (
    Batch,
    Blob,
    Campaign,
    GenericDocumentVersion,
    MailAccount,
    User,
)
from ...queue import PREPARE_CAMPAIGN_JOB
from ...queue import enqueue as enqueue_job
from .. import segments
from ..audit import audit
from ..preparation import PreparationError, check_permission
from .filters import CampaignError, get_filter
from .texts import validate_texts


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
    from ...models import GenericDocument

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
    assert saved is not None and account is not None  # else errors above
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
