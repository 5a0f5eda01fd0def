"""The public unsubscribe page and opt-outs that apply at once, also to running batches."""

from __future__ import annotations

import pytest

from mailer.extensions import db
from mailer.models import Batch, Contact, Delivery
from mailer.services import campaigns
from tests.support.batches import make_account


def _token(app, contact_id):
    """The signed token of a contact."""
    with app.app_context():
        return campaigns.unsubscribe_token(contact_id)


def _opted_out(app, contact_id) -> bool:
    """True when the contact is opted out."""
    with app.app_context():
        value = db.session.get(Contact, contact_id).opted_out_at is not None
        db.session.remove()
        return value


def test_get_shows_a_button_and_changes_nothing(app, sales_world):
    """GET only shows the button (link scanners must not unsubscribe anyone); no login needed."""
    client = app.test_client()
    response = client.get(f"/campagne/disiscrizione/{_token(app, sales_world['anna'])}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Disiscrivimi" in page and "a***a@alfa.example" in page
    assert not _opted_out(app, sales_world["anna"])


def test_post_from_the_page_unsubscribes(app, sales_world):
    """The button's POST (with the page's CSRF token) unsubscribes and says so."""
    import re

    client = app.test_client()
    url = f"/campagne/disiscrizione/{_token(app, sales_world['anna'])}"
    page = client.get(url).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(url, data={"csrf_token": token}, csrf=False)  # what the browser sends
    assert response.status_code == 200 and "Disiscrizione registrata" in response.get_data(as_text=True)
    assert _opted_out(app, sales_world["anna"])
    with app.app_context():
        change = db.session.scalar(db.select(db.func.count()).select_from(db.text("contact_changes")))
        assert change == 1  # recorded in the contact's history


def test_page_post_without_csrf_token_is_refused(app, sales_world):
    """Only the RFC 8058 one-click POST is exempt from CSRF; a plain form POST needs the token."""
    client = app.test_client()
    response = client.post(f"/campagne/disiscrizione/{_token(app, sales_world['anna'])}", data={}, csrf=False)
    assert response.status_code == 400
    assert not _opted_out(app, sales_world["anna"])


def test_one_click_post_without_login_nor_cookies(app, sales_world):
    """A mail client's one-click POST carries no cookie and no CSRF token: it works."""
    client = app.test_client(use_cookies=False)
    response = client.post(
        f"/campagne/disiscrizione/{_token(app, sales_world['ivo'])}",
        data={"List-Unsubscribe": "One-Click"},
        csrf=False,
    )
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert _opted_out(app, sales_world["ivo"])
    # again: idempotent
    response = client.post(
        f"/campagne/disiscrizione/{_token(app, sales_world['ivo'])}",
        data={"List-Unsubscribe": "One-Click"},
        csrf=False,
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # signature altered
        lambda t: "eyJjIjoyfQ." + t.split(".")[1],  # payload changed to {"c":2} (Bruno), old signature
        lambda t: "nonsense",
        lambda t: t.split(".")[0],  # signature removed
    ],
)
def test_tampered_token_is_rejected(app, sales_world, mangle):
    """A token that was altered or made up names nobody: 404 and no change."""
    client = app.test_client(use_cookies=False)
    token = mangle(_token(app, sales_world["anna"]))
    assert client.get(f"/campagne/disiscrizione/{token}").status_code == 404
    assert (
        client.post(
            f"/campagne/disiscrizione/{token}", data={"List-Unsubscribe": "One-Click"}, csrf=False
        ).status_code
        == 404
    )
    with app.app_context():
        assert (
            db.session.scalar(db.select(db.func.count(Contact.id)).where(Contact.opted_out_at.is_not(None)))
            == 1
        )


def test_token_from_another_secret_is_rejected(app, sales_world):
    """Tokens are signed with the app secret: one made with another key does not work."""
    from itsdangerous import URLSafeSerializer

    forged = URLSafeSerializer("some-other-secret", salt="recapito.unsubscribe").dumps(
        {"c": sales_world["anna"]}
    )
    assert app.test_client().get(f"/campagne/disiscrizione/{forged}").status_code == 404


def test_opt_out_during_a_running_batch_stops_the_queued_delivery(app, sales_world, smtp_server):
    """A contact who unsubscribes while the campaign is sending is not mailed: the queued delivery
    becomes excluded with the reason, the sender skips it, the others go out."""
    from rq import Queue, SimpleWorker

    from mailer.queue import get_redis

    with app.app_context():
        account = make_account(smtp_server)
        batch = Batch(kind="campaign", name="Campagna", status="sending", type_codes=["GENERICO"])
        db.session.add(batch)
        db.session.flush()
        for name in ("anna", "ivo"):
            contact = db.session.get(Contact, sales_world[name])
            db.session.add(
                Delivery(
                    batch_id=batch.id,
                    party_id=contact.party_id,
                    contact_id=contact.id,
                    recipient_email=contact.email,
                    recipient_name=contact.name,
                    account_id=account.id,
                    status="queued",
                    subject="Listino",
                    body_text="x",
                    body_html="<p>x</p>",
                    extra_headers=campaigns.unsubscribe_headers(contact.id, "https://recapito.example"),
                )
            )
        db.session.commit()
        batch_id = batch.id
        db.session.remove()
    response = app.test_client(use_cookies=False).post(
        f"/campagne/disiscrizione/{_token(app, sales_world['anna'])}",
        data={"List-Unsubscribe": "One-Click"},
        csrf=False,
    )
    assert response.status_code == 200
    with app.app_context():
        rows = {
            d.recipient_email: (d.status, d.exclusion_reason)
            for d in db.session.scalars(db.select(Delivery).where(Delivery.batch_id == batch_id))
        }
        assert rows["anna@alfa.example"] == ("excluded", "Disiscritto dalle comunicazioni")
        assert rows["ivo@gamma.example"][0] == "queued"
        from mailer.services.sending import dispatch

        dispatch(batch_id)
        SimpleWorker([Queue(app.config["RQ_QUEUE"], connection=get_redis())], connection=get_redis()).work(
            burst=True
        )
        db.session.remove()
    assert smtp_server.accepted_to("ivo@gamma.example") == 1
    assert smtp_server.accepted_to("anna@alfa.example") == 0


def test_opted_out_delivery_cannot_be_included_again(app, sales_world, make_user, client, auth):
    """In review, an opt-out excluded delivery stays excluded even if someone tries to include it."""
    auth.login("laura", roles=["manager"], clearance=3, send_types=["GENERICO"])
    with app.app_context():
        batch = Batch(kind="campaign", name="Campagna", status="ready", type_codes=["GENERICO"])
        db.session.add(batch)
        db.session.flush()
        contact = db.session.get(Contact, sales_world["anna"])
        delivery = Delivery(
            batch_id=batch.id,
            party_id=contact.party_id,
            contact_id=contact.id,
            recipient_email=contact.email,
            status="pending",
            subject="s",
        )
        db.session.add(delivery)
        db.session.commit()
        campaigns.unsubscribe(contact)
        ids = batch.id, delivery.id
        db.session.remove()
    client.post(f"/invii/{ids[0]}/escludi", data={"delivery_id": [ids[1]], "action": "include"})
    with app.app_context():
        assert db.session.get(Delivery, ids[1]).status == "excluded"


def test_document_batches_are_not_touched_by_an_opt_out(app, sales_world):
    """Opt-out is from commercial mail: an invoice to the same contact still goes."""
    with app.app_context():
        batch = Batch(kind="documents", name="Fatture", status="sending", type_codes=["FATTURA"])
        db.session.add(batch)
        db.session.flush()
        contact = db.session.get(Contact, sales_world["anna"])
        delivery = Delivery(
            batch_id=batch.id,
            party_id=contact.party_id,
            contact_id=contact.id,
            recipient_email=contact.email,
            status="queued",
            subject="Fattura",
        )
        db.session.add(delivery)
        db.session.commit()
        campaigns.unsubscribe(contact)
        assert db.session.get(Delivery, delivery.id).status == "queued"
