"""HTTP API for the ERP (/api/v1): documents, parties, contacts. Bearer tokens with scopes.

Public to the login gate (PUBLIC_BLUEPRINTS) and exempt from CSRF: every request authenticates
with ``Authorization: Bearer <token>``; the token's scopes decide what it may do and its privacy
clearance which contacts it may see or write.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for

from ..extensions import csrf, db
from ..inputs import DB_INT_MAX
from ..models import ApiToken, Contact, Document, Party, utcnow
from ..reference import DOCUMENT_TYPE_CODES
from ..services import sdi
from ..services.audit import audit
from ..services.contacts import upsert_contact
from ..services.intake import (
    DocumentConflict,
    IntakeError,
    document_as_dict,
    parse_document_payload,
    parse_party_payload,
    to_text,
    upsert_document,
    upsert_party,
)
from ..services.search import matches_any
from ..web import content_disposition
from .openapi import openapi_spec

bp = Blueprint("api", __name__)
csrf.exempt(bp)

DEFAULT_MAX_BODY = 25 * 1024 * 1024
MAX_PAGE = 500


def hash_token(secret: str) -> str:
    """What we store for a token: its SHA-256 (tokens are long random strings, so no salt is needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def api_error(status: int, message: str, fields: dict[str, str] | None = None, **headers) -> Response:
    """A JSON error: {"error": message, "fields": {field: message}}."""
    body: dict[str, str | dict[str, str]] = {"error": message}
    if fields:
        body["fields"] = fields
    response = jsonify(body)
    response.status_code = status
    for key, value in headers.items():
        response.headers[key.replace("_", "-")] = value
    return response


@bp.before_request
def authenticate():
    """Find the token; refuse oversize bodies before reading them."""
    if request.endpoint == "api.openapi":
        return None
    limit = int(current_app.config.get("API_MAX_BODY_BYTES", DEFAULT_MAX_BODY))
    if request.content_length is not None and request.content_length > limit:
        return api_error(
            413, f"richiesta troppo grande (limite {limit // (1024 * 1024)} MB)", {"body": "troppo grande"}
        )
    header = request.headers.get("Authorization", "")
    secret = (
        header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("X-API-Token", "")
    )
    if not secret:
        return api_error(
            401,
            "token mancante: usa l'intestazione Authorization: Bearer <token>",
            {"Authorization": "mancante"},
            WWW_Authenticate='Bearer realm="recapito"',
        )
    token = db.session.scalar(db.select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    if token is None or not token.active or token.revoked_at is not None:
        return api_error(
            401,
            "token non valido o revocato",
            {"Authorization": "non valido"},
            WWW_Authenticate='Bearer realm="recapito", error="invalid_token"',
        )
    now = utcnow()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        token.last_used_at = now
        db.session.commit()
    g.api_token = token
    return None


def require_scope(scope: str) -> Response | None:
    """A 403 answer when the token lacks the scope, else None."""
    if not g.api_token.allows(scope):
        return api_error(403, f"il token non ha l'ambito «{scope}»", {"scope": scope})
    return None


def json_body() -> dict | Response:
    """The request's JSON object, or an error answer."""
    if not request.is_json:
        return api_error(415, "serve Content-Type: application/json", {"Content-Type": "application/json"})
    try:
        payload = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the decoder's recursion limit: not a document
        payload = None
    if payload is None:
        return api_error(400, "JSON non valido", {"body": "JSON non valido"})
    if not isinstance(payload, dict):
        return api_error(400, "serve un oggetto JSON", {"body": "serve un oggetto JSON"})
    return payload


def _paging() -> tuple[int, int]:
    """limit/offset from the query string (bounded)."""
    try:
        limit = max(1, min(MAX_PAGE, int(request.args.get("limit", 100))))
        offset = min(max(0, int(request.args.get("offset", 0))), DB_INT_MAX)  # OFFSET is a BIGINT
    except ValueError:
        limit, offset = 100, 0
    return limit, offset


# ---------------------------------------------------------------- meta


@bp.route("/openapi.json")
def openapi():
    """The OpenAPI 3 description of this API (no token needed)."""
    return jsonify(openapi_spec(url_for("api.openapi", _external=True).rsplit("/", 1)[0]))


@bp.route("/ping")
def ping():
    """Check the token: its name, scopes and clearance."""
    token = g.api_token
    return jsonify(
        {"token": token.name, "scopes": token.scope_list, "privacy_clearance": token.privacy_clearance}
    )


# ---------------------------------------------------------------- documents


REPLACE_HINT = 'per sostituirlo invia di nuovo con "replace": true (o ?replace=1)'
TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "si", "sì"), ("", "0", "false", "no")


def _replace_requested(payload: dict) -> bool | Response:
    """The explicit request to replace a different document with the same key: field or query flag."""
    value = payload.get("replace", False)
    if not isinstance(value, bool):
        return api_error(422, "dati non validi", {"replace": "deve essere true o false"})
    flag = request.args.get("replace", "").strip().lower()
    if flag not in TRUE_WORDS + FALSE_WORDS:
        return api_error(400, "parametro non valido", {"replace": "1/true oppure 0/false"})
    return value or flag in TRUE_WORDS


@bp.route("/documents", methods=["POST", "PUT"])
def put_document():
    """Create or update a document (type + year + number identify it); optional pdf_base64.

    The same document again updates it; one for another party or with other totals answers 409
    unless the request asks to replace it ("replace": true or ?replace=1).
    """
    if (denied := require_scope("documents:write")) is not None:
        return denied
    payload = json_body()
    if isinstance(payload, Response):
        return payload
    replace = _replace_requested(payload)
    if isinstance(replace, Response):
        return replace
    try:
        data = parse_document_payload(payload)
    except IntakeError as exc:
        return api_error(422, "dati non validi", exc.errors)
    try:
        sdi_file_name = sdi.clean_file_name(payload.get("sdi_file_name"))
    except sdi.SdiError as exc:
        return api_error(422, "dati non validi", {"sdi_file_name": str(exc)})
    pdf_b64 = payload.get("pdf_base64")
    if pdf_b64:
        try:
            pdf = base64.b64decode(pdf_b64, validate=True)
        except (binascii.Error, ValueError, TypeError):
            return api_error(422, "dati non validi", {"pdf_base64": "base64 non valido"})
        if not pdf.startswith(b"%PDF"):
            return api_error(422, "dati non validi", {"pdf_base64": "il contenuto non è un PDF"})
        data.pdf = pdf
    actor = f"api:{g.api_token.name}"
    try:
        document, created = upsert_document(
            data,
            source="api",
            source_ref=f"token:{g.api_token.name}",
            replace=replace,
            replace_hint=REPLACE_HINT,
            actor=actor,
        )
    except DocumentConflict as exc:
        db.session.rollback()
        return api_error(409, "il documento esiste già con un'altra anagrafica o altri totali", exc.errors)
    except IntakeError as exc:
        db.session.rollback()
        return api_error(422, "dati non validi", exc.errors)
    if "sdi_file_name" in payload:
        document.sdi_file_name = sdi_file_name
    audit("document.api_upsert", document, username=actor, created=created)
    db.session.commit()
    response = jsonify(document_as_dict(document))
    response.status_code = 201 if created else 200
    response.headers["Location"] = url_for("api.get_document", document_id=document.id)
    return response


@bp.route("/sdi-notifications", methods=["POST"])
def post_sdi_notification():
    """An SdI notification file (RC, MC, NS, NE, DT, AT; XML or .p7m, base64); ambito sdi:write."""
    if (denied := require_scope("sdi:write")) is not None:
        return denied
    payload = json_body()
    if isinstance(payload, Response):
        return payload
    file_name, content = payload.get("file_name"), payload.get("content_base64")
    try:
        file_name = sdi.clean_file_name(file_name) or ""
    except sdi.SdiError as exc:
        return api_error(422, "dati non validi", {"file_name": str(exc)})
    if not isinstance(content, str) or not content:
        return api_error(422, "dati non validi", {"content_base64": "manca il contenuto del file (base64)"})
    try:
        data = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        return api_error(422, "dati non validi", {"content_base64": "base64 non valido"})
    try:
        summary = sdi.import_notification(data, file_name, source="api")
    except sdi.SdiError as exc:
        db.session.rollback()
        return api_error(422, "notifica non valida", {"content_base64": str(exc)})
    if not summary["duplicate"]:
        audit(
            "sdi.import",
            None,
            username=f"api:{g.api_token.name}",
            file=file_name,
            kind=summary["kind"],
            sdi_id=summary["sdi_id"],
            notification_id=summary["_id"],
        )
    db.session.commit()
    response = jsonify(sdi.public_summary(summary))
    response.status_code = 200 if summary["duplicate"] else 201
    return response


@bp.route("/documents")
def list_documents():
    """Documents, newest first; filters type, year, number, party_code, sent (true/false)."""
    if (denied := require_scope("documents:read")) is not None:
        return denied
    query = db.select(Document)
    if value := request.args.get("type"):
        query = query.where(Document.type_code == value.upper())
    if value := request.args.get("year"):
        if not value.isdigit():
            return api_error(400, "parametro non valido", {"year": "deve essere un anno"})
        query = query.where(Document.year == int(value))
    if value := request.args.get("number"):
        query = query.where(Document.number == value)
    if value := request.args.get("party_code"):
        query = query.join(Party, Party.id == Document.party_id).where(Party.erp_code == value)
    if (value := request.args.get("sent")) in ("true", "false"):
        query = query.where(Document.sent_at.is_not(None) if value == "true" else Document.sent_at.is_(None))
    limit, offset = _paging()
    total = db.session.scalar(db.select(db.func.count()).select_from(query.subquery()))
    rows = db.session.scalars(
        query.order_by(Document.date.desc(), Document.id.desc()).limit(limit).offset(offset)
    ).unique()
    return jsonify(
        {"total": total, "limit": limit, "offset": offset, "items": [document_as_dict(d) for d in rows]}
    )


@bp.route("/documents/<int:document_id>")
def get_document(document_id: int):
    """One document by id."""
    if (denied := require_scope("documents:read")) is not None:
        return denied
    document = db.session.get(Document, document_id)
    if document is None:
        return api_error(404, "documento non trovato", {"id": str(document_id)})
    return jsonify(document_as_dict(document))


@bp.route("/documents/<type_code>/<int:year>/<path:number>")
def get_document_by_key(type_code: str, year: int, number: str):
    """One document by type, year and number (the ERP's own key)."""
    if (denied := require_scope("documents:read")) is not None:
        return denied
    document = db.session.scalar(
        db.select(Document).where(
            Document.type_code == type_code.upper(), Document.year == year, Document.number == number
        )
    )
    if document is None:
        return api_error(404, "documento non trovato", {"number": number})
    return jsonify(document_as_dict(document))


@bp.route("/documents/<int:document_id>/pdf")
def document_pdf(document_id: int):
    """The document's PDF (rendered from its template first when it arrived without one)."""
    if (denied := require_scope("documents:read")) is not None:
        return denied
    document = db.session.get(Document, document_id)
    if document is None:
        return api_error(404, "documento non trovato", {"id": str(document_id)})
    from ..models import Blob
    from ..pdf import PdfRenderError, ensure_pdfs

    try:
        sha = ensure_pdfs([document.id]).get(document.id)
    except PdfRenderError as exc:
        return api_error(503, f"PDF non disponibile: {exc}")
    blob = db.session.get(Blob, sha) if sha else None
    assert sha is not None and blob is not None  # ensure_pdfs stores the PDF of every id it is given
    filename = f"{document.type_code}-{document.year}-{document.number}.pdf".replace("/", "-")
    return Response(
        blob.data,
        mimetype="application/pdf",
        headers={"Content-Disposition": content_disposition(filename, "inline"), "ETag": sha},
    )


# ---------------------------------------------------------------- parties


def _party_dict(party: Party) -> dict:
    """The JSON shape of a party."""
    return {
        "code": party.erp_code,
        "name": party.name,
        "kind": party.kind,
        "vat_number": party.vat_number,
        "tax_code": party.tax_code,
        "address": party.address,
        "zip_code": party.zip_code,
        "city": party.city,
        "province": party.province,
        "country": party.country,
        "language": party.language,
        "active": party.active,
    }


@bp.route("/parties", methods=["POST", "PUT"])
def put_party():
    """Create or update a party by its ERP code."""
    if (denied := require_scope("parties:write")) is not None:
        return denied
    payload = json_body()
    if isinstance(payload, Response):
        return payload
    try:
        values = parse_party_payload(payload)
    except IntakeError as exc:
        return api_error(422, "dati non validi", exc.errors)
    party, created = upsert_party(values)
    audit("party.api_upsert", party, username=f"api:{g.api_token.name}", created=created)
    db.session.commit()
    response = jsonify(_party_dict(party))
    response.status_code = 201 if created else 200
    return response


@bp.route("/parties")
def list_parties():
    """Parties; q searches name, code, P.IVA."""
    if (denied := require_scope("parties:read")) is not None:
        return denied
    query = db.select(Party)
    if q := request.args.get("q", "").strip():
        query = query.where(matches_any((Party.name, Party.erp_code, Party.vat_number), q))
    limit, offset = _paging()
    total = db.session.scalar(db.select(db.func.count()).select_from(query.subquery()))
    rows = db.session.scalars(query.order_by(Party.name, Party.id).limit(limit).offset(offset)).unique()
    return jsonify(
        {"total": total, "limit": limit, "offset": offset, "items": [_party_dict(p) for p in rows]}
    )


@bp.route("/parties/<code>")
def get_party(code: str):
    """One party by ERP code."""
    if (denied := require_scope("parties:read")) is not None:
        return denied
    party = db.session.scalar(db.select(Party).where(Party.erp_code == code))
    if party is None:
        return api_error(404, "anagrafica non trovata", {"code": code})
    return jsonify(_party_dict(party))


# ---------------------------------------------------------------- contacts (never above the token's clearance)


def _contact_dict(contact: Contact) -> dict:
    """The JSON shape of a contact."""
    return {
        "id": contact.id,
        "code": contact.erp_code,
        "name": contact.name,
        "function": contact.function.code if contact.function else None,
        "email": contact.email,
        "phone": contact.phone,
        "is_pec": contact.is_pec,
        "privacy_level": contact.privacy_level,
        "document_types": sorted(contact.document_type_codes),
        "marketing_consent": contact.marketing_consent,
        "active": contact.active,
    }


def _visible_contacts(party: Party):
    """Query of the party's contacts within the token's clearance."""
    return db.select(Contact).where(
        Contact.party_id == party.id, Contact.privacy_level <= g.api_token.privacy_clearance
    )


@bp.route("/parties/<code>/contacts")
def list_contacts(code: str):
    """The party's contacts up to the token's privacy clearance (the others are not counted either)."""
    if (denied := require_scope("contacts:read")) is not None:
        return denied
    party = db.session.scalar(db.select(Party).where(Party.erp_code == code))
    if party is None:
        return api_error(404, "anagrafica non trovata", {"code": code})
    rows = db.session.scalars(_visible_contacts(party).order_by(Contact.name, Contact.id)).unique().all()
    return jsonify({"total": len(rows), "items": [_contact_dict(c) for c in rows]})


@bp.route("/parties/<code>/contacts", methods=["POST", "PUT"])
def put_contact(code: str):
    """Create or update a contact of the party (by its code when given, else by e-mail)."""
    if (denied := require_scope("contacts:write")) is not None:
        return denied
    party = db.session.scalar(db.select(Party).where(Party.erp_code == code))
    if party is None:
        return api_error(404, "anagrafica non trovata", {"code": code})
    payload = json_body()
    if isinstance(payload, Response):
        return payload
    errors: dict[str, str] = {}
    fields: dict = {
        "erp_code": to_text(payload.get("code"), "code", errors, max_len=40),
        "name": to_text(payload.get("name"), "name", errors, max_len=160),
        "email": to_text(payload.get("email"), "email", errors, max_len=254),
        "phone": to_text(payload.get("phone"), "phone", errors, max_len=40),
        "function": to_text(payload.get("function"), "function", errors, max_len=120),
    }
    # Left out on an update, the level stays as it is: an ERP that sends only a new phone number must
    # not turn a confidential contact into a public one. Left out on a new contact: 0 (pubblico).
    level = payload.get("privacy_level")
    if level is not None:
        if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 3:
            errors["privacy_level"] = "livello da 0 a 3"
        fields["privacy_level"] = str(level)
    types = payload.get("document_types")
    if types is not None:
        if not isinstance(types, list) or any(t not in DOCUMENT_TYPE_CODES for t in types):
            errors["document_types"] = f"lista di codici tra: {', '.join(DOCUMENT_TYPE_CODES)}"
        fields["document_types"] = types
    for flag in ("is_pec", "marketing_consent", "active"):
        if flag in payload and not isinstance(payload[flag], bool):
            errors[flag] = "deve essere true o false"
    if errors:
        return api_error(422, "dati non validi", errors)
    if "is_pec" in payload:
        fields["pec"] = "si" if payload["is_pec"] else "no"
    for flag in ("marketing_consent", "active"):
        if flag in payload:
            fields[flag] = payload[flag]
    # Checked and written by the contacts service like the page: PEC detection, history (by the token).
    contact, created, errors = upsert_contact(
        party,
        fields,
        g.api_token.privacy_clearance,
        actor=f"api:{g.api_token.name}",
        consent_source=f"API {g.api_token.name}",
    )
    if contact is None:
        db.session.rollback()
        names = {"erp_code": "code", "pec": "is_pec"}
        return api_error(422, "dati non validi", {names.get(k, k): v for k, v in errors.items()})
    audit("contact.api_upsert", contact, username=f"api:{g.api_token.name}", created=created)
    db.session.commit()
    response = jsonify(_contact_dict(contact))
    response.status_code = 201 if created else 200
    return response


# The batch endpoints live in their own module of this blueprint; importing it registers them.
from . import batches as _batches  # noqa: E402, F401
