"""Helpers for the batch API tests: a token acting as a user, the ERP's month of invoices pushed through the API."""

from __future__ import annotations

import secrets

import pytest

from mailer.extensions import db

ALL_SCOPES = (
    "documents:read",
    "documents:write",
    "parties:read",
    "parties:write",
    "contacts:read",
    "contacts:write",
    "batches:read",
    "batches:write",
)


@pytest.fixture
def user_token(app):
    """Factory: user_token(user_id, scopes=ALL_SCOPES, clearance=3) -> secret of a token acting as that user."""

    def factory(user_id: int | None, scopes=ALL_SCOPES, clearance: int = 3) -> str:
        from mailer.api.routes import hash_token
        from mailer.models import ApiToken

        secret = "rk_" + secrets.token_urlsafe(24)
        with app.app_context():
            db.session.add(
                ApiToken(
                    name=f"erp-{secret[3:9]}",
                    token_hash=hash_token(secret),
                    prefix=secret[:10],
                    scopes=",".join(scopes),
                    privacy_clearance=clearance,
                    user_id=user_id,
                )
            )
            db.session.commit()
        return secret

    return factory


def push_month(client, headers, customers: list[tuple[str, str, int]], month: str = "2026-11") -> list[int]:
    """The ERP pushes one party per customer (code, e-mail, contact privacy level), its contact receiving
    invoices, and one invoice of the month each (plus one of the month before); returns the month's ids."""
    ids = []
    for i, (code, email, level) in enumerate(customers, start=1):
        party = {
            "code": code,
            "name": f"Cliente {code} S.r.l.",
            "vat_number": "12345670017",
            "city": "Milano",
        }
        assert client.post("/api/v1/parties", json=party, headers=headers).status_code == 201
        contact = {
            "code": f"{code}-AMM",
            "name": "Amministrazione",
            "email": email,
            "document_types": ["FATTURA"],
            "privacy_level": level,
        }
        answer = client.post(f"/api/v1/parties/{code}/contacts", json=contact, headers=headers)
        assert answer.status_code == 201, answer.get_json()
        document = {
            "type": "FATTURA",
            "number": f"{month}/{i}",
            "date": f"{month}-{10 + i:02d}",
            "party_code": code,
            "lines": [
                {"description": "Consulenza", "quantity": "1", "unit_price": str(100 * i), "vat_rate": 22}
            ],
        }
        answer = client.post("/api/v1/documents", json=document, headers=headers)
        assert answer.status_code == 201, answer.get_json()
        ids.append(answer.get_json()["id"])
    earlier = {
        "type": "FATTURA",
        "number": "OTT/1",
        "date": "2026-10-20",
        "party_code": customers[0][0],
        "lines": [{"description": "Consulenza", "quantity": "1", "unit_price": "50", "vat_rate": 22}],
    }
    assert client.post("/api/v1/documents", json=earlier, headers=headers).status_code == 201
    return ids
