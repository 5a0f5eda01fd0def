"""The campaign editor's live preview and the safety of what it (or the HTML mode) produces."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from mailer.extensions import db
from mailer.models import Campaign
from tests.support.batches import make_account
from tests.support.campaigns import make_filter, make_generic_document

PREVIEW = "/campagne/anteprima"


@pytest.fixture
def world(app, sales_world, smtp_server, make_user):
    """Account, a customers filter (Alfa, Beta, Gamma), a price list; sales users with clearance 0 and 3."""
    low = make_user("paolo", roles=["sales"], clearance=0, send_types=["GENERICO"])
    make_user("giulia", roles=["sales"], clearance=3, send_types=["GENERICO"])
    make_user("nogeneric", roles=["sales"], clearance=3, send_types=["OFFERTA"])
    with app.app_context():
        account = make_account(smtp_server, name="Commerciale", from_address="vendite@azienda.example")
        db.session.commit()
        flt = make_filter([{"type": "kind", "value": "customer"}], low, name="Clienti", shared=True)
        doc = make_generic_document()
        ids = {"account": account.id, "filter": flt.id, "doc": doc.id, **sales_world}
        db.session.remove()
    return ids


def _form(world, **over):
    """The campaign form as the editor page sends it to the preview."""
    data = {
        "name": "Listino 2027",
        "filter_id": world["filter"],
        "document_id": [world["doc"]],
        "subject": "Per {{ anagrafica.ragione_sociale }}",
        "body_html": "<p>Gentile <b>{{ contatto.nome }}</b>, ecco «{{ campagna.documenti[0].titolo }}».</p>",
        "commercial": "1",
        "account_id": world["account"],
    }
    data.update(over)
    return data


def _frame(client, page: str) -> str:
    """The preview frame's document, fetched like the browser does (sandboxed, with its own CSP)."""
    match = re.search(r'<iframe class="mail-preview" sandbox src="([^"]+)"', page)
    assert match, page[:2000]
    response = client.get(match.group(1).replace("&amp;", "&"))
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"].startswith("sandbox;")
    return response.get_data(as_text=True)


def test_preview_renders_for_a_recipient_of_the_filter(client, auth, world):
    """The first recipient by party name is Alfa's Anna: subject and body carry her and her company."""
    auth.login("giulia", create=False)
    response = client.post(PREVIEW, data=_form(world))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'class="preview-subject">Per Alfa S.r.l.<' in page
    body = _frame(client, page)
    assert "Gentile <b>Anna</b>, ecco «Listino 2027»." in body
    assert "disiscriviti" in body  # commercial: the footer the sender adds
    # choosing another recipient of the filter
    page = client.post(PREVIEW, data=_form(world, sample_id=world["ivo"])).get_data(as_text=True)
    assert "Gentile <b>Ivo</b>" in _frame(client, page) and "Per Gamma S.n.c." in page


def test_preview_never_shows_a_contact_above_clearance(client, auth, world):
    """Carla (level 2) and Franco (level 1) are neither offered nor rendered for a user with clearance 0."""
    auth.login("paolo", create=False)
    page = client.post(PREVIEW, data=_form(world)).get_data(as_text=True)
    options = re.findall(r'<option value="(\d+)"', page)
    assert str(world["anna"]) in options and str(world["ivo"]) in options
    assert str(world["carla"]) not in options and str(world["franco"]) not in options
    assert "Carla" not in page and "Franco" not in page
    page = client.post(PREVIEW, data=_form(world, sample_id=world["carla"])).get_data(as_text=True)
    assert "Carla" not in page and "Gentile <b>Anna</b>" in _frame(client, page)
    # a contact outside the filter (Delta is a supplier) is not rendered either
    page = client.post(PREVIEW, data=_form(world, sample_id=world["mara"])).get_data(as_text=True)
    assert "Mara" not in page


def test_preview_without_filter_uses_a_made_up_recipient(client, auth, world):
    """No filter yet: the sample context, and a hint to choose a filter."""
    auth.login("giulia", create=False)
    page = client.post(PREVIEW, data=_form(world, filter_id="")).get_data(as_text=True)
    assert "scegli un filtro" in page
    assert "<option" not in page
    assert "Gentile <b>" in _frame(client, page)


@pytest.mark.parametrize(
    "body, message",
    [
        ("<p>Ciao</p><script>alert(1)</script>", "il testo non può contenere il tag <script>"),
        ('<p>Ciao <img src="x" onerror="alert(1)"></p>', "gestori di eventi (onerror)"),
        ('<p><a href="javascript:alert(1)">qui</a></p>', "non è ammesso"),
        ('<p><a href=" java\nscript:alert(1)">qui</a></p>', "non è ammesso"),
        ("<iframe src='https://x.example'></iframe>", "<iframe>"),
        ("<p>{{ contatto.password }}</p>", "contatto.password"),
        ("<p>{{ ''.__class__ }}</p>", "Corpo HTML"),
    ],
)
def test_unsafe_or_unknown_body_is_refused_in_preview_and_on_prepare(client, auth, world, app, body, message):
    """Script, event handlers, script links and unknown placeholders: an Italian message, nothing saved."""
    auth.login("giulia", create=False)
    page = client.post(PREVIEW, data=_form(world, body_html=body)).get_data(as_text=True)
    assert "Il testo non si può inviare così" in page
    assert "<iframe" not in page
    assert message.replace("<", "&lt;").replace(">", "&gt;") in page or message in page, page
    response = client.post("/campagne/nuova", data=_form(world, body_html=body))
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Campaign.id))) == 0


def test_editor_output_is_accepted_and_sent_as_typed(client, auth, world, app):
    """What the editor makes (p, b, i, a, ul/li, br, placeholders) passes the checks and becomes the campaign."""
    auth.login("giulia", create=False)
    body = (
        "<p>Gentile <b>{{ contatto.nome }}</b>,</p><p><i>novità</i> per {{ anagrafica.ragione_sociale }}:"
        '</p><ul><li>uno</li><li>due</li></ul><p><a href="https://www.example.com/listino">listino</a>'
        "<br>{{ utente.nome }}</p>"
    )
    page = client.post(PREVIEW, data=_form(world, body_html=body)).get_data(as_text=True)
    assert "Il testo non si può inviare così" not in page
    assert '<a href="https://www.example.com/listino">listino</a>' in _frame(client, page)
    response = client.post("/campagne/nuova", data=_form(world, body_html=body))
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(db.select(Campaign.body_html)) == body


def test_preview_needs_generico_permission_and_csrf(client, auth, world):
    """A sales user who may not send generic documents gets 403; a POST without CSRF token 400."""
    auth.login("nogeneric", create=False)
    assert client.post(PREVIEW, data=_form(world)).status_code == 403
    auth.logout()
    auth.login("giulia", create=False)
    assert client.post(PREVIEW, data=_form(world), csrf=False).status_code == 400


def test_preview_frame_is_only_for_its_author(client, auth, world, app):
    """The stored preview body answers to the user who rendered it; another user gets 404."""
    auth.login("giulia", create=False)
    page = client.post(PREVIEW, data=_form(world)).get_data(as_text=True)
    url = re.search(r'sandbox src="([^"]+)"', page).group(1)
    assert "Gentile <b>Anna</b>" in client.get(url).get_data(as_text=True)
    auth.logout()
    auth.login("paolo", create=False)
    assert client.get(url).status_code == 404


@pytest.mark.parametrize(
    ("name", "greeting"),
    [
        ("Ufficio amministrazione", "Spettabile Fratelli Conte S.n.c.,"),
        ("Mario Rossi", "Gentile Mario Rossi,"),
    ],
)
def test_default_campaign_text_greets_offices_neutrally(app_ctx, name, greeting):
    """The default text of a new campaign is plain placeholders ({{ saluto }}, {{ campagna.elenco }}), no Jinja
    logic in the sales editor; an office gets «Spettabile …», never «Gentile Ufficio amministrazione»."""
    from mailer.campaigns.routes import DEFAULT_BODY
    from mailer.services.campaigns.texts import recipient_context, render_texts
    from tests.support.batches import make_party_with_contacts

    assert "{%" not in DEFAULT_BODY
    account = make_account(SimpleNamespace(host="127.0.0.1", port=1))
    party = make_party_with_contacts("CONTE", [{"name": name, "email": "x@conte.example"}])
    party.name = "Fratelli Conte S.n.c."
    db.session.commit()
    documents = [{"titolo": "Listino 2027", "file": "l.pdf"}, {"titolo": "Catalogo", "file": "c.pdf"}]
    context = recipient_context(party.contacts[0], "Autunno", documents, account, None, "")
    _subject, html, text = render_texts("Novità", DEFAULT_BODY, context, account, None)
    assert f"<p>{greeting}</p>" in html and "in allegato trova «Listino 2027», «Catalogo»." in text
    assert "Gentile Ufficio" not in html
