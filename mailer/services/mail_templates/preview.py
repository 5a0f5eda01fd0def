"""What the editor's preview renders on: a recent document of the type, a visible contact, an account."""

from __future__ import annotations

from typing import Any

from ...extensions import db
from ...models import Contact, Document, DocumentType, MailAccount, User
from ..contacts import visible_contacts_query
from .context import build_context, sample_context

PREVIEW_DOCUMENTS = 50


def preview_account(doc_type: DocumentType) -> MailAccount | None:
    """The account whose signature the preview shows: the type's, else the default one."""
    if doc_type.account_id:
        account = db.session.get(MailAccount, doc_type.account_id)
        if account is not None:
            return account
    return db.session.scalar(
        db.select(MailAccount)
        .where(MailAccount.active.is_(True))
        .order_by(MailAccount.is_default.desc(), MailAccount.id)
        .limit(1)
    )


def preview_contacts(document: Document, type_code: str, clearance: int) -> list[Contact]:
    """Active contacts of the document's party that the user may see; receivers of the type first."""
    contacts = db.session.scalars(
        visible_contacts_query(clearance)
        .where(Contact.party_id == document.party_id, Contact.active.is_(True))
        .order_by(Contact.name)
    ).all()
    return sorted(contacts, key=lambda c: type_code not in c.document_type_codes)


def preview_documents(type_code: str, wanted: int | None) -> tuple[list[Document], Document | None]:
    """The latest documents of the type to choose from, and the chosen one (the wanted, else the latest)."""
    documents = list(
        db.session.scalars(
            db.select(Document)
            .where(Document.type_code == type_code)
            .order_by(Document.date.desc(), Document.id.desc())
            .limit(PREVIEW_DOCUMENTS)
        )
    )
    document = None
    if wanted:
        document = db.session.get(Document, wanted)
        if document is not None and document.type_code != type_code:
            document = None
        if document is not None and document not in documents:
            documents = [document, *documents]
    if document is None and documents:
        document = documents[0]
    return documents, document


def preview_setup(
    doc_type: DocumentType,
    language: str,
    wanted_document: int | None,
    wanted_contact: int | None,
    user: User,
    clearance: int,
) -> dict[str, Any]:
    """Documents to choose from, the chosen document and contact, the account, and the context to render.

    The first visible contact is chosen unless another is wanted, or none (wanted_contact 0); without
    documents of the type the context is the made-up sample."""
    documents, document = preview_documents(doc_type.code, wanted_document)
    contacts: list[Contact] = []
    contact = None
    account = preview_account(doc_type)
    if document is not None:
        contacts = preview_contacts(document, doc_type.code, clearance)
        contact = next((c for c in contacts if c.id == wanted_contact), None)
        if contact is None and wanted_contact != 0 and contacts:
            contact = contacts[0]
        context = build_context([document], contact=contact, user=user, account=account, language=language)
    else:
        context = sample_context(doc_type.code, language=language)
    return {
        "documents": documents,
        "document": document,
        "contacts": contacts,
        "contact": contact,
        "account": account,
        "context": context,
    }
