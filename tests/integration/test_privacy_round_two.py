"""Issue 14, points 3-6: privacy after a change, unmatched receipts, campaign batches, the approve message.

The world of tests/support/security.py (built once for this module, on its own database): a party
with a public contact (level 0) and a confidential one (level 3), a sent documents batch with one
delivery to each and their PEC receipts, users of every role at clearance 0 ("low-…") and 3 ("w-…").
Tests that change it put it back.
"""

from __future__ import annotations

import io
import re
from contextlib import contextmanager

import pytest
from openpyxl import load_workbook

from mailer.extensions import db
from mailer.models import Batch, Campaign, Contact, Delivery, Receipt
from tests.support.security import CONFIDENTIAL_EMAIL, PUBLIC_EMAIL, _make_user

PUBLIC_NAME = "Paolo Pubblico"
PUBLIC_BITS = (PUBLIC_EMAIL, PUBLIC_NAME, "sec-public")
NOT_YOURS = "Non puoi approvare questo invio."


def assert_absent(text: str, bits, where: str) -> None:
    """None of the bits appear in the text."""
    for bit in bits:
        assert bit not in text, f"{bit!r} visibile in {where}"


@pytest.fixture(scope="module")
def low(sec_world):
    """Clients at clearance 0."""
    return {role: sec_world.login(f"low-{role}") for role in ("admin", "manager", "operator", "sales")}


@pytest.fixture(scope="module")
def high(sec_world):
    """Clients at clearance 3."""
    return {role: sec_world.login(f"w-{role}") for role in ("admin", "manager", "operator", "sales")}


@contextmanager
def contact_level(app, contact_id: int, level: int):
    """The contact at another privacy level for the block, then back to its own."""
    with app.app_context():
        contact = db.session.get(Contact, contact_id)
        before, contact.privacy_level = contact.privacy_level, level
        db.session.commit()
        db.session.remove()
    try:
        yield
    finally:
        with app.app_context():
            db.session.get(Contact, contact_id).privacy_level = before
            db.session.commit()
            db.session.remove()


def _campaign_batch(app, ids, creator: str, contacts: list[str], status: str = "ready") -> dict:
    """A campaign batch prepared by `creator` (a world user key), one pending delivery per contact key."""
    with app.app_context():
        batch = Batch(
            kind="campaign",
            name=f"Campagna di {creator}",
            status=status,
            type_codes=["GENERICO"],
            created_by_id=ids[creator],
        )
        db.session.add(batch)
        db.session.flush()
        campaign = Campaign(
            name=f"Campagna di {creator}",
            subject="Listino",
            body_html="<p>Listino</p>",
            batch_id=batch.id,
            created_by_id=ids[creator],
        )
        db.session.add(campaign)
        deliveries = {}
        for key in contacts:
            contact = db.session.get(Contact, ids[f"contact_{key}"])
            delivery = Delivery(
                batch_id=batch.id,
                party_id=contact.party_id,
                contact_id=contact.id,
                recipient_email=contact.email,
                recipient_name=contact.name,
                privacy_level=contact.privacy_level,
                account_id=ids["account"],
                status="pending",
                subject=f"Listino per {contact.name}",
                body_text=f"Gentile {contact.name}",
                body_html=f"<p>Gentile {contact.name}</p>",
            )
            db.session.add(delivery)
            db.session.flush()
            deliveries[key] = delivery.id
        db.session.commit()
        result = {"batch": batch.id, "campaign": campaign.id, "deliveries": deliveries}
        db.session.remove()
    return result


def _status(app, model, object_id):
    """The status column of a row, read fresh."""
    with app.app_context():
        value = db.session.get(model, object_id).status
        db.session.remove()
    return value


# ---------------------------------------------------------------- 14.3


@pytest.mark.parametrize("role", ["admin", "manager", "operator"])
def test_contact_made_confidential_disappears_from_earlier_batches(sec_world, low, high, role):
    """Raised from 0 to 3 after the batch was sent: pages, search, previews, .eml, exports, receipts,
    document page and dashboard counts no longer show it to a level-0 user; they do again when it is back
    at 0 (the level it was sent at)."""
    app, ids = sec_world.app, sec_world.ids
    batch, delivery = ids["batch"], ids["delivery_public"]
    client = low[role]
    assert PUBLIC_EMAIL in client.get(f"/invii/{batch}").get_data(as_text=True)
    urls = [
        f"/invii/{batch}/recapiti/{delivery}" + suffix
        for suffix in (
            "",
            "/corpo",
            f"/documenti/{ids['document']}.pdf",
            "/messaggio.eml",
            f"/ricevute/{ids['receipt_public']}.eml",
        )
    ]
    assert all(client.get(url).status_code == 200 for url in urls)
    with contact_level(app, ids["contact_public"], 3):
        for view in ("all", "sent", "accepted", "delivered"):
            assert_absent(
                client.get(f"/invii/{batch}?vista={view}").get_data(as_text=True), PUBLIC_BITS, view
            )
        searched = client.get(
            f"/invii/{batch}?q=pubblico", headers={"HX-Request": "true", "HX-Target": "delivery-table"}
        )
        assert_absent(searched.get_data(as_text=True), PUBLIC_BITS, "ricerca")
        for url in urls:
            response = client.get(url)
            assert response.status_code == 404, url
            assert_absent(response.get_data(as_text=True), PUBLIC_BITS, url)
        csv_text = client.get(f"/invii/{batch}/esiti.csv").data.decode("utf-8-sig")
        assert_absent(csv_text, PUBLIC_BITS, "esiti.csv")
        assert len(csv_text.strip().splitlines()) == 1  # the header only: both recipients are hidden now
        sheet = load_workbook(io.BytesIO(client.get(f"/invii/{batch}/esiti.xlsx").data)).active
        assert_absent(
            " ".join(str(c) for r in sheet.iter_rows(values_only=True) for c in r if c), PUBLIC_BITS, "xlsx"
        )
        for url in ("/ricevute/", f"/documenti/{ids['document']}", "/invii/", "/"):
            page = client.get(url).get_data(as_text=True)
            assert_absent(page, PUBLIC_BITS, url)
            assert f"/ricevute/{ids['receipt_public']}.eml" not in page
        assert f'id="ricevuta-{ids["receipt_public"]}"' not in client.get("/ricevute/?q=sec-public").get_data(
            as_text=True
        )
        dashboard = client.get("/").get_data(as_text=True)
        assert re.search(r"Invio di prova</a></td>\s*<td class=\"num\">0</td>", dashboard)
        # Who may see it still does.
        assert PUBLIC_EMAIL in high[role].get(f"/invii/{batch}").get_data(as_text=True)
        assert high[role].get(urls[3]).status_code == 200
    assert PUBLIC_EMAIL in client.get(f"/invii/{batch}").get_data(as_text=True)
    assert client.get(urls[0]).status_code == 200
    # Lowering a contact does not uncover what was prepared while it was confidential.
    with contact_level(app, ids["contact_confidential"], 0):
        assert CONFIDENTIAL_EMAIL not in client.get(f"/invii/{batch}").get_data(as_text=True)
        assert client.get(f"/invii/{batch}/recapiti/{ids['delivery_confidential']}").status_code == 404


def test_contact_made_confidential_hides_its_pending_campaign_delivery(sec_world, low, high):
    """In a campaign waiting for approval: not listed, not searchable, not excludable, and the low manager
    is told only that they cannot approve it."""
    app, ids = sec_world.app, sec_world.ids
    made = _campaign_batch(app, ids, "user_sales", ["public"])
    batch, delivery = made["batch"], made["deliveries"]["public"]
    manager = low["manager"]
    assert PUBLIC_EMAIL in manager.get(f"/invii/{batch}").get_data(as_text=True)
    with contact_level(app, ids["contact_public"], 3):
        page = manager.get(f"/invii/{batch}").get_data(as_text=True)
        assert_absent(page, PUBLIC_BITS, "campagna in attesa")
        assert NOT_YOURS in page and "riservatezza" not in page
        searched = manager.get(
            f"/invii/{batch}?q=paolo", headers={"HX-Request": "true", "HX-Target": "delivery-table"}
        )
        assert_absent(searched.get_data(as_text=True), PUBLIC_BITS, "ricerca")
        assert manager.get(f"/invii/{batch}/recapiti/{delivery}").status_code == 404
        response = manager.post(
            f"/invii/{batch}/escludi",
            data={"delivery_id": [delivery], "action": "exclude"},
            follow_redirects=True,
        )
        assert "0 destinatari esclusi" in response.get_data(as_text=True)
        assert _status(app, Delivery, delivery) == "pending"
        response = manager.post(f"/invii/{batch}/approva", data={"reviewed": "x"}, follow_redirects=True)
        text = response.get_data(as_text=True)
        assert NOT_YOURS in text and "riservatezza" not in text and "destinatari oltre" not in text
        assert _status(app, Batch, batch) == "ready"
        assert PUBLIC_EMAIL in high["manager"].get(f"/invii/{batch}").get_data(as_text=True)


def test_deleted_contact_keeps_the_level_it_had_last(sec_world, low):
    """Deleting a contact made confidential does not bring its deliveries back into view."""
    from mailer.models import User
    from mailer.services.contacts import delete_contact

    app, ids = sec_world.app, sec_world.ids
    with app.app_context():
        contact = Contact(
            party_id=ids["party"], name="Dora Dimessa", email="dora.dimessa@acme.example", privacy_level=0
        )
        db.session.add(contact)
        db.session.flush()
        ids["contact_dora"] = contact.id
        db.session.commit()
        db.session.remove()
    made = _campaign_batch(app, ids, "user_manager", ["dora"], status="done")
    client = low["manager"]
    assert "dora.dimessa" in client.get(f"/invii/{made['batch']}").get_data(as_text=True)
    with app.app_context():
        contact = db.session.get(Contact, ids["contact_dora"])
        contact.privacy_level = 3
        delete_contact(contact, db.session.get(User, ids["user_admin"]))
        db.session.commit()
        assert db.session.get(Delivery, made["deliveries"]["dora"]).contact_id is None
        db.session.remove()
    page = client.get(f"/invii/{made['batch']}").get_data(as_text=True)
    assert "dora.dimessa" not in page and "Dora Dimessa" not in page
    assert client.get(f"/invii/{made['batch']}/recapiti/{made['deliveries']['dora']}").status_code == 404


# ---------------------------------------------------------------- 14.4


@pytest.fixture(scope="module")
def unmatched(sec_world):
    """A bounce about a confidential address that matches no delivery, and a clearance-2 operator."""
    from mailer.services.blobs import store_blob

    app, ids = sec_world.app, sec_world.ids
    raw = (
        f"From: MAILER-DAEMON@mx.acme.example\r\nTo: fatture@azienda.example\r\n"
        f"Subject: Undelivered Mail Returned to Sender: {CONFIDENTIAL_EMAIL}\r\n\r\n"
        f"<{CONFIDENTIAL_EMAIL}>: host mx.acme.example said: 550 5.1.1 user unknown\r\n"
    ).encode()
    with app.app_context():
        receipt = Receipt(
            delivery_id=None,
            account_id=ids["account"],
            source="file",
            kind="bounce",
            receipt_type="permanent",
            outcome="unmatched",
            referenced_message_id="perso-1@altrove.example",
            message_id="rimbalzo-77@mx.acme.example",
            sender="MAILER-DAEMON@mx.acme.example",
            subject=f"Undelivered Mail Returned to Sender: {CONFIDENTIAL_EMAIL}",
            reason=f"550 5.1.1 <{CONFIDENTIAL_EMAIL}>: user unknown",
            notes=f"Nessun recapito per {CONFIDENTIAL_EMAIL}",
            raw_sha256=store_blob(raw, "message/rfc822"),
            size_bytes=len(raw),
        )
        db.session.add(receipt)
        db.session.flush()
        ids["receipt_unmatched"] = receipt.id
        ids["mid_operator"] = _make_user("mid-operator", ["operator"], clearance=2)
        db.session.commit()
        db.session.remove()
    return ids["receipt_unmatched"]


@pytest.mark.parametrize("who", ["low-operator", "low-manager", "low-admin", "mid-operator"])
def test_unmatched_bounce_is_masked_below_the_highest_clearance(sec_world, unmatched, who):
    """Listed with its addresses masked, not found by what is masked, its .eml refused."""
    client = sec_world.login(who)
    page = client.get("/ricevute/").get_data(as_text=True)
    assert f'id="ricevuta-{unmatched}"' in page
    assert CONFIDENTIAL_EMAIL not in page and "riservato.segreto" not in page
    assert "r***o@acme.example" in page  # masked, not dropped: someone should still look at it
    assert f"/ricevute/{unmatched}.eml" not in page
    response = client.get(f"/ricevute/{unmatched}.eml")
    assert response.status_code == 404 and b"riservato.segreto" not in response.data
    for q in ("riservato", "segreto@acme", "perso-1"):
        found = client.get(f"/ricevute/?q={q}").get_data(as_text=True)
        assert f'id="ricevuta-{unmatched}"' not in found, q
    assert f'id="ricevuta-{unmatched}"' in client.get("/ricevute/?q=rimbalzo-77").get_data(as_text=True)
    fragment = client.get(
        "/ricevute/?outcome=unmatched", headers={"HX-Request": "true", "HX-Target": "receipt-results"}
    )
    assert CONFIDENTIAL_EMAIL not in fragment.get_data(as_text=True)


@pytest.mark.parametrize("role", ["operator", "manager", "admin"])
def test_unmatched_bounce_is_whole_for_the_highest_clearance(sec_world, high, unmatched, role):
    """Clearance 3 reads it as it arrived, finds it by the address and downloads the original."""
    page = high[role].get("/ricevute/?q=riservato").get_data(as_text=True)
    assert f'id="ricevuta-{unmatched}"' in page and CONFIDENTIAL_EMAIL in page
    assert f"/ricevute/{unmatched}.eml" in page
    response = high[role].get(f"/ricevute/{unmatched}.eml")
    assert response.status_code == 200 and CONFIDENTIAL_EMAIL.encode() in response.data


# ---------------------------------------------------------------- 14.5


def _batch_routes(app) -> list[tuple[str, str]]:
    """Every route of the batches blueprint about one batch: (rule, method)."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("batches.") and "batch_id" in rule.arguments:
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                routes.append((rule.rule, method))
    return routes


def _url(rule: str, values: dict) -> str:
    """A rule with its <converter:name> parts filled in."""
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: str(values[m.group(1)]), rule)


@pytest.fixture(scope="module")
def colleague_campaign(sec_world):
    """A campaign batch prepared by w-sales (sent, with a PEC receipt), and a second sales user at clearance 3."""
    app, ids = sec_world.app, sec_world.ids
    made = _campaign_batch(app, ids, "user_sales", ["public"], status="done")
    with app.app_context():
        ids["other_sales"] = _make_user("altro-sales", ["sales"], clearance=3)
        db.session.commit()
        db.session.remove()
    return made


def test_every_campaign_batch_route_refuses_another_sales_user(sec_world, colleague_campaign):
    """Page, progress, previews, .eml, exports, exclusion and every command: 403, and nothing changes."""
    app, ids = sec_world.app, sec_world.ids
    values = {
        "batch_id": colleague_campaign["batch"],
        "delivery_id": colleague_campaign["deliveries"]["public"],
        "document_id": ids["document"],
        "receipt_id": ids["receipt_public"],
        "party_id": ids["party"],
        "fmt": "csv",
    }
    other = sec_world.login("altro-sales")
    routes = _batch_routes(app)
    assert len(routes) >= 18, routes
    for rule, method in routes:
        url = _url(rule, values)
        data = {"delivery_id": [values["delivery_id"]], "action": "exclude", "reason": "no", "reviewed": "x"}
        response = other.get(url) if method == "GET" else other.post(url, data=data)
        assert response.status_code == 403, (method, url, response.status_code)
        assert_absent(response.get_data(as_text=True), (*PUBLIC_BITS, "Campagna di user_sales"), url)
    assert other.get(f"/invii/{values['batch_id']}/esiti.xlsx").status_code == 403
    assert _status(app, Delivery, values["delivery_id"]) == "pending"
    assert _status(app, Batch, values["batch_id"]) == "done"
    campaigns = other.get("/campagne/").get_data(as_text=True)
    assert "Campagna di user_sales" not in campaigns


@pytest.mark.parametrize(
    "who, expected",
    [("w-sales", 200), ("w-manager", 200), ("w-admin", 200), ("w-operator", 403), ("altro-sales", 403)],
)
def test_campaign_batch_is_for_who_prepared_it_managers_and_administrators(
    sec_world, colleague_campaign, who, expected
):
    """The page, the preview and the results export follow the same rule; so does the campaigns list."""
    batch, delivery = colleague_campaign["batch"], colleague_campaign["deliveries"]["public"]
    client = sec_world.login(who)
    for url in (f"/invii/{batch}", f"/invii/{batch}/recapiti/{delivery}", f"/invii/{batch}/esiti.csv"):
        assert client.get(url).status_code == expected, url
    if who != "w-operator":
        listed = "Campagna di user_sales" in client.get("/campagne/").get_data(as_text=True)
        assert listed == (expected == 200)


# ---------------------------------------------------------------- 14.6


def test_approve_message_does_not_reveal_hidden_recipients(sec_world, low, high):
    """A batch with a confidential pending recipient: the low manager's page, POST and CLI say only that
    they cannot approve it (no «riservatezza», no counts of what they cannot see)."""
    app, ids = sec_world.app, sec_world.ids
    with app.app_context():
        batch = Batch(
            kind="documents",
            name="Da approvare",
            status="ready",
            type_codes=["FATTURA"],
            created_by_id=ids["user_operator"],
        )
        db.session.add(batch)
        db.session.flush()
        for key in ("public", "confidential"):
            contact = db.session.get(Contact, ids[f"contact_{key}"])
            db.session.add(
                Delivery(
                    batch_id=batch.id,
                    party_id=contact.party_id,
                    contact_id=contact.id,
                    recipient_email=contact.email,
                    recipient_name=contact.name,
                    privacy_level=contact.privacy_level,
                    account_id=ids["account"],
                    status="pending",
                    exclusion_reason="troppo grande" if key == "confidential" else "",
                    subject="Fattura",
                    body_text="x",
                )
            )
        db.session.commit()
        batch_id = batch.id
        db.session.remove()
    manager = low["manager"]
    page = manager.get(f"/invii/{batch_id}").get_data(as_text=True)
    assert NOT_YOURS in page and "riservatezza" not in page and "oltre il limite" not in page
    text = manager.post(f"/invii/{batch_id}/approva", data={"reviewed": "x"}, follow_redirects=True).get_data(
        as_text=True
    )
    assert NOT_YOURS in text
    for leak in ("riservatezza", "destinatari oltre", "oltre il limite", "chi può vederli"):
        assert leak not in text, leak
    assert _status(app, Batch, batch_id) == "ready"
    result = app.test_cli_runner().invoke(args=["batch", "approve", str(batch_id), "--user", "low-manager"])
    assert result.exit_code != 0 and NOT_YOURS in result.output and "riservatezza" not in result.output
    # The manager who sees everyone is told what really blocks it.
    assert "oltre il limite" in high["manager"].get(f"/invii/{batch_id}").get_data(as_text=True)
