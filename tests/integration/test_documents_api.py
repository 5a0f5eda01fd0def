"""HTTP API for the ERP: tokens, scopes, upsert, field errors, size limits, privacy clearance."""

from __future__ import annotations

import base64

import pytest

from mailer.extensions import db
from tests.support.documents import bearer

DOC = {
    "type": "FATTURA",
    "number": "2024/15",
    "date": "2024-03-15",
    "party_code": "C0001",
    "lines": [
        {
            "product_code": "A1",
            "description": "Viti inox",
            "quantity": "10",
            "unit_price": "2.50",
            "vat_rate": 22,
        },
        {"description": "Trasporto", "quantity": 1, "unit_price": 15},
    ],
    "due_dates": [{"date": "2024-04-30", "amount": "48.80", "method": "Bonifico"}],
}
PARTY = {"code": "C0001", "name": "Rossi Forniture S.r.l.", "vat_number": "12345670017", "city": "Milano"}


@pytest.fixture
def token(make_token):
    """A token with every scope, clearance 1."""
    return make_token(clearance=1)


def test_push_document_and_see_it(client, token):
    """The ERP creates the party, pushes a document, reads it back and gets its PDF."""
    assert client.post("/api/v1/parties", json=PARTY, headers=bearer(token)).status_code == 201
    response = client.post("/api/v1/documents", json=DOC, headers=bearer(token))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["total_net"] == "40.00" and body["total_vat"] == "8.80" and body["total"] == "48.80"
    assert len(body["lines"]) == 2 and body["year"] == 2024
    got = client.get(response.headers["Location"], headers=bearer(token)).get_json()
    assert got["number"] == "2024/15"
    by_key = client.get("/api/v1/documents/FATTURA/2024/2024/15", headers=bearer(token))
    assert by_key.status_code == 200 and by_key.get_json()["id"] == body["id"]
    pdf = client.get(f"/api/v1/documents/{body['id']}/pdf", headers=bearer(token))
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")


def test_same_document_twice_updates(client, token, app):
    """type + year + number identify a document: the second push updates it (other totals: on request, 12.4)."""
    client.post("/api/v1/parties", json=PARTY, headers=bearer(token))
    first = client.post("/api/v1/documents", json=DOC, headers=bearer(token)).get_json()
    changed = {**DOC, "lines": DOC["lines"][:1], "total": "30.50"}
    assert client.post("/api/v1/documents", json=changed, headers=bearer(token)).status_code == 409
    second = client.post("/api/v1/documents", json={**changed, "replace": True}, headers=bearer(token))
    assert second.status_code == 200
    assert second.get_json()["id"] == first["id"] and second.get_json()["total"] == "30.50"
    assert len(second.get_json()["lines"]) == 1
    from mailer.models import Document

    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Document.id))) == 1


def test_erp_pdf_is_kept(client, token, app):
    """A PDF given by the ERP is stored as is and served back."""
    client.post("/api/v1/parties", json=PARTY, headers=bearer(token))
    pdf = b"%PDF-1.4\n% the ERP's own\n%%EOF\n"
    body = client.post(
        "/api/v1/documents", json={**DOC, "pdf_base64": base64.b64encode(pdf).decode()}, headers=bearer(token)
    ).get_json()
    assert body["has_pdf"] and not body["pdf_rendered"]
    assert client.get(f"/api/v1/documents/{body['id']}/pdf", headers=bearer(token)).data == pdf


@pytest.mark.parametrize(
    "payload, field",
    [
        ({**DOC, "type": "SCONTRINO"}, "type"),
        ({**DOC, "number": ""}, "number"),
        ({**DOC, "date": "15/13/2024"}, "date"),
        ({**DOC, "party_code": "NESSUNO"}, "party_code"),
        ({**DOC, "lines": [{"quantity": "dieci"}]}, "lines[0].quantity"),
        ({**DOC, "lines": [{"vat_rate": 140}]}, "lines[0].vat_rate"),
        ({**DOC, "due_dates": [{"date": "2024-04-30"}]}, "due_dates[0].amount"),
        ({**DOC, "currency": "euro"}, "currency"),
        ({**DOC, "pdf_base64": "@@@"}, "pdf_base64"),
    ],
)
def test_errors_name_the_field(client, token, payload, field):
    """Invalid input: 422 with a JSON error naming the field; nothing written."""
    client.post("/api/v1/parties", json=PARTY, headers=bearer(token))
    response = client.post("/api/v1/documents", json=payload, headers=bearer(token))
    assert response.status_code == 422
    assert field in response.get_json()["fields"], response.get_json()


@pytest.mark.parametrize(
    "payload, field",
    [
        ({**PARTY, "vat_number": "01234567890"}, "vat_number"),
        ({**PARTY, "code": ""}, "code"),
        ({**PARTY, "kind": "amico"}, "kind"),
    ],
)
def test_party_errors_name_the_field(client, token, payload, field):
    """Party validation (P.IVA checksum included) names the field."""
    response = client.post("/api/v1/parties", json=payload, headers=bearer(token))
    assert response.status_code == 422 and field in response.get_json()["fields"]


def test_auth_and_scopes(client, make_token):
    """No token / bad token: 401; missing scope: 403; revoked: 401; always JSON."""
    assert client.get("/api/v1/documents").status_code == 401
    assert client.get("/api/v1/documents", headers=bearer("rk_wrong")).status_code == 401
    reader = make_token(scopes=["documents:read"])
    assert client.get("/api/v1/documents", headers=bearer(reader)).status_code == 200
    denied = client.post("/api/v1/documents", json=DOC, headers=bearer(reader))
    assert denied.status_code == 403 and denied.get_json()["fields"]["scope"] == "documents:write"
    assert client.get("/api/v1/parties", headers=bearer(reader)).status_code == 403


def test_body_size_limit_and_bad_json(client, token, app):
    """Oversize bodies are refused before being read; broken JSON is a 400 naming the body."""
    app.config["API_MAX_BODY_BYTES"] = 1000
    big = client.post(
        "/api/v1/documents",
        data=b"{" + b" " * 2000 + b"}",
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert big.status_code == 413 and big.get_json()["fields"]["body"]
    app.config["API_MAX_BODY_BYTES"] = 25 * 1024 * 1024
    broken = client.post(
        "/api/v1/documents", data=b"{not json", headers={**bearer(token), "Content-Type": "application/json"}
    )
    assert broken.status_code == 400 and "body" in broken.get_json()["fields"]


def test_contacts_respect_token_clearance(client, make_token, app):
    """A token sees and writes contacts only up to its clearance (others are not even counted)."""
    admin = make_token(clearance=3)
    low = make_token(clearance=1)
    client.post("/api/v1/parties", json=PARTY, headers=bearer(admin))
    for name, level in (("Pubblico", 0), ("Interno", 1), ("Direzione", 3)):
        r = client.post(
            "/api/v1/parties/C0001/contacts",
            headers=bearer(admin),
            json={
                "name": name,
                "email": f"{name.lower()}@example.com",
                "privacy_level": level,
                "document_types": ["FATTURA"],
            },
        )
        assert r.status_code == 201, r.get_json()
    listed = client.get("/api/v1/parties/C0001/contacts", headers=bearer(low)).get_json()
    assert listed["total"] == 2 and {c["name"] for c in listed["items"]} == {"Pubblico", "Interno"}
    too_high = client.post(
        "/api/v1/parties/C0001/contacts",
        headers=bearer(low),
        json={"name": "X", "email": "x@example.com", "privacy_level": 2},
    )
    assert too_high.status_code == 422 and "privacy_level" in too_high.get_json()["fields"]
    # The confidential contact's address: answered exactly as a new address would be (nothing tells it
    # exists), the token gets a contact of its own and the confidential one is untouched.
    hidden = client.post(
        "/api/v1/parties/C0001/contacts",
        headers=bearer(low),
        json={"name": "Hack", "email": "direzione@example.com", "privacy_level": 0},
    )
    fresh = client.post(
        "/api/v1/parties/C0001/contacts",
        headers=bearer(low),
        json={"name": "Nuovo", "email": "nuovo@example.com", "privacy_level": 0},
    )
    assert hidden.status_code == fresh.status_code == 201
    assert set(hidden.get_json()) == set(fresh.get_json())
    assert "Direzione" not in hidden.get_data(as_text=True)
    from mailer.models import Contact

    with app.app_context():
        rows = db.session.scalars(
            db.select(Contact).where(Contact.email == "direzione@example.com").order_by(Contact.id)
        ).all()
        assert [(c.name, c.privacy_level) for c in rows] == [("Direzione", 3), ("Hack", 0)]


def test_pec_detected_for_contacts(client, token):
    """A PEC domain marks the contact as PEC."""
    client.post("/api/v1/parties", json=PARTY, headers=bearer(token))
    r = client.post(
        "/api/v1/parties/C0001/contacts", headers=bearer(token), json={"name": "PEC", "email": "rossi@pec.it"}
    )
    assert r.get_json()["is_pec"] is True


def test_openapi_is_public_and_describes_documents(client):
    """The OpenAPI description needs no token and lists the document endpoint."""
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.") and "/documents" in spec["paths"]
    assert "DocumentIn" in spec["components"]["schemas"]


def test_token_admin_page(client, auth, app):
    """An admin creates a token (shown once, stored hashed) that works, then revokes it."""
    auth.login("admin")
    page = client.post(
        "/api/v1/tokens/", data={"name": "Gestionale", "scopes": ["documents:read"], "clearance": "0"}
    )
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    import re

    secret = re.search(r"(rk_[A-Za-z0-9_\-]{20,})", text).group(1)
    from mailer.models import ApiToken

    with app.app_context():
        stored = db.session.scalar(db.select(ApiToken))
        assert stored.token_hash != secret and secret not in (stored.prefix + "x")
        token_id = stored.id
    assert client.get("/api/v1/ping", headers=bearer(secret)).status_code == 200
    client.post(f"/api/v1/tokens/{token_id}/revoke")
    assert client.get("/api/v1/ping", headers=bearer(secret)).status_code == 401


def test_token_page_needs_admin(client, auth):
    """Operators may not manage tokens; missing fields are reported next to the field."""
    auth.login("operator")
    assert client.get("/api/v1/tokens/").status_code == 403
