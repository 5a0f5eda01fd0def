"""The campaign editor's live preview: the subject and body as typed, rendered for one recipient of the filter.

The recipient is a contact the filter selects and the user may see (clearance), so the preview shows real
names; without a filter it is a made-up one. Rendering goes through the same sandbox and checks as sending
(texts.validate_texts, texts.render_texts)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...extensions import db
from ...models import Contact, GenericDocument, MailAccount, Party, User
from .. import mail_templates as mt
from .. import segments
from .filters import get_filter
from .records import accounts_for_campaigns
from .texts import recipient_context, render_texts, sample_context, validate_texts

SAMPLE_CHOICES = 20
EXAMPLE_UNSUBSCRIBE = "https://esempio.invalid/campagne/disiscrizione/…"


@dataclass
class CampaignPreview:
    """What the preview fragment shows."""

    subject: str = ""
    html: str = ""
    errors: list[str] = field(default_factory=list)
    recipients: list[tuple[Contact, Party]] = field(default_factory=list)
    recipient: Contact | None = None
    filter_problem: str = ""
    errors_hint: str = ""


def _documents(document_ids: list[int]) -> list[dict]:
    """The attachments' placeholders (title and file) of the chosen generic documents."""
    out = []
    for doc_id in document_ids:
        document = db.session.get(GenericDocument, doc_id)
        if document is not None and not document.archived and document.current is not None:
            out.append({"titolo": document.title, "file": document.current.filename})
    return out


def preview_campaign(
    user: User,
    *,
    name: str,
    filter_id: int | None,
    contact_id: int | None,
    document_ids: list[int],
    subject: str,
    body_html: str,
    commercial: bool,
    account_id: int | None,
) -> CampaignPreview:
    """Render the texts as typed for a sample recipient of the filter (visible to the user), or report errors."""
    result = CampaignPreview()
    conditions = None
    saved = get_filter(filter_id, user) if filter_id else None
    if saved is not None:
        try:
            conditions = segments.parse_conditions(saved.conditions)
        except segments.SegmentError as exc:
            result.filter_problem = f"Il filtro «{saved.name}» non è più valido ({exc})."
    if conditions is not None:
        result.recipients = segments.sample(conditions, user, limit=SAMPLE_CHOICES)
        if contact_id:
            chosen = db.session.scalar(
                segments.contacts_select(conditions, user, columns=[Contact.id]).where(
                    Contact.id == contact_id
                )
            )
            result.recipient = db.session.get(Contact, chosen) if chosen else None
        if result.recipient is None and result.recipients:
            result.recipient = result.recipients[0][0]
    if not subject.strip():
        result.errors_hint = "Manca l'oggetto: scrivilo prima di preparare la campagna."
        subject = "(senza oggetto)"
    problems = validate_texts(subject, body_html, commercial)
    if problems:
        result.errors = [str(problem) for problem in problems]
        return result
    account = db.session.get(MailAccount, account_id) if account_id else None
    if account is None or not account.active or account.is_pec:
        accounts = accounts_for_campaigns()
        account = accounts[0] if accounts else None
    url = EXAMPLE_UNSUBSCRIBE if commercial else None
    if result.recipient is not None and account is not None:
        documents = _documents(document_ids)
        context = recipient_context(
            result.recipient, " ".join(name.split()) or "(senza nome)", documents, account, user, url or ""
        )
    else:
        context = sample_context()
    try:
        result.subject, result.html, _text = render_texts(subject, body_html, context, account, url)
    except mt.TemplateValidationError as exc:
        result.errors = [str(problem) for problem in exc.errors]
    except Exception as exc:  # noqa: BLE001 — a render error is shown to the author, as in validate_texts
        result.errors = [str(mt.render_error("body_html", exc, False))]
    return result
