"""A recipient's request on the preferences page reaches the ERP as a signed webhook event."""

from __future__ import annotations

from mailer.extensions import db
from tests.support.batches import run_jobs
from tests.support.preferences import requests_of
from tests.support.webhooks import make_endpoint


def test_a_submitted_request_is_sent_to_the_erp_signed(app, prefs_world, receiver):
    """«Non inviarmi più gli insoluti»: one contact.preference_submitted event, signed, with the party's ERP
    code and what was asked, to every endpoint that subscribed to it."""
    with app.app_context():
        make_endpoint(receiver.url, ["contact.preference_submitted"], clearance=3)
        make_endpoint(receiver.url, ["contact.preference_submitted"], clearance=0, description="ERP due")
        db.session.commit()
    client = app.test_client()
    response = client.post(prefs_world["link"], data={"action": "stop", "type_code": "INSOLUTO"})
    assert response.status_code == 303
    assert requests_of(app) == [("stop", "pending", "amm@alfa.example")]
    with app.app_context():
        run_jobs(app)
    events = receiver.events("contact.preference_submitted")
    assert len(events) == 2 and all(e.valid for e in events)
    data = sorted((e.event["data"] for e in events), key=lambda d: "contact_email" in d)
    assert {d["kind"] for d in data} == {"stop"} and {d["type_code"] for d in data} == {"INSOLUTO"}
    assert {d["party_code"] for d in data} == {data[1]["party_code"]} and data[1]["party_code"]
    assert data[1]["contact_email"] == "amm@alfa.example"


def test_a_refused_submission_emits_nothing(app, prefs_world, receiver):
    """Bad input writes nothing: no request and no event."""
    with app.app_context():
        make_endpoint(receiver.url, ["contact.preference_submitted"])
        db.session.commit()
    client = app.test_client()
    response = client.post(
        prefs_world["link"], data={"action": "redirect", "type_code": "INSOLUTO", "new_email": "x"}
    )
    assert response.status_code == 422
    with app.app_context():
        run_jobs(app)
    assert receiver.events() == [] and requests_of(app) == []
