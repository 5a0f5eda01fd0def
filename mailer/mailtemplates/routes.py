"""Pages of the templates area (admin only): list, editor with live preview, versions, sending
settings per document type, signature per sending account."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..batches.routes import test_send_answer
from ..extensions import db
from ..inputs import db_id
from ..models import (
    TEMPLATE_LANGUAGES,
    Contact,
    Document,
    DocumentType,
    EmailTemplate,
    MailAccount,
    TemplateVersion,
)
from ..security import clearance, require_roles
from ..services import mail_templates as svc
from ..services import test_send
from ..services.audit import audit
from ..services.sending import document_attachments
from ..transport.message import MessageSpec

bp = Blueprint("templates", __name__)

PREVIEW_DOCUMENTS = 50


@bp.before_request
def admins_only():
    """Templates, sending settings and signatures are the administrator's."""
    require_roles("admin")


def _type_or_404(code: str, language: str | None = None) -> DocumentType:
    """The document type of the URL (and a known language), or 404."""
    doc_type = db.session.get(DocumentType, code)
    if doc_type is None or (language is not None and language not in TEMPLATE_LANGUAGES):
        abort(404)
    return doc_type


def _default_account(doc_type: DocumentType) -> MailAccount | None:
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


def _visible_contacts(document: Document, type_code: str) -> list[Contact]:
    """Active contacts of the document's party that the user may see; receivers of the type first."""
    contacts = db.session.scalars(
        db.select(Contact)
        .where(
            Contact.party_id == document.party_id,
            Contact.active.is_(True),
            Contact.privacy_level <= clearance(),
        )
        .order_by(Contact.name)
    ).all()
    return sorted(contacts, key=lambda c: type_code not in c.document_type_codes)


def _preview_setup(doc_type: DocumentType, language: str, values) -> dict:
    """Documents to choose from, the chosen document and contact, and the context to render with."""
    documents = db.session.scalars(
        db.select(Document)
        .where(Document.type_code == doc_type.code)
        .order_by(Document.date.desc(), Document.id.desc())
        .limit(PREVIEW_DOCUMENTS)
    ).all()
    document = None
    wanted = values.get("preview_doc", type=db_id)
    if wanted:
        document = db.session.get(Document, wanted)
        if document is not None and document.type_code != doc_type.code:
            document = None
        if document is not None and document not in documents:
            documents = [document, *documents]
    if document is None and documents:
        document = documents[0]
    contacts: list[Contact] = []
    contact = None
    account = _default_account(doc_type)
    if document is not None:
        contacts = _visible_contacts(document, doc_type.code)
        wanted_contact = values.get("preview_contact", type=int)
        contact = next((c for c in contacts if c.id == wanted_contact), None)
        if contact is None and wanted_contact != 0 and contacts:
            contact = contacts[0]
        context = svc.build_context(
            [document], contact=contact, user=current_user, account=account, language=language
        )
    else:
        context = svc.sample_context(doc_type.code, language=language)
    return {
        "documents": documents,
        "document": document,
        "contacts": contacts,
        "contact": contact,
        "account": account,
        "context": context,
    }


def _versions(template: EmailTemplate) -> list[TemplateVersion]:
    """The versions of a template, newest first."""
    return db.session.scalars(
        db.select(TemplateVersion)
        .where(TemplateVersion.template_id == template.id)
        .order_by(TemplateVersion.number.desc())
    ).all()


def _accounts() -> list[MailAccount]:
    """Ordinary active accounts a type can be bound to."""
    return db.session.scalars(
        db.select(MailAccount)
        .where(MailAccount.active.is_(True), MailAccount.kind != "pec")
        .order_by(MailAccount.name)
    ).all()


@bp.route("/")
def index():
    """Document types × languages with their current version and sending settings."""
    svc.ensure_default_templates()
    db.session.commit()
    types = db.session.scalars(db.select(DocumentType).order_by(DocumentType.position)).all()
    latest = {}
    rows = db.session.execute(
        db.select(EmailTemplate.type_code, EmailTemplate.language, TemplateVersion)
        .join(TemplateVersion, TemplateVersion.template_id == EmailTemplate.id)
        .order_by(TemplateVersion.number)
    ).all()
    for code, language, version in rows:
        latest[(code, language)] = version
    examples = {}
    for (code, language), version in latest.items():
        try:  # the subject as it reads on a sample document of one page
            examples[(code, language)] = " ".join(
                svc.render_source(
                    "subject", version.subject, svc.sample_context(code, sparse=True, language=language)
                ).split()
            )
        except Exception:  # noqa: BLE001 — an old text that no longer renders shows its source instead
            examples[(code, language)] = version.subject
    accounts = {a.id: a for a in db.session.scalars(db.select(MailAccount))}
    return render_template(
        "mailtemplates/index.html",
        types=types,
        latest=latest,
        accounts=accounts,
        languages=TEMPLATE_LANGUAGES,
        examples=examples,
    )


def _settings_form(doc_type: DocumentType) -> dict:
    """Current sending settings of a type, as the settings form shows them."""
    return {
        k: getattr(doc_type, k)
        for k in (
            "by_pec",
            "attach_pdf",
            "group_per_recipient",
            "reply_to",
            "cc_address",
            "account_id",
            "schedule_cron",
            "auto_approve",
        )
    }


def _render_editor(
    doc_type: DocumentType,
    language: str,
    form: dict,
    errors=(),
    settings_errors=None,
    settings_form: dict | None = None,
    status: int = 200,
):
    """The editor page (form values, errors at their lines, preview, settings, history)."""
    template = svc.get_template(doc_type.code, language)
    setup = _preview_setup(doc_type, language, request.values)
    mail, preview_errors = svc.render_draft(
        form["subject"], form["body_html"], form["body_text"], setup["context"], account=setup["account"]
    )
    errors = list(errors)
    listings = {
        field: svc.markup_lines(form[field], errors, field)
        for field in ("subject", "body_html", "body_text")
        if any(e.field == field for e in errors)
    }
    return render_template(
        "mailtemplates/edit.html",
        doc_type=doc_type,
        language=language,
        languages=TEMPLATE_LANGUAGES,
        form=form,
        errors=errors,
        listings=listings,
        versions=_versions(template),
        current=svc.current_version(doc_type.code, language),
        mail=mail,
        preview_errors=preview_errors,
        settings_errors=settings_errors or {},
        settings_form=settings_form or _settings_form(doc_type),
        accounts=_accounts(),
        placeholders=svc.placeholder_groups(),
        **setup,
    ), status


@bp.route("/<code>/<language>", methods=["GET", "POST"])
def edit(code: str, language: str):
    """Edit a template: GET shows the current version; POST saves a new version or shows the errors."""
    doc_type = _type_or_404(code, language)
    if request.method == "POST":
        form = {k: request.form.get(k, "") for k in ("subject", "body_html", "body_text", "note")}
        try:
            version = svc.save_version(
                code,
                language,
                form["subject"],
                form["body_html"],
                form["body_text"],
                current_user,
                note=form["note"],
            )
        except svc.TemplateValidationError as exc:
            db.session.rollback()
            return _render_editor(doc_type, language, form, errors=exc.errors, status=422)
        db.session.commit()
        flash(
            f"Modello salvato: versione {version.number}. I prossimi invii useranno questo testo.", "success"
        )
        return redirect(
            url_for(
                ".edit", code=code, language=language, preview_doc=request.form.get("preview_doc") or None
            )
        )
    current = svc.current_version(code, language)
    db.session.commit()  # the default version may just have been created
    form = {
        "subject": current.subject,
        "body_html": current.body_html,
        "body_text": current.body_text,
        "note": "",
    }
    return _render_editor(doc_type, language, form)


@bp.route("/<code>/<language>/anteprima", methods=["POST"])
def preview(code: str, language: str):
    """Live preview of the text being edited (htmx fragment), with any error at its line."""
    doc_type = _type_or_404(code, language)
    setup = _preview_setup(doc_type, language, request.form)
    mail, errors = svc.render_draft(
        request.form.get("subject", ""),
        request.form.get("body_html", ""),
        request.form.get("body_text", ""),
        setup["context"],
        account=setup["account"],
    )
    return render_template(
        "mailtemplates/_preview.html",
        doc_type=doc_type,
        language=language,
        mail=mail,
        preview_errors=errors,
        **setup,
    )


@bp.route("/<code>/<language>/prova", methods=["POST"])
def send_test(code: str, language: str):
    """«Invia una prova a me»: the text being edited, rendered on the previewed document and contact, sent
    through the preview's account with the document's attachments to the administrator's own address."""
    doc_type = _type_or_404(code, language)
    setup = _preview_setup(doc_type, language, request.form)
    back = url_for(".edit", code=code, language=language, preview_doc=request.form.get("preview_doc") or None)
    try:
        test_send.recipient_of(current_user)
        account = setup["account"]
        if account is None:
            raise test_send.TestSendError("Nessun account di invio attivo: creane uno per inviare una prova.")
        mail, errors = svc.render_draft(
            request.form.get("subject", ""),
            request.form.get("body_html", ""),
            request.form.get("body_text", ""),
            setup["context"],
            account=account,
        )
        if errors:
            raise test_send.TestSendError(
                "Il modello così non si può usare: correggi gli errori indicati nell'anteprima e riprova."
            )
        document = setup["document"]
        spec = MessageSpec(
            from_address=account.from_address,
            from_name=account.from_name,
            to=[],
            subject=mail.subject,
            html=mail.html,
            text=mail.text,
            message_id="",
            date="",
            reply_to=doc_type.reply_to or "",
            attachments=document_attachments([document]) if document is not None else [],
        )
        spec = test_send.as_test(spec, current_user, account)
        contact = setup["contact"]
        result = test_send.send_spec(
            spec,
            account,
            document or doc_type,
            current_user,
            template=code,
            language=language,
            contact_id=contact.id if contact else None,
        )
    except test_send.TestSendError as exc:
        db.session.rollback()
        result = test_send.TestSendResult(False, str(exc))
    return test_send_answer(result, back)


@bp.route("/<code>/<language>/versioni/<int:number>")
def version(code: str, language: str, number: int):
    """An old version as it was saved, and how it renders on the chosen document."""
    doc_type = _type_or_404(code, language)
    template = svc.get_template(code, language)
    saved = db.session.scalar(
        db.select(TemplateVersion).where(
            TemplateVersion.template_id == template.id, TemplateVersion.number == number
        )
    )
    if saved is None:
        abort(404)
    setup = _preview_setup(doc_type, language, request.args)
    mail, render_error = None, None
    try:
        mail = svc.render_version(saved, setup["context"], account=setup["account"])
    except Exception as exc:  # noqa: BLE001 — an old text that no longer renders is shown, not hidden
        render_error = str(exc)
    return render_template(
        "mailtemplates/version.html",
        doc_type=doc_type,
        language=language,
        languages=TEMPLATE_LANGUAGES,
        saved=saved,
        mail=mail,
        render_error=render_error,
        current=svc.current_version(code, language),
        **setup,
    )


@bp.route("/<code>/<language>/versioni/<int:number>/ripristina", methods=["POST"])
def restore(code: str, language: str, number: int):
    """Save an old version's text again as the newest version."""
    _type_or_404(code, language)
    template = svc.get_template(code, language)
    saved = db.session.scalar(
        db.select(TemplateVersion).where(
            TemplateVersion.template_id == template.id, TemplateVersion.number == number
        )
    )
    if saved is None:
        abort(404)
    try:
        new = svc.save_version(
            code,
            language,
            saved.subject,
            saved.body_html,
            saved.body_text,
            current_user,
            note=f"Ripristino della versione {number}",
        )
    except svc.TemplateValidationError as exc:
        db.session.rollback()
        flash(f"La versione {number} non è più valida e non può essere ripristinata: {exc}", "error")
        return redirect(url_for(".version", code=code, language=language, number=number))
    db.session.commit()
    flash(f"Versione {number} ripristinata come versione {new.number}.", "success")
    return redirect(url_for(".edit", code=code, language=language))


@bp.route("/<code>/impostazioni", methods=["POST"])
def settings(code: str):
    """Save the sending settings of a document type."""
    doc_type = _type_or_404(code)
    language = request.form.get("language", "it")
    if language not in TEMPLATE_LANGUAGES:
        language = "it"
    try:
        account_id = db_id(request.form["account_id"]) if request.form.get("account_id", "0") != "0" else None
    except ValueError:
        account_id = -1
    errors = svc.update_sending_settings(
        code,
        by_pec="by_pec" in request.form,
        attach_pdf="attach_pdf" in request.form,
        group_per_recipient="group_per_recipient" in request.form,
        reply_to=request.form.get("reply_to", ""),
        cc_address=request.form.get("cc_address", ""),
        account_id=account_id,
        schedule_cron=request.form.get("schedule_cron", ""),
        auto_approve="auto_approve" in request.form,
    )
    if errors:
        db.session.rollback()
        current = svc.current_version(code, language)
        form = {
            "subject": current.subject,
            "body_html": current.body_html,
            "body_text": current.body_text,
            "note": "",
        }
        typed = {
            "by_pec": "by_pec" in request.form,
            "attach_pdf": "attach_pdf" in request.form,
            "group_per_recipient": "group_per_recipient" in request.form,
            "reply_to": request.form.get("reply_to", ""),
            "cc_address": request.form.get("cc_address", ""),
            "account_id": account_id,
            "schedule_cron": request.form.get("schedule_cron", ""),
            "auto_approve": "auto_approve" in request.form,
        }
        return _render_editor(
            doc_type, language, form, settings_errors=errors, settings_form=typed, status=422
        )
    db.session.commit()
    flash(f"Impostazioni di invio di «{doc_type.name}» salvate.", "success")
    return redirect(url_for(".edit", code=code, language=language) + "#impostazioni")


@bp.route("/firme", methods=["GET"])
def signatures():
    """The signature of every sending account, with its preview."""
    accounts = db.session.scalars(db.select(MailAccount).order_by(MailAccount.name)).all()
    return render_template(
        "mailtemplates/signatures.html",
        accounts=accounts,
        errors={},
        default_signature=svc.default_signature_html(),
        signature_for=svc.signature_for,
    )


@bp.route("/firme/<int:account_id>", methods=["POST"])
def signature(account_id: int):
    """Save the HTML signature of one sending account."""
    account = db.session.get(MailAccount, account_id)
    if account is None:
        abort(404)
    html = (request.form.get("signature_html") or "").replace("\r\n", "\n").strip()
    problems = svc.validate_signature(html)
    if problems:
        accounts = db.session.scalars(db.select(MailAccount).order_by(MailAccount.name)).all()
        return render_template(
            "mailtemplates/signatures.html",
            accounts=accounts,
            errors={account.id: problems},
            typed={account.id: html},
            default_signature=svc.default_signature_html(),
            signature_for=svc.signature_for,
        ), 422
    account.signature_html = html
    audit("account.signature", account, name=account.name)
    db.session.commit()
    flash(f"Firma dell'account «{account.name}» salvata.", "success")
    return redirect(url_for(".signatures") + f"#account-{account.id}")
