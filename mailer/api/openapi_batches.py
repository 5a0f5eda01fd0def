"""OpenAPI 3.0 description of the batch endpoints (mailer.api.batches), joined to the spec by openapi.py."""

from __future__ import annotations

from ..models import BATCH_STATUSES, DELIVERY_STATUSES
from ..reference import DOCUMENT_TYPE_CODES


def schema_ref(name: str) -> dict:
    """A reference to a schema of components/schemas."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict) -> dict:
    """A JSON body of this schema."""
    return {"content": {"application/json": {"schema": schema}}}


def batch_schemas() -> dict:
    """Schemas of the batch endpoints (mailer.api.batches)."""
    when = {"type": ["string", "null"], "format": "date-time"}
    text = {"type": ["string", "null"]}
    ids = {"type": "integer", "minimum": 1, "maximum": 2147483647}
    return {
        "BatchIn": {
            "type": "object",
            "description": "Quali documenti preparare: tipi e periodo (e anagrafiche), oppure gli id dei "
            "documenti. Le stesse regole della pagina «Nuovo invio», come l'utente del token.",
            "properties": {
                "document_types": {
                    "type": "array",
                    "maxItems": 50,
                    "items": {"type": "string", "enum": DOCUMENT_TYPE_CODES},
                },
                "date_from": {"type": "string", "format": "date", "description": "dal (compreso)"},
                "date_to": {"type": "string", "format": "date", "description": "al (compreso)"},
                "party_codes": {
                    "type": "array",
                    "maxItems": 5000,
                    "items": {"type": "string", "minLength": 1, "maxLength": 64},
                    "description": "solo queste anagrafiche (codici del gestionale)",
                },
                "document_ids": {"type": "array", "maxItems": 5000, "items": ids},
                "only_unsent": {
                    "type": "boolean",
                    "default": True,
                    "description": "solo i documenti non ancora inviati (con tipi e periodo)",
                },
                "name": {"type": "string", "maxLength": 200},
            },
        },
        "Batch": {
            "type": "object",
            "required": ["id", "status", "document_types", "counts"],
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "kind": {"type": "string", "enum": ["documents", "campaign"]},
                "status": {"type": "string", "enum": list(BATCH_STATUSES)},
                "status_label": {"type": "string"},
                "document_types": {"type": "array", "items": {"type": "string"}},
                "auto_approve": {
                    "type": "boolean",
                    "description": "tutti i tipi sono ad approvazione automatica",
                },
                "awaiting_approval": {
                    "type": "boolean",
                    "description": "pronto: un responsabile deve approvarlo sulla pagina (page_url)",
                },
                "error": text,
                "progress": {
                    "type": "object",
                    "properties": {"total": {"type": "integer"}, "done": {"type": "integer"}},
                },
                "counts": {
                    "type": "object",
                    "description": "recapiti per stato (solo quelli entro la riservatezza)",
                    "additionalProperties": {"type": "integer"},
                },
                "created_at": when,
                "created_by": text,
                "approved_at": when,
                "approved_by": text,
                "rejected_reason": text,
                "sending_started_at": when,
                "finished_at": when,
                "page_url": {"type": "string"},
                "deliveries_url": {"type": "string"},
            },
        },
        "Delivery": {
            "type": "object",
            "required": ["id", "status", "documents"],
            "properties": {
                "id": {"type": "integer"},
                "status": {"type": "string", "enum": list(DELIVERY_STATUSES)},
                "status_label": {"type": "string"},
                "party": {
                    "type": ["object", "null"],
                    "properties": {"code": {"type": "string"}, "name": {"type": "string"}},
                },
                "documents": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "integer"},
                            "type": {"type": "string"},
                            "year": {"type": "integer"},
                            "number": {"type": "string"},
                        },
                    },
                },
                "recipient_email": {"type": "string"},
                "recipient_name": {"type": "string"},
                "contact_code": text,
                "cc": text,
                "account": text,
                "reason": {**text, "description": "perché escluso o senza destinatario"},
                "attempts": {"type": "integer"},
                "smtp_code": {"type": ["integer", "null"]},
                "smtp_reason": {**text, "description": "la risposta del server (es. 550 utente sconosciuto)"},
                "message_id": text,
                "sent_at": when,
                "pec_accepted_at": when,
                "pec_delivered_at": when,
                "pec_failed_at": when,
                "pec_failure_reason": text,
                "bounced_at": when,
                "bounce_reason": text,
                "updated_at": when,
            },
        },
        "DeliveryPage": {
            "type": "object",
            "required": ["total", "page", "pages", "items", "next_since"],
            "properties": {
                "batch": {
                    "type": "object",
                    "properties": {"id": {"type": "integer"}, "status": {"type": "string"}},
                },
                "total": {"type": "integer"},
                "page": {"type": "integer"},
                "pages": {"type": "integer"},
                "per_page": {"type": "integer"},
                "next_since": {
                    "type": "string",
                    "format": "date-time",
                    "description": "il valore di since per la prossima interrogazione (guarda un minuto "
                    "indietro: un recapito può tornare due volte, mai mancare; deduplica per id e stato)",
                },
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/Delivery"}},
            },
        },
    }


def batch_paths(error: dict, errors: dict) -> dict:
    """Paths of the batch endpoints (mailer.api.batches)."""
    batch = {"content": {"application/json": {"schema": schema_ref("Batch")}}}
    batch_id = {"name": "batch_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    return {
        "/batches": {
            "post": {
                "summary": "Prepara un invio come l'utente del token; ambito batches:write",
                "description": "La preparazione continua in background: leggi l'invio finché lo stato "
                "è «ready» (da approvare sulla pagina da un responsabile, salvo tipi ad approvazione "
                "automatica). Con Idempotency-Key la stessa richiesta ripetuta (es. dopo un timeout) "
                "risponde lo stesso invio (200, Idempotent-Replayed: true) senza crearne un altro.",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "maxLength": 200},
                    }
                ],
                "requestBody": {"required": True, **json_content(schema_ref("BatchIn"))},
                "responses": {
                    "201": {"description": "creato, in preparazione", **batch},
                    "200": {"description": "già creato con la stessa Idempotency-Key", **batch},
                    "409": {
                        "description": "la stessa richiesta è ancora in corso",
                        **json_content(schema_ref("Error")),
                    },
                    **errors,
                },
            }
        },
        "/batches/{batch_id}": {
            "get": {
                "summary": "Un invio: stato, avanzamento, recapiti per esito; ambito batches:read",
                "parameters": [batch_id],
                "responses": {"200": {"description": "ok", **batch}, "404": error, **errors},
            }
        },
        "/batches/{batch_id}/deliveries": {
            "get": {
                "summary": "I recapiti dell'invio con esito e riferimenti del gestionale, 100 per pagina; "
                "ambito batches:read",
                "parameters": [
                    batch_id,
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "stati separati da virgola: " + ", ".join(DELIVERY_STATUSES),
                    },
                    {
                        "name": "since",
                        "in": "query",
                        "schema": {"type": "string", "format": "date-time"},
                        "description": "solo i recapiti cambiati da allora (usa next_since della risposta precedente)",
                    },
                    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                ],
                "responses": {
                    "200": {"description": "ok", **json_content(schema_ref("DeliveryPage"))},
                    "404": error,
                    **errors,
                },
            }
        },
        "/batches/{batch_id}/send": {
            "post": {
                "summary": "Avvia l'invio approvato (o di tipi ad approvazione automatica); ambito batches:write",
                "description": "Un invio già partito o concluso risponde il suo stato (200) senza altro. "
                "Un invio da approvare risponde 409: l'approvazione la dà un responsabile sulla pagina.",
                "parameters": [batch_id],
                "responses": {
                    "202": {"description": "avviato", **batch},
                    "200": {"description": "già avviato o concluso", **batch},
                    "404": error,
                    "409": {"description": "non si può avviare ora", **json_content(schema_ref("Error"))},
                    **errors,
                },
            }
        },
    }
