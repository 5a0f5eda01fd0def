"""OpenAPI 3.0 description of /api/v1 (served at /api/v1/openapi.json)."""

from __future__ import annotations

from typing import Any

from ..models import BATCH_STATUSES, DELIVERY_STATUSES
from ..reference import DOCUMENT_TYPE_CODES


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


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
                "type": "string",
                "nullable": True,
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
        "openapi": "3.0.3",
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
                        "open_amount": {**money, "nullable": True},
                        "party_code": {"type": "string", "nullable": True},
                        "id": {"type": "integer"},
                        "has_pdf": {"type": "boolean"},
                        "pdf_sha256": {"type": "string", "nullable": True},
                        "pdf_rendered": {"type": "boolean"},
                        "sent_at": {"type": "string", "format": "date-time", "nullable": True},
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
                **_batch_schemas(),
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
    spec["paths"].update(_batch_paths(error, errors))
    for path in ("/documents", "/parties", "/parties/{code}/contacts"):  # PUT is an alias of POST
        post = spec["paths"][path]["post"]
        spec["paths"][path]["put"] = {**post, "summary": post["summary"] + " (PUT equivale a POST)"}
    return spec


def _batch_schemas() -> dict:
    """Schemas of the batch endpoints (mailer.api.batches)."""
    when = {"type": "string", "format": "date-time", "nullable": True}
    text = {"type": "string", "nullable": True}
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
                    "type": "object",
                    "nullable": True,
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
                "smtp_code": {"type": "integer", "nullable": True},
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


def _batch_paths(error: dict, errors: dict) -> dict:
    """Paths of the batch endpoints (mailer.api.batches)."""
    batch = {"content": {"application/json": {"schema": _ref("Batch")}}}
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
                "requestBody": {"required": True, **_json(_ref("BatchIn"))},
                "responses": {
                    "201": {"description": "creato, in preparazione", **batch},
                    "200": {"description": "già creato con la stessa Idempotency-Key", **batch},
                    "409": {"description": "la stessa richiesta è ancora in corso", **_json(_ref("Error"))},
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
                    "200": {"description": "ok", **_json(_ref("DeliveryPage"))},
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
                    "409": {"description": "non si può avviare ora", **_json(_ref("Error"))},
                    **errors,
                },
            }
        },
    }
