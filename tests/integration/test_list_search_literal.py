"""The list searches take the typed text literally: «100%» and «i_B» match only themselves (issue 16).

Before the one search helper (`mailer.services.search`), the documents list, the deliveries of a batch
and the API party list put the text into LIKE unescaped, so `%` and `_` matched anything.
"""

from __future__ import annotations

from mailer.extensions import db
from mailer.models import Party
from tests.support.batches import make_account, make_document, make_sending_batch
from tests.support.documents import bearer

NAMES = {
    "L1": "Sconto 100% S.r.l.",
    "L2": "Sconto 1000 S.r.l.",
    "L3": "Rossi_Bianchi S.n.c.",
    "L4": "RossiXBianchi S.n.c.",
}


def _parties() -> dict[str, Party]:
    parties = {}
    for code, name in NAMES.items():
        party = Party(erp_code=code, name=name, kind="customer")
        db.session.add(party)
        parties[code] = party
    db.session.flush()
    return parties


def test_documents_list_search_is_literal(app, client, auth):
    """Documents page: «100%» finds the 100% party only, «i_B» the underscore one only."""
    with app.app_context():
        for number, party in enumerate(_parties().values(), start=1):
            make_document(party, number=f"N{number}")
        db.session.commit()
    auth.login("admin")
    page = client.get("/documenti/?party=100%25").get_data(as_text=True)
    assert "Sconto 100% S.r.l." in page and "Sconto 1000" not in page
    page = client.get("/documenti/?party=i_B").get_data(as_text=True)
    assert "Rossi_Bianchi" in page and "RossiXBianchi" not in page


def test_batch_deliveries_search_is_literal(app, client, auth, smtp_server):
    """Deliveries of a batch: the search box matches `%` and `_` literally (addresses and party names)."""
    with app.app_context():
        account = make_account(smtp_server)
        batch = make_sending_batch(
            account,
            ["a_b@cliente.example", "axb@cliente.example", "p100%@cliente.example", "p1000@cliente.example"],
        )
        batch_id = batch.id
    auth.login("admin")
    page = client.get(f"/invii/{batch_id}?q=a_b").get_data(as_text=True)
    assert "a_b@cliente.example" in page and "axb@cliente.example" not in page
    page = client.get(f"/invii/{batch_id}?q=100%25").get_data(as_text=True)
    assert "p100%@cliente.example" in page and "p1000@cliente.example" not in page


def test_api_party_search_is_literal(app, client, make_token):
    """GET /api/v1/parties?q=: `%` and `_` are plain characters."""
    with app.app_context():
        _parties()
        db.session.commit()
    token = make_token()

    def codes(q: str) -> list[str]:
        response = client.get("/api/v1/parties", query_string={"q": q}, headers=bearer(token))
        assert response.status_code == 200
        return [item["code"] for item in response.get_json()["items"]]

    assert codes("100%") == ["L1"]
    assert codes("i_B") == ["L3"]
    assert sorted(codes("sconto")) == ["L1", "L2"]


def test_contacts_list_search_is_literal(app, client, auth):
    """Parties list (already escaped before; kept as the same guarantee on every list)."""
    with app.app_context():
        _parties()
        db.session.commit()
    auth.login("admin")
    page = client.get("/anagrafiche/?q=100%25").get_data(as_text=True)
    assert "Sconto 100% S.r.l." in page and "Sconto 1000" not in page
    page = client.get("/anagrafiche/?q=i_B").get_data(as_text=True)
    assert "Rossi_Bianchi" in page and "RossiXBianchi" not in page
