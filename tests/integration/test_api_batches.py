"""Batches through the API: the ERP prepares, a manager approves on the page, the ERP starts and polls outcomes.

Real Redis, real worker process, real SMTP server on loopback; SQLite, and PostgreSQL with TEST_DATABASE_URL.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from mailer.extensions import db
from mailer.models import ApiIdempotencyKey, Batch, Delivery, DocumentType, utcnow
from tests.support.api_batches import push_month
from tests.support.batches import approve_from_page, make_account, run_jobs
from tests.support.documents import bearer
from tests.support.faults import WorkerProcess, wait_until
from tests.support.webhooks import make_endpoint

MONTH = {"document_types": ["FATTURA"], "date_from": "2026-11-01", "date_to": "2026-11-30"}
FINAL = {"sent", "failed", "excluded", "norecipient", "cancelled", "uncertain", "bounced"}


def _account(app, server) -> None:
    """The default sending account, on the loopback server."""
    with app.app_context():
        make_account(server, is_default=True)
        db.session.commit()


def _count(app, model) -> int:
    """Rows of a table (fresh read)."""
    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(model)) or 0


def _status(client, headers, batch_id: int) -> str:
    """The batch's status as the API tells it."""
    return client.get(f"/api/v1/batches/{batch_id}", headers=headers).get_json()["status"]


@pytest.mark.slow
def test_erp_runs_a_month_of_invoices_end_to_end(
    app, client, auth, make_user, user_token, faulty_smtp, tmp_path, receiver
):
    """Push parties, contacts, invoices; prepare (retried with the same Idempotency-Key); a manager approves
    on the page; start; a real worker sends; polling with since sees every outcome, the 550 included; and
    the ERP's webhook receiver hears each outcome once, signed, with its own document and party references."""
    _account(app, faulty_smtp)
    with app.app_context():
        make_endpoint(receiver.url, ["delivery.sent", "delivery.failed"])
        db.session.commit()
    faulty_smtp.rules["amm@cliente3.example"] = [550]
    erp_user = make_user("erp", roles=["manager"], clearance=3)
    headers = bearer(user_token(erp_user))
    customers = [(f"C{i}", f"amm@cliente{i}.example", 0) for i in (1, 2, 3)]
    month_ids = push_month(client, headers, customers)

    first = client.post("/api/v1/batches", json=MONTH, headers={**headers, "Idempotency-Key": "nov-2026"})
    assert first.status_code == 201, first.get_json()
    batch_id = first.get_json()["id"]
    assert first.headers["Location"].endswith(f"/api/v1/batches/{batch_id}")
    again = client.post("/api/v1/batches", json=MONTH, headers={**headers, "Idempotency-Key": "nov-2026"})
    assert again.status_code == 200 and again.get_json()["id"] == batch_id
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _count(app, Batch) == 1

    worker = WorkerProcess(app, tmp_path).start()
    try:
        wait_until(lambda: _status(client, headers, batch_id) == "ready", 180, worker.tail, every=0.5)
        batch = client.get(f"/api/v1/batches/{batch_id}", headers=headers).get_json()
        assert batch["awaiting_approval"] and batch["counts"]["pending"] == 3 and batch["created_by"] == "erp"

        refused = client.post(f"/api/v1/batches/{batch_id}/send", headers=headers)
        assert refused.status_code == 409 and "approvazione" in refused.get_json()["error"]
        assert _status(client, headers, batch_id) == "ready"

        # Four eyes: the token's user prepared it, so the token's user cannot approve it on the page.
        auth.login("erp", create=False)
        page = client.get(f"/invii/{batch_id}").get_data(as_text=True)
        assert "quattro occhi" in page
        auth.logout()
        auth.login("capo", roles=["manager"])
        assert approve_from_page(client, batch_id).status_code == 302
        auth.logout()
        assert _status(client, headers, batch_id) == "approved"

        before_send = utcnow() - timedelta(seconds=1)
        started = client.post(f"/api/v1/batches/{batch_id}/send", headers=headers)
        assert started.status_code == 202, started.get_json()
        assert started.get_json()["status"] == "sending"

        seen: dict[int, dict] = {}
        since = before_send.isoformat() + "Z"

        def poll():
            nonlocal since
            page_no, pages = 1, 1
            while page_no <= pages:
                answer = client.get(
                    f"/api/v1/batches/{batch_id}/deliveries",
                    query_string={"since": since, "page": page_no},
                    headers=headers,
                )
                assert answer.status_code == 200, answer.get_json()
                body = answer.get_json()
                for item in body["items"]:
                    seen[item["id"]] = item
                pages, page_no = body["pages"], page_no + 1
            since = body["next_since"]
            return len(seen) == 3 and all(d["status"] in FINAL for d in seen.values())

        wait_until(poll, 60, worker.tail, every=0.3)
        # The same worker posts the webhook events (at least once: the ERP drops duplicates by event id).
        wait_until(lambda: len({e.event["id"] for e in receiver.events()}) >= 3, 60, worker.tail, every=0.3)
    finally:
        worker.stop()

    heard = {e.event["id"]: e for e in receiver.events()}
    assert all(e.valid for e in heard.values())
    outcomes = {e.event["data"]["recipient_email"]: e.event for e in heard.values()}
    assert {k: v["type"] for k, v in outcomes.items()} == {
        "amm@cliente1.example": "delivery.sent",
        "amm@cliente2.example": "delivery.sent",
        "amm@cliente3.example": "delivery.failed",
    }
    assert outcomes["amm@cliente1.example"]["data"]["party_code"] == "C1"
    assert outcomes["amm@cliente1.example"]["data"]["documents"] == [
        {"type": "FATTURA", "number": "2026-11/1", "year": 2026}
    ]
    assert outcomes["amm@cliente3.example"]["data"]["smtp_code"] == 550

    by_email = {d["recipient_email"]: d for d in seen.values()}
    assert {e: d["status"] for e, d in by_email.items()} == {
        "amm@cliente1.example": "sent",
        "amm@cliente2.example": "sent",
        "amm@cliente3.example": "failed",
    }
    failed = by_email["amm@cliente3.example"]
    assert failed["smtp_code"] == 550 and "User unknown" in failed["smtp_reason"]
    sent = by_email["amm@cliente1.example"]
    assert sent["party"] == {"code": "C1", "name": "Cliente C1 S.r.l."} and sent["contact_code"] == "C1-AMM"
    assert sent["documents"] == [{"id": month_ids[0], "type": "FATTURA", "year": 2026, "number": "2026-11/1"}]
    assert sent["message_id"] and sent["sent_at"]
    # What the record says went is what arrived: once each, with the Message-ID of the record.
    for email, delivery in by_email.items():
        assert faulty_smtp.accepted_to(email) == (1 if delivery["status"] == "sent" else 0)
    arrived = [m.message for m in faulty_smtp.messages if "amm@cliente1.example" in m.rcpt_tos]
    assert arrived[0]["Message-ID"].strip("<>") == sent["message_id"].strip("<>")
    only_failed = client.get(
        f"/api/v1/batches/{batch_id}/deliveries", query_string={"status": "failed"}, headers=headers
    ).get_json()
    assert [d["recipient_email"] for d in only_failed["items"]] == ["amm@cliente3.example"]
    later = client.get(
        f"/api/v1/batches/{batch_id}/deliveries",
        query_string={"since": (utcnow() + timedelta(minutes=5)).isoformat() + "Z"},
        headers=headers,
    ).get_json()
    assert later["total"] == 0 and later["items"] == []
    final = client.get(f"/api/v1/batches/{batch_id}", headers=headers).get_json()
    assert final["status"] == "done" and final["approved_by"] == "capo"
    assert final["counts"]["sent"] == 2 and final["counts"]["failed"] == 1
    again = client.post(f"/api/v1/batches/{batch_id}/send", headers=headers)
    assert again.status_code == 200 and again.get_json()["status"] == "done"  # a retry changes nothing


def test_auto_approved_type_is_started_by_the_token(app, client, make_user, user_token, smtp_server):
    """A type set to automatic approval needs no person: an operator's token prepares and starts it."""
    _account(app, smtp_server)
    with app.app_context():
        db.session.get(DocumentType, "FATTURA").auto_approve = True
        db.session.commit()
    headers = bearer(user_token(make_user("erp-op", roles=["operator"], clearance=1)))
    push_month(client, headers, [("A1", "amm@a1.example", 0), ("A2", "amm@a2.example", 0)])
    created = client.post("/api/v1/batches", json={**MONTH, "party_codes": ["A2"]}, headers=headers)
    assert created.status_code == 201, created.get_json()
    batch_id = created.get_json()["id"]
    run_jobs(app)
    ready = client.get(f"/api/v1/batches/{batch_id}", headers=headers).get_json()
    assert ready["status"] == "ready" and ready["auto_approve"] and not ready["awaiting_approval"]
    assert ready["counts"]["pending"] == 1  # party_codes kept A1 out
    started = client.post(f"/api/v1/batches/{batch_id}/send", headers=headers)
    assert started.status_code == 202, started.get_json()
    run_jobs(app)
    items = client.get(f"/api/v1/batches/{batch_id}/deliveries", headers=headers).get_json()["items"]
    assert [(d["recipient_email"], d["status"]) for d in items] == [("amm@a2.example", "sent")]
    assert smtp_server.accepted_to("amm@a2.example") == 1 and smtp_server.accepted_to("amm@a1.example") == 0
    with app.app_context():
        batch = db.session.get(Batch, batch_id)
        assert batch.approved_by_id is None and batch.approved_at is not None


def test_operator_token_cannot_start_an_approved_batch(app, client, auth, make_user, user_token, smtp_server):
    """Starting a batch that a person approved is a manager's act, for tokens as on the page."""
    _account(app, smtp_server)
    headers = bearer(user_token(make_user("erp-op", roles=["operator"], clearance=3)))
    push_month(client, headers, [("B1", "amm@b1.example", 0)])
    batch_id = client.post("/api/v1/batches", json=MONTH, headers=headers).get_json()["id"]
    run_jobs(app)
    auth.login("capo", roles=["manager"])
    assert approve_from_page(client, batch_id).status_code == 302
    refused = client.post(f"/api/v1/batches/{batch_id}/send", headers=headers)
    assert refused.status_code == 403 and "responsabile" in refused.get_json()["error"]
    with app.app_context():
        assert db.session.get(Batch, batch_id).status == "approved"
        assert (
            db.session.scalar(db.select(db.func.count(Delivery.id)).where(Delivery.status == "queued")) == 0
        )


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({}, "document_types", "almeno un tipo"),
        ({"document_types": "FATTURA"}, "document_types", "lista"),
        ({"document_types": ["FATTURA", "SCONTRINO"]}, "document_types[1]", "sconosciuto «SCONTRINO»"),
        ({**MONTH, "date_from": "01/11/2026"}, "date_from", "AAAA-MM-GG"),
        ({**MONTH, "date_from": "2026-12-01"}, "date_from", "successiva"),
        ({**MONTH, "party_codes": ["C1", "NESSUNO"]}, "party_codes[1]", "«NESSUNO» non trovata"),
        ({"document_ids": [1, "due"]}, "document_ids[1]", "id numerico"),
        ({"document_ids": [999999]}, "document_ids[0]", "non trovato"),
        ({**MONTH, "only_unsent": "sì"}, "only_unsent", "true o false"),
        ({**MONTH, "date_from": "2020-01-01", "date_to": "2020-01-31"}, "document_types", "Nessun documento"),
    ],
)
def test_bad_input_answers_422_by_field_and_creates_nothing(
    app, client, make_user, user_token, body, field, words
):
    """Each mistake names its field in Italian; no batch, no idempotency record, nothing queued."""
    headers = bearer(user_token(make_user("erp", roles=["manager"])))
    push_month(client, headers, [("C1", "amm@c1.example", 0)])
    answer = client.post("/api/v1/batches", json=body, headers={**headers, "Idempotency-Key": "k1"})
    assert answer.status_code == 422, answer.get_json()
    assert words in answer.get_json()["fields"][field]
    assert _count(app, Batch) == 0 and _count(app, ApiIdempotencyKey) == 0


def test_idempotency_key_with_other_data_is_refused(app, client, make_user, user_token):
    """The same key with another body is a mistake of the ERP (422); another token's key is its own."""
    user = make_user("erp", roles=["manager"])
    headers = bearer(user_token(user))
    push_month(client, headers, [("C1", "amm@c1.example", 0), ("C2", "amm@c2.example", 0)])
    key = {"Idempotency-Key": "lotto-7"}
    first = client.post("/api/v1/batches", json={**MONTH, "party_codes": ["C1"]}, headers={**headers, **key})
    assert first.status_code == 201
    other = client.post("/api/v1/batches", json={**MONTH, "party_codes": ["C2"]}, headers={**headers, **key})
    assert other.status_code == 422 and "Idempotency-Key" in other.get_json()["fields"]
    second_token = bearer(user_token(user))
    mine = client.post(
        "/api/v1/batches", json={**MONTH, "party_codes": ["C2"]}, headers={**second_token, **key}
    )
    assert mine.status_code == 201 and mine.get_json()["id"] != first.get_json()["id"]
    assert _count(app, Batch) == 2


@pytest.mark.parametrize(
    ("scopes", "with_user", "send_types", "status", "words"),
    [
        (("batches:read",), True, None, 403, "batches:write"),
        (("batches:write", "batches:read"), False, None, 403, "utente"),
        (("batches:write", "batches:read"), True, ["DDT"], 403, "FATTURA"),
    ],
)
def test_who_may_prepare(
    app, client, make_user, user_token, make_token, scopes, with_user, send_types, status, words
):
    """Scope, an acting user, and that user's send permission: each missing one refuses, nothing is made."""
    pusher = bearer(make_token())
    push_month(client, pusher, [("C1", "amm@c1.example", 0)])
    user = make_user("erp", roles=["manager"], send_types=send_types) if with_user else None
    answer = client.post("/api/v1/batches", json=MONTH, headers=bearer(user_token(user, scopes=scopes)))
    assert answer.status_code == status and words in str(answer.get_json())
    assert _count(app, Batch) == 0


def test_deliveries_above_the_clearance_never_show(app, client, make_user, user_token, make_token):
    """A confidential contact's delivery is neither listed nor counted for a token (or user) below its level."""
    pusher = bearer(make_token(clearance=3))
    push_month(client, pusher, [("P1", "amm@p1.example", 0), ("P2", "ceo@p2.example", 3)])
    low_user = make_user("erp", roles=["manager"], clearance=3)
    low = bearer(user_token(low_user, clearance=1))  # the token's lower level wins
    batch_id = client.post("/api/v1/batches", json=MONTH, headers=low).get_json()["id"]
    run_jobs(app)
    batch = client.get(f"/api/v1/batches/{batch_id}", headers=low).get_json()
    assert batch["counts"]["pending"] == 1
    listed = client.get(f"/api/v1/batches/{batch_id}/deliveries", headers=low).get_json()
    assert listed["total"] == 1 and "ceo@p2.example" not in str(listed)
    high = bearer(user_token(make_user("alto", roles=["manager"], clearance=3), clearance=3))
    assert client.get(f"/api/v1/batches/{batch_id}/deliveries", headers=high).get_json()["total"] == 2
    low_person = bearer(user_token(make_user("basso", roles=["manager"], clearance=0), clearance=3))
    assert client.get(f"/api/v1/batches/{batch_id}/deliveries", headers=low_person).get_json()["total"] == 1


def test_batch_of_types_the_user_may_not_send_is_closed(app, client, make_user, user_token, make_token):
    """A token whose user may not send the batch's types cannot read or start it (403), like the page."""
    pusher = bearer(make_token())
    push_month(client, pusher, [("C1", "amm@c1.example", 0)])
    owner = bearer(user_token(make_user("erp", roles=["manager"])))
    batch_id = client.post("/api/v1/batches", json=MONTH, headers=owner).get_json()["id"]
    other = bearer(user_token(make_user("ddt-only", roles=["manager"], send_types=["DDT"])))
    for method, url in (
        ("get", f"/api/v1/batches/{batch_id}"),
        ("get", f"/api/v1/batches/{batch_id}/deliveries"),
        ("post", f"/api/v1/batches/{batch_id}/send"),
    ):
        assert getattr(client, method)(url, headers=other).status_code == 403, url
    assert client.get("/api/v1/batches/99999", headers=owner).status_code == 404


@pytest.mark.parametrize(
    ("query", "field"), [({"status": "spedito"}, "status"), ({"since": "ieri"}, "since")]
)
def test_bad_delivery_filters_answer_400(client, make_user, user_token, make_token, query, field):
    """An unknown status or a since that is not a time names the parameter."""
    push_month(client, bearer(make_token()), [("C1", "amm@c1.example", 0)])
    headers = bearer(user_token(make_user("erp", roles=["manager"])))
    batch_id = client.post("/api/v1/batches", json=MONTH, headers=headers).get_json()["id"]
    answer = client.get(f"/api/v1/batches/{batch_id}/deliveries", query_string=query, headers=headers)
    assert answer.status_code == 400 and field in answer.get_json()["fields"]


def test_since_sees_bulk_state_changes(app, client, make_user, user_token, make_token):
    """updated_at moves with every UPDATE, bulk ones included (exclusion, start): since never misses them."""
    from mailer.models import User
    from mailer.services import approval

    push_month(client, bearer(make_token()), [("C1", "amm@c1.example", 0), ("C2", "amm@c2.example", 0)])
    erp = make_user("erp", roles=["manager"])
    headers = bearer(user_token(erp))
    batch_id = client.post("/api/v1/batches", json=MONTH, headers=headers).get_json()["id"]
    run_jobs(app)
    mark = utcnow()
    url = f"/api/v1/batches/{batch_id}/deliveries"
    assert client.get(url, query_string={"since": mark.isoformat()}, headers=headers).get_json()["total"] == 0
    with app.app_context():
        first = db.session.scalar(
            db.select(Delivery.id).where(Delivery.batch_id == batch_id).order_by(Delivery.id)
        )
        approval.set_excluded(db.session.get(Batch, batch_id), [first], True, db.session.get(User, erp))
    changed = client.get(url, query_string={"since": mark.isoformat()}, headers=headers).get_json()
    assert [(d["id"], d["status"]) for d in changed["items"]] == [(first, "excluded")]


def test_admin_gives_a_token_its_user(app, client, auth, make_user):
    """The batch scopes need the user the token acts as: refused without one, kept with one."""
    from mailer.models import ApiToken

    erp = make_user("erp", roles=["manager"])
    auth.login("admin")
    form = {"name": "Gestionale", "scopes": ["batches:read", "batches:write"], "clearance": "0"}
    refused = client.post("/api/v1/tokens/", data=form)
    assert refused.status_code == 422 and "per conto del quale" in refused.get_data(as_text=True)
    assert _count(app, ApiToken) == 0
    created = client.post("/api/v1/tokens/", data={**form, "user": str(erp)})
    assert created.status_code == 200 and "Token creato" in created.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(ApiToken.user_id)) == erp
