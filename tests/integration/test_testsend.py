"""«Invia una prova a me» (issue 15.5): the delivery's exact message to the user's own address, through the
account's SMTP (a real loopback server), audited, never counted as sent; from the batch review, the campaign
review and the template editor."""

from __future__ import annotations

import email
import email.policy
import re

import pytest

from mailer.extensions import db
from mailer.models import AuditEvent, Batch, Contact, Delivery, Document, MailAccount, User
from mailer.services import sending
from mailer.services.test_send import NEUTRAL_TOKEN
from mailer.transport.message import build_message
from tests.support.batches import make_account, make_sending_batch, run_jobs
from tests.support.campaigns import PDF_BYTES, make_filter, make_generic_document

ME = "tester@azienda.example"
HX = {"HX-Request": "true"}


def _set_email(app, username: str, address: str = ME) -> None:
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == username))
        user.email = address
        db.session.commit()
        db.session.remove()


def _snapshot(app, delivery_id: int) -> dict:
    """What a test send must not touch: the delivery's sending state and its documents' sent state."""
    with app.app_context():
        d = db.session.get(Delivery, delivery_id)
        state = {
            k: getattr(d, k)
            for k in (
                "status",
                "attempts",
                "message_id",
                "message_date",
                "message_sha256",
                "sent_at",
                "smtp_code",
                "smtp_reason",
                "claimed_by",
            )
        }
        state["documents"] = [(doc.id, doc.sent_at) for doc in d.documents]
        db.session.remove()
        return state


def _expected(app, delivery_id: int) -> email.message.EmailMessage:
    """The delivery's message as the sender builds it (its own builder, its own inputs)."""
    with app.app_context():
        d = db.session.get(Delivery, delivery_id)
        data = build_message(sending.message_spec(d, db.session.get(MailAccount, d.account_id)))
        db.session.remove()
    return email.message_from_bytes(data, policy=email.policy.default)


def _parts(message) -> dict:
    """Bodies and attachments of a message, as a recipient reads them."""
    html = message.get_body(("html",))
    text = message.get_body(("plain",))
    return {
        "html": html.get_content() if html else None,
        "text": text.get_content() if text else None,
        "attachments": [
            (p.get_filename(), p.get_content_type(), p.get_content()) for p in message.iter_attachments()
        ],
    }


def _audits(app, action="delivery.test_send") -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == action)).all()
        out = [(r.username, r.object_type, r.object_id, dict(r.details)) for r in rows]
        db.session.remove()
        return out


@pytest.fixture
def world(app, smtp_server):
    """A batch waiting for approval with three invoices (PDF attached), a Cc copy, a VERP account."""
    with app.app_context():
        account = make_account(smtp_server, verp=True)
        batch = make_sending_batch(
            account,
            ["rossi@cliente.example", "bianchi@cliente.example", "verdi@cliente.example"],
            status="ready",
        )
        deliveries = db.session.scalars(
            db.select(Delivery).where(Delivery.batch_id == batch.id).order_by(Delivery.id)
        ).all()
        deliveries[0].cc = "copia@azienda.example"
        deliveries[0].reply_to = "amministrazione@azienda.example"
        deliveries[2].privacy_level = 3
        db.session.commit()
        ids = {"batch": batch.id, "account": account.id, "d": [d.id for d in deliveries]}
        db.session.remove()
    return ids


def test_batch_review_sends_the_exact_message_to_me(app, client, auth, world, smtp_server):
    """Same account, bodies, attachments, From and Reply-To; only To (and envelope), Subject and Message-ID differ;
    no Cc copy, no VERP return path; the delivery and its documents stay as they were; audited."""
    auth.login("mario", roles=["operator"], clearance=1)
    _set_email(app, "mario")
    did = world["d"][0]
    before = _snapshot(app, did)
    expected = _expected(app, did)
    response = client.post(f"/invii/{world['batch']}/recapiti/{did}/prova", headers=HX)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Prova inviata a tester@azienda.example" in page and "<html" not in page
    assert len(smtp_server.messages) == 1
    got = smtp_server.messages[0]
    assert got.rcpt_tos == [ME]  # not the contact, not the Cc
    assert got.mail_from == "fatture@azienda.example"  # the account's address, not the delivery's VERP one
    message = got.message
    assert message["To"] == f"Mario <{ME}>"
    assert message["Cc"] is None
    assert message["Subject"] == "[PROVA] " + expected["Subject"]
    assert message["From"] == expected["From"] and message["Reply-To"] == expected["Reply-To"]
    assert message["Message-ID"] and message["Message-ID"] != expected["Message-ID"]
    assert _parts(message) == _parts(expected)
    assert _parts(message)["attachments"][0][1] == "application/pdf"
    assert _snapshot(app, did) == before
    with app.app_context():
        assert db.session.get(Batch, world["batch"]).status == "ready"
        db.session.remove()
    [(who, kind, obj, details)] = _audits(app)
    assert (who, kind, obj) == ("mario", "Delivery", str(did))
    assert details["to"] == ME and details["ok"] is True and details["account"] == "Ordinario"


def test_without_htmx_the_result_is_flashed_on_the_preview(app, client, auth, world, smtp_server):
    auth.login("mario", roles=["operator"], clearance=1)
    _set_email(app, "mario")
    did = world["d"][1]
    response = client.post(f"/invii/{world['batch']}/recapiti/{did}/prova")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/recapiti/{did}")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Prova inviata a tester@azienda.example" in page
    assert "Invia una prova a me" in page
    assert smtp_server.accepted_to(ME) == 1


def test_no_address_says_where_to_set_it(app, client, auth, world, smtp_server):
    auth.login("mario", roles=["operator"], clearance=1)
    did = world["d"][0]
    page = client.post(f"/invii/{world['batch']}/recapiti/{did}/prova", headers=HX).get_data(as_text=True)
    assert "non ha un indirizzo e-mail" in page and "profilo" in page
    assert smtp_server.messages == [] and smtp_server.connections == 0
    assert _audits(app) == []


@pytest.mark.parametrize(
    "rule, words",
    [
        ([550], "550"),
        ([("rcpt", 550)], "550"),
        ([451], "451"),
    ],
)
def test_smtp_refusal_is_said_in_italian(app, client, auth, world, smtp_server, rule, words):
    auth.login("mario", roles=["operator"], clearance=1)
    _set_email(app, "mario")
    smtp_server.rules[ME] = list(rule)
    did = world["d"][0]
    before = _snapshot(app, did)
    page = client.post(f"/invii/{world['batch']}/recapiti/{did}/prova", headers=HX).get_data(as_text=True)
    assert "Prova non inviata" in page and words in page and "flash-error" in page
    assert smtp_server.accepted_to(ME) == 0
    assert _snapshot(app, did) == before
    [(_who, _kind, _obj, details)] = _audits(app)
    assert details["ok"] is False


def test_server_unreachable_is_said_in_italian(app, client, auth, world, smtp_server):
    auth.login("mario", roles=["operator"], clearance=1)
    _set_email(app, "mario")
    smtp_server.stop()
    did = world["d"][0]
    page = client.post(f"/invii/{world['batch']}/recapiti/{did}/prova", headers=HX).get_data(as_text=True)
    assert "Prova non inviata" in page and "Connessione non riuscita" in page


def test_the_account_rate_limit_still_applies(app, client, auth, world, smtp_server):
    """A test takes one message of the account's per-minute budget (the senders' own counter)."""
    with app.app_context():
        db.session.get(MailAccount, world["account"]).rate_per_minute = 1
        db.session.commit()
        db.session.remove()
    auth.login("mario", roles=["operator"], clearance=1)
    _set_email(app, "mario")
    url = f"/invii/{world['batch']}/recapiti/{world['d'][0]}/prova"
    assert "Prova inviata" in client.post(url, headers=HX).get_data(as_text=True)
    page = client.post(url, headers=HX).get_data(as_text=True)
    if "Prova inviata" in page:  # the minute turned between the two posts: one more try in the new minute
        page = client.post(url, headers=HX).get_data(as_text=True)
    assert "limite di invii" in page and "riprova tra" in page
    assert smtp_server.accepted_to(ME) <= 2


def test_refused_to_who_may_not_see_the_delivery(app, client, auth, world, smtp_server, make_user):
    """Hidden contact (clearance) → 404; a type the user may not send, a sales user on a documents batch → 403;
    without CSRF → 400; nothing reaches the server."""
    url = lambda i: f"/invii/{world['batch']}/recapiti/{world['d'][i]}/prova"  # noqa: E731
    auth.login("mario", roles=["operator"], clearance=1)
    _set_email(app, "mario")
    assert client.post(url(2), headers=HX).status_code == 404  # privacy level 3 > clearance 1
    assert client.post(url(0), csrf=False).status_code == 400
    auth.logout()
    auth.login("nino", roles=["operator"], clearance=3, send_types=["DDT"])
    _set_email(app, "nino")
    assert client.post(url(0), headers=HX).status_code == 403
    auth.logout()
    auth.login("sara", roles=["sales"], clearance=3)
    _set_email(app, "sara")
    assert client.post(url(0), headers=HX).status_code == 403
    auth.logout()
    assert client.post(url(0)).status_code == 302  # to the login form
    assert smtp_server.messages == [] and _audits(app) == []


def test_preview_shows_the_button(app, client, auth, world):
    auth.login("mario", roles=["operator"], clearance=1)
    _set_email(app, "mario")
    page = client.get(f"/invii/{world['batch']}/recapiti/{world['d'][0]}").get_data(as_text=True)
    assert (
        "Invia una prova a me" in page
        and f'hx-post="/invii/{world["batch"]}/recapiti/{world["d"][0]}/prova"' in page
    )
    assert ME in page


# ---------------------------------------------------------------- campaign review


@pytest.fixture
def campaign(app, client, auth, sales_world, smtp_server, make_user):
    """A commercial campaign prepared by sales user Giulia, waiting for approval."""
    sales = make_user("giulia", roles=["sales"], clearance=3, send_types=["GENERICO", "OFFERTA"])
    make_user("piero", roles=["sales"], clearance=3, send_types=["GENERICO", "OFFERTA"])
    with app.app_context():
        account = make_account(smtp_server, name="Commerciale", from_address="vendite@azienda.example")
        db.session.commit()
        flt = make_filter([{"type": "kind", "value": "customer"}], sales, name="Tutti i clienti", shared=True)
        doc = make_generic_document()
        ids = {"account": account.id, "filter": flt.id, "doc": doc.id}
        db.session.remove()
    auth.login("giulia", create=False)
    response = client.post(
        "/campagne/nuova",
        data={
            "name": "Listino 2027",
            "filter_id": ids["filter"],
            "document_id": [ids["doc"]],
            "subject": "Nuovo listino per {{ anagrafica.ragione_sociale }}",
            "body_html": "<p>Gentile {{ contatto.nome }}, ecco {{ campagna.documenti[0].titolo }}.</p>",
            "commercial": "1",
            "account_id": ids["account"],
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:1000]
    batch_id = int(re.search(r"/invii/(\d+)", response.headers["Location"]).group(1))
    run_jobs(app, 8.0)
    with app.app_context():
        delivery = db.session.scalar(
            db.select(Delivery).where(
                Delivery.batch_id == batch_id, Delivery.recipient_email == "anna@alfa.example"
            )
        )
        assert delivery is not None and delivery.extra_headers.get("List-Unsubscribe")
        ids.update(batch=batch_id, delivery=delivery.id, contact=delivery.contact_id)
        db.session.remove()
    auth.logout()
    return ids


def test_campaign_review_test_send_cannot_unsubscribe_the_contact(app, client, auth, campaign, smtp_server):
    """The campaign message with its attachment, the unsubscribe link neutralised (an invalid token: the
    page says «link non valido») and no List-Unsubscribe one-click headers; the contact stays subscribed."""
    auth.login("giulia", create=False)
    _set_email(app, "giulia")
    did = campaign["delivery"]
    before = _snapshot(app, did)
    expected = _expected(app, did)
    page = client.get(f"/invii/{campaign['batch']}/recapiti/{did}").get_data(as_text=True)
    assert "Invia una prova a me" in page
    page = client.post(f"/invii/{campaign['batch']}/recapiti/{did}/prova", headers=HX).get_data(as_text=True)
    assert "Prova inviata" in page, page
    [got] = smtp_server.messages
    assert got.rcpt_tos == [ME]
    message = got.message
    assert message["Subject"] == "[PROVA] Nuovo listino per Alfa S.r.l."
    assert message["List-Unsubscribe"] is None and message["List-Unsubscribe-Post"] is None
    assert expected["List-Unsubscribe"] is not None
    token = re.search(r"/campagne/disiscrizione/([\w.-]+)>", str(expected["List-Unsubscribe"])).group(1)
    mine, theirs = _parts(message), _parts(expected)
    assert token in theirs["html"] and token not in mine["html"] and token not in mine["text"]
    assert NEUTRAL_TOKEN in mine["html"]
    # The «Gestisci le tue preferenze» link is made harmless too (mailer.services.preferences).
    from mailer.services.preferences import NEUTRAL_TOKEN as NO_PREFERENCES
    from mailer.services.preferences import neutral_preferences_links

    assert "/preferenze/" in theirs["html"] and NO_PREFERENCES not in theirs["html"]
    assert f"/preferenze/{NO_PREFERENCES}" in mine["html"] and f"/preferenze/{NO_PREFERENCES}" in mine["text"]
    assert mine["html"] == neutral_preferences_links(theirs["html"].replace(token, NEUTRAL_TOKEN))
    assert mine["text"] == neutral_preferences_links(theirs["text"].replace(token, NEUTRAL_TOKEN))
    assert mine["attachments"] == theirs["attachments"] == [("listino.pdf", "application/pdf", PDF_BYTES)]
    # the neutral link unsubscribes nobody
    anonymous = app.test_client()
    assert (
        anonymous.post(
            f"/campagne/disiscrizione/{NEUTRAL_TOKEN}", data={"List-Unsubscribe": "One-Click"}
        ).status_code
        == 404
    )
    with app.app_context():
        assert db.session.get(Contact, campaign["contact"]).opted_out_at is None
        db.session.remove()
    assert _snapshot(app, did) == before
    assert _audits(app)[0][3]["batch_id"] == campaign["batch"]


def test_campaign_test_send_only_for_who_may_open_the_batch(
    app, client, auth, campaign, smtp_server, make_user
):
    """Another sales user may not open Giulia's campaign (403); a manager may."""
    url = f"/invii/{campaign['batch']}/recapiti/{campaign['delivery']}/prova"
    auth.login("piero", create=False)
    _set_email(app, "piero")
    assert client.post(url, headers=HX).status_code == 403
    auth.logout()
    auth.login("laura", roles=["manager"], clearance=3)
    _set_email(app, "laura", "laura@azienda.example")
    assert "Prova inviata" in client.post(url, headers=HX).get_data(as_text=True)
    assert [m.rcpt_tos for m in smtp_server.messages] == [["laura@azienda.example"]]


# ---------------------------------------------------------------- template editor


@pytest.fixture
def editor(app, smtp_server):
    """An invoice with its PDF for a party with one contact; the default account on the loopback server."""
    from tests.support.batches import make_document, make_party_with_contacts

    with app.app_context():
        account = make_account(smtp_server, is_default=True)
        party = make_party_with_contacts(
            "ALFA", [{"name": "Amministrazione", "email": "amm@alfa.example", "types": ["FATTURA"]}]
        )
        document = make_document(party, "FATTURA", "F77", with_pdf=True)
        db.session.commit()
        contact = db.session.scalar(db.select(Contact).where(Contact.party_id == party.id))
        ids = {
            "account": account.id,
            "document": document.id,
            "contact": contact.id,
            "pdf": document.pdf_sha256,
        }
        db.session.remove()
    return ids


def _draft(editor, **over):
    data = {
        "subject": "Fattura {{ documento.numero }}",
        "body_html": "<p>Gentile {{ contatto.nome }}, in allegato.</p>",
        "body_text": "",
        "preview_doc": str(editor["document"]),
        "preview_contact": str(editor["contact"]),
    }
    data.update(over)
    return data


def test_template_editor_sends_the_draft_on_the_previewed_document(app, client, auth, editor, smtp_server):
    """The text being edited, rendered on the chosen document and contact as the preview shows it, with the
    document's PDF, to the administrator; the document is not marked as sent."""
    auth.login("admin")
    _set_email(app, "admin")
    preview = client.post("/modelli/FATTURA/it/anteprima", data=_draft(editor)).get_data(as_text=True)
    assert "Fattura F77" in preview
    page = client.get(f"/modelli/FATTURA/it?preview_doc={editor['document']}").get_data(as_text=True)
    assert "Invia una prova a me" in page
    page = client.post("/modelli/FATTURA/it/prova", data=_draft(editor), headers=HX).get_data(as_text=True)
    assert "Prova inviata a tester@azienda.example" in page
    [got] = smtp_server.messages
    assert got.rcpt_tos == [ME]
    message = got.message
    assert message["Subject"] == "[PROVA] Fattura F77"
    assert message["From"] == "Azienda di prova <fatture@azienda.example>"
    parts = _parts(message)
    assert "Gentile Amministrazione, in allegato." in parts["html"]
    assert "Gentile Amministrazione, in allegato." in parts["text"]
    with app.app_context():
        from mailer.models import Blob

        pdf = db.session.get(Blob, editor["pdf"]).data
        assert db.session.get(Document, editor["document"]).sent_at is None
        db.session.remove()
    assert parts["attachments"] == [(sending_filename(app, editor["document"]), "application/pdf", pdf)]
    [(who, kind, obj, details)] = _audits(app)
    assert (who, kind, obj) == ("admin", "Document", str(editor["document"]))
    assert (
        details["to"] == ME
        and details["template"] == "FATTURA"
        and details["contact_id"] == editor["contact"]
    )


def sending_filename(app, document_id: int) -> str:
    with app.app_context():
        name = sending.pdf_filename(db.session.get(Document, document_id))
        db.session.remove()
        return name


def test_template_editor_refusals(app, client, auth, editor, smtp_server):
    """No address: Italian message; a draft with errors: not sent; operators: 403."""
    auth.login("admin")
    page = client.post("/modelli/FATTURA/it/prova", data=_draft(editor), headers=HX).get_data(as_text=True)
    assert "non ha un indirizzo e-mail" in page
    _set_email(app, "admin")
    page = client.post(
        "/modelli/FATTURA/it/prova", data=_draft(editor, subject="{{ documento.numero "), headers=HX
    ).get_data(as_text=True)
    assert "correggi gli errori" in page
    smtp_server.rules[ME] = [554]
    page = client.post("/modelli/FATTURA/it/prova", data=_draft(editor), headers=HX).get_data(as_text=True)
    assert "Prova non inviata" in page and "554" in page
    auth.logout()
    auth.login("mario", roles=["operator"], clearance=3)
    _set_email(app, "mario")
    assert client.post("/modelli/FATTURA/it/prova", data=_draft(editor), headers=HX).status_code == 403
    assert smtp_server.messages == []


def test_the_audit_log_names_the_test_send(app, client, auth, world, smtp_server):
    """The administrator reads in the audit log who sent a test of which delivery to which address."""
    auth.login("mario", roles=["operator"], clearance=1)
    _set_email(app, "mario")
    client.post(f"/invii/{world['batch']}/recapiti/{world['d'][0]}/prova", headers=HX)
    auth.logout()
    auth.login("admin")
    page = client.get("/admin/registro/").get_data(as_text=True)
    assert "Prova inviata a sé (Invia una prova a me)" in page and ME in page


def test_a_sent_delivery_keeps_its_message_id_and_digest(app, client, auth, world, smtp_server):
    """After the batch left: the test carries the same files and bodies as the message that left, under its own
    Message-ID; the delivery's Message-ID, digest, attempts and its documents' sent date do not move."""
    with app.app_context():
        batch = db.session.get(Batch, world["batch"])
        batch.status = "approved"
        db.session.commit()
        sending.start_sending(batch)
        db.session.remove()
    run_jobs(app, 8.0)
    did = world["d"][1]
    before = _snapshot(app, did)
    assert before["status"] == "sent" and before["message_id"] and before["message_sha256"]
    assert all(sent_at is not None for _id, sent_at in before["documents"])
    left = next(m.message for m in smtp_server.messages if "bianchi@cliente.example" in m.rcpt_tos)
    auth.login("laura", roles=["manager"], clearance=1)
    _set_email(app, "laura")
    assert "Prova inviata" in client.post(
        f"/invii/{world['batch']}/recapiti/{did}/prova", headers=HX
    ).get_data(as_text=True)
    test = next(m.message for m in smtp_server.messages if m.rcpt_tos == [ME])
    assert test["Message-ID"] != left["Message-ID"] == before["message_id"]
    assert _parts(test) == _parts(left)
    assert test["Subject"] == "[PROVA] " + left["Subject"]
    assert _snapshot(app, did) == before
