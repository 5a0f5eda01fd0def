"""The preparation job: fill a batch with its deliveries (missing PDFs first, then the routing), and
start the scheduled batches of auto-approved types."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ...extensions import db
from ...models import (
    Batch,
    Delivery,
    Document,
    DocumentType,
)
from .routing import Router
from .selection import (
    PROGRESS_EVERY,
    NothingToPrepare,
    PreparationError,
    Selection,
    nothing_message,
    select_documents,
)


def run_preparation(batch_id: int, fill=None) -> Batch:
    """Fill a batch with its deliveries; the batch ends "ready" (or "failed" with the reason).

    `fill(batch)` does the work (document batches by default; campaigns pass their own). Safe to run
    twice: a batch no longer "preparing" is left alone.
    """
    batch = db.session.get(Batch, batch_id)
    if batch is None:
        raise PreparationError(f"Invio {batch_id} inesistente")
    if batch.status != "preparing":
        return batch  # already done (the job ran twice)
    try:
        (fill or _prepare)(batch)
    except NothingToPrepare as exc:  # its documents were taken meanwhile: said on the page, not a crash
        db.session.rollback()
        batch = db.session.get(Batch, batch_id)
        assert batch is not None  # read above; a rollback does not delete it
        batch.status = "failed"
        batch.error = str(exc)
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        batch = db.session.get(Batch, batch_id)
        assert batch is not None  # read above; a rollback does not delete it
        batch.status = "failed"
        batch.error = f"Preparazione non riuscita: {exc}"
        db.session.commit()
        raise
    return batch


def _prepare(batch: Batch) -> None:
    """The preparation proper (see run_preparation)."""
    from ..mail_templates import snapshot_versions

    # A re-run after a crash starts clean: deliveries of a batch still "preparing" were never shown.
    db.session.execute(Delivery.__table__.delete().where(Delivery.batch_id == batch.id))
    selection = Selection.from_params(batch.params or {})
    doc_ids = select_documents(selection, batch.id)
    if not doc_ids:  # taken by another preparation since the batch was requested
        raise NothingToPrepare(nothing_message(selection))
    batch.progress_total = len(doc_ids) * 2
    batch.progress_done = 0
    batch.template_versions = snapshot_versions(sorted(set(selection.type_codes)))
    db.session.commit()

    # 1. PDFs that are still missing (rendered in bulk, many per wkhtmltopdf call); a document whose
    #    PDF cannot be made is set aside with its reason, the others go on.
    missing = list(
        db.session.scalars(select(Document.id).where(Document.id.in_(doc_ids), Document.pdf_sha256.is_(None)))
    )
    unpreparable: dict[int, str] = {}
    for start in range(0, len(missing), 200):
        unpreparable.update(render_missing_pdfs(missing[start : start + 200]))
        batch.progress_done = len(doc_ids) - len(missing) + min(len(missing), start + 200)
        db.session.commit()
    batch.progress_done = len(doc_ids)
    db.session.commit()

    # 2. Routing and e-mails.
    router = Router(batch, unpreparable)
    for start in range(0, len(doc_ids), PROGRESS_EVERY):
        router.route(doc_ids[start : start + PROGRESS_EVERY])
        batch.progress_done = len(doc_ids) + min(len(doc_ids), start + PROGRESS_EVERY)
        db.session.commit()
    router.finish()
    batch.status = "ready"
    db.session.commit()
    _maybe_auto_approve(batch)


def render_missing_pdfs(doc_ids: list[int]) -> dict[int, str]:
    """Render the missing PDFs of some documents; {document id: reason} for those that cannot be rendered.

    The HTML of each document is built first (about 3 ms, against about 90 ms for its PDF): a document
    whose data has the wrong shape is set aside there with its reason, and the others are rendered
    together (the fast path). Should that still fail, they are rendered one by one; when none of them
    renders (wkhtmltopdf missing), the error is raised: the preparation fails as a whole, with the reason.
    """
    from ...pdf.render import ensure_pdfs, logo_data_uri, render_document_html
    from ..reference import get_company

    company = get_company()
    logo = logo_data_uri(company)
    failed: dict[int, str] = {}
    documents = select(Document).where(Document.id.in_(doc_ids)).options(selectinload(Document.lines))
    for document in db.session.scalars(documents):
        try:
            render_document_html(document, company, logo)
        except Exception as exc:  # noqa: BLE001 — the reason is shown on the batch page
            failed[document.id] = f"PDF non generabile: {type(exc).__name__}: {exc}"
    rest = [i for i in doc_ids if i not in failed]
    try:
        ensure_pdfs(rest)
        return failed
    except Exception:  # noqa: BLE001 — one by one below, each failure kept with its reason
        db.session.rollback()
    errors: list[Exception] = []
    for doc_id in rest:
        try:
            ensure_pdfs([doc_id])
        except Exception as exc:  # noqa: BLE001 — the reason is shown on the batch page
            db.session.rollback()
            errors.append(exc)
            failed[doc_id] = f"PDF non generabile: {type(exc).__name__}: {exc}"
    if len(errors) == len(rest):  # not one document rendered: the converter itself is broken
        raise errors[0]
    return failed


def _maybe_auto_approve(batch: Batch) -> None:
    """Scheduled batches of auto-approved types go out without waiting (never with a re-send: a person sees it)."""
    if not (batch.params or {}).get("scheduled"):
        return
    if db.session.scalar(
        select(Delivery.id)
        .where(
            Delivery.batch_id == batch.id, Delivery.status == "pending", Delivery.already_sent_at.is_not(None)
        )
        .limit(1)
    ):
        return
    types = list(
        db.session.scalars(select(DocumentType).where(DocumentType.code.in_(batch.type_codes or [])))
    )
    if types and all(t.auto_approve for t in types):
        from ..approval import approve_batch
        from ..sending import start_sending

        approve_batch(batch, None, automatic=True)
        start_sending(batch)
