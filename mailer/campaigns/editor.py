"""The campaign editor's live preview (htmx): the texts as typed, rendered for a recipient of the filter."""

from __future__ import annotations

from flask import abort, make_response, render_template, request
from flask_login import current_user

from ..inputs import db_id, db_ids
from ..services import campaigns as svc
from .routes import bp

# The placeholders the editor's buttons insert: (placeholder, button label, description).
EDITOR_PLACEHOLDERS = [
    ("contatto.nome", "Nome del contatto", "nome del destinatario"),
    ("anagrafica.ragione_sociale", "Ragione sociale", "ragione sociale del cliente o fornitore"),
    ("anagrafica.citta", "Città", "città del cliente o fornitore"),
    ("campagna.nome", "Nome della campagna", "nome della campagna"),
    ("azienda.ragione_sociale", "La nostra azienda", "la nostra ragione sociale"),
    ("utente.nome", "Chi scrive", "chi prepara la campagna"),
    ("disiscrizione_url", "Link di disiscrizione", "link per disiscriversi"),
]


@bp.context_processor
def editor_placeholders():
    """The placeholder buttons of the campaign editor."""
    return {"editor_placeholders": EDITOR_PLACEHOLDERS}


@bp.route("/anteprima", methods=["POST"])
def body_preview():
    """htmx: subject and body as typed, rendered by the sending sandbox for a sample recipient of the filter."""
    if not current_user.may_send("GENERICO"):
        abort(403)
    form = request.form
    preview = svc.preview_campaign(
        current_user,
        name=form.get("name", ""),
        filter_id=form.get("filter_id", type=db_id),
        contact_id=form.get("sample_id", type=db_id),
        document_ids=db_ids(form.getlist("document_id")),
        subject=form.get("subject", "")[:2000],
        body_html=form.get("body_html", ""),
        commercial=form.get("commercial") == "1",
        account_id=form.get("account_id", type=db_id),
    )
    response = make_response(render_template("campaigns/_editor_preview.html", preview=preview))
    response.headers["Vary"] = "HX-Request"
    return response
