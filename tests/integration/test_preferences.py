"""The «Gestisci le tue preferenze» link and public page: the link in a real message, bad links, rate limit,
immediate opt-out, input checks, what the page reveals."""

from __future__ import annotations

import time
from datetime import date

import pytest

from mailer.extensions import db
from mailer.models import AuditEvent, Batch, Contact, Delivery, DocumentType
from tests.support.batches import make_account, make_document, run_jobs
from tests.support.preferences import LINK_RE, contact_types, history_count, requests_of


def _send_invoice(app, smtp_server, prefs_world) -> Delivery:
    """Prepare, approve and send ALFA's invoice through the real SMTP server on loopback."""
    from mailer.services import preparation, sending
    from mailer.services.users import create_user

    with app.app_context():
        make_account(smtp_server, is_default=True)
        party = db.session.get(Contact, prefs_world["amm"]).party
        make_document(party, "FATTURA", "F-77", day=date(2026, 11, 10), with_pdf=True)
        user = create_user(
            "preparatore", "password-lunga-1", roles=["operator"], clearance=3, send_types=["FATTURA"]
        )
        db.session.commit()
        selection = preparation.Selection(
            type_codes=["FATTURA"], date_from=date(2026, 11, 1), date_to=date(2026, 11, 30)
        )
        batch = preparation.run_preparation(preparation.create_batch(selection, user, enqueue=False).id)
        assert batch.status == "ready"
        batch.status = "approved"
        db.session.commit()
        sending.start_sending(db.session.get(Batch, batch.id))
        batch_id = batch.id
    run_jobs(app)
    with app.app_context():
        rows = db.session.scalars(db.select(Delivery).where(Delivery.batch_id == batch_id)).all()
        db.session.expunge_all()
        return {d.recipient_email: d for d in rows}


def _text_of(message) -> str:
    """The text/plain and text/html parts of a captured message, decoded."""
    return "\n".join(
        part.get_content()
        for part in message.walk()
        if part.get_content_type() in ("text/plain", "text/html")
    )


def test_the_link_in_a_real_sent_message_opens_the_page(app, smtp_server, prefs_world):
    """Each recipient's message carries its own link; it opens, without login, the page of that address only."""
    deliveries = _send_invoice(app, smtp_server, prefs_world)
    assert {e: d.status for e, d in deliveries.items()} == {
        "amm@alfa.example": "sent",
        "ceo@alfa.example": "sent",
    }
    captured = [m for m in smtp_server.messages if "amm@alfa.example" in m.rcpt_tos]
    assert len(captured) == 1
    body = _text_of(captured[0].message)
    assert "Gestisci le tue preferenze" in body
    links = set(LINK_RE.findall(body))
    assert len(links) == 1
    path = "/preferenze/" + links.pop().rsplit("/preferenze/", 1)[1]
    response = app.test_client().get(path)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Le tue preferenze" in page and "a***m@alfa.example" in page and "ALFA S.p.A." in page
    assert "Fattura" in page
    # Nothing about the other contact of the party, nor the document that was sent.
    for secret in ("ceo@alfa.example", "Carla", "F-77", "c***o@alfa.example"):
        assert secret not in page
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    # The confidential contact got a link of its own, to its own address.
    other = [m for m in smtp_server.messages if "ceo@alfa.example" in m.rcpt_tos]
    assert path not in _text_of(other[0].message)


def test_a_type_set_without_the_link_sends_none(app, smtp_server, prefs_world):
    """The per-type setting: off, the message has no preferences link."""
    with app.app_context():
        db.session.get(DocumentType, "FATTURA").preferences_link = False
        db.session.commit()
    _send_invoice(app, smtp_server, prefs_world)
    assert smtp_server.messages
    for message in smtp_server.messages:
        assert "/preferenze/" not in _text_of(message.message)


def _other_purpose(app, world):
    """An unsubscribe token: genuine, signed with the same secret, but made for another page."""
    from mailer.services.campaigns import unsubscribe_token

    with app.app_context():
        return "/preferenze/" + unsubscribe_token(world["amm"])


def _expired(app, world, monkeypatch):
    """A genuine link made 61 days ago (the limit is 60)."""
    from itsdangerous.timed import TimestampSigner

    from mailer.services.preferences import preferences_token

    then = int(time.time()) - 61 * 86400
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: then)
    with app.app_context():
        token = preferences_token(world["alfa"], "amm@alfa.example")
    monkeypatch.undo()
    return "/preferenze/" + token


def _moved(app, world):
    """The link of an address the contact no longer has."""
    with app.app_context():
        db.session.get(Contact, world["amm"]).email = "nuovo@alfa.example"
        db.session.commit()
    return world["link"]


@pytest.mark.parametrize(
    "make,status,title",
    [
        # a character inside the signature (the last base64 character carries ignored bits: changing it
        # can leave the signature as it was)
        (
            lambda app, w, mp: w["link"][:-6] + ("A" if w["link"][-6] != "A" else "B") + w["link"][-5:],
            404,
            "Link non valido",
        ),
        (lambda app, w, mp: w["link"].rsplit(".", 1)[0], 404, "Link non valido"),
        (lambda app, w, mp: "/preferenze/nonsense", 404, "Link non valido"),
        (lambda app, w, mp: _other_purpose(app, w), 404, "Link non valido"),
        (lambda app, w, mp: _moved(app, w), 404, "Link non valido"),
        (lambda app, w, mp: _expired(app, w, mp), 410, "Link scaduto"),
    ],
    ids=[
        "signature-altered",
        "signature-removed",
        "made-up",
        "unsubscribe-token",
        "address-changed",
        "expired",
    ],
)
def test_bad_links_show_an_italian_page_and_reveal_nothing(
    app, prefs_world, monkeypatch, make, status, title
):
    """Altered, made-up, other-purpose, stale or expired links: an Italian page with no data; a POST changes nothing."""
    path = make(app, prefs_world, monkeypatch)
    client = app.test_client()
    response = client.get(path)
    page = response.get_data(as_text=True)
    assert response.status_code == status and title in page
    for secret in ("alfa.example", "ALFA", "Fattura", "Amministrazione"):
        assert secret not in page
    response = client.post(path, data={"action": "opt_out"})
    assert response.status_code == status
    response = client.post(path, data={"action": "stop", "type_code": "FATTURA"})
    assert response.status_code == status
    with app.app_context():
        assert (
            db.session.scalar(db.select(db.func.count(Contact.id)).where(Contact.opted_out_at.is_not(None)))
            == 0
        )
    assert requests_of(app) == []


def test_a_preferences_link_does_not_unsubscribe(app, prefs_world):
    """Single purpose the other way round: the preferences token on the unsubscribe page names nobody."""
    token = prefs_world["link"].rsplit("/", 1)[1]
    assert app.test_client().get(f"/campagne/disiscrizione/{token}").status_code == 404


def test_a_link_is_for_its_party_only(app, prefs_world):
    """The same address at another party: the page of one shows nothing of the other, and acts on it alone."""
    from mailer.services.preferences import preferences_token

    with app.app_context():
        db.session.get(Contact, prefs_world["beta_amm"]).email = "amm@alfa.example"
        db.session.commit()
        link_beta = "/preferenze/" + preferences_token(prefs_world["beta"], "amm@alfa.example")
    client = app.test_client()
    page = client.get(link_beta).get_data(as_text=True)
    assert "BETA S.p.A." in page and "ALFA" not in page
    assert "Documento di trasporto" in page or "DDT" in page.upper()
    assert "Fattura" not in page
    # Stopping FATTURA through BETA's link is refused: BETA's address does not receive it.
    response = client.post(link_beta, data={"action": "stop", "type_code": "FATTURA"})
    assert response.status_code == 422 and "Scegli uno dei documenti che ricevi" in response.get_data(
        as_text=True
    )
    assert requests_of(app) == []


def test_rate_limit_per_address_and_per_link(app, prefs_world):
    """Past the hits per network address the page answers 429 (also for made-up links); past the changes per
    link, a POST is refused before anything is recorded."""
    app.config["PREFERENCES_HITS_PER_ADDRESS"] = 4
    client = app.test_client()
    for _ in range(3):
        assert client.get(prefs_world["link"]).status_code == 200
    assert client.get("/preferenze/inventato").status_code == 404
    response = client.get(prefs_world["link"])
    assert response.status_code == 429 and "Troppe richieste" in response.get_data(as_text=True)
    assert "alfa" not in response.get_data(as_text=True).lower()
    # Another address is not affected.
    other = app.test_client()
    assert other.get(prefs_world["link"], environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 200

    app.config["PREFERENCES_HITS_PER_ADDRESS"] = 1000
    app.config["PREFERENCES_SUBMITS_PER_LINK"] = 2
    notes = ["prima", "seconda", "terza"]
    answers = [
        client.post(
            prefs_world["link"],
            data={
                "action": "colleague",
                "new_name": f"Collega {n}",
                "new_email": f"{n}@alfa.example",
                "type_codes": "FATTURA",
            },
            environ_base={"REMOTE_ADDR": "10.0.0.7"},
        ).status_code
        for n in notes
    ]
    assert answers == [303, 303, 429]
    assert [r[0] for r in requests_of(app)] == ["colleague", "colleague"]


def test_opt_out_applies_at_once_without_a_request(app, prefs_world):
    """The promotions opt-out is immediate (as the unsubscribe), in the contact's history; no request to approve."""
    client = app.test_client()
    page = client.get(prefs_world["link"]).get_data(as_text=True)
    assert "Non voglio più ricevere promozioni" in page
    response = client.post(prefs_world["link"], data={"action": "opt_out"})
    assert response.status_code == 303
    page = client.get(prefs_world["link"]).get_data(as_text=True)
    assert (
        "Non ricevi comunicazioni promozionali" in page and "Non voglio più ricevere promozioni" not in page
    )
    with app.app_context():
        assert db.session.get(Contact, prefs_world["amm"]).opted_out_at is not None
        assert (
            db.session.get(Contact, prefs_world["ceo"]).opted_out_at is None
        )  # the other address: untouched
        events = db.session.scalars(
            db.select(AuditEvent.details).where(AuditEvent.action == "contact.unsubscribe")
        ).all()
        assert [e["via"] for e in events] == ["preferenze"]
    assert history_count(app) == 1
    assert requests_of(app) == []
    # Business documents still come.
    assert contact_types(app, prefs_world["amm"]) == {"FATTURA", "INSOLUTO"}


def test_post_without_csrf_token_changes_nothing(app, prefs_world):
    """The page's forms carry a CSRF token; without it, a 400 and nothing happens."""
    client = app.test_client()
    response = client.post(prefs_world["link"], data={"action": "opt_out"}, csrf=False)
    assert response.status_code == 400
    with app.app_context():
        assert db.session.get(Contact, prefs_world["amm"]).opted_out_at is None


@pytest.mark.parametrize(
    "form,field,message",
    [
        (
            {"action": "colleague", "new_name": "Mario", "new_email": "mario@", "type_codes": "FATTURA"},
            "new_email",
            "manca il dominio",
        ),
        (
            {
                "action": "colleague",
                "new_name": "Mario",
                "new_email": "mario rossi@alfa.example",
                "type_codes": "FATTURA",
            },
            "new_email",
            "contiene spazi",
        ),
        (
            {
                "action": "colleague",
                "new_name": "",
                "new_email": "mario@alfa.example",
                "type_codes": "FATTURA",
            },
            "new_name",
            "Scrivi il nome del collega",
        ),
        (
            {"action": "colleague", "new_name": "Mario", "new_email": "mario@alfa.example"},
            "type_codes",
            "Scegli almeno uno",
        ),
        (
            {
                "action": "colleague",
                "new_name": "Mario",
                "new_email": "mario@alfa.example",
                "type_codes": "DDT",
            },
            "type_codes",
            "Scegli almeno uno",
        ),
        (
            {"action": "redirect", "type_code": "FATTURA", "new_email": ""},
            "new_email",
            "Scrivi l&#39;indirizzo e-mail",
        ),
        (
            {"action": "redirect", "type_code": "FATTURA", "new_email": "AMM@alfa.example"},
            "new_email",
            "ricevi già",
        ),
        ({"action": "stop", "type_code": "DDT"}, "type_code", "Scegli uno dei documenti che ricevi"),
        ({"action": "boh"}, "kind", "Richiesta non riconosciuta"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(app, prefs_world, form, field, message):
    """Each wrong value: 422 with the Italian message next to its field; no request recorded."""
    client = app.test_client()
    response = client.post(prefs_world["link"], data=form)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and message in page
    if field != "kind":
        assert 'class="field-error">' in page
        assert 'aria-invalid="true"' in page or field in ("type_codes", "type_code")
    assert requests_of(app) == []


def test_the_same_request_twice_is_recorded_once(app, prefs_world):
    """Pressing the button twice does not fill the queue with copies."""
    client = app.test_client()
    for _ in range(2):
        response = client.post(prefs_world["link"], data={"action": "stop", "type_code": "INSOLUTO"})
        assert response.status_code == 303
    page = client.get(prefs_world["link"]).get_data(as_text=True)
    assert "già stata registrata" in page or "Richieste che stiamo esaminando" in page
    assert requests_of(app) == [("stop", "pending", "amm@alfa.example")]


def test_test_sends_carry_no_working_preferences_link(app, prefs_world):
    """A «prova» re-addressed to a user: the link's token is replaced, the page answers «Link non valido»."""
    from mailer.services.preferences import (
        NEUTRAL_TOKEN,
        add_link,
        neutral_preferences_links,
        preferences_url,
    )

    with app.app_context():
        url = preferences_url(prefs_world["alfa"], "amm@alfa.example", "https://recapito.example")
        html, text = add_link("<p>Ciao</p>", "Ciao", url)
        assert url in html and url in text
        html, text = neutral_preferences_links(html), neutral_preferences_links(text)
    assert url not in html and url not in text and NEUTRAL_TOKEN in html and NEUTRAL_TOKEN in text
    assert app.test_client().get(f"/preferenze/{NEUTRAL_TOKEN}").status_code == 404
