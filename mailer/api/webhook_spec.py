"""The `webhooks` section of the OpenAPI 3.1 description: what Recapito POSTs to the ERP's endpoints."""

from __future__ import annotations

from typing import Any

from ..models import TEST_EVENT, WEBHOOK_EVENTS

SIGNATURE_HEADERS = [
    {
        "name": "webhook-id",
        "in": "header",
        "required": True,
        "description": "Identificativo dell'evento (UUID), uguale a ogni nuovo tentativo: il gestionale scarta i doppioni.",
        "schema": {"type": "string", "format": "uuid"},
    },
    {
        "name": "webhook-timestamp",
        "in": "header",
        "required": True,
        "description": "Secondi Unix del tentativo: rifiutare se troppo lontano dall'ora attuale (es. 5 minuti).",
        "schema": {"type": "string", "pattern": r"^\d+$"},
    },
    {
        "name": "webhook-signature",
        "in": "header",
        "required": True,
        "description": "`v1,<base64 di HMAC-SHA256(«id.timestamp.corpo»)>` con chiave = i byte del segreto "
        "(la parte dopo «whsec_», decodificata base64), come Standard Webhooks.",
        "schema": {"type": "string", "pattern": r"^v1,[A-Za-z0-9+/=]+$"},
    },
]
NULLABLE_STRING = {"type": ["string", "null"]}
DOCUMENT_REF = {
    "type": "object",
    "properties": {"type": {"type": "string"}, "number": {"type": "string"}, "year": {"type": "integer"}},
}
PRIVACY_NOTE = (
    " Per un contatto oltre il livello di riservatezza dell'utente proprietario dell'indirizzo, nome e e-mail "
    "mancano, compaiono «[riservato]» nei testi che li citavano e `contact_hidden` è true."
)
DELIVERY_DATA = {
    "type": "object",
    "properties": {
        "delivery_id": {"type": "integer"},
        "batch_id": {"type": "integer"},
        "batch_kind": {"type": "string", "enum": ["documents", "campaign"]},
        "status": {"type": "string", "enum": ["sent", "failed", "uncertain", "bounced"]},
        "party_code": NULLABLE_STRING,
        "documents": {"type": "array", "items": DOCUMENT_REF, "description": "documenti del gestionale"},
        "recipient_email": {"type": "string"},
        "recipient_name": {"type": "string"},
        "smtp_code": {"type": ["integer", "null"]},
        "smtp_reply": {"type": "string", "description": "risposta del server SMTP"},
        "message_id": {"type": "string"},
        "sent_at": {"type": ["string", "null"], "format": "date-time"},
        "bounce_reason": {"type": "string"},
        "pec_failure_reason": {"type": "string"},
        "receipt_type": {"type": "string", "description": "solo eventi pec.*: tipo di ricevuta PEC"},
        "receipt_reason": {"type": "string", "description": "solo eventi pec.*"},
        "contact_hidden": {"type": "boolean"},
    },
}
CONTACT_DATA = {
    "type": "object",
    "properties": {
        "contact_id": {"type": "integer"},
        "contact_erp_code": {"type": "string"},
        "party_code": NULLABLE_STRING,
        "contact_email": {"type": "string"},
        "contact_name": {"type": "string"},
        "opted_out_at": {"type": ["string", "null"], "format": "date-time"},
        "via": {"type": "string", "description": "da dove: link, modifica del contatto, …"},
        "contact_hidden": {"type": "boolean"},
    },
    "additionalProperties": True,
}


def _event(name: str, data: dict) -> dict:
    """The schema of one event's body."""
    return {
        "type": "object",
        "required": ["id", "type", "timestamp", "data"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "type": {"type": "string", "const": name},
            "timestamp": {"type": "string", "format": "date-time"},
            "data": data,
        },
    }


def webhook_spec() -> tuple[dict, dict]:
    """(the `webhooks` map, the component schemas it references)."""
    schemas: dict = {}
    hooks: dict = {}
    for name, description in {
        **WEBHOOK_EVENTS,
        TEST_EVENT: "Evento di prova («Invia evento di prova»)",
    }.items():
        schema_name = "Webhook_" + name.replace(".", "_")
        data: dict[str, Any]
        if name.startswith("contact."):
            data = CONTACT_DATA
        elif name == TEST_EVENT:
            data = {
                "type": "object",
                "properties": {"message": {"type": "string"}, "endpoint_id": {"type": "integer"}},
            }
        else:
            data = DELIVERY_DATA
        schemas[schema_name] = _event(name, data)
        hooks[name] = {
            "post": {
                "summary": description,
                "description": "Recapito invia una POST JSON firmata all'indirizzo registrato. Risposta 2xx = "
                "ricevuto; 408, 429, 5xx o nessuna risposta entro 5 s = nuovo tentativo dopo 1 min, 5 min, "
                "30 min, 2 h, 6 h; altri 4xx = rinuncia. Consegna almeno una volta: usare `webhook-id` "
                "per scartare i doppioni." + (PRIVACY_NOTE if name != TEST_EVENT else ""),
                "parameters": SIGNATURE_HEADERS,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}
                    },
                },
                "responses": {"200": {"description": "ricevuto (qualsiasi 2xx)"}},
            }
        }
    return hooks, schemas
