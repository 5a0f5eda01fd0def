"""The preferences page in a real browser: a recipient asks to add a colleague (no JavaScript needed, no CSP
violation), an operator sees it counted in the menu and accepts it. Screenshots at 1400 and 900 px go to
test-artifacts/."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.extensions import db
from mailer.models import Contact

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _shots(page, name: str) -> None:
    """Full-page screenshots of the current page at 1400 and 900 px."""
    ARTIFACTS.mkdir(exist_ok=True)
    for width in (1400, 900):
        page.set_viewport_size({"width": width, "height": 1000})
        page.screenshot(path=str(ARTIFACTS / f"{name}_{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})


def test_recipient_asks_and_operator_accepts(app, make_user, browser, prefs_world):
    page = browser.page
    page.goto(browser.base + prefs_world["link"])
    expect(page.locator("h1")).to_have_text("Le tue preferenze")
    expect(page.locator("article")).to_contain_text("Fattura (copia di cortesia)")
    _shots(page, "preferences_page")
    page.click("summary:has-text('Aggiungere un collega')")
    page.fill("input[name=new_name]", "Giulia Verdi")
    page.fill("details[open] input[name=new_email]", "giulia@alfa")
    page.check("input[name=type_codes][value=FATTURA]")
    page.click("button:has-text('Chiedi di aggiungere il collega')")
    expect(page.locator("details[open] .field-error")).to_contain_text("il dominio deve contenere un punto")
    expect(page.locator("input[name=new_name]")).to_have_value("Giulia Verdi")  # what was typed stays
    _shots(page, "preferences_error")
    page.fill("details[open] input[name=new_email]", "giulia.verdi@alfa.example")
    page.click("button:has-text('Chiedi di aggiungere il collega')")
    expect(page.locator(".flash")).to_contain_text("Richiesta ricevuta")
    expect(page.locator("article")).to_contain_text("Aggiungere Giulia Verdi <giulia.verdi@alfa.example>")
    _shots(page, "preferences_sent")
    assert browser.csp_violations() == []

    make_user("operatrice", roles=["operator"], clearance=1)
    browser.login("operatrice")
    expect(page.locator("nav a:has-text('Richieste contatti') .badge")).to_have_text("1")
    page.click("nav a:has-text('Richieste contatti')")
    expect(page.locator("table")).to_contain_text("Nuovo contatto Giulia Verdi <giulia.verdi@alfa.example>")
    _shots(page, "preferences_queue")
    page.click("button:has-text('Accetta e applica')")
    expect(page.locator(".flash")).to_contain_text("accettata")
    expect(page.locator("main")).to_contain_text("Nessuna richiesta da esaminare")
    _shots(page, "preferences_queue_empty")
    assert browser.csp_violations() == []
    with app.app_context():
        new = db.session.scalar(db.select(Contact).where(Contact.email == "giulia.verdi@alfa.example"))
        assert new is not None and new.document_type_codes == {"FATTURA"}
