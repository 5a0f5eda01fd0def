"""One-off send («Invia ora»): one document to one address, now, as a batch of one delivery.

The batch keeps the same record as any other (Message-ID, stored bytes, results page) and the same
rules: only who may send the type prepares it; a manager's one-off is approved by that act and goes at
once, an operator's waits for a manager's approval like any batch, unless the type approves automatically.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from ..extensions import db
from ..models import Batch, Contact, Delivery, Document, DocumentType, User, utcnow
from .audit import audit
from .contacts import get_visible_contact, party_contacts
from .mail_templates import build_context, render_for, snapshot_versions, template_language
from .preparation import AccountPicker
from .preparation.resend_safety import estimate_size
from .validation import InvalidValue, is_pec_address, normalize_email


class OneOffError(Exception):
    """The one-off cannot be made: `errors` by form field (Italian)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass
class Draft:
    """What the form shows: the recipient and the type's template rendered for them (editable)."""

    contact: Contact | None
    address: str
    is_pec: bool
    subject: str
    body: str
    html: str
    version_id: int | None


def recipients(document: Document, user: User) -> list[Contact]:
    """The party's active contacts with an address that the user may see."""
    return [c for c in party_contacts(document.party_id, user) if c.active and c.email]


def check_may_send(document: Document, user: User) -> None:
    """Only who may send the document's type sends it (OneOffError otherwise)."""
    if not (user.has_role("operator", "manager") and user.may_send(document.type_code)):
        raise OneOffError({"documento": f"Non sei autorizzato a inviare: {document.type_code}."})


def resolve_recipient(document: Document, user: User, contact_id: str, address: str) -> tuple[Contact, bool]:
    """The recipient chosen (a visible contact of the party) or typed (validated; a transient contact)."""
    if contact_id:
        contact = get_visible_contact(int(contact_id), user) if contact_id.isdigit() else None
        if (
            contact is None
            or contact.party_id != document.party_id
            or not contact.email
            or not contact.active
        ):
            raise OneOffError({"destinatario": "Scegli uno dei contatti dell'elenco."})
        return contact, False
    if not address.strip():
        raise OneOffError({"indirizzo": "Scegli un contatto o scrivi un indirizzo e-mail."})
    try:
        clean = normalize_email(address)
    except InvalidValue as exc:
        raise OneOffError({"indirizzo": str(exc)}) from exc
    if not clean:
        raise OneOffError({"indirizzo": "Scrivi un indirizzo e-mail."})
    typed = Contact(party_id=document.party_id, name="", email=clean, is_pec=is_pec_address(clean))
    return typed, True


def draft(document: Document, user: User, contact: Contact) -> Draft:
    """The type's template rendered for this recipient, as the preparation renders it."""
    doc_type = db.session.get(DocumentType, document.type_code)
    assert doc_type is not None  # a document's type always exists (foreign key)
    account, _, _ = AccountPicker().pick(doc_type, contact)
    language = template_language(document.party)
    context = build_context(
        [document], contact=contact, party=document.party, user=user, account=account, language=language
    )
    rendered = render_for(document.type_code, language, context, account=account)
    return Draft(
        contact,
        contact.email,
        contact.is_pec,
        rendered.subject,
        rendered.text,
        rendered.html,
        rendered.version_id,
    )


def _edited_html(original: Draft, subject: str, body: str) -> str:
    """The HTML body: the template's when the text was left as rendered, else the edited text as paragraphs."""
    if body.strip() == original.body.strip():
        return original.html
    paragraphs = [p.strip() for p in body.replace("\r\n", "\n").split("\n\n") if p.strip()]
    inner = "".join("<p>" + escape(p).replace("\n", "<br>\n") + "</p>\n" for p in paragraphs)
    return f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{escape(subject)}</title></head><body>\n{inner}</body></html>\n'


def create_one_off(
    document: Document, user: User, contact_id: str, address: str, subject: str, body: str
) -> Batch:
    """Record the one-delivery batch; approve and start it when the user's role (or the type) allows.

    Everything is checked before anything is written (OneOffError with the fields)."""
    from ..pdf import ensure_pdfs
    from .sending import start_sending

    check_may_send(document, user)
    contact, typed = resolve_recipient(document, user, contact_id, address)
    subject, body = subject.strip(), body.strip()
    errors: dict[str, str] = {}
    if not subject:
        errors["oggetto"] = "Scrivi l'oggetto."
    elif len(subject) > 500 or "\n" in subject or "\r" in subject:
        errors["oggetto"] = "L'oggetto va su una riga, al massimo 500 caratteri."
    if not body:
        errors["testo"] = "Scrivi il testo del messaggio."
    if errors:
        raise OneOffError(errors)
    doc_type = db.session.get(DocumentType, document.type_code)
    assert doc_type is not None
    account, reason, warnings = AccountPicker().pick(doc_type, contact)
    if account is None:
        raise OneOffError(
            {"destinatario": "Nessun account di invio attivo: chiedi all'amministratore di configurarne uno."}
        )
    original = draft(document, user, contact)
    if doc_type.attach_pdf and document.pdf_sha256 is None:
        ensure_pdfs([document.id])
    batch = Batch(
        kind="documents",
        status="ready",
        name=f"Invio singolo – {doc_type.name} {document.number}",
        params={"one_off": True, "document_ids": [document.id], "type_codes": [document.type_code]},
        type_codes=[document.type_code],
        template_versions=snapshot_versions([document.type_code]),
        created_by_id=user.id,
    )
    db.session.add(batch)
    db.session.flush()
    delivery = Delivery(
        batch_id=batch.id,
        party_id=document.party_id,
        contact_id=None if typed else contact.id,
        recipient_email=contact.email,
        recipient_name=contact.name,
        privacy_level=0 if typed else contact.privacy_level,
        account_id=account.id,
        account_reason=reason,
        status="pending",
        subject=subject,
        body_html=_edited_html(original, subject, body),
        body_text=body + "\n",
        cc=doc_type.cc_address or "",
        reply_to=doc_type.reply_to or "",
        template_version_id=original.version_id,
        warnings=warnings + (["Indirizzo scritto a mano"] if typed else []),
    )
    delivery.documents = [document]
    delivery.size_bytes = estimate_size(delivery, [document], {})
    db.session.add(delivery)
    db.session.flush()
    audit(
        "batch.one_off",
        batch,
        user=user,
        document_id=document.id,
        typed_address=typed,
        edited=body != original.body.strip(),
    )
    if user.has_role("manager", "admin"):
        # The manager's «Invia ora» is their approval of this one message, seen in full on the form.
        batch.status, batch.approved_by_id, batch.approved_at = "approved", user.id, utcnow()
        audit("batch.approve", batch, user=user, one_off=True)
    elif doc_type.auto_approve:
        batch.status, batch.approved_at = "approved", utcnow()
        audit("batch.approve", batch, user=None, automatic=True, one_off=True)
    db.session.commit()
    if batch.status == "approved":
        start_sending(batch, user)
    return batch
