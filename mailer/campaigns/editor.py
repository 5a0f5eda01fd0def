"""The campaign editor's live preview (htmx): the texts as typed, rendered for a recipient of the filter."""

from __future__ import annotations

import re
import secrets

from flask import Response, abort, make_response, render_template, request, url_for
from flask_login import current_user
from redis.exceptions import RedisError

from ..inputs import db_id, db_ids
from ..queue import get_redis
from ..services import campaigns as svc
from .routes import bp

# The placeholders the editor's buttons insert: (placeholder, button label, description).
EDITOR_PLACEHOLDERS = [
    ("saluto", "Saluto", "«Gentile Mario Rossi», o «Spettabile …» a un ufficio"),
    ("contatto.nome", "Nome del contatto", "nome del destinatario"),
    ("anagrafica.ragione_sociale", "Ragione sociale", "ragione sociale del cliente o fornitore"),
    ("anagrafica.citta", "Città", "città del cliente o fornitore"),
    ("campagna.nome", "Nome della campagna", "nome della campagna"),
    ("azienda.ragione_sociale", "La nostra azienda", "la nostra ragione sociale"),
    ("utente.nome", "Chi scrive", "chi prepara la campagna"),
    ("disiscrizione_url", "Link di disiscrizione", "link per disiscriversi"),
]


PREVIEW_SECONDS = 600
BODY_CSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'"


def _preview_key(user_id: int, key: str) -> str:
    """Redis key of one rendered preview body (per user: nobody else can open it)."""
    return f"recapito:campaign-preview:{user_id}:{key}"


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
    frame_url = ""
    if preview.html and not preview.errors:
        key = secrets.token_urlsafe(16)
        try:
            get_redis().setex(_preview_key(current_user.id, key), PREVIEW_SECONDS, preview.html.encode())
        except (
            RedisError
        ):  # without Redis the frame shows the body inline (the e-mail's styles are then blocked)
            pass
        else:
            frame_url = url_for("campaigns.body_preview_html", preview_key=key)
    response = make_response(
        render_template("campaigns/_editor_preview.html", preview=preview, frame_url=frame_url)
    )
    response.headers["Vary"] = "HX-Request"
    return response


@bp.route("/anteprima/<preview_key>")
def body_preview_html(preview_key: str):
    """The rendered body alone, for the preview frame: sandboxed, no scripts, the e-mail's own styles allowed."""
    if not current_user.may_send("GENERICO"):
        abort(403)
    if not re.fullmatch(r"[\w-]{10,40}", preview_key):
        abort(404)
    html = get_redis().get(_preview_key(current_user.id, preview_key))
    if html is None:
        abort(404)
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = BODY_CSP
    response.headers["Cache-Control"] = "private, no-store"
    return response
