"""Versions of a document: what an import replaced is kept when it had been sent (the PDF that went out).

The document row is always the current version. When an import changes the files of a document
already sent (its PDF or attachments), the files that went out are kept in a ``DocumentVersion``
(with party, total and dates), so the record stays proof: a delivery sent before the replacement
is rebuilt, shown and downloaded with the files it really carried.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date as Date
from datetime import datetime
from decimal import Decimal

from ..extensions import db
from ..models import Delivery, Document, DocumentVersion, utcnow


@dataclass
class SentFiles:
    """The files of a sent document as they are before an import touches it."""

    pdf_sha256: str | None
    attachments: list[dict]
    party_id: int | None
    party_name: str
    party_code: str
    date: Date
    currency: str
    total: Decimal
    source: str
    source_ref: str
    sent_at: datetime | None


def attachment_list(document: Document) -> list[dict]:
    """The document's attachments as [{filename, sha256}] (the shape a version keeps)."""
    return [{"filename": a.filename, "sha256": a.blob_sha256} for a in document.attachments]


def capture(document: Document) -> SentFiles | None:
    """What went out with a sent document (None when it was never sent)."""
    if document.sent_at is None:
        return None
    party = document.party
    return SentFiles(
        pdf_sha256=document.pdf_sha256,
        attachments=attachment_list(document),
        party_id=document.party_id,
        party_name=party.name if party else "",
        party_code=party.erp_code if party else "",
        date=document.date,
        currency=document.currency,
        total=document.total,
        source=document.source,
        source_ref=document.source_ref,
        sent_at=document.sent_at,
    )


def keep_if_changed(
    document: Document, before: SentFiles | None, superseded_by: str
) -> DocumentVersion | None:
    """Store ``before`` as a version when the document's files changed since (the caller commits)."""
    if before is None:
        return None
    if before.pdf_sha256 == document.pdf_sha256 and before.attachments == attachment_list(document):
        return None
    last = (
        db.session.scalar(
            db.select(db.func.max(DocumentVersion.number)).where(DocumentVersion.document_id == document.id)
        )
        or 0
    )
    version = DocumentVersion(
        document_id=document.id,
        number=last + 1,
        party_id=before.party_id,
        party_name=before.party_name[:200],
        party_code=before.party_code[:32],
        date=before.date,
        currency=before.currency,
        total=before.total,
        pdf_sha256=before.pdf_sha256,
        attachments=before.attachments,
        source=before.source,
        source_ref=before.source_ref[:255],
        sent_at=before.sent_at,
        superseded_at=utcnow(),
        superseded_by=superseded_by[:120],
    )
    db.session.add(version)
    db.session.flush()
    db.session.expire(document, ["versions"])
    return version


def version_sent_with(document: Document, delivery: Delivery) -> DocumentVersion | None:
    """The earlier version a sent delivery carried (None: the current one)."""
    if delivery.sent_at is None:
        return None  # not sent yet: it goes with the current files
    return next((v for v in document.versions if v.superseded_at > delivery.sent_at), None)


def files_sent_with(document: Document, delivery: Delivery) -> tuple[str | None, list[tuple[str, str]]]:
    """(PDF sha, [(filename, sha)]) of the document as this delivery carried it."""
    version = version_sent_with(document, delivery)
    if version is None:
        return document.pdf_sha256, [(a.filename, a.blob_sha256) for a in document.attachments]
    return version.pdf_sha256, [(a["filename"], a["sha256"]) for a in version.attachments]
