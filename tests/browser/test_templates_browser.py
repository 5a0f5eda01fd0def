"""The template editor in a real browser: live preview updates while typing, errors at their line, no CSP
violations."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from mailer.extensions import db
from tests.conftest import PASSWORD
from tests.support.mailtemplates import make_contact, make_document, make_party

pytestmark = pytest.mark.browser


@pytest.fixture
def live_templates(app, make_user):
    """The app served on a free loopback port, with an admin and one real invoice."""
    make_user("giulia", roles=["admin"], clearance=3)
    with app.app_context():
        party = make_party()
        make_contact(party, "Anna Verdi", "anna@rossi.example")
        make_document(party, number="2026/77", total="2440.00")
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def page():
    """A headless Chromium page."""
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        yield browser.new_page(viewport={"width": 1400, "height": 1000})
        browser.close()


def test_live_preview_and_errors_at_save(live_templates, page):
    """Typing updates the preview on the real invoice; a bad placeholder is refused at its line."""
    console = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(f"{live_templates}/auth/login")
    page.fill("input[name=username]", "giulia")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_templates}/modelli/FATTURA/it")
    assert "Gentile Anna Verdi" in page.frame_locator("iframe.mail-preview").locator("body").inner_text()

    page.fill("#subject", "La Vostra fattura {{ documento.numero }} di {{ documento.totale|it_money }}")
    expect = pytest.importorskip("playwright.sync_api").expect  # waits without eval (the CSP forbids it)
    expect(page.locator("dl.mail-head dd").first).to_have_text("La Vostra fattura 2026/77 di 2.440,00 €")

    page.fill("#body_html", "<p>Gentile {{ contatto.nome }},</p>\n<p>{{ documento.scadenza }}</p>")
    page.wait_for_selector("#preview .flash-error")
    assert "riga 2" in page.inner_text("#preview .flash-error")

    page.click("button[type=submit]:has-text('Salva come')")
    page.wait_for_selector("li.has-error")
    assert "documento.scadenza" in page.inner_text("li.has-error")
    assert not [m for m in console if "Content Security Policy" in m]
