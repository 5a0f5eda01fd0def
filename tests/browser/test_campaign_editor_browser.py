"""The campaign editor in a real browser: type, make bold, insert the name placeholder, see the preview
for a recipient of the filter, prepare, approve and send: the SMTP server receives that text."""

from __future__ import annotations

import re

import pytest

from mailer.extensions import db
from tests.support.batches import make_account
from tests.support.campaigns import build_sales_world, make_filter

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture
def campaign_world(app, smtp_server, make_user):
    """The sales world, an ordinary account on the loopback SMTP server, a filter of Gamma's contacts."""
    sales = make_user("giulia", roles=["sales"], clearance=3, send_types=["GENERICO"])
    make_user("laura", roles=["manager"], clearance=3, send_types=["GENERICO"])
    with app.app_context():
        ids = build_sales_world()
        make_account(smtp_server, name="Commerciale", from_address="vendite@azienda.example")
        db.session.commit()
        make_filter([{"type": "kind", "value": "customer"}, {"type": "city", "values": ["Napoli"]}], sales)
        db.session.remove()
    return ids


def test_type_bold_placeholder_preview_prepare_send(app, campaign_world, browser, smtp_server):
    """Sales writes the text with the editor; the live preview shows Ivo; the message Ivo receives says it."""
    page = browser.page
    browser.login("giulia")
    page.goto(f"{browser.base}/campagne/nuova")
    page.fill("input[name=name]", "Avviso prova")
    page.select_option("select[name=filter_id]", label="Clienti")
    page.fill("input[name=subject]", "Novità per {{ anagrafica.ragione_sociale }}")
    page.check("input[name=commercial][value='0']")
    editor = page.locator("#body-editor")
    expect(editor).to_be_visible()
    expect(page.locator("textarea[name=body_html]")).to_be_hidden()
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    page.keyboard.type("Buongiorno ")
    page.click("button[data-insert='{{ contatto.nome }}']")
    page.keyboard.type(", ecco le ")
    page.click("button[data-cmd=bold]")
    page.keyboard.type("novità di dicembre")
    page.click("button[data-cmd=bold]")
    page.keyboard.type(".")
    preview = page.frame_locator("#campaign-preview iframe")
    expect(preview.locator("body")).to_contain_text(
        "Buongiorno Ivo, ecco le novità di dicembre.", timeout=10_000
    )
    expect(preview.locator("p b, p strong").first).to_have_text("novità di dicembre")
    expect(page.locator("#campaign-preview .preview-subject")).to_have_text("Novità per Gamma S.n.c.")

    # «Modifica HTML» shows the source the editor made, and back.
    page.click("button[data-html-toggle]")
    source = page.locator("textarea[name=body_html]")
    expect(source).to_be_visible()
    assert re.search(
        r"Buongiorno \{\{ contatto\.nome \}\}, ecco le <(b|strong)>novità di dicembre</\1>",
        source.input_value(),
    )
    page.click("button[data-html-toggle]")
    expect(editor).to_be_visible()

    page.click("button:has-text('Prepara la campagna')")
    page.wait_for_url(re.compile(r".*/invii/\d+$"))
    batch_id = int(re.search(r"/invii/(\d+)", page.url).group(1))
    expect(page.locator("#review")).to_contain_text("ivo@gamma.example", timeout=45_000)
    browser.logout()

    browser.login("laura")
    page.goto(f"{browser.base}/invii/{batch_id}")
    page.click("button:has-text('Approva e invia')")
    expect(page.locator("h1 .badge")).to_have_text("Concluso", timeout=30_000)
    message = next(m.message for m in smtp_server.messages if "ivo@gamma.example" in m.rcpt_tos)
    assert message["Subject"] == "Novità per Gamma S.n.c."
    html = message.get_body(("html",)).get_content()
    assert re.search(r"Buongiorno Ivo, ecco le <(b|strong)>novità di dicembre</\1>\.", html), html
    assert "novità di dicembre" in message.get_body(("plain",)).get_content()
    assert browser.csp_violations() == []


def test_jinja_blocks_stay_verbatim_through_the_editor(app, campaign_world, browser):
    """`{% if x < 3 %}` (and `<`, `>`, `&`, quotes inside any Jinja block) come back from the editor as written,
    not as `&lt;`; the text around them is still escaped as HTML."""
    page = browser.page
    browser.login("giulia")
    page.goto(f"{browser.base}/campagne/nuova")
    editor = page.locator("#body-editor")
    expect(editor).to_be_visible()
    page.click("button[data-html-toggle]")
    source = (
        '<p>{% if contatto.nome < "M" and 2>1 %}Ciao {{ contatto.nome }}{% endif %} A &amp; B &lt; C</p>'
        "<p>{% if campagna.nome|length<3 %}corto{% endif %}{# nota: <b>bozza</b> & co #}</p>"
        '<p><a href="https://example.com/?a=1&amp;b={{ contatto.nome|urlencode }}">link</a></p>'
    )
    page.fill("textarea[name=body_html]", source)
    page.click("button[data-html-toggle]")
    expect(editor).to_be_visible()
    expect(editor).to_contain_text('{% if contatto.nome < "M" and 2>1 %}Ciao')
    editor.locator("p").first.click()
    page.keyboard.press("End")
    page.keyboard.type(" fine")
    page.click("button[data-html-toggle]")
    value = page.locator("textarea[name=body_html]").input_value()
    assert value == source.replace("&lt; C</p>", "&lt; C fine</p>"), value
