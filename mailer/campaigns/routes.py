"""Campaigns: generic documents, the filter builder, campaigns, and the public unsubscribe page."""

from __future__ import annotations

import re

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
from flask_wtf.csrf import ValidationError, validate_csrf

from ..extensions import csrf, db, htmx
from ..inputs import checks_own_text, db_id, db_ids
from ..models import BATCH_STATUSES, GenericDocument, GenericDocumentVersion, SavedFilter
from ..security import public_endpoint, require_roles
from ..services import campaigns as svc
from ..services import generic_documents as gd
from ..services import segments
from ..services.audit import audit
from ..services.blobs import load_blob
from ..services.reference import get_company
from ..services.validation import mask_email

bp = Blueprint("campaigns", __name__)
ROLES = ("sales", "manager")
PUBLIC = {"campaigns.unsubscribe"}


@bp.before_request
def sales_only():
    """Campaigns are for sales and managers (admin passes); the unsubscribe page is for anyone."""
    if request.endpoint in PUBLIC:
        return
    require_roles(*ROLES)
    return


@bp.app_context_processor
def campaign_helpers():
    """Lets the batch pages show what a campaign batch attaches and leaves out."""
    return {"campaign_of_batch": svc.campaign_of_batch, "campaign_exclusions": svc.exclusion_summary}


# ---------------------------------------------------------------- home


@bp.route("/")
def index():
    """Campaigns with their batch state, and the way to documents and filters."""
    rows = svc.campaign_rows(current_user)
    return render_template(
        "campaigns/index.html",
        rows=rows,
        BATCH_STATUSES=BATCH_STATUSES,
        filters=svc.visible_filters(current_user),
        documents=_documents(),
    )


def _documents() -> list[GenericDocument]:
    """Generic documents not archived, newest first."""
    return list(
        db.session.scalars(
            db.select(GenericDocument)
            .where(GenericDocument.archived.is_(False))
            .order_by(GenericDocument.updated_at.desc())
        )
    )


# ---------------------------------------------------------------- generic documents


@bp.route("/documenti", methods=["GET", "POST"])
def documents():
    """List of generic documents and the upload form."""
    errors: dict[str, str] = {}
    form = request.form
    if request.method == "POST":
        upload = request.files.get("file")
        title = form.get("title", "")
        if not title.strip():
            errors["title"] = "Il titolo è obbligatorio."
        checked = None
        if upload is None or not upload.filename:
            errors["file"] = "Scegli il file da caricare."
        else:
            try:
                checked = gd.check_upload(upload.read(gd.max_bytes() + 1), upload.filename)
            except gd.UploadError as exc:
                errors["file"] = str(exc)
        if not errors:
            assert checked is not None  # no error: the upload was checked
            document = gd.create_document(
                title,
                form.get("description", ""),
                form.get("commercial") == "1",
                checked,
                current_user,
                note=form.get("note", ""),
            )
            db.session.commit()
            flash(f"Documento «{document.title}» caricato.", "success")
            return redirect(url_for("campaigns.document", document_id=document.id))
    return render_template(
        "campaigns/documents.html",
        documents=_documents(),
        errors=errors,
        form=form,
        KINDS=gd.KINDS,
        accept=gd.ACCEPT,
        limit_mb=gd.max_bytes() // 1048576,
    ), (400 if errors else 200)


def _document(document_id: int) -> GenericDocument:
    """A generic document or 404."""
    document = db.session.get(GenericDocument, document_id)
    if document is None:
        abort(404)
    return document


def _version(document: GenericDocument, version_id: int) -> GenericDocumentVersion:
    """A version of the document or 404."""
    version = db.session.get(GenericDocumentVersion, version_id)
    if version is None or version.document_id != document.id:
        abort(404)
    return version


@bp.route("/documenti/<int:document_id>", methods=["GET", "POST"])
def document(document_id: int):
    """One generic document: preview of the current version, versions, upload of a new version."""
    document = _document(document_id)
    errors: dict[str, str] = {}
    if request.method == "POST":
        action = request.form.get("action", "version")
        if action == "archive":
            document.archived = not document.archived
            audit("generic_document.archive", document, archived=document.archived)
            db.session.commit()
            flash("Documento archiviato." if document.archived else "Documento ripristinato.", "success")
            return redirect(url_for("campaigns.document", document_id=document.id))
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            errors["file"] = "Scegli il file della nuova versione."
        else:
            try:
                checked = gd.check_upload(upload.read(gd.max_bytes() + 1), upload.filename)
            except gd.UploadError as exc:
                errors["file"] = str(exc)
            else:
                version = gd.add_version(document, checked, current_user, note=request.form.get("note", ""))
                db.session.commit()
                flash(f"Versione {version.number} caricata.", "success")
                return redirect(url_for("campaigns.document", document_id=document.id))
    current = document.current
    version_id = request.args.get("versione", type=db_id)
    shown = _version(document, version_id) if version_id else current
    pages = 0
    if shown is not None and shown.kind == "pdf":
        blob = load_blob(shown.blob_sha256)
        pages = gd.pdf_page_count(blob.data) if blob else 0
    return render_template(
        "campaigns/document.html",
        document=document,
        shown=shown,
        pages=min(pages, 5),
        total_pages=pages,
        errors=errors,
        KINDS=gd.KINDS,
        accept=gd.ACCEPT,
        limit_mb=gd.max_bytes() // 1048576,
    ), (400 if errors else 200)


@bp.route("/documenti/<int:document_id>/versioni/<int:version_id>/file")
def version_file(document_id: int, version_id: int):
    """The file of a version, as a download (never rendered by the browser in our origin)."""
    version = _version(_document(document_id), version_id)
    blob = load_blob(version.blob_sha256)
    assert blob is not None  # a version references its blob (foreign key)
    response = Response(blob.data, mimetype=version.content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{version.filename}"'
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


@bp.route("/documenti/<int:document_id>/versioni/<int:version_id>/pagina-<int:page>.png")
def version_page(document_id: int, version_id: int, page: int):
    """One page of a PDF version (or the image itself) as a picture: no PDF code runs in the browser."""
    version = _version(_document(document_id), version_id)
    blob = load_blob(version.blob_sha256)
    assert blob is not None  # a version references its blob (foreign key)
    data: bytes | None
    if version.kind in ("png", "jpeg", "gif", "webp") and page == 1:
        data, mimetype = blob.data, version.content_type
    elif version.kind == "pdf" and 1 <= page <= 5:
        data, mimetype = gd.pdf_page_png(blob.data, page), "image/png"
        if data is None:
            abort(404)
    else:
        abort(404)
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


# ---------------------------------------------------------------- filter builder

CONDITION_FIELDS = (
    "value",
    "months",
    "from",
    "to",
    "min_qty",
    "min_amount",
    "min",
    "max",
    "days",
    "products",
    "category",
    "values",
)


def conditions_from_form(form) -> list[dict]:
    """Raw conditions from the builder form: fields c<index>-<name>, in index order."""
    indexes = sorted({int(m.group(1)) for key in form if (m := re.fullmatch(r"c(\d+)-type", key))})
    raw = []
    for i in indexes:
        item = {"type": form.get(f"c{i}-type", "")}
        for name in CONDITION_FIELDS:
            value = form.get(f"c{i}-{name}")
            if value not in (None, ""):
                item[name] = value
        for name in ("ids", "codes"):
            values = form.getlist(f"c{i}-{name}")
            if values:
                item[name] = values
        if form.get(f"c{i}-period") == "dates":
            item.pop("months", None)
        elif item["type"] in ("bought", "turnover"):
            item.pop("from", None)
            item.pop("to", None)
        raw.append(item)
    return raw


def _evaluate(raw: list[dict]) -> dict:
    """Validate the raw conditions; count only when every one is valid (leaving one out would widen the filter)."""
    errors: dict[int, str] = {}
    valid = []
    for index, item in enumerate(raw):
        try:
            valid.append(segments.clean_condition(item))
        except ValueError as exc:
            message = str(exc)
            errors[index] = message[:1].upper() + message[1:]
    counted = valid if valid and not errors else None
    result = segments.count(counted, current_user) if counted else None
    rows = segments.sample(counted, current_user) if counted else []
    return {"errors": errors, "valid": valid, "result": result, "sample": rows}


def _builder_context(raw: list[dict], saved: SavedFilter | None = None) -> dict:
    """Everything the builder fragment needs."""
    return {
        "raw": raw,
        "choices": segments.choices(),
        "TYPES": segments.CONDITION_TYPES,
        "saved": saved,
        "describe": segments.describe,
        **_evaluate(raw),
    }


@bp.route("/filtri")
def filters():
    """Saved filters: mine and the shared ones."""
    rows = svc.visible_filters(current_user)
    counts = {row.id: _safe_count(row.conditions) for row in rows}
    return render_template("campaigns/filters.html", rows=rows, counts=counts, describe=segments.describe)


def _safe_count(conditions: list[dict]):
    """Count of a saved filter; None when it no longer validates (a product was removed…)."""
    try:
        return segments.count(segments.parse_conditions(conditions), current_user)
    except ValueError:
        return None


@bp.route("/filtri/nuovo", methods=["GET", "POST"])
@bp.route("/filtri/<int:filter_id>", methods=["GET", "POST"])
def filter_edit(filter_id: int | None = None):
    """The filter builder: conditions, live count and sample, save with a name (personal or shared)."""
    saved = None
    if filter_id is not None:
        saved = svc.get_filter(filter_id, current_user)
        if saved is None:
            abort(404)
    errors: dict[str, str] = {}
    if request.method == "POST":
        raw = conditions_from_form(request.form)
        if saved is not None and not svc.may_edit_filter(saved, current_user):
            abort(403)
        try:
            row = svc.save_filter(
                saved, request.form.get("name", ""), raw, request.form.get("shared") == "1", current_user
            )
        except segments.SegmentError:
            db.session.rollback()
            errors["conditions"] = "Correggi le condizioni segnate."
        except svc.CampaignError as exc:
            db.session.rollback()
            errors.update(exc.errors)
        else:
            db.session.commit()
            flash(f"Filtro «{row.name}» salvato.", "success")
            return redirect(url_for("campaigns.filter_edit", filter_id=row.id))
        name, shared = request.form.get("name", ""), request.form.get("shared") == "1"
    else:
        raw = list(saved.conditions) if saved else [{"type": "kind", "value": "customer"}]
        name, shared = (saved.name, saved.shared) if saved else ("", False)
    context = _builder_context(raw, saved)
    return render_template(
        "campaigns/filter.html",
        name=name,
        shared=shared,
        form_errors=errors,
        can_edit=saved is None or svc.may_edit_filter(saved, current_user),
        **context,
    ), (400 if errors else 200)


@bp.route("/filtri/costruttore", methods=["POST"])
def filter_builder():
    """htmx: add or remove a condition; answers the builder fragment (conditions and result)."""
    raw = conditions_from_form(request.form)
    add = request.form.get("add", "")
    remove = request.form.get("remove", type=int)  # a condition's index, not an id
    if remove is not None and 0 <= remove < len(raw):
        raw.pop(remove)
    context_fresh = None
    if add in segments.CONDITION_TYPES and len(raw) < segments.MAX_CONDITIONS:
        defaults = {
            "bought": {"months": "12"},
            "turnover": {"months": "12"},
            "dormant": {"days": "90"},
            "kind": {"value": "customer"},
        }
        raw.append({"type": add, **defaults.get(add, {})})
        context_fresh = len(raw) - 1
    context = _builder_context(raw)
    if context_fresh is not None:
        context["errors"].pop(context_fresh, None)  # a condition just added is not an error yet
    return render_template("campaigns/_builder.html", **context)


@bp.route("/filtri/conteggio", methods=["POST"])
@checks_own_text
def filter_count():
    """htmx: the live count and sample for the conditions as typed, and each condition's error (out of band)."""
    raw = conditions_from_form(request.form)
    return render_template("campaigns/_result.html", oob=True, **_builder_context(raw))


@bp.route("/filtri/articoli")
@checks_own_text
def product_picker():
    """Product picker of the "bought" condition: search by code or description, and by product category.

    The page lists codes for whoever cannot use the builder's picker; htmx asks for the result list only
    (target `<input id>-picker`), whose buttons put a code into that input (static/js/segments.js)."""
    text = request.args.get("q", "")[:100]
    category_arg = request.args.get("categoria", "").strip()
    category_id = None
    if category_arg:
        numeric = category_arg.isascii() and category_arg.isdigit()
        category_id = int(category_arg) if numeric and int(category_arg) <= segments.MAX_ID else 0
    target = request.args.get("per", "")
    if not re.fullmatch(r"c\d{1,2}-products", target):
        target = ""
    context = {
        "matches": segments.search_products(text, category_id),
        "q": text,
        "category_id": category_id,
        "target": target,
        "searched": bool(text.strip() or category_arg),
    }
    if htmx and htmx.target == f"{target or 'product'}-picker":
        return render_template("campaigns/_products.html", **context)
    return render_template(
        "campaigns/products.html", categories=segments.choices()["product_categories"], **context
    )


@bp.route("/filtri/<int:filter_id>/elimina", methods=["POST"])
def filter_delete(filter_id: int):
    """Delete a filter (owner or admin); campaigns keep their own copy of the conditions."""
    saved = svc.get_filter(filter_id, current_user)
    if saved is None:
        abort(404)
    if not svc.may_edit_filter(saved, current_user):
        abort(403)
    audit("segment.delete", saved, name=saved.name)
    db.session.delete(saved)
    db.session.commit()
    flash("Filtro eliminato.", "success")
    return redirect(url_for("campaigns.filters"))


# ---------------------------------------------------------------- campaigns

# Plain placeholders only (the editor is for sales people): the greeting suits people and offices alike.
DEFAULT_BODY = "<p>{{ saluto }},</p>\n<p>in allegato trova {{ campagna.elenco }}.</p>\n<p>Cordiali saluti<br>{{ utente.nome }}</p>"


@bp.route("/nuova", methods=["GET", "POST"])
def new():
    """Compose a campaign: filter, documents, subject and body, account, commercial or not."""
    errors: dict[str, str] = {}
    form = request.form if request.method == "POST" else request.args
    if request.method == "POST":
        try:
            campaign = svc.create_campaign(
                current_user,
                name=form.get("name", ""),
                filter_id=form.get("filter_id", type=db_id),
                document_ids=db_ids(form.getlist("document_id")),
                subject=form.get("subject", ""),
                body_html=form.get("body_html", ""),
                commercial=form.get("commercial") == "1",
                account_id=form.get("account_id", type=db_id),
                base_url=request.host_url,
            )
        except svc.CampaignError as exc:
            db.session.rollback()
            errors = exc.errors
        else:
            flash(
                "Preparazione della campagna avviata: controlla i destinatari e chiedi l'approvazione.",
                "info",
            )
            return redirect(url_for("batches.detail", batch_id=campaign.batch_id))
    preview = None
    chosen = form.get("filter_id", type=db_id)
    saved = svc.get_filter(chosen, current_user) if chosen else None
    if saved is not None:
        try:
            preview = segments.count(segments.parse_conditions(saved.conditions), current_user)
        except ValueError:
            preview = None
    return render_template(
        "campaigns/new.html",
        form=form,
        errors=errors,
        filters=svc.visible_filters(current_user),
        documents=_documents(),
        accounts=svc.accounts_for_campaigns(),
        company=get_company(),
        preview=preview,
        placeholders=[
            ("campagna.nome", "nome della campagna"),
            ("contatto.nome", "nome del destinatario"),
            ("anagrafica.ragione_sociale", "ragione sociale del cliente"),
            ("campagna.documenti", "elenco dei documenti allegati (titolo, file)"),
            ("azienda.ragione_sociale", "la nostra azienda"),
            ("utente.nome", "chi prepara la campagna"),
            ("disiscrizione_url", "link per disiscriversi"),
        ],
        selected_docs=set(db_ids(form.getlist("document_id"))),
        default_body=DEFAULT_BODY,
    ), (400 if errors else 200)


# ---------------------------------------------------------------- public: unsubscribe


@bp.route("/disiscrizione/<token>", methods=["GET", "POST"])
@public_endpoint
@csrf.exempt
def unsubscribe(token: str):
    """GET shows a button; POST unsubscribes. The RFC 8058 one-click POST (no cookie) needs no CSRF token."""
    contact = svc.contact_from_token(token)
    if contact is None:
        return render_template("campaigns/unsubscribe.html", state="invalid"), 404
    done = False
    if request.method == "POST":
        one_click = request.form.get("List-Unsubscribe") == "One-Click"
        if not one_click:
            try:
                validate_csrf(request.form.get("csrf_token") or request.headers.get("X-CSRFToken"))
            except ValidationError:
                return render_template("campaigns/unsubscribe.html", state="expired", token=token), 400
        svc.unsubscribe(contact, via="one-click" if one_click else "pagina")
        done = True
        if one_click:
            return Response("Disiscrizione registrata.\n", mimetype="text/plain")
    response = make_response(
        render_template(
            "campaigns/unsubscribe.html",
            state="done" if done or contact.opted_out_at else "ask",
            token=token,
            company=get_company(),
            email=mask_email(contact.email),
        )
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


from . import editor  # noqa: E402,F401 — registers the editor's preview route on bp
