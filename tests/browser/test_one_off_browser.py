"""«Invia ora» in a real browser: from the document's page, choose the contact, edit the template's text,
send; the batch page shows the delivery sent by the real worker. Screenshots at 1400 and 900 px kept in
test-artifacts/."""

from __future__ import annotations

import re

import pytest

from mailer.extensions import db
from mailer.models import Contact
from tests.support.batches import make_account, make_document, make_party_with_contacts
from tests.support.browser import ARTIFACTS
from tests.support.faults import wait_until

pytestmark = pytest.mark.browser


@pytest.fixture
def world(app, make_user, smtp_server):
    make_user("giulia", roles=["manager"], clearance=1)
    with app.app_context():
        make_account(smtp_server, is_default=True)
        party = make_party_with_contacts(
            "ALFA",
            [
                {"name": "Amministrazione", "email": "amm@alfa.example", "types": ["FATTURA"]},
                {"name": "Direzione", "email": "ceo@alfa.example", "types": ["FATTURA"], "privacy_level": 3},
            ],
        )
        document = make_document(party, "FATTURA", "F88", with_pdf=True)
        db.session.commit()
        ids = {
            "document": document.id,
            "contact": db.session.scalar(db.select(Contact.id).where(Contact.email == "amm@alfa.example")),
        }
        db.session.remove()
    return ids


def test_send_now_from_the_document_page(browser, world, smtp_server):
    page = browser.page
    ARTIFACTS.mkdir(exist_ok=True)
    browser.login("giulia")
    page.goto(f"{browser.base}/documenti/{world['document']}")
    page.click("#send-now")
    page.wait_for_url(re.compile(r".*/invia-ora.*"))
    options = page.inner_text("select[name=contatto]")
    assert "amm@alfa.example" in options and "ceo@alfa.example" not in options
    page.screenshot(path=str(ARTIFACTS / "one-off-empty-1400.png"), full_page=True)
    page.select_option("select[name=contatto]", str(world["contact"]))
    page.click("button:has-text('Componi il messaggio')")
    page.wait_for_selector("#one-off-form")
    assert "F88" in page.input_value("input[name=oggetto]")
    page.fill("input[name=oggetto]", "Fattura F88 – la copia che ci ha chiesto")
    page.fill("textarea[name=testo]", "Buongiorno,\n\nin allegato la fattura F88.\n\nCordiali saluti")
    page.screenshot(path=str(ARTIFACTS / "one-off-form-1400.png"), full_page=True)
    page.set_viewport_size({"width": 900, "height": 1000})
    page.screenshot(path=str(ARTIFACTS / "one-off-form-900.png"), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.click("#one-off-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/invii/\d+$"))
    assert "Invio avviato" in page.inner_text("main")
    wait_until(lambda: smtp_server.accepted_to("amm@alfa.example") == 1, 30, "the one-off to arrive")
    assert str(smtp_server.messages[0].message["Subject"]) == "Fattura F88 – la copia che ci ha chiesto"

    def finished():
        page.reload()
        return "Concluso" in page.inner_text("main")

    wait_until(finished, 30, "the batch page to say «Concluso»", every=0.5)
    assert "amm@alfa.example" in page.inner_text("main")
    page.screenshot(path=str(ARTIFACTS / "one-off-result-1400.png"), full_page=True)
    assert browser.csp_violations() == []
