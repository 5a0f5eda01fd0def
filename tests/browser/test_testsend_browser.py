"""«Invia una prova a me» in a real browser: the button on a delivery's preview and in the template editor,
the progress while it sends and the result next to it (htmx), no CSP violation; screenshots kept in
test-artifacts/."""

from __future__ import annotations

import pytest

from mailer.extensions import db
from mailer.models import Contact, Delivery, User
from tests.support.batches import make_account, make_document, make_party_with_contacts, make_sending_batch
from tests.support.browser import ARTIFACTS

pytestmark = pytest.mark.browser
ME = "tester@azienda.example"


@pytest.fixture
def world(app, make_user, smtp_server):
    make_user("mario", roles=["operator", "admin"], clearance=3)
    with app.app_context():
        db.session.scalar(db.select(User).where(User.username == "mario")).email = ME
        account = make_account(smtp_server, is_default=True)
        batch = make_sending_batch(account, ["rossi@cliente.example"], status="ready")
        delivery = db.session.scalar(db.select(Delivery).where(Delivery.batch_id == batch.id))
        party = make_party_with_contacts(
            "ALFA", [{"name": "Amministrazione", "email": "amm@alfa.example", "types": ["FATTURA"]}]
        )
        document = make_document(party, "FATTURA", "F77", with_pdf=True)
        db.session.commit()
        ids = {
            "batch": batch.id,
            "delivery": delivery.id,
            "document": document.id,
            "contact": db.session.scalar(db.select(Contact.id).where(Contact.party_id == party.id)),
        }
        db.session.remove()
    return ids


def test_test_send_from_the_preview_and_the_editor(browser, world, smtp_server):
    page = browser.page
    browser.login("mario")
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{browser.base}/invii/{world['batch']}/recapiti/{world['delivery']}")
    page.click("button:has-text('Invia una prova a me')")
    page.wait_for_selector(".test-send-result .flash-success")
    assert ME in page.inner_text(".test-send-result")
    page.screenshot(path=str(ARTIFACTS / "testsend-preview.png"), full_page=True)
    assert [m.rcpt_tos for m in smtp_server.messages] == [[ME]]
    assert smtp_server.messages[0].message["Subject"].startswith("[PROVA] ")

    smtp_server.rules[ME] = [550]
    page.click("button:has-text('Invia una prova a me')")
    page.wait_for_selector(".test-send-result .flash-error")
    assert "Prova non inviata" in page.inner_text(".test-send-result")

    page.goto(f"{browser.base}/modelli/FATTURA/it?preview_doc={world['document']}")
    # the draft being typed is what leaves; the live preview it triggers does not cancel the test send
    smtp_server.rules[ME] = [("slow", 2.0)]  # the preview refreshes while the test is on its way
    page.fill("#subject", "Bozza {{ documento.numero }}")
    page.click("button:has-text('Invia una prova a me')")
    page.wait_for_selector(".test-send-result .flash-success")
    page.locator(".test-send").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "testsend-editor.png"), full_page=True)
    assert len(smtp_server.messages) == 2
    editor_message = smtp_server.messages[1].message
    assert editor_message["Subject"] == "[PROVA] Bozza F77"
    assert [p.get_content_type() for p in editor_message.iter_attachments()] == ["application/pdf"]
    assert browser.csp_violations() == []
