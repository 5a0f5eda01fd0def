"""axe-core where the menu crawl (test_accessibility.py) does not reach: the login page with and without an
error, the public pages a recipient opens from an e-mail (preferences with a valid link, unsubscribe, the
expired and invalid link pages), forms sent back with errors (contact, batch preparation, template,
campaign) and htmx fragments once swapped in (party search results, the batch preview dialog, the
progress widget). At 1400 and 900 px, no violation of any impact, and no badge that speaks in colour only.
Screenshots of each state go to test-artifacts/a11y-states/.

Run alone: `RECAPITO_ENV=testing .venv/bin/pytest tests/browser/test_accessibility_states.py -q`.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from itsdangerous.timed import TimestampSigner

from mailer.extensions import db
from mailer.models import Contact, Document, User
from mailer.services import preparation
from mailer.services.campaigns.unsubscribe import unsubscribe_token
from mailer.services.preferences import preferences_token
from tests.support.a11y import axe_violations, colour_only_badges

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

WIDTHS = (1400, 900)
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "a11y-states"


@pytest.fixture
def public_links(app, demo_world, monkeypatch):
    """Signed links for a demo contact: preferences and unsubscribe; and a batch still preparing (no
    worker picks it up: it was never enqueued), whose page polls the progress widget."""
    with app.app_context():
        contact = db.session.scalar(db.select(Contact).where(Contact.email.is_not(None)).order_by(Contact.id))
        operator = db.session.scalar(db.select(User).where(User.username == "operatore"))
        other = db.session.scalar(
            db.select(Document.id).where(Document.type_code != "FATTURA").order_by(Document.id)
        )
        preparing = preparation.create_batch(
            preparation.Selection(type_codes=[], document_ids=[other]), operator, enqueue=False
        )
        then = int(time.time()) - 61 * 86400  # a genuine link made 61 days ago (the limit is 60)
        monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: then)
        old_link = "/preferenze/" + preferences_token(contact.party_id, contact.email)
        monkeypatch.undo()
        links = {
            "expired": old_link,
            "preferences": "/preferenze/" + preferences_token(contact.party_id, contact.email),
            "unsubscribe": "/campagne/disiscrizione/" + unsubscribe_token(contact.id),
            "preparing": f"/invii/{preparing.id}",
        }
        db.session.commit()
        db.session.remove()
    return links


def _check(page, name: str, failures: list[str]) -> None:
    """axe and the badge check at both widths on what the page shows now; screenshots."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 1000})
        failures += [f"{name} {width}px: {line}" for line in axe_violations(page)]
        failures += [f"{name} {width}px: [colore] badge senza testo — {h}" for h in colour_only_badges(page)]
        page.screenshot(path=str(SHOTS / f"{name}_{width}.png"), full_page=True)
    page.set_viewport_size({"width": WIDTHS[0], "height": 1000})


def test_axe_on_states_the_crawl_misses(app, demo_world, public_links, browser):
    """Login, public pages, forms with errors, swapped-in htmx fragments: no axe violation anywhere."""
    page, base = browser.page, browser.base
    failures: list[str] = []

    # Login, clean and after a wrong password.
    page.goto(f"{base}/auth/login")
    _check(page, "login", failures)
    page.fill("input[name=username]", "manager")
    page.fill("input[name=password]", "sbagliata")
    page.click("button[type=submit]")
    expect(page.locator("[role=alert]")).to_be_visible()
    _check(page, "login-errore", failures)

    # The public pages a recipient opens from an e-mail, with no session.
    page.goto(base + public_links["preferences"])
    expect(page.locator("h1")).to_have_text("Le tue preferenze")
    _check(page, "preferenze", failures)
    page.goto(base + public_links["preferences"] + "x")
    _check(page, "preferenze-link-non-valido", failures)
    page.goto(base + public_links["expired"])
    expect(page.locator("main")).to_contain_text("scadut")
    _check(page, "preferenze-link-scaduto", failures)
    page.goto(base + public_links["unsubscribe"])
    _check(page, "disiscrizione", failures)
    page.click("main button[type=submit]")
    page.wait_for_load_state("networkidle")
    _check(page, "disiscrizione-fatta", failures)
    page.goto(base + "/campagne/disiscrizione/non-valido")
    _check(page, "disiscrizione-link-non-valido", failures)

    # Forms sent back with errors.
    browser.login("admin")
    _check(page, "cruscotto", failures)  # the chart: hatched failures, a legend in words
    page.goto(f"{base}/invii/nuovo")
    page.fill("input[name=date_from]", "31/02/2026")
    page.click("main button[type=submit]:has-text('Prepara')")
    page.wait_for_load_state("networkidle")
    _check(page, "preparazione-errore", failures)

    page.goto(f"{base}/modelli/FATTURA/it")
    page.fill("input[name=subject]", "Fattura {{ documento.numero")
    page.click("main button[type=submit]:has-text('Salva')")
    page.wait_for_load_state("networkidle")
    _check(page, "modello-errore", failures)

    browser.logout()
    browser.login("operatore")
    page.goto(f"{base}/anagrafiche/")
    # htmx: the party search's results once swapped in.
    page.fill("input[type=search]", "a")
    page.wait_for_load_state("networkidle")
    expect(page.locator("#party-results")).to_be_visible()
    _check(page, "anagrafiche-ricerca", failures)
    page.locator("#party-results table a[href*='/anagrafiche/']").first.click()
    page.wait_for_load_state("networkidle")
    page.click("a:has-text('Aggiungi contatto')")
    expect(page.locator("#contact-new input[name=name]")).to_be_focused()  # the form has settled
    page.fill("#contact-new input[name=name]", "Ufficio prova")
    page.fill("#contact-new input[name=email]", "prova@dominio")
    page.click("#contact-new button[type=submit]")
    expect(page.locator("#contact-new .form-error")).to_be_visible()
    _check(page, "contatto-errore", failures)

    # htmx: the batch preview dialog open, and the progress widget polling.
    page.goto(f"{base}/invii/{demo_world[0]}")
    page.locator("a:has-text('Anteprima')").first.click()
    expect(page.locator("#preview-dialog[open] #preview-panel")).not_to_be_empty()
    _check(page, "invio-anteprima", failures)
    page.keyboard.press("Escape")
    page.goto(base + public_links["preparing"])
    expect(page.locator("#progress")).to_be_visible()
    page.wait_for_timeout(1500)  # one poll swapped in
    _check(page, "invio-avanzamento", failures)
    browser.logout()

    browser.login("commerciale")
    page.goto(f"{base}/campagne/nuova")
    page.evaluate(
        "() => document.querySelectorAll('form').forEach(f => { f.noValidate = true; })"
    )  # the server's errors
    page.click("main button[type=submit]:has-text('Prepara la campagna')")
    page.wait_for_load_state("networkidle")
    expect(page.locator(".field-error").first).to_be_visible()
    _check(page, "campagna-errore", failures)
    assert browser.csp_violations() == []
    assert not failures, f"{len(failures)} violazioni:\n" + "\n".join(failures)
