"""Campaigns end to end: compose → prepare → review (exclusions with reasons) → approve → send → received."""

from __future__ import annotations

import re

import pytest

from mailer.extensions import db
from mailer.models import Batch, Company, Delivery
from tests.support.batches import approve_from_page, make_account, reviewed, run_jobs
from tests.support.campaigns import PDF_BYTES, make_filter, make_generic_document
from tests.support.company import save_company_flags


def work(app, max_wait: float = 8.0):
    """Run queued jobs until the queue is empty."""
    run_jobs(app, max_wait)


@pytest.fixture
def setup(app, sales_world, smtp_server, make_user):
    """Account, a customers filter, a price list; sales user Giulia and manager Laura."""
    sales = make_user("giulia", roles=["sales"], clearance=3, send_types=["GENERICO", "OFFERTA"])
    make_user("laura", roles=["manager"], clearance=3)
    with app.app_context():
        account = make_account(smtp_server, name="Commerciale", from_address="vendite@azienda.example")
        db.session.commit()
        flt = make_filter([{"type": "kind", "value": "customer"}], sales, name="Tutti i clienti", shared=True)
        doc = make_generic_document()
        ids = {"account": account.id, "filter": flt.id, "doc": doc.id, **sales_world}
        db.session.remove()
    return ids


def _compose(client, setup, **over):
    """POST the new-campaign form."""
    data = {
        "name": "Listino 2027",
        "filter_id": setup["filter"],
        "document_id": [setup["doc"]],
        "subject": "Nuovo listino per {{ anagrafica.ragione_sociale }}",
        "body_html": "<p>Gentile {{ contatto.nome }}, ecco {{ campagna.documenti[0].titolo }}.</p>",
        "commercial": "1",
        "account_id": setup["account"],
    }
    data.update(over)
    return client.post("/campagne/nuova", data=data)


def _emails(app, batch_id, status="pending"):
    """Recipient addresses of a batch in a state."""
    with app.app_context():
        rows = db.session.scalars(
            db.select(Delivery.recipient_email).where(
                Delivery.batch_id == batch_id, Delivery.status == status
            )
        ).all()
        db.session.remove()
        return sorted(rows)


def test_commercial_campaign_end_to_end(app, client, auth, setup, smtp_server):
    """Sales prepares, sees who was left out and why, the manager approves, the message arrives with
    the unsubscribe link, the List-Unsubscribe headers and the price list attached."""
    auth.login("giulia", create=False)
    response = _compose(client, setup)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    batch_id = int(re.search(r"/invii/(\d+)", response.headers["Location"]).group(1))
    work(app)
    assert _emails(app, batch_id) == ["anna@alfa.example", "carla@alfa.example", "ivo@gamma.example"]
    page = client.get(f"/invii/{batch_id}").get_data(as_text=True)
    assert "Lasciati fuori in preparazione: 5" in page
    for reason, n in [
        ("Senza consenso al marketing", 2),
        ("Indirizzo PEC", 1),
        ("Disiscritto dalle comunicazioni", 1),
        ("Indirizzo preso da INI-PEC", 1),
    ]:
        assert re.search(rf'<span class="num">{n}</span> {re.escape(reason)}', page), reason
    assert "Solo un responsabile può approvare" in page
    assert (
        client.post(f"/invii/{batch_id}/approva", data={"reviewed": reviewed(app, batch_id)}).status_code
        == 302
    )  # refused
    with app.app_context():
        assert db.session.get(Batch, batch_id).status == "ready"
    auth.logout()
    auth.login("laura", create=False)
    response = approve_from_page(client, batch_id, send_now=True)
    assert response.status_code == 302
    work(app)
    with app.app_context():
        assert db.session.get(Batch, batch_id).status == "done"
    assert smtp_server.accepted_to("anna@alfa.example") == 1
    assert smtp_server.accepted_to("bruno@alfa.example") == 0 and smtp_server.accepted_to("alfa@pec.it") == 0
    message = next(m.message for m in smtp_server.messages if "anna@alfa.example" in m.rcpt_tos)
    header = str(message["List-Unsubscribe"])
    assert re.fullmatch(r"<https?://[^>]+/campagne/disiscrizione/[\w.-]+>", header), header
    assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert message["Subject"] == "Nuovo listino per Alfa S.r.l."
    html = message.get_body(("html",)).get_content()
    assert "disiscriviti" in html and header.strip("<>") in html
    attachments = [(p.get_filename(), p.get_content()) for p in message.iter_attachments()]
    assert attachments == [("listino.pdf", PDF_BYTES)]
    # the unsubscribe link in the received message works, without a session
    path = re.sub(r"^https?://[^/]+", "", header.strip("<>"))
    anonymous = app.test_client()
    response = anonymous.post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    with app.app_context():
        from mailer.models import Contact

        assert db.session.get(Contact, setup["anna"]).opted_out_at is not None
        db.session.remove()


def test_soft_spam_lets_existing_customers_in(app, client, auth, setup):
    """With the soft-spam setting, customers with recent invoices are reachable without explicit consent;
    opted-out, PEC and INI-PEC addresses stay out."""
    with app.app_context():
        db.session.get(Company, 1).soft_spam_allowed = True
        db.session.commit()
        db.session.remove()
    auth.login("giulia", create=False)
    response = _compose(client, setup)
    batch_id = int(re.search(r"/invii/(\d+)", response.headers["Location"]).group(1))
    work(app)
    assert _emails(app, batch_id) == [
        "anna@alfa.example",
        "bruno@alfa.example",
        "carla@alfa.example",
        "franco@beta.example",
        "ivo@gamma.example",
    ]
    with app.app_context():
        batch = db.session.get(Batch, batch_id)
        assert batch.params["exclusions"] == {"pec": {"0": 1}, "opted_out": {"0": 1}, "inipec": {"0": 1}}
        assert batch.params["soft_spam"] == 2
        db.session.remove()


def test_soft_spam_switch_on_the_company_page_decides(app, client, auth, setup, make_user):
    """Saved from Amministrazione › Dati azienda, the soft-spam switch lets the next commercial campaign reach
    customers with purchases but no consent (Bruno, Franco); before it, they are left out for lack of consent."""
    auth.login("giulia", create=False)
    before = int(re.search(r"/invii/(\d+)", _compose(client, setup).headers["Location"]).group(1))
    work(app)
    assert "bruno@alfa.example" not in _emails(app, before) and "franco@beta.example" not in _emails(
        app, before
    )
    auth.logout()
    make_user("amministratore", roles=["admin"], clearance=3)
    auth.login("amministratore", create=False)
    save_company_flags(app, client, soft_spam_allowed=True)
    auth.logout()
    auth.login("giulia", create=False)
    after = int(
        re.search(
            r"/invii/(\d+)", _compose(client, setup, name="Listino 2027 bis").headers["Location"]
        ).group(1)
    )
    work(app)
    assert {"bruno@alfa.example", "franco@beta.example"} <= set(_emails(app, after))
    with app.app_context():
        assert db.session.get(Batch, after).params["soft_spam"] == 2
        db.session.remove()


def test_informative_campaign_needs_no_consent_but_no_promotion(app, client, auth, setup, sales_world):
    """A notice goes to contacts without consent; promotional words or a commercial document need the flag."""
    auth.login("giulia", create=False)
    response = _compose(
        client,
        setup,
        commercial="0",
        document_id=[],
        subject="Chiusura per ferie",
        body_html="<p>Saremo chiusi dal 10 al 20 agosto.</p>",
    )
    batch_id = int(re.search(r"/invii/(\d+)", response.headers["Location"]).group(1))
    work(app)
    assert _emails(app, batch_id) == [
        "anna@alfa.example",
        "bruno@alfa.example",
        "carla@alfa.example",
        "franco@beta.example",
        "ivo@gamma.example",
    ]
    with app.app_context():
        assert all(
            not d.extra_headers
            for d in db.session.scalars(db.select(Delivery).where(Delivery.batch_id == batch_id))
        )
        db.session.remove()
    response = _compose(
        client, setup, commercial="0", document_id=[], body_html="<p>Approfitta della promozione!</p>"
    )
    assert response.status_code == 400 and "segna la campagna come commerciale" in response.get_data(
        as_text=True
    )
    response = _compose(client, setup, commercial="0")
    assert response.status_code == 400 and "è un documento commerciale" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("name", "", "Dai un nome alla campagna"),
        ("filter_id", "", "Scegli un filtro salvato"),
        ("subject", "{{ cliente.nome }}", "Segnaposto sconosciuto"),
        ("body_html", "{% for x in %}", "Errore di sintassi"),
        ("account_id", "999", "account di invio ordinario"),
    ],
)
def test_campaign_form_errors(app, client, auth, setup, field, value, message):
    """Every field error comes back in Italian, and nothing is written."""
    auth.login("giulia", create=False)
    response = _compose(client, setup, **{field: value})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Batch.id))) == 0


def test_preparer_clearance_limits_recipients_and_review_counts(app, client, auth, setup, make_user):
    """A sales user with clearance 1 never reaches (nor sees counted) contacts above it."""
    make_user("junior", roles=["sales"], clearance=1, send_types=["GENERICO"])
    auth.login("junior", create=False)
    response = _compose(client, setup)
    batch_id = int(re.search(r"/invii/(\d+)", response.headers["Location"]).group(1))
    work(app)
    assert _emails(app, batch_id) == [
        "anna@alfa.example",
        "ivo@gamma.example",
    ]  # carla (level 2) is not there
    page = client.get(f"/invii/{batch_id}").get_data(as_text=True)
    assert "carla" not in page.lower()


def test_sales_without_generico_permission_is_refused(app, client, auth, setup, make_user):
    """Preparing a campaign needs the send permission of GENERICO."""
    make_user("nopem", roles=["sales"], clearance=3, send_types=["OFFERTA"])
    auth.login("nopem", create=False)
    response = _compose(client, setup)
    assert response.status_code == 400 and "Non sei autorizzato a inviare: GENERICO" in response.get_data(
        as_text=True
    )


@pytest.mark.parametrize(
    "roles, status",
    [
        (["sales"], 200),
        (["manager"], 200),
        (["admin"], 200),
        (["operator"], 403),
    ],
)
def test_campaign_pages_by_role(app, client, auth, setup, roles, status):
    """Campaign pages are for sales and managers (admin passes); operators are refused."""
    auth.login("utente", roles=roles)
    for url in (
        "/campagne/",
        "/campagne/filtri",
        "/campagne/filtri/nuovo",
        "/campagne/documenti",
        "/campagne/nuova",
        f"/campagne/documenti/{setup['doc']}",
    ):
        assert client.get(url).status_code == status, url


def test_anonymous_is_sent_to_login(client, setup):
    """Every campaign page needs a login (the unsubscribe page excepted)."""
    response = client.get("/campagne/")
    assert response.status_code in (302, 401)


@pytest.mark.parametrize(
    "roles, own_ok, campaign_ok, documents_ok",
    [
        (["sales"], 200, 403, 403),
        (["operator"], 200, 403, 200),
        (["manager"], 200, 200, 200),
    ],
)
def test_batch_pages_for_sales_only_for_campaigns(
    app, client, auth, setup, roles, own_ok, campaign_ok, documents_ok
):
    """Sales may follow the campaign batches they prepared but not a colleague's nor document batches; a
    campaign batch is for who prepared it, managers and administrators (issue 14.5: operators no longer)."""
    auth.login("utente", roles=roles, send_types=["GENERICO"])
    with app.app_context():
        from mailer.models import User

        me = db.session.scalar(db.select(User.id).where(User.username == "utente"))
        giulia = db.session.scalar(db.select(User.id).where(User.username == "giulia"))
        own_batch = Batch(
            kind="campaign", name="mia", status="ready", type_codes=["GENERICO"], created_by_id=me
        )
        campaign_batch = Batch(
            kind="campaign", name="c", status="ready", type_codes=["GENERICO"], created_by_id=giulia
        )
        documents_batch = Batch(kind="documents", name="d", status="ready", type_codes=["GENERICO"])
        db.session.add_all([own_batch, campaign_batch, documents_batch])
        db.session.commit()
        ids = campaign_batch.id, documents_batch.id, own_batch.id
        db.session.remove()
    assert client.get(f"/invii/{ids[2]}").status_code == own_ok
    assert client.get(f"/invii/{ids[0]}").status_code == campaign_ok
    assert client.get(f"/invii/{ids[1]}").status_code == documents_ok
    if roles == ["sales"]:
        assert client.get("/invii/").status_code == 403
        assert client.post(f"/invii/{ids[2]}/invia").status_code == 403  # sending commands stay with managers
