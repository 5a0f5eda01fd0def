"""Amministrazione › Webhook: only administrators; creating shows the secret once and stores it encrypted;
bad input gets Italian messages per field and writes nothing; rotation, test event, re-send; CSRF."""

from __future__ import annotations

import re

import pytest

from mailer.extensions import db
from mailer.models import AuditEvent, User, WebhookEndpoint, WebhookMessage
from mailer.services.crypto import decrypt_secret
from tests.support.batches import run_jobs
from tests.support.webhooks import SECRET, make_endpoint, verify

SECRET_RE = re.compile(r"whsec_[A-Za-z0-9+/=]{40,}")


def _endpoint_id(app) -> int:
    """A registered endpoint (made directly), for the pages of one endpoint."""
    with app.app_context():
        return make_endpoint("https://erp.example/hook", ["delivery.sent"]).id


@pytest.mark.parametrize("role", ["manager", "operator", "sales"])
def test_only_administrators_reach_the_pages(app, client, auth, role):
    """Every webhook page and action answers 403 to the other roles, and changes nothing."""
    endpoint_id = _endpoint_id(app)
    auth.login(role)
    base = f"/admin/webhook/{endpoint_id}"
    assert client.get("/admin/webhook").status_code == 403
    assert client.get(base).status_code == 403
    for url in (base, f"{base}/segreto", f"{base}/prova", "/admin/webhook/messaggi/1/reinvia"):
        assert client.post(url, data={"url": "https://x.example"}).status_code == 403
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(WebhookMessage.id))) == 0
        assert db.session.get(WebhookEndpoint, endpoint_id).url == "https://erp.example/hook"


def test_anonymous_is_sent_to_the_login(client):
    """No session: the login form."""
    response = client.get("/admin/webhook")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_create_shows_the_secret_once_and_keeps_it_encrypted(app, client, auth):
    """The secret appears on the answer to the creation only; the database holds it encrypted."""
    auth.login("admin")
    with app.app_context():
        owner = db.session.scalar(db.select(User).where(User.username == "admin")).id
    page = client.get("/admin/webhook").get_data(as_text=True)
    assert "Nessun indirizzo registrato" in page
    response = client.post(
        "/admin/webhook",
        data={
            "url": "https://erp.example/recapito",
            "description": "Gestionale sede",
            "events": ["delivery.sent", "contact.opted_out"],
            "owner_id": str(owner),
            "active": "1",
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    [secret] = SECRET_RE.findall(html)
    with app.app_context():
        endpoint = db.session.scalars(db.select(WebhookEndpoint)).unique().one()
        assert endpoint.events == "delivery.sent,contact.opted_out" and endpoint.active
        assert secret not in endpoint.secret_encrypted and decrypt_secret(endpoint.secret_encrypted) == secret
        assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "webhook.create"))
        endpoint_id = endpoint.id
    for url in ("/admin/webhook", f"/admin/webhook/{endpoint_id}"):
        assert secret not in client.get(url).get_data(as_text=True)


@pytest.mark.parametrize(
    "form, field_message",
    [
        ({"url": "http://erp.example/x"}, "Serve un indirizzo https://"),
        ({"url": ""}, "Indica l&#39;indirizzo"),
        ({"events": []}, "Scegli almeno un evento"),
        ({"events": ["delivery.sent", "tutto"]}, "Scegli almeno un evento"),
        ({"owner_id": "99999"}, "Scegli l&#39;utente"),
        ({"description": "x" * 201}, "al massimo 200 caratteri"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_nothing_written(app, client, auth, form, field_message):
    """422 with the field's Italian message; no endpoint created."""
    auth.login("admin")
    with app.app_context():
        owner = db.session.scalar(db.select(User).where(User.username == "admin")).id
    data = {"url": "https://erp.example/x", "events": ["delivery.sent"], "owner_id": str(owner), **form}
    response = client.post("/admin/webhook", data=data)
    assert response.status_code == 422 and field_message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(WebhookEndpoint.id))) == 0


def test_posts_without_csrf_are_refused(app, client, auth):
    """No CSRF token: 400, nothing written."""
    endpoint_id = _endpoint_id(app)
    auth.login("admin")
    assert client.post(f"/admin/webhook/{endpoint_id}/prova", csrf=False).status_code == 400
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(WebhookMessage.id))) == 0


def test_test_event_resend_and_rotation(app, client, auth, receiver):
    """«Invia evento di prova» reaches the receiver signed; the page lists the attempt; «Invia di nuovo»
    sends the same id again; after «Cambia segreto» the old secret no longer verifies, the new one does."""
    with app.app_context():
        endpoint_id = make_endpoint(receiver.url, ["delivery.sent"]).id
    auth.login("admin")
    base = f"/admin/webhook/{endpoint_id}"
    assert client.post(f"{base}/prova").status_code == 302
    run_jobs(app)
    [first] = receiver.events("webhook.test")
    assert first.valid and first.event["data"]["endpoint_id"] == endpoint_id
    page = client.get(base).get_data(as_text=True)
    assert "webhook.test" in page and "HTTP 200" in page and "consegnato" in page
    with app.app_context():
        message_id = db.session.scalars(db.select(WebhookMessage)).unique().one().id
    assert client.post(f"/admin/webhook/messaggi/{message_id}/reinvia").status_code == 302
    run_jobs(app)
    again = receiver.events("webhook.test")[-1]
    assert len(receiver.events()) == 2 and again.headers["webhook-id"] == first.headers["webhook-id"]
    rotated = client.post(f"{base}/segreto").get_data(as_text=True)
    [secret] = SECRET_RE.findall(rotated)
    assert secret != SECRET
    receiver.secret = secret
    client.post(f"{base}/prova")
    run_jobs(app)
    latest = receiver.events()[-1]
    assert latest.valid and not verify(SECRET, latest.headers, latest.body)


def test_editing_an_endpoint_saves_and_validates(app, client, auth):
    """Save a new description and events; a bad address is refused and leaves the row as it was."""
    endpoint_id = _endpoint_id(app)
    auth.login("admin")
    with app.app_context():
        owner = db.session.get(WebhookEndpoint, endpoint_id).owner_id
    base = f"/admin/webhook/{endpoint_id}"
    ok = {
        "url": "https://erp.example/nuovo",
        "description": "Nuovo",
        "events": ["pec.delivered"],
        "owner_id": str(owner),
    }
    assert client.post(base, data=ok).status_code == 302
    bad = client.post(base, data={**ok, "url": "http://erp.example/x", "description": "Mai"})
    assert bad.status_code == 422 and "Serve un indirizzo https://" in bad.get_data(as_text=True)
    with app.app_context():
        endpoint = db.session.get(WebhookEndpoint, endpoint_id)
        assert (endpoint.url, endpoint.description, endpoint.events, endpoint.active) == (
            "https://erp.example/nuovo",
            "Nuovo",
            "pec.delivered",
            False,
        )


def test_missing_endpoint_and_message_answer_404(client, auth):
    """Unknown ids: 404."""
    auth.login("admin")
    assert client.get("/admin/webhook/9999").status_code == 404
    assert client.post("/admin/webhook/messaggi/9999/reinvia").status_code == 404
