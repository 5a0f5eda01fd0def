"""The inputs of a delivery's message: headers, bodies and the files it carries (PDFs from the database)."""

from __future__ import annotations

from ...extensions import db
from ...models import Blob, Delivery, Document, MailAccount
from ...transport.message import Attachment, MessageSpec
from ..document_versions import files_sent_with


def message_spec(delivery: Delivery, account: MailAccount, cache: dict | None = None) -> MessageSpec:
    """The inputs of a delivery's message: headers, bodies, attachments (PDFs from the database)."""
    cache = {} if cache is None else cache
    attachments = document_attachments(delivery.documents, delivery, cache)
    if not delivery.documents and delivery.batch_id is not None:
        # Campaign batches attach the generic documents of their campaign (none for document batches).
        from ..campaigns import attachments_for_batch

        for filename, content_type, data in attachments_for_batch(delivery.batch_id, cache):
            attachments.append(Attachment(filename, content_type, data))
    return MessageSpec(
        from_address=account.from_address,
        from_name=account.from_name,
        to=[(delivery.recipient_name, delivery.recipient_email)],
        cc=[a.strip() for a in (delivery.cc or "").split(",") if a.strip()],
        reply_to=delivery.reply_to or "",
        subject=delivery.subject,
        html=delivery.body_html,
        text=delivery.body_text,
        message_id=delivery.message_id,
        date=delivery.message_date,
        headers=dict(delivery.extra_headers or {}),
        attachments=attachments,
    )


def document_attachments(
    documents, delivery: Delivery | None = None, cache: dict | None = None
) -> list[Attachment]:
    """The files a message carries for its documents: each PDF (when its type attaches it) and extra files.

    With a delivery, as that delivery carried them (a delivery already sent is rebuilt with the files it
    carried, even if an import replaced them since); without one (a template preview), the current files.
    """
    cache = {} if cache is None else cache
    attachments = []
    for document in documents:
        if delivery is not None:
            pdf_sha, extras = files_sent_with(document, delivery)
        else:
            pdf_sha, extras = document.pdf_sha256, [(a.filename, a.blob_sha256) for a in document.attachments]
        if document.type.attach_pdf and pdf_sha:
            content_type, data = _blob(pdf_sha, cache)
            attachments.append(Attachment(pdf_filename(document), content_type or "application/pdf", data))
        for filename, sha in extras:
            content_type, data = _blob(sha, cache)
            attachments.append(Attachment(filename, content_type, data))
    return attachments


def pdf_filename(document: Document) -> str:
    """File name of a document's PDF in the e-mail."""
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in str(document.number))
    return f"{document.type_code}_{document.year}_{safe}.pdf"


def _blob(sha: str, cache: dict) -> tuple[str, bytes]:
    """Blob content, cached for the sender's life (PDFs repeat across recipients)."""
    hit = cache.get(sha)
    if hit is None:
        blob = db.session.get(Blob, sha)
        hit = (blob.content_type, blob.data) if blob else ("application/octet-stream", b"")
        if len(cache) > 256:
            cache.clear()
        cache[sha] = hit
    return hit
