"""Pages of the contacts area: party list and search, party page with inline contact editing,
coverage per document type, import and export, contact functions."""

from __future__ import annotations

from datetime import datetime

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from ..extensions import db, htmx
from ..models import ContactFunction, DocumentType
from ..reference import PRIVACY_LEVELS
from ..security import local_url, require_roles, role_required
from ..services import contacts as svc
from ..services.audit import audit
from ..services.blobs import load_blob, store_blob
from ..services.contacts.search import _int_or_none
from ..services.pagination import page_arg, page_count
from ..services.party_import import CONTACT_COLUMNS, PARTY_COLUMNS, ImportFileError, run_import
from ..services.spreadsheets import to_csv, to_xlsx
from ..services.validation import InvalidValue, normalize_email, pec_domain

bp = Blueprint("contacts", __name__)


@bp.before_request
def viewers_only():
    """Every page of the area needs a role that works with contacts."""
    require_roles(*svc.VIEW_ROLES)


def _may_edit() -> bool:
    """True when the current user may add, change and remove contacts."""
    return current_user.has_role(*svc.EDIT_ROLES)


def _document_types() -> list[DocumentType]:
    """The document types in their display order."""
    return list(db.session.scalars(db.select(DocumentType).order_by(DocumentType.position)))


def _functions() -> list[ContactFunction]:
    """The contact functions by name."""
    return list(db.session.scalars(db.select(ContactFunction).order_by(ContactFunction.name)))


# --- list, search, export ------------------------------------------------------------------------


@bp.route("/")
def parties():
    """Customers and suppliers with active search, filters, sorting and paging."""
    filters = svc.PartyFilters.from_args(request.args)
    result = svc.search_parties(filters, current_user)
    context = {"filters": filters, "result": result, "sort_labels": svc.SORT_LABELS}
    if htmx and htmx.target == "party-results":
        return render_template("contacts/_party_results.html", **context)
    return render_template("contacts/parties.html", choices=svc.filter_choices(), **context)


@bp.route("/export.<fmt>")
def export(fmt: str):
    """The filtered list as CSV or XLSX: parties, or their contacts within the user's clearance."""
    if fmt not in ("csv", "xlsx"):
        abort(404)
    what = "parties" if request.args.get("what") == "parties" else "contacts"
    filters = svc.PartyFilters.from_args(request.args)
    header, rows = svc.export_rows(what, filters, current_user)
    audit("contacts.export", None, what=what, format=fmt, rows=len(rows), filters=filters.to_args(page=1))
    db.session.commit()
    stamp = datetime.now().strftime("%Y%m%d-%H%M")  # noqa: DTZ005 - local time in the file name
    name = f"{'anagrafiche' if what == 'parties' else 'contatti'}-{stamp}.{fmt}"
    if fmt == "csv":
        body, mimetype = to_csv(header, rows), "text/csv"  # Werkzeug adds "; charset=utf-8"
    else:
        body = to_xlsx(header, rows, "Anagrafiche" if what == "parties" else "Contatti")
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


# --- party page and inline contact editing -------------------------------------------------------


def _party_or_404(party_id: int):
    """The party or 404."""
    party = svc.get_party(party_id)
    if party is None:
        abort(404)
    return party


def _contact_or_404(contact_id: int):
    """A contact the user may see, or 404 (the same answer whether it exists or is hidden)."""
    contact = svc.get_visible_contact(contact_id, current_user)
    if contact is None:
        abort(404)
    return contact


def _form_context(party, contact=None, values=None, errors=None, preset_types=None):
    """What the contact form needs."""
    if values is None:
        if contact is not None:
            values = _values_from_contact(contact)
        else:
            values = {
                "name": "",
                "function": "",
                "phone": "",
                "email": "",
                "pec": "auto",
                "document_types": list(preset_types or []),
                "tags": "",
                "privacy_level": "0",
                "marketing_consent": False,
                "consent_date": "",
                "consent_source": "",
                "opted_out": False,
                "notes": "",
                "erp_code": "",
            }
    return {
        "party": party,
        "contact": contact,
        "values": values,
        "errors": errors or {},
        "document_types": _document_types(),
        "functions": _functions(),
        "privacy_levels": [
            (lvl, name) for lvl, name in PRIVACY_LEVELS if lvl <= current_user.privacy_clearance
        ],
        "defaults_by_function": {str(f.id): [t.code for t in f.default_types] for f in _functions()},
    }


def _values_from_contact(contact) -> dict:
    """Form values of an existing contact."""
    return {
        "name": contact.name,
        "function": str(contact.function_id or ""),
        "phone": contact.phone,
        "email": contact.email,
        "pec": ("si" if contact.is_pec else "no") if contact.pec_flag_manual else "auto",
        "document_types": sorted(contact.document_type_codes),
        "tags": ", ".join(sorted(t.name for t in contact.tags)),
        "privacy_level": str(contact.privacy_level),
        "marketing_consent": contact.marketing_consent,
        "consent_date": contact.consent_date.strftime("%Y-%m-%d") if contact.consent_date else "",
        "consent_source": contact.consent_source,
        "opted_out": bool(contact.opted_out_at),
        "notes": contact.notes,
        "erp_code": contact.erp_code,
    }


def _values_from_form(form) -> dict:
    """Form values as typed, to show them back with the errors."""
    return {
        "name": form.get("name", ""),
        "function": form.get("function", ""),
        "phone": form.get("phone", ""),
        "email": form.get("email", ""),
        "pec": form.get("pec", "auto"),
        "document_types": form.getlist("document_types"),
        "tags": form.get("tags", ""),
        "privacy_level": form.get("privacy_level", "0"),
        "marketing_consent": form.get("marketing_consent") == "1",
        "consent_date": form.get("consent_date", ""),
        "consent_source": form.get("consent_source", ""),
        "opted_out": form.get("opted_out") == "1",
        "notes": form.get("notes", ""),
        "erp_code": form.get("erp_code", ""),
    }


def _party_page(party, status=200, **form):
    """The full party page (optionally with the new-contact form open)."""
    return render_template(
        "contacts/party.html",
        party=party,
        contacts=svc.party_contacts(party.id, current_user),
        history=svc.party_history(party.id, current_user),
        may_edit=_may_edit(),
        **form,
    ), status


@bp.route("/<int:party_id>")
def party(party_id: int):
    """A party: its data, its contacts (visible to the user) and their history."""
    party = _party_or_404(party_id)
    extra = {}
    if request.args.get("new") and _may_edit():
        extra["new_form"] = _form_context(party, preset_types=request.args.getlist("types"))
    return _party_page(party, **extra)


@bp.route("/<int:party_id>/contacts/new")
@role_required(*svc.EDIT_ROLES)
def new_contact(party_id: int):
    """The empty contact form (fragment for htmx; otherwise the party page with the form open)."""
    party = _party_or_404(party_id)
    if not htmx:
        return redirect(url_for(".party", party_id=party.id, new=1))
    return render_template("contacts/_contact_form.html", **_form_context(party))


@bp.route("/<int:party_id>/contacts", methods=["POST"])
@role_required(*svc.EDIT_ROLES)
def create_contact(party_id: int):
    """Add a contact; on errors show the form again with the messages next to the fields."""
    party = _party_or_404(party_id)
    clean, errors = svc.validate_contact(svc.ContactInput.from_form(request.form), current_user)
    if errors:
        context = _form_context(party, values=_values_from_form(request.form), errors=errors)
        if htmx:
            return render_template("contacts/_contact_form.html", **context)
        return _party_page(party, status=422, new_form=context)
    contact = svc.create_contact(party, clean, current_user)
    db.session.commit()
    if not htmx:
        flash(f"Contatto «{svc.contact_label(contact)}» aggiunto.", "success")
        return redirect(url_for(".party", party_id=party.id))
    response = make_response(
        render_template(
            "contacts/_contacts_section.html",
            party=party,
            contacts=svc.party_contacts(party.id, current_user),
            history=svc.party_history(party.id, current_user),
            may_edit=True,
            highlight=contact.id,
        )
    )
    response.headers["HX-Retarget"] = "#party-contacts"
    response.headers["HX-Reswap"] = "outerHTML"
    return response


@bp.route("/contacts/<int:contact_id>")
def contact(contact_id: int):
    """One contact card (used to cancel an inline edit)."""
    contact = _contact_or_404(contact_id)
    if not htmx:
        return redirect(url_for(".party", party_id=contact.party_id) + f"#contact-{contact.id}")
    return render_template("contacts/_contact_card.html", contact=contact, may_edit=_may_edit())


@bp.route("/contacts/<int:contact_id>/edit")
@role_required(*svc.EDIT_ROLES)
def edit_contact(contact_id: int):
    """The contact's edit form, in place of its card."""
    contact = _contact_or_404(contact_id)
    context = _form_context(contact.party, contact=contact)
    context["next_url"] = local_url(request.args.get("next"))  # e.g. back to the batch results
    if not htmx:
        return _party_page(contact.party, edit_form=context)
    return render_template("contacts/_contact_form.html", **context)


@bp.route("/contacts/<int:contact_id>", methods=["POST"])
@role_required(*svc.EDIT_ROLES)
def update_contact(contact_id: int):
    """Save a contact; on errors nothing is written and the form shows what to fix."""
    contact = _contact_or_404(contact_id)
    next_url = local_url(request.form.get("next"))
    clean, errors = svc.validate_contact(svc.ContactInput.from_form(request.form), current_user)
    if errors:
        context = _form_context(
            contact.party, contact=contact, values=_values_from_form(request.form), errors=errors
        )
        context["next_url"] = next_url
        if htmx:
            return render_template("contacts/_contact_form.html", **context)
        return _party_page(contact.party, status=422, edit_form=context)
    svc.update_contact(contact, clean, current_user)
    db.session.commit()
    if next_url:  # opened from a batch's results: back there, to retry
        flash(f"Contatto «{svc.contact_label(contact)}» salvato: ora puoi ritentare l'invio.", "success")
        if htmx:
            response = make_response("", 204)
            response.headers["HX-Redirect"] = next_url
            return response
        return redirect(next_url)
    if not htmx:
        flash(f"Contatto «{svc.contact_label(contact)}» salvato.", "success")
        return redirect(url_for(".party", party_id=contact.party_id))
    if contact.privacy_level > current_user.privacy_clearance:  # cannot happen: validation forbids it
        abort(403)
    return render_template(
        "contacts/_contact_saved.html",
        contact=contact,
        may_edit=True,
        history=svc.party_history(contact.party_id, current_user),
        party=contact.party,
    )


@bp.route("/contacts/<int:contact_id>/delete", methods=["POST"])
@role_required(*svc.EDIT_ROLES)
def delete_contact(contact_id: int):
    """Remove a contact (its history stays)."""
    contact = _contact_or_404(contact_id)
    party = contact.party
    label = svc.contact_label(contact)
    svc.delete_contact(contact, current_user)
    db.session.commit()
    if not htmx:
        flash(f"Contatto «{label}» eliminato.", "success")
        return redirect(url_for(".party", party_id=party.id))
    return render_template(
        "contacts/_contact_deleted.html",
        party=party,
        history=svc.party_history(party.id, current_user),
        count=len(svc.party_contacts(party.id, current_user)),
    )


@bp.route("/contacts/check-email")
def check_email():
    """Inline check of the e-mail field: the error, or whether the address is PEC."""
    value = request.args.get("email", "")
    try:
        email = normalize_email(value)
    except InvalidValue as exc:
        return render_template("contacts/_email_check.html", error=str(exc), domain=None, email=value)
    return render_template("contacts/_email_check.html", error=None, domain=pec_domain(email), email=email)


# --- coverage ------------------------------------------------------------------------------------


@bp.route("/coverage")
def coverage():
    """For each document type, how many parties have nobody receiving it."""
    return render_template("contacts/coverage.html", rows=svc.coverage_summary(current_user))


@bp.route("/coverage/<type_code>")
def coverage_type(type_code: str):
    """The parties with nobody receiving this document type, with a link to add the contact."""
    doc_type = db.session.get(DocumentType, type_code)
    if doc_type is None:
        abort(404)
    page = page_arg(request.args.get("page"))
    parties, total = svc.uncovered_parties(type_code, current_user, page=page)
    pages = page_count(total, svc.PER_PAGE)
    return render_template(
        "contacts/coverage_type.html",
        doc_type=doc_type,
        parties=parties,
        total=total,
        page=page,
        pages=pages,
        may_edit=_may_edit(),
    )


# --- import --------------------------------------------------------------------------------------


@bp.route("/import", methods=["GET", "POST"])
@role_required(*svc.IMPORT_ROLES)
def import_file():
    """Upload a CSV/XLSX file: it is checked first (dry run) and applied only after confirmation."""
    if request.method == "GET":
        return render_template(
            "contacts/import.html", report=None, party_columns=PARTY_COLUMNS, contact_columns=CONTACT_COLUMNS
        )
    kind = request.form.get("kind")
    upload = request.files.get("file")
    error = None
    if kind not in ("parties", "contacts"):
        error = "Scegli cosa importare: anagrafiche o contatti."
    elif upload is None or not upload.filename:
        error = "Scegli il file da importare (.csv o .xlsx)."
    if error:
        return render_template(
            "contacts/import.html",
            report=None,
            error=error,
            party_columns=PARTY_COLUMNS,
            contact_columns=CONTACT_COLUMNS,
        ), 422
    assert upload is not None and upload.filename and kind is not None  # checked just above
    data = upload.read()
    try:
        report = run_import(kind, data, upload.filename, user=current_user, dry_run=True)
    except ImportFileError as exc:
        return render_template(
            "contacts/import.html",
            report=None,
            error=str(exc),
            party_columns=PARTY_COLUMNS,
            contact_columns=CONTACT_COLUMNS,
        ), 422
    sha = None
    if report.ok:
        content_type = (
            "text/csv"
            if upload.filename.lower().endswith((".csv", ".txt"))
            else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        sha = store_blob(data, content_type)
        db.session.commit()
    return render_template(
        "contacts/import.html",
        report=report,
        sha=sha,
        kind=kind,
        filename=upload.filename,
        party_columns=PARTY_COLUMNS,
        contact_columns=CONTACT_COLUMNS,
    ), 200 if report.ok else 422


@bp.route("/import/apply", methods=["POST"])
@role_required(*svc.IMPORT_ROLES)
def import_apply():
    """Apply a file that passed the check (checked again: the data may have changed meanwhile)."""
    kind = request.form.get("kind")
    blob = load_blob(request.form.get("sha", ""))
    filename = request.form.get("filename", "import.csv")[:200]
    if blob is None or kind not in ("parties", "contacts"):
        abort(400)
    try:
        report = run_import(kind, blob.data, filename, user=current_user, dry_run=False)
    except ImportFileError as exc:
        return render_template(
            "contacts/import.html",
            report=None,
            error=str(exc),
            party_columns=PARTY_COLUMNS,
            contact_columns=CONTACT_COLUMNS,
        ), 422
    if not report.applied:
        return render_template(
            "contacts/import.html",
            report=report,
            sha=None,
            kind=kind,
            filename=filename,
            party_columns=PARTY_COLUMNS,
            contact_columns=CONTACT_COLUMNS,
        ), 422
    what = "anagrafiche" if kind == "parties" else "contatti"
    flash(
        f"Import {what} completato: {report.created} nuovi, {report.updated} aggiornati, "
        f"{report.unchanged} invariati.",
        "success",
    )
    return redirect(url_for(".parties"))


# --- functions -----------------------------------------------------------------------------------


@bp.route("/functions", methods=["GET", "POST"])
@role_required("admin")
def functions():
    """Contact functions and the document types a new contact of each starts with."""
    errors: dict[str, str] = {}
    values: dict = {}
    status = 200
    if request.method == "POST":
        function_id = _int_or_none(request.form.get("function_id"))
        function = db.session.get(ContactFunction, function_id) if function_id else None
        if function_id and function is None:
            abort(404)
        saved, errors = svc.save_function(
            function,
            request.form.get("code", ""),
            request.form.get("name", ""),
            request.form.getlist("types"),
        )
        if not errors:
            assert saved is not None  # save_function returns the function when there are no errors
            audit(
                "contacts.function_saved", saved, code=saved.code, types=[t.code for t in saved.default_types]
            )
            db.session.commit()
            flash(f"Funzione «{saved.name}» salvata.", "success")
            return redirect(url_for(".functions"))
        values = {
            "function_id": function_id,
            "code": request.form.get("code", ""),
            "name": request.form.get("name", ""),
            "types": request.form.getlist("types"),
        }
        status = 422
    return render_template(
        "contacts/functions.html",
        functions=_functions(),
        document_types=_document_types(),
        errors=errors,
        values=values,
    ), status
