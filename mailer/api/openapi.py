"""OpenAPI 3.1 description of /api/v1 and of the webhooks Recapito sends (served at /api/v1/openapi.json)."""

from __future__ import annotations

from typing import Any

from ..reference import DOCUMENT_TYPE_CODES
from .openapi_batches import batch_paths, batch_schemas
from .openapi_batches import json_content as _json
from .openapi_batches import schema_ref as _ref
from .webhook_spec import webhook_spec


def openapi_spec(server_url: str) -> dict:
    """The spec as a dict."""
    error = {"description": "Errore", **_json(_ref("Error"))}
    # 400 bad JSON or parameter, 401 token, 403 scope, 413 too large, 415 not JSON, 422 invalid fields.
    errors = {"400": error, "401": error, "403": error, "413": error, "415": error, "422": error}
    money = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "example": "1234.50"}
    document_in: dict[str, Any] = {
        "type": "object",
        "required": ["type", "number", "date", "party_code"],
        "properties": {
            "type": {"type": "string", "enum": DOCUMENT_TYPE_CODES},
            "number": {"type": "string", "maxLength": 40},
            "date": {"type": "string", "format": "date"},
            "sdi_file_name": {
                "type": ["string", "null"],
                "maxLength": 255,
                "description": "nome del file FatturaPA inviato allo SdI: le notifiche SdI lo citano",
            },
            "year": {"type": "integer", "description": "predefinito: anno della data"},
            "party_code": {"type": "string", "description": "codice anagrafica del gestionale"},
            "currency": {"type": "string", "example": "EUR"},
            "total_net": money,
            "total_vat": money,
            "total": money,
            "open_amount": money,
            "due_dates": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "date": {"type": "string", "format": "date"},
                        "amount": money,
                        "method": {"type": "string"},
                    },
                },
            },
            "lines": {"type": "array", "maxItems": 5000, "items": _ref("Line")},
            "extra": {
                "type": "object",
                "description": "dati per il modello PDF: vat_summary, payment_terms, "
                "notes, open_items (estratto conto), overdue_items (sollecito), protocol e ceiling "
                "(dichiarazione d'intento), destination, valid_until, delivery_date, subject/body…; la forma delle "
                "chiavi note è controllata (open_items/overdue_items/paid_items: liste di oggetti {number, "
                "date, due_date, amount, paid, balance}; date AAAA-MM-GG; importi numerici): altrimenti 422 "
                "con il campo, es. extra.open_items[2].amount",
            },
            "pdf_base64": {
                "type": "string",
                "format": "byte",
                "description": "il PDF del gestionale; senza, Recapito lo genera dal modello",
            },
            "attachments": {
                "type": "array",
                "maxItems": 20,
                "description": "file che viaggiano con il documento: "
                "controllati dal contenuto come i documenti generici (PDF, Word, ODT, XLSX, immagini; "
                "niente programmi, HTML, macro o archivi che si espandono oltre misura)",
                "items": {
                    "type": "object",
                    "required": ["filename", "content_base64"],
                    "properties": {
                        "filename": {"type": "string", "maxLength": 255},
                        "content_base64": {"type": "string", "format": "byte"},
                    },
                },
            },
            "replace": {
                "type": "boolean",
                "default": False,
                "description": "true per sostituire un documento con lo stesso tipo + anno + numero ma di "
                "un'altra anagrafica o con altri totali (senza: risposta 409); la sostituzione "
                "è registrata e, se il documento era già stato inviato, il PDF inviato resta "
                "come versione precedente",
            },
        },
    }
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Recapito API",
            "version": "1.0",
            "description": "API del gestionale verso Recapito: documenti (con righe e PDF opzionale), "
            "anagrafiche e contatti; invii (preparazione, esiti, avvio). Autenticazione: `Authorization: Bearer <token>`; "
            "i token li crea un amministratore, ciascuno con i suoi ambiti e un livello di "
            "riservatezza. Un documento è identificato da tipo + anno + numero: inviarlo "
            "di nuovo lo aggiorna. Gli errori sono JSON e nominano il campo.",
        },
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {"type": "string"},
                        "fields": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                            "example": {"lines[0].quantity": "«abc» non è un numero"},
                        },
                    },
                },
                "Line": {
                    "type": "object",
                    "properties": {
                        "line_no": {"type": "integer"},
                        "product_code": {"type": "string", "maxLength": 40},
                        "description": {"type": "string"},
                        "quantity": money,
                        "unit": {"type": "string", "maxLength": 10},
                        "unit_price": money,
                        "discount_pct": money,
                        "vat_rate": money,
                        "amount": {**money, "description": "predefinito: quantità × prezzo − sconto"},
                    },
                },
                "DocumentIn": document_in,
                "SdiNotificationIn": {
                    "type": "object",
                    "required": ["file_name", "content_base64"],
                    "properties": {
                        "file_name": {
                            "type": "string",
                            "maxLength": 255,
                            "example": "IT01234567890_11111_RC_001.xml",
                        },
                        "content_base64": {"type": "string", "description": "il file (XML o .p7m) in base64"},
                    },
                },
                "SdiNotification": {
                    "type": "object",
                    "required": ["kind", "sdi_id", "invoice_file", "documents"],
                    "properties": {
                        "file": {"type": "string"},
                        "kind": {"type": "string", "enum": ["RC", "MC", "NS", "NE", "DT", "AT"]},
                        "sdi_id": {"type": "string"},
                        "invoice_file": {"type": "string"},
                        "documents": {"type": "array", "items": {"type": "integer"}},
                        "duplicate": {"type": "boolean"},
                        "outcome": {"type": "string"},
                        "errors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"code": {"type": "string"}, "description": {"type": "string"}},
                            },
                        },
                    },
                },
                # The answer: what was sent in, plus what Recapito knows (null where nothing is known yet).
                "Document": {
                    "type": "object",
                    "required": ["id", "type", "number", "year", "date"],
                    "properties": {
                        **{
                            k: v
                            for k, v in document_in["properties"].items()
                            if k not in ("pdf_base64", "open_amount", "replace", "attachments")
                        },
                        "open_amount": {**money, "type": ["string", "null"]},
                        "party_code": {"type": ["string", "null"]},
                        "id": {"type": "integer"},
                        "has_pdf": {"type": "boolean"},
                        "pdf_sha256": {"type": ["string", "null"]},
                        "pdf_rendered": {"type": "boolean"},
                        "sent_at": {"type": ["string", "null"], "format": "date-time"},
                        "source": {"type": "string"},
                        "attachments": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"filename": {"type": "string"}, "sha256": {"type": "string"}},
                            },
                        },
                    },
                },
                **batch_schemas(),
                "Party": {
                    "type": "object",
                    "required": ["code", "name"],
                    "properties": {
                        "code": {"type": "string", "maxLength": 32},
                        "name": {"type": "string"},
                        "kind": {"type": "string", "enum": ["customer", "supplier", "both"]},
                        "vat_number": {"type": "string"},
                        "tax_code": {"type": "string"},
                        "address": {"type": "string"},
                        "zip_code": {"type": "string"},
                        "city": {"type": "string"},
                        "province": {"type": "string"},
                        "country": {"type": "string"},
                        "language": {"type": "string"},
                    },
                },
                "Contact": {
                    "type": "object",
                    "properties": {
                        "code": {"type": "string"},
                        "name": {"type": "string"},
                        "email": {"type": "string", "format": "email"},
                        "phone": {"type": "string"},
                        "function": {"type": "string"},
                        "is_pec": {"type": "boolean"},
                        "privacy_level": {
                            "type": "integer",
                            "minimum": 0,
                            "maximum": 3,
                            "description": "non oltre il livello del token; se manca: 0 per un contatto nuovo, "
                            "invariato per uno esistente",
                        },
                        "document_types": {
                            "type": "array",
                            "items": {"type": "string", "enum": DOCUMENT_TYPE_CODES},
                        },
                        "marketing_consent": {"type": "boolean"},
                        "active": {"type": "boolean"},
                    },
                },
            },
        },
        "paths": {
            "/ping": {
                "get": {"summary": "Verifica il token", "responses": {"200": {"description": "ok"}, **errors}}
            },
            "/documents": {
                "post": {
                    "summary": "Crea o aggiorna un documento (tipo + anno + numero); ambito documents:write",
                    "description": "Lo stesso documento inviato di nuovo (stessa anagrafica, stessi totali) "
                    "lo aggiorna. Uno con la stessa chiave ma di un'altra anagrafica o con altri "
                    "totali è rifiutato (409, il messaggio nomina entrambi) salvo richiesta "
                    'esplicita: campo "replace": true o parametro ?replace=1.',
                    "parameters": [
                        {
                            "name": "replace",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "enum": ["0", "1", "true", "false"]},
                            "description": "1/true: sostituisci il documento esistente",
                        }
                    ],
                    "requestBody": {"required": True, **_json(_ref("DocumentIn"))},
                    "responses": {
                        "201": {"description": "creato", **_json(_ref("Document"))},
                        "200": {"description": "aggiornato", **_json(_ref("Document"))},
                        "409": {
                            "description": "esiste già con un'altra anagrafica o altri totali",
                            **_json(_ref("Error")),
                        },
                        **errors,
                    },
                },
                "get": {
                    "summary": "Elenco documenti; ambito documents:read",
                    "parameters": [
                        {"name": n, "in": "query", "schema": {"type": "string"}}
                        for n in ("type", "year", "number", "party_code", "sent", "limit", "offset")
                    ],
                    "responses": {"200": {"description": "ok"}, **errors},
                },
            },
            "/documents/{id}": {
                "get": {
                    "summary": "Un documento",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
                    ],
                    "responses": {
                        "200": {"description": "ok", **_json(_ref("Document"))},
                        "404": error,
                        **errors,
                    },
                }
            },
            "/documents/{type}/{year}/{number}": {
                "get": {
                    "summary": "Un documento per chiave del gestionale",
                    "parameters": [
                        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                        for n in ("type", "year", "number")
                    ],
                    "responses": {
                        "200": {"description": "ok", **_json(_ref("Document"))},
                        "404": error,
                        **errors,
                    },
                }
            },
            "/documents/{id}/pdf": {
                "get": {
                    "summary": "Il PDF del documento (generato se manca)",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
                    ],
                    "responses": {
                        "200": {"description": "PDF", "content": {"application/pdf": {}}},
                        "404": error,
                        "503": error,
                        **errors,
                    },
                }
            },
            "/sdi-notifications": {
                "post": {
                    "summary": "Carica una notifica SdI (RC, MC, NS, NE, DT, AT; XML o .p7m); ambito sdi:write",
                    "description": "Abbinata ai documenti per nome del file FatturaPA (NomeFile); la stessa "
                    "notifica caricata di nuovo non crea un doppione (200, duplicate true).",
                    "requestBody": {"required": True, **_json(_ref("SdiNotificationIn"))},
                    "responses": {
                        "201": {"description": "importata", **_json(_ref("SdiNotification"))},
                        "200": {"description": "già importata", **_json(_ref("SdiNotification"))},
                        **errors,
                    },
                }
            },
            "/parties": {
                "post": {
                    "summary": "Crea o aggiorna un'anagrafica per codice; ambito parties:write",
                    "requestBody": {"required": True, **_json(_ref("Party"))},
                    "responses": {
                        "201": {"description": "creata"},
                        "200": {"description": "aggiornata"},
                        **errors,
                    },
                },
                "get": {
                    "summary": "Elenco anagrafiche; ambito parties:read",
                    "parameters": [{"name": "q", "in": "query", "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "ok"}, **errors},
                },
            },
            "/parties/{code}": {
                "get": {
                    "summary": "Un'anagrafica",
                    "parameters": [
                        {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": {"description": "ok", **_json(_ref("Party"))},
                        "404": error,
                        **errors,
                    },
                }
            },
            "/parties/{code}/contacts": {
                "get": {
                    "summary": "Contatti fino al livello di riservatezza del token; ambito contacts:read",
                    "parameters": [
                        {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {"200": {"description": "ok"}, "404": error, **errors},
                },
                "post": {
                    "summary": "Crea o aggiorna un contatto (per codice o e-mail) tra quelli entro il livello "
                    "del token; ambito contacts:write",
                    "parameters": [
                        {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "requestBody": {"required": True, **_json(_ref("Contact"))},
                    "responses": {
                        "201": {"description": "creato"},
                        "200": {"description": "aggiornato"},
                        "404": error,
                        **errors,
                    },
                },
            },
        },
    }
    spec["paths"].update(batch_paths(error, errors))
    for path in ("/documents", "/parties", "/parties/{code}/contacts"):  # PUT is an alias of POST
        post = spec["paths"][path]["post"]
        spec["paths"][path]["put"] = {**post, "summary": post["summary"] + " (PUT equivale a POST)"}
    spec["webhooks"], schemas = webhook_spec()
    spec["components"]["schemas"].update(schemas)
    return spec
