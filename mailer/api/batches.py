"""Batches through the API (/api/v1/batches): prepare, read with outcomes, start sending.

The token acts as its user (ApiToken.user): the user's send permissions apply as on the page
(mailer.services.preparation), and the lower of the two privacy clearances (token's, user's) decides
which deliveries show. Approval stays a person's act on the batch page, except for document types set
to automatic approval; the four-eyes rule holds because the batch is the token user's own.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta

from flask import Response, g, jsonify, request, url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..inputs import DB_INT_MAX
from ..models import (
    BATCH_STATUSES,
    DELIVERY_STATUSES,
    ApiIdempotencyKey,
    Batch,
    Delivery,
    Document,
    DocumentType,
    Party,
    User,
    utcnow,
)
from ..services import approval, batch_views, preparation, sending
from ..services.pagination import page_arg, paginate
from .routes import api_error, bp, json_body, require_scope

PER_PAGE = 100
# A delivery changed in a transaction that commits after a poll may carry an earlier updated_at than
# the poll's time: next_since looks this far back, so a poller may see a row twice but never miss one.
SINCE_OVERLAP = timedelta(seconds=60)
MAX_LIST = 5000


def _acting_user() -> User | Response:
    """The user the token acts as, or the error answer."""
    user = g.api_token.user
    if user is None or not user.active:
        return api_error(
            403,
            "il token non agisce per conto di un utente attivo: un amministratore lo colleghi a un utente",
            {"Authorization": "token senza utente"},
        )
    return user


def _clearance(user: User) -> int:
    """The lower of the token's and its user's privacy clearance."""
    return min(int(g.api_token.privacy_clearance), int(user.privacy_clearance))


def _iso(value: datetime | None) -> str | None:
    """A stored (naive UTC) time as ISO 8601 with Z."""
    return value.isoformat() + "Z" if value else None


# ---------------------------------------------------------------- reading


def _batch_dict(batch: Batch, clearance: int) -> dict:
    """The JSON shape of a batch: state, who did what, counts of the deliveries the clearance shows."""
    counts: dict[str, int] = dict(
        db.session.execute(
            select(Delivery.status, db.func.count(Delivery.id))
            .where(Delivery.batch_id == batch.id, batch_views.visible_to(clearance))
            .group_by(Delivery.status)
        ).all()
    )
    auto = _all_auto_approve(batch)
    return {
        "id": batch.id,
        "name": batch.name,
        "kind": batch.kind,
        "status": batch.status,
        "status_label": BATCH_STATUSES.get(batch.status, batch.status),
        "document_types": list(batch.type_codes or []),
        "auto_approve": auto,
        "awaiting_approval": batch.status == "ready" and not auto,
        "error": batch.error or None,
        "progress": {"total": batch.progress_total, "done": batch.progress_done},
        "counts": {status: counts.get(status, 0) for status in DELIVERY_STATUSES},
        "created_at": _iso(batch.created_at),
        "created_by": batch.created_by.username if batch.created_by else None,
        "approved_at": _iso(batch.approved_at),
        "approved_by": batch.approved_by.username if batch.approved_by else None,
        "rejected_reason": batch.rejected_reason or None,
        "sending_started_at": _iso(batch.sending_started_at),
        "finished_at": _iso(batch.finished_at),
        "page_url": url_for("batches.detail", batch_id=batch.id, _external=True),
        "deliveries_url": url_for("api.batch_deliveries", batch_id=batch.id),
    }


def _delivery_dict(delivery: Delivery) -> dict:
    """The JSON shape of a delivery: recipient, the ERP references of its party and documents, outcome."""
    party = delivery.party
    return {
        "id": delivery.id,
        "status": delivery.status,
        "status_label": DELIVERY_STATUSES.get(delivery.status, delivery.status),
        "party": {"code": party.erp_code, "name": party.name} if party else None,
        "documents": [
            {"id": d.id, "type": d.type_code, "year": d.year, "number": d.number} for d in delivery.documents
        ],
        "recipient_email": delivery.recipient_email,
        "recipient_name": delivery.recipient_name,
        "contact_code": delivery.contact.erp_code if delivery.contact else None,
        "cc": delivery.cc or None,
        "account": delivery.account.name if delivery.account else None,
        "reason": delivery.exclusion_reason or None,
        "attempts": delivery.attempts,
        "smtp_code": delivery.smtp_code,
        "smtp_reason": delivery.smtp_reason or None,
        "message_id": delivery.message_id or None,
        "sent_at": _iso(delivery.sent_at),
        "pec_accepted_at": _iso(delivery.pec_accepted_at),
        "pec_delivered_at": _iso(delivery.pec_delivered_at),
        "pec_failed_at": _iso(delivery.pec_failed_at),
        "pec_failure_reason": delivery.pec_failure_reason or None,
        "bounced_at": _iso(delivery.bounced_at),
        "bounce_reason": delivery.bounce_reason or None,
        "updated_at": _iso(delivery.updated_at),
    }


def _all_auto_approve(batch: Batch) -> bool:
    """Every document type of the batch is set to automatic approval."""
    codes = list(batch.type_codes or [])
    if not codes or batch.kind != "documents":
        return False
    auto = db.session.scalars(select(DocumentType.auto_approve).where(DocumentType.code.in_(codes))).all()
    return len(auto) == len(codes) and all(auto)


def _scoped_batch(scope: str, batch_id: int) -> tuple[User, Batch] | Response:
    """(acting user, batch) when the token has the scope, acts as an active user and that user may open
    the batch (the page's rule); else the error answer."""
    if (denied := require_scope(scope)) is not None:
        return denied
    user = _acting_user()
    if isinstance(user, Response):
        return user
    batch = _open_batch(batch_id, user)
    return batch if isinstance(batch, Response) else (user, batch)


def _open_batch(batch_id: int, user: User) -> Batch | Response:
    """The batch if the acting user may open it (the page's rule), else the error answer."""
    batch = db.session.get(Batch, batch_id)
    if batch is None:
        return api_error(404, "invio non trovato", {"id": str(batch_id)})
    if not batch_views.may_open_batch(user, batch):
        return api_error(403, "l'utente del token non può aprire questo invio", {"id": str(batch_id)})
    return batch


@bp.route("/batches/<int:batch_id>")
def get_batch(batch_id: int):
    """A batch: state, progress, counts of its deliveries by outcome; ambito batches:read."""
    found = _scoped_batch("batches:read", batch_id)
    if isinstance(found, Response):
        return found
    user, batch = found
    return jsonify(_batch_dict(batch, _clearance(user)))


def parse_since(value: str) -> datetime:
    """An ISO 8601 time (with Z or an offset; without one it is UTC) as naive UTC; ValueError if not one."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    if not 2000 <= moment.year < 2200:
        raise ValueError(value)
    return moment


@bp.route("/batches/<int:batch_id>/deliveries")
def batch_deliveries(batch_id: int):
    """The batch's deliveries with outcomes, 100 a page; ?status= (comma separated), ?since= (changed at or
    after), ?page=; ambito batches:read."""
    found = _scoped_batch("batches:read", batch_id)
    if isinstance(found, Response):
        return found
    user, batch = found
    now = utcnow()
    query = select(Delivery).where(Delivery.batch_id == batch.id, batch_views.visible_to(_clearance(user)))
    if status := request.args.get("status", "").strip():
        wanted = [s.strip() for s in status.split(",") if s.strip()]
        unknown = [s for s in wanted if s not in DELIVERY_STATUSES]
        if unknown:
            return api_error(
                400,
                "parametro non valido",
                {"status": f"stato sconosciuto «{unknown[0]}»: uno tra {', '.join(DELIVERY_STATUSES)}"},
            )
        query = query.where(Delivery.status.in_(wanted))
    if since := request.args.get("since", "").strip():
        try:
            query = query.where(Delivery.updated_at >= parse_since(since))
        except ValueError:
            return api_error(
                400, "parametro non valido", {"since": "data e ora ISO 8601, es. 2026-11-30T18:00:00Z"}
            )
    page = paginate(
        query.order_by(Delivery.updated_at, Delivery.id), page_arg(request.args.get("page")), PER_PAGE, False
    )
    return jsonify(
        {
            "batch": {"id": batch.id, "status": batch.status},
            "total": page.total,
            "page": page.page,
            "pages": page.pages,
            "per_page": PER_PAGE,
            "next_since": _iso(now - SINCE_OVERLAP),
            "items": [_delivery_dict(d) for d in page.items],
        }
    )


# ---------------------------------------------------------------- preparing


def _id_list(payload: dict, name: str, kind: type, errors: dict[str, str]) -> list:
    """A list of ids or codes from the payload (empty when missing); errors name the item."""
    value = payload.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_LIST:
        errors[name] = f"deve essere una lista (al massimo {MAX_LIST} elementi)"
        return []
    for i, item in enumerate(value):
        bad_int = kind is int and (
            not isinstance(item, int) or isinstance(item, bool) or not 1 <= item <= DB_INT_MAX
        )
        bad_str = kind is str and (not isinstance(item, str) or not item.strip() or len(item) > 64)
        if bad_int or bad_str:
            errors[f"{name}[{i}]"] = "deve essere un id numerico" if kind is int else "deve essere un codice"
            return []
    return [item.strip() for item in value] if kind is str else list(value)


def _parse_selection(payload: dict) -> tuple[preparation.Selection | None, dict[str, str]]:
    """The Selection the request asks for, or the errors by field (Italian)."""
    errors: dict[str, str] = {}
    types = _id_list(payload, "document_types", str, errors)
    types = sorted({t.upper() for t in types})
    party_codes = _id_list(payload, "party_codes", str, errors)
    document_ids = _id_list(payload, "document_ids", int, errors)
    dates: dict[str, date | None] = {}
    for name in ("date_from", "date_to"):
        value = payload.get(name)
        if value is None:
            dates[name] = None
            continue
        try:  # JSON dates are ISO (OpenAPI `format: date`); the pages also take dd/mm/yyyy, the API does not
            if not isinstance(value, str) or len(value) != 10:
                raise ValueError(value)
            dates[name] = date.fromisoformat(value)
        except ValueError:
            errors[name] = "data non valida (formato AAAA-MM-GG)"
    only_unsent = payload.get("only_unsent", True)
    if not isinstance(only_unsent, bool):
        errors["only_unsent"] = "deve essere true o false"
    name = payload.get("name", "")
    if not isinstance(name, str) or len(name) > 200:
        errors["name"] = "testo di al massimo 200 caratteri"
    if errors:
        return None, errors
    if not types and not document_ids:
        errors["document_types"] = "indica almeno un tipo di documento (o gli id dei documenti)"
    if dates["date_from"] and dates["date_to"] and dates["date_from"] > dates["date_to"]:
        errors["date_from"] = "la data iniziale è successiva a quella finale"
    known = set(db.session.scalars(select(DocumentType.code)))
    for i, code in enumerate(types):
        if code not in known:
            errors[f"document_types[{i}]"] = f"tipo di documento sconosciuto «{code}»"
    party_ids: list[int] = []
    if party_codes:
        found = dict(
            db.session.execute(select(Party.erp_code, Party.id).where(Party.erp_code.in_(party_codes))).all()
        )
        for i, code in enumerate(party_codes):
            if code not in found:
                errors[f"party_codes[{i}]"] = f"anagrafica «{code}» non trovata"
        party_ids = sorted(set(found.values()))
    if document_ids:
        doc_types = dict(
            db.session.execute(
                select(Document.id, Document.type_code).where(Document.id.in_(document_ids))
            ).all()
        )
        for i, doc_id in enumerate(document_ids):
            if doc_id not in doc_types:
                errors[f"document_ids[{i}]"] = f"documento {doc_id} non trovato"
        if not types:
            types = sorted(set(doc_types.values()))
    if errors:
        return None, errors
    selection = preparation.Selection(
        type_codes=types,
        date_from=dates["date_from"],
        date_to=dates["date_to"],
        only_unsent=only_unsent,
        party_ids=party_ids,
        document_ids=sorted(set(document_ids)),
    )
    return selection, {}


def _request_digest(payload: dict) -> str:
    """What identifies a request under one Idempotency-Key: its JSON, canonical."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _replay(key: ApiIdempotencyKey, digest: str, user: User) -> Response:
    """The answer to a request whose Idempotency-Key was seen before."""
    if key.request_sha256 != digest:
        return api_error(
            422,
            "chiave di idempotenza già usata per un'altra richiesta",
            {"Idempotency-Key": "già usata con dati diversi: usa una chiave nuova per un nuovo invio"},
        )
    batch = db.session.get(Batch, key.batch_id) if key.batch_id else None
    if batch is None:
        return api_error(
            409, "la stessa richiesta è ancora in corso: riprova tra poco", {"Idempotency-Key": "in corso"}
        )
    response = jsonify(_batch_dict(batch, _clearance(user)))
    response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = url_for("api.get_batch", batch_id=batch.id)
    return response


@bp.route("/batches", methods=["POST"])
def post_batch():
    """Prepare a batch of documents (types + period + parties, or document ids) as the token's user;
    ambito batches:write. Idempotency-Key: the same key and body again answer the same batch."""
    if (denied := require_scope("batches:write")) is not None:
        return denied
    user = _acting_user()
    if isinstance(user, Response):
        return user
    payload = json_body()
    if isinstance(payload, Response):
        return payload
    key_text = request.headers.get("Idempotency-Key", "").strip()
    if len(key_text) > 200 or not key_text.isprintable():
        return api_error(422, "dati non validi", {"Idempotency-Key": "al massimo 200 caratteri stampabili"})
    digest = _request_digest(payload)
    token_id = g.api_token.id
    if key_text:
        seen = db.session.scalar(
            select(ApiIdempotencyKey).where(
                ApiIdempotencyKey.token_id == token_id, ApiIdempotencyKey.key == key_text
            )
        )
        if seen is not None:
            return _replay(seen, digest, user)
    selection, errors = _parse_selection(payload)
    if selection is None:
        return api_error(422, "dati non validi", errors)
    denied_types = [c for c in selection.type_codes if not user.may_send(c)]
    if denied_types:
        return api_error(
            403,
            f"l'utente del token non è autorizzato a inviare: {', '.join(denied_types)}",
            {"document_types": f"non autorizzato: {', '.join(denied_types)}"},
        )
    key = None
    if key_text:
        key = ApiIdempotencyKey(token_id=token_id, key=key_text, request_sha256=digest)
        db.session.add(key)
        try:
            db.session.flush()
        except IntegrityError:  # the same key arrived at the same moment: answer what the other made
            db.session.rollback()
            seen = db.session.scalar(
                select(ApiIdempotencyKey).where(
                    ApiIdempotencyKey.token_id == token_id, ApiIdempotencyKey.key == key_text
                )
            )
            assert seen is not None  # its insert won the unique constraint
            return _replay(seen, digest, user)
    try:
        batch = preparation.create_batch(
            selection,
            user,
            name=payload.get("name", ""),
            enqueue=False,
            base_url=request.host_url,
            api_token=g.api_token.name,
        )
    except preparation.PreparationError as exc:
        db.session.rollback()
        field = "document_ids" if selection.document_ids else "document_types"
        return api_error(422, str(exc), {field: str(exc)})
    if key is not None:
        key.batch_id = batch.id
        db.session.commit()
    preparation.start_preparation(batch)
    response = jsonify(_batch_dict(batch, _clearance(user)))
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_batch", batch_id=batch.id)
    return response


# ---------------------------------------------------------------- sending


@bp.route("/batches/<int:batch_id>/send", methods=["POST"])
def send_batch(batch_id: int):
    """Start sending an approved batch (or one of automatically approved types); ambito batches:write.

    Sending again a batch already under way or finished changes nothing and answers its state (a retry)."""
    found = _scoped_batch("batches:write", batch_id)
    if isinstance(found, Response):
        return found
    user, batch = found
    clearance = _clearance(user)
    if batch.status in ("sending", "done"):
        return jsonify(_batch_dict(batch, clearance))
    auto = _all_auto_approve(batch)
    if batch.status == "ready" and not auto:
        return api_error(
            409,
            "l'invio attende l'approvazione di un responsabile sulla pagina dell'invio",
            {
                "status": f"{batch.status}: approvalo dalla pagina {url_for('batches.detail', batch_id=batch.id)}"
            },
        )
    if batch.status not in ("ready", "approved"):
        return api_error(
            409,
            f"l'invio non si può avviare: è «{BATCH_STATUSES.get(batch.status, batch.status)}»",
            {"status": batch.status},
        )
    if not auto and not user.has_role("manager", "admin"):
        return api_error(403, "solo un responsabile può avviare l'invio", {"Authorization": "ruolo"})
    try:
        if batch.status == "ready":
            approval.approve_batch(batch, None, automatic=True)
        sending.start_sending(batch, user)
    except (approval.ApprovalError, sending.SendingError) as exc:
        db.session.rollback()
        return api_error(409, str(exc), {"status": str(exc)})
    response = jsonify(_batch_dict(batch, clearance))
    response.status_code = 202
    return response
