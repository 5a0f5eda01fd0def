"""Pages of the templates area (admin only): list, editor with live preview, versions, sending
settings per document type, signature per sending account."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..batches.routes import test_send_answer
from ..extensions import db
from ..inputs import db_id
from ..models import TEMPLATE_LANGUAGES, DocumentType, MailAccount, TemplateVersion
from ..security import clearance, require_roles
from ..services import sdi, test_send
from ..services.audit import audit
from ..services.mail_templates.errors import TemplateValidationError
from ..services.mail_templates.preview import preview_setup
from ..services.mail_templates.rendering import markup_lines, render_draft, render_version, subject_example
from ..services.mail_templates.schema import placeholder_groups
from ..services.mail_templates.signatures import default_signature_html, signature_for, validate_signature
from ..services.mail_templates.type_settings import (
    sending_accounts,
    sending_settings,
    update_sending_settings,
)
from ..services.mail_templates.versions import (
    current_version,
    ensure_default_templates,
    latest_versions,
    save_version,
    saved_version,
    template_versions,
)
from ..services.sending import document_attachments
from ..transport.message import MessageSpec

bp = Blueprint("templates", __name__)


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


def _preview(doc_type: DocumentType, language: str, values) -> dict:
    """What the preview renders on, as the request asks (preview_doc, preview_contact)."""
    return preview_setup(
        doc_type,
        language,
        values.get("preview_doc", type=db_id),
        values.get("preview_contact", type=int),
        current_user,
        clearance(),
    )


@bp.route("/")
def index():
    """Document types × languages with their current version and sending settings."""
    ensure_default_templates()
    db.session.commit()
    types = db.session.scalars(db.select(DocumentType).order_by(DocumentType.position)).all()
    latest = latest_versions()
    examples = {
        (code, language): subject_example(code, language, version.subject)
        for (code, language), version in latest.items()
    }
    accounts = {a.id: a for a in db.session.scalars(db.select(MailAccount))}
    return render_template(
        "mailtemplates/index.html",
        types=types,
        latest=latest,
        accounts=accounts,
        languages=TEMPLATE_LANGUAGES,
        examples=examples,
    )


def _form_of(version: TemplateVersion) -> dict:
    """The editor form filled with a saved version's text (and no note)."""
    return {
        "subject": version.subject,
        "body_html": version.body_html,
        "body_text": version.body_text,
        "note": "",
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
    setup = _preview(doc_type, language, request.values)
    mail, preview_errors = render_draft(
        form["subject"], form["body_html"], form["body_text"], setup["context"], account=setup["account"]
    )
    errors = list(errors)
    listings = {
        field: markup_lines(form[field], errors, field)
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
        versions=template_versions(doc_type.code, language),
        current=current_version(doc_type.code, language),
        mail=mail,
        preview_errors=preview_errors,
        settings_errors=settings_errors or {},
        settings_form=settings_form or sending_settings(doc_type),
        accounts=sending_accounts(),
        placeholders=placeholder_groups(),
        sdi_types=sdi.SDI_TYPES,
        sdi_mc_default=sdi.MC_TEXT,
        **setup,
    ), status


@bp.route("/<code>/<language>", methods=["GET", "POST"])
def edit(code: str, language: str):
    """Edit a template: GET shows the current version; POST saves a new version or shows the errors."""
    doc_type = _type_or_404(code, language)
    if request.method == "POST":
        form = {k: request.form.get(k, "") for k in ("subject", "body_html", "body_text", "note")}
        try:
            version = save_version(
                code,
                language,
                form["subject"],
                form["body_html"],
                form["body_text"],
                current_user,
                note=form["note"],
            )
        except TemplateValidationError as exc:
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
    current = current_version(code, language)
    db.session.commit()  # the default version may just have been created
    form = _form_of(current)
    return _render_editor(doc_type, language, form)


@bp.route("/<code>/<language>/anteprima", methods=["POST"])
def preview(code: str, language: str):
    """Live preview of the text being edited (htmx fragment), with any error at its line."""
    doc_type = _type_or_404(code, language)
    setup = _preview(doc_type, language, request.form)
    mail, errors = render_draft(
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
    setup = _preview(doc_type, language, request.form)
    back = url_for(".edit", code=code, language=language, preview_doc=request.form.get("preview_doc") or None)
    try:
        test_send.recipient_of(current_user)
        account = setup["account"]
        if account is None:
            raise test_send.TestSendError("Nessun account di invio attivo: creane uno per inviare una prova.")
        mail, errors = render_draft(
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
        assert mail is not None  # render_draft gives a mail whenever it gives no errors
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
    saved = saved_version(code, language, number)
    if saved is None:
        abort(404)
    setup = _preview(doc_type, language, request.args)
    mail, render_error = None, None
    try:
        mail = render_version(saved, setup["context"], account=setup["account"])
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
        current=current_version(code, language),
        **setup,
    )


@bp.route("/<code>/<language>/versioni/<int:number>/ripristina", methods=["POST"])
def restore(code: str, language: str, number: int):
    """Save an old version's text again as the newest version."""
    _type_or_404(code, language)
    saved = saved_version(code, language, number)
    if saved is None:
        abort(404)
    try:
        new = save_version(
            code,
            language,
            saved.subject,
            saved.body_html,
            saved.body_text,
            current_user,
            note=f"Ripristino della versione {number}",
        )
    except TemplateValidationError as exc:
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
        account_id = (
            db_id(request.form["account_id"]) if request.form.get("account_id", "") not in ("", "0") else None
        )
    except ValueError:
        account_id = -1
    typed: dict[str, Any] = {
        "by_pec": "by_pec" in request.form,
        "attach_pdf": "attach_pdf" in request.form,
        "group_per_recipient": "group_per_recipient" in request.form,
        "reply_to": request.form.get("reply_to", ""),
        "cc_address": request.form.get("cc_address", ""),
        "account_id": account_id,
        "schedule_cron": request.form.get("schedule_cron", ""),
        "auto_approve": "auto_approve" in request.form,
        "preferences_link": "preferences_link" in request.form,
        "wait_for_sdi": "wait_for_sdi" in request.form,
        "sdi_mc_text": request.form.get("sdi_mc_text", ""),
    }
    errors = update_sending_settings(code, **typed)
    if errors:
        db.session.rollback()
        form = _form_of(current_version(code, language))
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
        default_signature=default_signature_html(),
        signature_for=signature_for,
    )


@bp.route("/firme/<int:account_id>", methods=["POST"])
def signature(account_id: int):
    """Save the HTML signature of one sending account."""
    account = db.session.get(MailAccount, account_id)
    if account is None:
        abort(404)
    html = (request.form.get("signature_html") or "").replace("\r\n", "\n").strip()
    problems = validate_signature(html)
    if problems:
        accounts = db.session.scalars(db.select(MailAccount).order_by(MailAccount.name)).all()
        return render_template(
            "mailtemplates/signatures.html",
            accounts=accounts,
            errors={account.id: problems},
            typed={account.id: html},
            default_signature=default_signature_html(),
            signature_for=signature_for,
        ), 422
    account.signature_html = html
    audit("account.signature", account, name=account.name)
    db.session.commit()
    flash(f"Firma dell'account «{account.name}» salvata.", "success")
    return redirect(url_for(".signatures") + f"#account-{account.id}")
