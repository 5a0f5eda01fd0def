"""What a delivery warns about before approval: its documents' earlier sends (re-send safety) and its size."""

from __future__ import annotations

from sqlalchemy import select

from ...extensions import db
from ...models import (
    Blob,
    Contact,
    Delivery,
    Document,
    DocumentAttachment,
    DocumentType,
    delivery_documents,
    utcnow,
)


def earlier_sends(documents: list[Document]) -> dict[int, list[tuple]]:
    """{document id: [(sent at, recipient address, its privacy level), …]} of the documents already sent.

    The level is the recipient contact's as it is now, if higher than the delivery's when it was sent (a
    contact made confidential later stays hidden). A document marked sent (``sent_at``) without a delivery
    that says to whom counts too, with no address.
    """
    ids = [d.id for d in documents if d.sent_at is not None]
    found: dict[int, list[tuple]] = {}
    if not ids:
        return found
    rows = db.session.execute(
        select(
            delivery_documents.c.document_id,
            Delivery.sent_at,
            Delivery.recipient_email,
            Delivery.privacy_level,
            Contact.privacy_level,
        )
        .join(Delivery, Delivery.id == delivery_documents.c.delivery_id)
        .outerjoin(Contact, Contact.id == Delivery.contact_id)
        .where(delivery_documents.c.document_id.in_(ids), Delivery.status == "sent")
        .order_by(Delivery.sent_at, Delivery.id)
    ).all()
    for doc_id, sent_at, address, level, contact_level in rows:
        found.setdefault(doc_id, []).append(
            (sent_at or utcnow(), address, max(level or 0, contact_level or 0))
        )
    for document in documents:
        if document.sent_at is not None and document.id not in found:
            found[document.id] = [(document.sent_at, "", 0)]
    return found


RESEND_PREFIX = "Già inviato:"


def resend_warnings(
    documents: list[Document], previous: dict[int, list[tuple]], level: int | None = None
) -> list[str]:
    """One warning per document already sent: when, and to whom — only addresses no more confidential than
    `level`, none when it is None (the form stored on the delivery: a contact made confidential later must
    not stay named there; the review page names them with `resend_notes`, for who is looking)."""
    from ...formatting import it_datetime

    out = []
    for document in documents:
        sends = previous.get(document.id)
        if not sends:
            continue
        shown = [
            (when, address)
            for when, address, hidden_level in sends
            if address and level is not None and hidden_level <= level
        ]
        if shown:
            parts = [f"il {it_datetime(when)} a {address}" for when, address in shown[-3:]]
            more = f" (e altre {len(shown) - 3} volte)" if len(shown) > 3 else ""
            text = "; ".join(parts) + more
        else:
            text = f"il {it_datetime(document.sent_at or sends[-1][0])}"
        out.append(f"{RESEND_PREFIX} {document.type_code} {document.number} {text}")
    return out


def resend_notes(deliveries: list[Delivery], clearance: int) -> dict[int, list[str]]:
    """{delivery id: its «Già inviato» warnings as `clearance` may read them}: the earlier recipients named
    only when, as they are now, no more confidential than this delivery's recipient nor the viewer's
    clearance; only the sends the preparation saw (up to the delivery's ``already_sent_at``)."""
    resent = [d for d in deliveries if d.already_sent_at is not None]
    previous = earlier_sends([doc for d in resent for doc in d.documents])
    notes = {}
    for delivery in resent:
        seen = {
            doc.id: [send for send in previous.get(doc.id, []) if send[0] <= delivery.already_sent_at]
            for doc in delivery.documents
        }
        level = min(delivery.privacy_level or 0, clearance)
        notes[delivery.id] = resend_warnings(list(delivery.documents), seen, level)
    return notes


def attachment_sizes(documents: list[Document]) -> dict[int, int]:
    """Bytes each document adds as attachments (its PDF when the type attaches it, plus extra files)."""
    ids = [d.id for d in documents]
    if not ids:
        return {}
    sizes = {d.id: 0 for d in documents}
    pdf_rows = db.session.execute(
        select(Document.id, Blob.size)
        .join(Blob, Blob.sha256 == Document.pdf_sha256)
        .join(DocumentType, DocumentType.code == Document.type_code)
        .where(Document.id.in_(ids), DocumentType.attach_pdf.is_(True))
    ).all()
    extra_rows = db.session.execute(
        select(DocumentAttachment.document_id, Blob.size)
        .join(Blob, Blob.sha256 == DocumentAttachment.blob_sha256)
        .where(DocumentAttachment.document_id.in_(ids))
    ).all()
    for doc_id, size in list(pdf_rows) + list(extra_rows):
        sizes[doc_id] += size or 0
    return sizes


def estimate_size(delivery: Delivery, documents: list[Document], sizes: dict[int, int] | None = None) -> int:
    """Approximate wire size: bodies plus base64-encoded attachments."""
    if sizes is None or any(d.id not in sizes for d in documents):
        sizes = {**(sizes or {}), **attachment_sizes(documents)}
    raw = sum(sizes.get(d.id, 0) for d in documents)
    body = len((delivery.body_html or "").encode()) + len((delivery.body_text or "").encode())
    return int(raw * 4 / 3) + body + 2048
